import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../image/digest.js';
import { MediaType } from '../image/mediatypes.js';
import { randomImage } from '../image/random.js';
import type { Index } from '../image/types.js';
import { validateImage } from '../image/validate.js';
import { StoreFormatError } from './errors.js';
import { diskUsage, gc, markReachable } from './gc.js';
import { storeImage, writeImage } from './store-image.js';
import { ContentStore } from './store.js';
import { listDir, tempStore } from './testdata/helpers.js';

async function blobSet(store: ContentStore): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  for await (const b of store.blobs()) out.add(b.digest);
  return out;
}

async function age(store: ContentStore, d: Digest, ms: number): Promise<void> {
  const t = new Date(Date.now() - ms);
  await utimes(store.blobPath(d), t, t);
}

describe('cache/gc', () => {
  let cleanup: () => Promise<void>;
  let store: ContentStore;
  beforeEach(async () => ({ store, cleanup } = await tempStore()));
  afterEach(async () => cleanup());

  /**
   * A: 2 layers, tagged. B: same seed, 3 layers (shares A's 2), untagged.
   * loose: an untagged blob. C: an untagged image kept only through extraRoots.
   */
  async function world() {
    const a = await randomImage(1024, 2, 5);
    const b = await randomImage(1024, 3, 5);
    const c = await randomImage(512, 1, 9);
    const aDesc = await writeImage(store, a);
    const bDesc = await writeImage(store, b);
    const cDesc = await writeImage(store, c);
    await store.setRef('a:latest', aDesc);
    const loose = await store.putBytes(Buffer.from('loose'));
    const bm = await b.manifest();
    const bOnly = [bDesc.digest, bm.config.digest, bm.layers[2]!.digest];
    const aKeep = [aDesc.digest, (await a.manifest()).config.digest, ...(await a.manifest()).layers.map((l) => l.digest)];
    const cKeep = [cDesc.digest, (await c.manifest()).config.digest, ...(await c.manifest()).layers.map((l) => l.digest)];
    return { aDesc, cDesc, loose, bOnly, aKeep, cKeep };
  }

  it('keeps what refs and extraRoots reach, removes the rest', async () => {
    const w = await world();
    const before = await blobSet(store);
    const removedBytes = (await Promise.all([...w.bOnly, w.loose.digest].map(async (d) => (await store.stat(d))!.size))).reduce((x, y) => x + y);

    const dry = await gc(store, { dryRun: true, minAgeMs: 0, extraRoots: [w.cDesc.digest] });
    assert.deepEqual(dry, { removed: 4, bytes: removedBytes, temps: 0 });
    assert.deepEqual(await blobSet(store), before);

    const res = await gc(store, { minAgeMs: 0, extraRoots: [w.cDesc.digest] });
    assert.deepEqual(res, dry);
    assert.deepEqual([...(await blobSet(store))].sort(), [...w.aKeep, ...w.cKeep].sort());
    await validateImage(storeImage(store, w.aDesc.digest));

    // Without the extra root, C goes too.
    const res2 = await gc(store, { minAgeMs: 0 });
    assert.equal(res2.removed, w.cKeep.length);
    assert.deepEqual([...(await blobSet(store))].sort(), [...w.aKeep].sort());
  });

  it('spares young unreachable blobs by default (a build in progress), not old ones', async () => {
    const w = await world();
    assert.equal((await gc(store, {})).removed, 0);
    for (const d of [...w.bOnly, w.loose.digest]) await age(store, d, 60 * 60 * 1000);
    const res = await gc(store, {});
    assert.equal(res.removed, 4);
    assert.equal(await store.has(w.loose.digest), false);
    assert.equal(await store.has(w.cDesc.digest), true); // unreachable but young
  });

  it('follows an index to its manifests and their blobs', async () => {
    const w = await world();
    const index: Index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [w.cDesc],
    };
    const ixDesc = await store.putJSON(index, MediaType.OciIndex);
    await store.setRef('multi', ixDesc);
    const live = await markReachable(store);
    for (const d of [ixDesc.digest, ...w.cKeep, ...w.aKeep]) assert.ok(live.has(d), d);
    for (const d of [...w.bOnly, w.loose.digest]) assert.ok(!live.has(d), d);
  });

  it('an extra root that is a plain blob keeps just that blob', async () => {
    const w = await world();
    await gc(store, { minAgeMs: 0, extraRoots: [w.loose.digest] });
    assert.equal(await store.has(w.loose.digest), true);
    assert.equal(await store.has(w.cDesc.digest), false);
  });

  it('removes abandoned temp files', async () => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((r) => child.on('exit', r));
    const ingest = join(store.root, 'ingest');
    await writeFile(join(ingest, `${child.pid}-0123456789ab.tmp`), 'half a blob');
    await writeFile(join(ingest, `${process.pid}-0123456789ab.tmp`), 'being written');
    const res = await gc(store, { minAgeMs: 0 });
    assert.deepEqual(res, { removed: 0, bytes: 'half a blob'.length, temps: 1 });
    assert.deepEqual(await listDir(ingest), [`${process.pid}-0123456789ab.tmp`]);
  });

  it('refuses to sweep when a tagged manifest is unreadable', async () => {
    await world();
    const junk = await store.putBytes(Buffer.from('{not json'));
    await store.setRef('broken', { mediaType: MediaType.OciManifest, digest: junk.digest, size: junk.size });
    const before = await blobSet(store);
    await assert.rejects(gc(store, { minAgeMs: 0 }), StoreFormatError);
    assert.deepEqual(await blobSet(store), before);
  });

  it('diskUsage counts blobs, bytes and what no ref reaches', async () => {
    const w = await world();
    let bytes = 0;
    for await (const b of store.blobs()) bytes += b.size;
    const unreachable = [...w.bOnly, w.loose.digest, ...w.cKeep];
    let reclaimable = 0;
    for (const d of unreachable) reclaimable += (await store.stat(d))!.size;
    assert.deepEqual(await diskUsage(store), { blobs: w.aKeep.length + unreachable.length, bytes, reclaimable });
  });
});
