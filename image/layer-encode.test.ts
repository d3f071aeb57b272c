import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { encodeLayer } from './layer-encode.js';
import { createTarStream, type TarSource } from './tar/writer.js';
import { readTar } from './tar/reader.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function entries(n: number): TarSource[] {
  return Array.from({ length: n }, (_, i) => {
    const body = Buffer.from(`file ${i}\n`.repeat(i % 50));
    return { header: { path: `d/f${i}`, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body };
  });
}

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(r, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  return Buffer.concat(chunks);
}

describe('image/layer-encode', () => {
  const sizes = [0, 1, 500, 5000];
  for (const n of sizes) {
    it(`${n} entries: diffID/size describe the tar, digest/size the gzip bytes`, async () => {
      const tar = await collect(createTarStream(entries(n)));
      const layer = encodeLayer(createTarStream(entries(n)), { concurrency: 3 });
      const gz = await collect(layer.stream);
      const r = await layer.result;
      assert.equal(r.diffID, sha(tar));
      assert.equal(r.uncompressedSize, tar.length);
      assert.equal(r.digest, sha(gz));
      assert.equal(r.size, gz.length);
      assert.ok(gunzipSync(gz).equals(tar));
      let count = 0;
      for await (const e of readTar(Readable.from([gunzipSync(gz)]))) {
        count++;
        e.body.resume();
      }
      assert.equal(count, n);
    });
  }

  it('same tar, same digest (deterministic end to end)', async () => {
    const a = encodeLayer(createTarStream(entries(300)));
    await collect(a.stream);
    const b = encodeLayer(createTarStream(entries(300)));
    await collect(b.stream);
    assert.deepEqual(await a.result, await b.result);
  });

  it('a failing tar source rejects result and errors the stream', async () => {
    const bad: TarSource = { header: { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 10, mtime: 0 }, body: Buffer.from('short') };
    const layer = encodeLayer(createTarStream([bad]));
    await assert.rejects(collect(layer.stream), /header size 10/);
    await assert.rejects(layer.result, /header size 10/);
  });
});
