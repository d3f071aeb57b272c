import assert from 'node:assert/strict';
import { MediaType } from './mediatypes.js';
import { hostPlatform } from './platform.js';
import { randomImage } from './random.js';
import { readTar } from './tar/reader.js';
import { validateImage } from './validate.js';

describe('image/random', () => {
  const shapes: Array<[number, number]> = [
    [0, 0],
    [1, 1],
    [1000, 3],
    [70_000, 2],
  ];
  for (const [bytes, n] of shapes) {
    it(`randomImage(${bytes}, ${n}) is valid, with one file of ${bytes} bytes per layer`, async () => {
      const img = await randomImage(bytes, n);
      await validateImage(img);
      const layers = await img.layers();
      assert.equal(layers.length, n);
      assert.equal(await img.mediaType(), MediaType.OciManifest);
      assert.equal((await img.configFile()).architecture, hostPlatform().architecture);
      for (const [i, l] of layers.entries()) {
        assert.equal(await l.mediaType(), MediaType.OciLayerGzip);
        const entries: Array<[string, number, number]> = [];
        for await (const { header, body } of readTar(await l.uncompressed())) {
          let got = 0;
          for await (const c of body) got += (c as Buffer).length;
          entries.push([header.path, header.size, got]);
        }
        assert.deepEqual(entries, [[`random_file_${i}`, bytes, bytes]]);
      }
    });
  }

  it('the same seed gives the same digests; another seed or none does not', async () => {
    const a = await randomImage(5000, 2, 7);
    const b = await randomImage(5000, 2, 7);
    const c = await randomImage(5000, 2, 8);
    const d = await randomImage(5000, 2);
    assert.equal(await a.digest(), await b.digest());
    assert.notEqual(await a.digest(), await c.digest());
    assert.notEqual(await a.digest(), await d.digest());
    const [l0, l1] = await a.layers();
    assert.notEqual(await l0!.digest(), await l1!.digest(), 'layers of one image differ');
  });
});
