import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256, type Digest } from '../image/digest.js';
import { writeOciLayout } from '../image/oci-layout.js';
import { randomImage } from '../image/random.js';
import type { Manifest } from '../image/types.js';
import { RegistryClient } from '../registry/client.js';
import { missingTools, requireTools, startRegistry, type TestRegistry } from '../test/registry-server.js';
import { BuildCache, type CacheEntry } from './build-cache.js';
import { RemoteCacheFormatError } from './errors.js';
import { keyOf, type KeyPreimage } from './keys.js';
import { CACHE_ARTIFACT_TYPE, CACHE_CONFIG_MEDIA_TYPE, exportCache, importCache } from './remote-cache.js';
import { ContentStore } from './store.js';
import { layerRecord } from './testdata/build-cache-helpers.js';

/**
 * Two stages: `build` (base → run) and the final stage (base → copy --from=build → meta).
 * Returns the keys of the final stage's chain (what `min` exports) and of all steps.
 */
async function populate(store: ContentStore, cache: BuildCache): Promise<{ finalKeys: Digest[]; all: Digest[] }> {
  const all: Digest[] = [];
  const add = async (p: KeyPreimage, id: string, content: string | undefined): Promise<Digest> => {
    const key = keyOf(p);
    const rec = content === undefined ? { emptyLayer: true, createdAt: '2024-01-01T00:00:00Z', extra: { env: ['A=1'] } } : await layerRecord(store, content, { by: id });
    await cache.record(key, p, rec, id);
    all.push(key);
    return key;
  };
  const b0 = await add({ type: 'base', parent: null, op: { ref: 'golang', digest: sha256('golang') } }, 'build#0', 'golang rootfs');
  const b1 = await add({ type: 'run', parent: b0, op: { cmd: ['go', 'build'] } }, 'build#1', 'binary');
  const f0 = await add({ type: 'base', parent: null, op: { ref: 'alpine', digest: sha256('alpine') } }, 'final#0', 'alpine rootfs');
  const f1 = await add({ type: 'copy', parent: f0, op: { dest: '/bin/app' }, inputs: [{ name: 'stage:build', digest: b1 }] }, 'final#1', 'copied binary');
  const f2 = await add({ type: 'meta', parent: f1, op: { env: { A: '1' } } }, 'final#2', undefined);
  return { finalKeys: [f2], all };
}

async function entriesOf(cache: BuildCache): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  for await (const { lastUsedMs: _, ...e } of cache.entries()) out.push(e);
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

describe('cache/remote-cache', () => {
  const dirs: string[] = [];
  const tmp = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'tsb-remote-cache-'));
    dirs.push(d);
    return d;
  };
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function twoStores(): Promise<{ a: ContentStore; b: ContentStore; ca: BuildCache; cb: BuildCache; out: string }> {
    const a = await ContentStore.open(await tmp());
    const b = await ContentStore.open(await tmp());
    return { a, b, ca: new BuildCache(a), cb: new BuildCache(b), out: await tmp() };
  }

  it('local: export max, import into a second store gives the same records, and they hit', async () => {
    const { a, b, ca, cb, out } = await twoStores();
    const { finalKeys, all } = await populate(a, ca);
    assert.deepEqual(await exportCache(a, ca, finalKeys, { type: 'local', dir: out }, 'max'), { records: 5, layers: 4 });
    const manifest = JSON.parse(
      (await readFile(join(out, 'blobs/sha256', JSON.parse(await readFile(join(out, 'index.json'), 'utf8')).manifests[0].digest.slice(7)))).toString(),
    ) as Manifest;
    assert.equal(manifest.config.mediaType, CACHE_CONFIG_MEDIA_TYPE);
    assert.equal(manifest.artifactType, CACHE_ARTIFACT_TYPE);
    assert.equal(manifest.layers.length, 4);

    assert.deepEqual(await importCache(b, cb, { type: 'local', dir: out }), { records: 5, added: 5, mounts: [] });
    assert.deepEqual(await entriesOf(cb), await entriesOf(ca));
    for (const k of all) assert.deepEqual(await cb.lookup(k), await ca.lookup(k), `record ${k} hits in the second store`);
    // The layer bytes came along, verified.
    const rec = (await cb.lookup(all[1]!))!;
    assert.deepEqual(await b.readBytes(rec.layer!.desc.digest), await a.readBytes(rec.layer!.desc.digest));
    // Importing again adds nothing.
    assert.deepEqual(await importCache(b, cb, { type: 'local', dir: out }), { records: 5, added: 0, mounts: [] });
  });

  it('local: exporting again drops the blobs only the old export named (past the grace period)', async () => {
    const { a, b, ca, cb, out } = await twoStores();
    const { finalKeys } = await populate(a, ca);
    await exportCache(a, ca, finalKeys, { type: 'local', dir: out }, 'max');
    const blobsDir = join(out, 'blobs', 'sha256');
    const first = await readdir(blobsDir);
    const old = new Date(Date.now() - 3_600_000);
    for (const f of first) await utimes(join(blobsDir, f), old, old);
    // a smaller export (min) into the same directory: the build stage's layers are no longer named
    await exportCache(a, ca, finalKeys, { type: 'local', dir: out }, 'min');
    const second = await readdir(blobsDir);
    assert.ok(second.length < first.length, `${second.length} < ${first.length}`);
    assert.deepEqual(await importCache(b, cb, { type: 'local', dir: out }), { records: 3, added: 3, mounts: [] });
  });

  it('min exports only the final chain; max adds the stages it copies from', async () => {
    const { a, ca } = await twoStores();
    const { finalKeys } = await populate(a, ca);
    assert.equal((await exportCache(a, ca, finalKeys, { type: 'local', dir: await tmp() }, 'min')).records, 3);
    assert.equal((await exportCache(a, ca, finalKeys, { type: 'local', dir: await tmp() }, 'max')).records, 5);
  });

  it('leaves out records whose layer is gone', async () => {
    const { a, ca } = await twoStores();
    const { finalKeys, all } = await populate(a, ca);
    await a.delete((await ca.entry(all[2]!))!.rec.layer!.desc.digest); // alpine rootfs
    assert.deepEqual(await exportCache(a, ca, finalKeys, { type: 'local', dir: await tmp() }, 'min'), { records: 2, layers: 1 });
  });

  it('refuses to import an ordinary image as a cache', async () => {
    const { b, cb } = await twoStores();
    const dir = await tmp();
    await writeOciLayout({ dir }, [{ image: await randomImage(1024, 1, 7), refName: 'cache' }]);
    await assert.rejects(importCache(b, cb, { type: 'local', dir }), RemoteCacheFormatError);
    assert.deepEqual(await entriesOf(cb), []);
  });

  describe('registry round trip (real docker-registry)', function () {
    this.timeout(60_000);
    let reg: TestRegistry | undefined;
    before(async function () {
      requireTools(this, ['docker-registry']);
      reg = await startRegistry({ mode: 'plain' });
    });
    after(async () => reg?.stop());

    it('export max to a registry, import into a fresh store: same records', async () => {
      const { a, b, ca, cb } = await twoStores();
      const { finalKeys, all } = await populate(a, ca);
      const client = new RegistryClient({ dockerConfigDir: await tmp() });
      try {
        const ref = `${reg!.host}/app/cache:buildcache`;
        assert.deepEqual(await exportCache(a, ca, finalKeys, { type: 'registry', ref, client }, 'max'), { records: 5, layers: 4 });
        // An independent client sees a valid OCI manifest with our artifact config.
        const sk = spawnSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8', timeout: 30_000 });
        if (missingTools(['skopeo']).length === 0 || process.env['CI'] === 'true') {
          assert.equal(sk.status, 0, `skopeo: ${sk.stderr}`);
          const m = JSON.parse(sk.stdout) as Manifest;
          assert.equal(m.config.mediaType, CACHE_CONFIG_MEDIA_TYPE);
          assert.equal(m.layers.length, 4);
        }

        assert.deepEqual(await importCache(b, cb, { type: 'registry', ref, client }), { records: 5, added: 5, mounts: [] });
        assert.deepEqual(await entriesOf(cb), await entriesOf(ca));
        for (const k of all) assert.deepEqual(await cb.lookup(k), await ca.lookup(k));
      } finally {
        await client.close();
      }
    });
  });
});
