import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import type { Digest } from '../image/digest.js';
import { MediaType } from '../image/mediatypes.js';
import { randomImage } from '../image/random.js';
import { BuildCache } from './build-cache.js';
import { checkStore, type StoreProblemKind } from './check.js';
import { keyOf, type KeyPreimage } from './keys.js';
import { writeImage } from './store-image.js';
import { ContentStore } from './store.js';
import { tempStore } from './testdata/helpers.js';

/** Flips one byte in the middle of a blob file (as a failing disk would). */
async function flipByte(store: ContentStore, d: Digest): Promise<void> {
  const path = store.blobPath(d);
  const buf = await readFile(path);
  buf[buf.length >> 1]! ^= 0x01;
  await chmod(path, 0o644);
  await writeFile(path, buf);
}

describe('cache/check (check-store)', () => {
  let cleanup: () => Promise<void>;
  let store: ContentStore;
  beforeEach(async () => ({ store, cleanup } = await tempStore()));
  afterEach(async () => cleanup());

  /** Two tagged images sharing nothing, and a cache record naming image a's first layer. */
  async function world() {
    const a = await randomImage(4096, 2, 11);
    const b = await randomImage(4096, 1, 12);
    await store.setRef('a:1', await writeImage(store, a));
    await store.setRef('b:1', await writeImage(store, b));
    const am = await a.manifest();
    const layer = am.layers[0]!;
    const preimage: KeyPreimage = { type: 'run', parent: null, op: { cmd: 'true' } };
    const diffID = (await a.configFile()).rootfs.diff_ids[0]!;
    await new BuildCache(store).record(keyOf(preimage), preimage, { layer: { desc: layer, diffID }, emptyLayer: false, createdAt: '2024-01-01T00:00:00Z' }, 'Dockerfile#0#1');
    return { am, layer: layer.digest, config: am.config.digest };
  }

  const summary = (r: Awaited<ReturnType<typeof checkStore>>) => r.problems.map((p) => `${p.kind} ${p.subject}`).sort();

  it('finds nothing wrong in a store written through ContentStore, and counts every blob', async () => {
    await world();
    const r = await checkStore(store);
    assert.deepEqual(r.problems, []);
    let blobs = 0;
    for await (const _ of store.blobs()) blobs++;
    assert.equal(r.blobs, blobs);
    assert.equal(r.refs, 2);
  });

  const cases: Array<{ name: string; damage: (w: Awaited<ReturnType<typeof world>>) => Promise<void>; found: (w: Awaited<ReturnType<typeof world>>) => Array<`${StoreProblemKind} ${string}`>; refsLeft: string[] }> = [
    {
      name: 'a flipped byte in a layer: the blob and the image named on it (repair also drops the cache record)',
      damage: (w) => flipByte(store, w.layer),
      found: (w) => [`corrupt-blob ${w.layer}`, 'broken-ref a:1'],
      refsLeft: ['b:1'],
    },
    {
      name: 'a deleted layer a tag needs: the tag and the cache record',
      damage: async (w) => void (await store.delete(w.layer)),
      found: () => ['broken-ref a:1', `dangling-cache-record build-cache/${keyOf({ type: 'run', parent: null, op: { cmd: 'true' } }).slice(7)}`],
      refsLeft: ['b:1'],
    },
    {
      name: 'a deleted config',
      damage: async (w) => void (await store.delete(w.config)),
      found: () => ['broken-ref a:1'],
      refsLeft: ['b:1'],
    },
    {
      name: 'an unreadable cache record',
      damage: async () => store.writeMeta('build-cache', 'f'.repeat(64), { format: 1, nonsense: true }),
      found: () => [`dangling-cache-record build-cache/${'f'.repeat(64)}`],
      refsLeft: ['a:1', 'b:1'],
    },
  ];
  for (const c of cases) {
    it(`reports and repairs ${c.name}`, async () => {
      const w = await world();
      await c.damage(w);
      const found = await checkStore(store);
      // without --repair: reported, nothing removed
      assert.deepEqual(summary(found), c.found(w).sort());
      assert.ok(found.problems.every((p) => !p.repaired));
      assert.deepEqual(summary(await checkStore(store)), c.found(w).sort());
      const repaired = await checkStore(store, { repair: true });
      assert.ok(repaired.problems.length >= c.found(w).length && repaired.problems.every((p) => p.repaired), JSON.stringify(repaired.problems));
      assert.deepEqual((await store.listRefs()).map((r) => r.name), c.refsLeft);
      assert.deepEqual((await checkStore(store)).problems, [], 'one repair pass leaves a clean store');
    });
  }

  it('an index needs only the manifests that were pulled, but at least one', async () => {
    const w = await world();
    const present = { mediaType: MediaType.OciManifest, digest: (await store.getRef('b:1'))!.digest, size: (await store.getRef('b:1'))!.size };
    const absent = { mediaType: MediaType.OciManifest, digest: `sha256:${'e'.repeat(64)}` as Digest, size: 10 };
    await store.setRef('multi:1', await store.putJSON({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [absent, present] }, MediaType.OciIndex));
    await store.setRef('none:1', await store.putJSON({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [absent] }, MediaType.OciIndex));
    assert.deepEqual(summary(await checkStore(store)), ['broken-ref none:1']);
    void w;
  });
});
