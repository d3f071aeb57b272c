import assert from 'node:assert/strict';
import { randomImage } from '../image/random.js';
import { readTar } from '../image/tar/reader.js';
import type { Digest } from '../image/digest.js';
import { LAYER_SIZE_NS, rememberLayerSize, unpackedImageSize } from './image-size.js';
import { writeImage } from './store-image.js';
import type { ContentStore } from './store.js';
import { tempStore } from './testdata/helpers.js';

describe('cache/image-size: docker SIZE (overlay2 diff size of each layer)', () => {
  let store: ContentStore;
  let cleanup: () => Promise<void>;
  before(async () => ({ store, cleanup } = await tempStore()));
  after(async () => cleanup());

  // what dockerd counted for the same entries (test/oracle/commands.oracle.ts checks images end to end)
  const cases: Array<[string, Array<{ type: string; size: number; linkname?: string }>, number]> = [
    ['a file counts its size', [{ type: 'file', size: 300_000 }], 300_000],
    ['a symlink counts its target', [{ type: 'symlink', size: 0, linkname: 'a.txt' }], 5],
    ['a symlink target in UTF-8 bytes', [{ type: 'symlink', size: 0, linkname: 'é' }], 2],
    ['directories count nothing', [{ type: 'dir', size: 4096 }], 0],
    ['a hard link counts once (its target did)', [{ type: 'file', size: 10 }, { type: 'hardlink', size: 0, linkname: 'f' }], 10],
    ['whiteouts (char 0/0), fifos count nothing', [{ type: 'char', size: 0 }, { type: 'fifo', size: 0 }], 0],
  ];
  for (const [name, headers, want] of cases) {
    it(name, async () => assert.equal(await rememberLayerSize(store, `sha256:${'0'.repeat(63)}1` as Digest, headers), want));
  }

  it('an image without a remembered size is counted from its layers once, then read from meta', async () => {
    const img = await randomImage(5000, 2, 9);
    const desc = await writeImage(store, img);
    let files = 0;
    for (const layer of await img.layers()) for await (const { header } of readTar(await layer.uncompressed())) if (header.type === 'file') files += header.size;
    assert.equal(await unpackedImageSize(store, desc.digest), files);
    const diffIDs = await Promise.all((await img.layers()).map((l) => l.diffID()));
    for (const d of diffIDs) assert.equal(typeof (await store.readMeta<{ size: number }>(LAYER_SIZE_NS, d))?.size, 'number');
    await store.writeMeta(LAYER_SIZE_NS, diffIDs[0]!, { size: 1 });
    await store.writeMeta(LAYER_SIZE_NS, diffIDs[1]!, { size: 2 });
    assert.equal(await unpackedImageSize(store, desc.digest), 3, 'the remembered sizes are used');
  });
});
