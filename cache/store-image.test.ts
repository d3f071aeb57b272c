import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { sha256 } from '../image/digest.js';
import { MediaType } from '../image/mediatypes.js';
import { randomImage } from '../image/random.js';
import { validateImage } from '../image/validate.js';
import { BlobCorruptError, BlobNotFoundError } from './errors.js';
import { storeImage, writeImage } from './store-image.js';
import { ContentStore } from './store.js';
import { listDir, tempStore } from './testdata/helpers.js';

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name, mtime: new Date(0) }, body);
  pack.finalize();
  return collect(pack as unknown as Readable);
}

describe('cache/store-image', () => {
  let cleanup: () => Promise<void>;
  let store: ContentStore;
  beforeEach(async () => ({ store, cleanup } = await tempStore()));
  afterEach(async () => cleanup());

  it('writeImage + storeImage round trip a random image', async () => {
    const img = await randomImage(4096, 3, 7);
    const desc = await writeImage(store, img);
    assert.deepEqual(desc, { mediaType: MediaType.OciManifest, digest: await img.digest(), size: (await img.rawManifest()).length });
    const m = await img.manifest();
    for (const d of [m.config, ...m.layers, desc]) assert.deepEqual(await store.stat(d.digest), { size: d.size });
    const back = storeImage(store, desc.digest);
    await validateImage(back);
    assert.deepEqual(await back.rawManifest(), await img.rawManifest());
    assert.deepEqual(await back.rawConfig(), await img.rawConfig());
    const [l0, o0] = [(await back.layers())[0]!, (await img.layers())[0]!];
    assert.equal(await l0.diffID(), await o0.diffID());
    assert.deepEqual(await collect(await l0.uncompressed()), await collect(await o0.uncompressed()));
    assert.deepEqual(await listDir(join(store.root, 'ingest')), []);
  });

  it('writeImage copies only missing blobs and is idempotent', async () => {
    const img = await randomImage(2048, 2, 1);
    const m = await img.manifest();
    await store.ingest(await (await img.layers())[0]!.compressed());
    let opened = 0;
    const counting = { ...img, layers: async () => (await img.layers()).map((l) => ({ ...l, compressed: async () => (opened++, l.compressed()) })) };
    await writeImage(store, counting);
    assert.equal(opened, 1);
    await writeImage(store, counting);
    assert.equal(opened, 1);
    assert.equal((await listDir(join(store.root, 'blobs', 'sha256'))).length, m.layers.length + 2);
  });

  it('writeImage refuses a layer whose bytes do not match the manifest, and stores no manifest', async () => {
    const img = await randomImage(1024, 2, 2);
    const bad = {
      ...img,
      layers: async () =>
        (await img.layers()).map((l, i) => (i === 1 ? { ...l, compressed: async () => Readable.from([Buffer.from('not the layer')]) } : l)),
    };
    await assert.rejects(writeImage(store, bad), { code: 'TSB_IMAGE_DIGEST_MISMATCH' });
    assert.equal(await store.has(await img.digest()), false);
    assert.equal(await store.has((await img.manifest()).layers[1]!.digest), false);
  });

  it('storeImage of a missing manifest fails with BlobNotFoundError; of a corrupt layer with BlobCorruptError', async () => {
    await assert.rejects(storeImage(store, sha256('nothing')).manifest(), BlobNotFoundError);
    const img = await randomImage(1024, 1, 3);
    const desc = await writeImage(store, img);
    const layerDigest = (await img.manifest()).layers[0]!.digest;
    await chmod(store.blobPath(layerDigest), 0o644);
    await writeFile(store.blobPath(layerDigest), Buffer.alloc((await img.manifest()).layers[0]!.size));
    const layer = (await storeImage(store, desc.digest).layers())[0]!;
    await assert.rejects(async () => collect(await layer.compressed()), BlobCorruptError);
    assert.equal(await store.has(layerDigest), false);
  });

  it('ingestLayer stores gzip and reports diffID and size of the tar', async () => {
    const tar = await tarOf({ 'a.txt': 'hello\n', 'dir/b.txt': 'x'.repeat(100_000) });
    const got = await store.ingestLayer(Readable.from([tar]));
    assert.equal(got.desc.mediaType, MediaType.OciLayerGzip);
    assert.equal(got.diffID, sha256(tar));
    assert.equal(got.uncompressedSize, tar.length);
    const gz = await store.readBytes(got.desc.digest);
    assert.equal(gz.length, got.desc.size);
    assert.deepEqual(gunzipSync(gz), tar);
    // Same tar again: same blob, nothing new.
    const again = await store.ingestLayer(Readable.from([tar]));
    assert.deepEqual(again, got);
    assert.equal((await listDir(join(store.root, 'blobs', 'sha256'))).length, 1);
  });

  it('ingestLayer of a failing tar stream stores nothing', async () => {
    const src = new Readable({
      read() {
        this.destroy(new Error('tar source broke'));
      },
    });
    await assert.rejects(store.ingestLayer(src), /tar source broke/);
    assert.deepEqual(await listDir(join(store.root, 'blobs', 'sha256')), []);
    assert.deepEqual(await listDir(join(store.root, 'ingest')), []);
  });
});
