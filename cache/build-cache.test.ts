import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256, type Digest } from '../image/digest.js';
import { BuildCache, explainDifferences, type CacheRecord } from './build-cache.js';
import { CacheKeyError } from './errors.js';
import { gc } from './gc.js';
import { keyOf, type KeyPreimage } from './keys.js';
import { ContentStore } from './store.js';
import { layerRecord } from './testdata/build-cache-helpers.js';
import { tempRoot } from './testdata/helpers.js';

const D = (s: string): Digest => sha256(s);

const copyStep: KeyPreimage = {
  type: 'copy',
  parent: D('parent-1'),
  op: { dest: '/app', chown: null, args: { VERSION: '1.2' } },
  inputs: [{ name: 'src:0', digest: D('tree-1') }],
  files: [
    { path: 'src/main.ts', digest: D('main-1') },
    { path: 'src/util.ts', digest: D('util-1') },
    { path: 'README.md', digest: D('readme-1') },
  ],
};

function withFiles(files: Array<[string, string]>, tree: string): KeyPreimage {
  return { ...copyStep, files: files.map(([path, c]) => ({ path, digest: D(c) })), inputs: [{ name: 'src:0', digest: D(tree) }] };
}

describe('cache/build-cache', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let store: ContentStore;
  let clock: number;
  let cache: BuildCache;

  beforeEach(async () => {
    ({ root, cleanup } = await tempRoot());
    store = await ContentStore.open(root);
    clock = 1_700_000_000_000;
    cache = new BuildCache(store, { now: () => clock });
  });
  afterEach(async () => cleanup());

  it('record then lookup returns the record; an unknown key misses', async () => {
    const rec = await layerRecord(store, 'one', { history: { created_by: 'COPY . /app' } });
    const key = keyOf(copyStep);
    await cache.record(key, copyStep, rec, 'Dockerfile#0#1');
    assert.deepEqual(await cache.lookup(key), rec);
    assert.equal(await cache.lookup(D('nothing')), undefined);
    const empty: CacheRecord = { emptyLayer: true, createdAt: '2024-01-01T00:00:00Z', extra: { env: ['A=1'] } };
    const meta: KeyPreimage = { type: 'meta', parent: key, op: { env: { A: '1' } } };
    await cache.record(keyOf(meta), meta, empty, 'Dockerfile#0#2');
    assert.deepEqual(await cache.lookup(keyOf(meta)), empty);
  });

  it('refuses a key that is not the key of its preimage, and a layer not in the store', async () => {
    const rec = await layerRecord(store, 'one');
    await assert.rejects(cache.record(D('wrong'), copyStep, rec, 's'), CacheKeyError);
    const ghost: CacheRecord = { ...rec, layer: { desc: { ...rec.layer!.desc, digest: D('absent') }, diffID: D('x') } };
    await assert.rejects(cache.record(keyOf(copyStep), copyStep, ghost, 's'), /not in the store/);
  });

  it('lookup drops a record whose layer blob is gone', async () => {
    const rec = await layerRecord(store, 'one');
    const key = keyOf(copyStep);
    await cache.record(key, copyStep, rec, 's');
    assert.ok(await store.delete(rec.layer!.desc.digest));
    assert.equal(await cache.lookup(key), undefined);
    assert.equal(await cache.entry(key), undefined, 'the record itself was removed');
    assert.deepEqual(await cache.roots(), []);
  });

  it('roots() keeps cache layers and stored preimages through gc; without them gc frees them', async () => {
    const rec = await layerRecord(store, 'one');
    const big: KeyPreimage = {
      ...copyStep,
      files: Array.from({ length: 500 }, (_, i) => ({ path: `f${i}`, digest: D(`f${i}`) })),
    };
    await cache.record(keyOf(big), big, rec, 'big');
    const roots = await cache.roots();
    assert.equal(roots.length, 2, 'the layer and the preimage blob (500 files are not inlined)');
    assert.ok(roots.includes(rec.layer!.desc.digest));
    await gc(store, { extraRoots: roots, minAgeMs: 0 });
    assert.deepEqual(await cache.lookup(keyOf(big)), rec);
    const fewer: KeyPreimage = { ...big, files: big.files!.slice(1), inputs: [{ name: 'src:0', digest: D('tree-fewer') }] };
    assert.deepEqual(await cache.explain('big', fewer), ['f0 removed']);
    await gc(store, { minAgeMs: 0 });
    assert.equal(await cache.lookup(keyOf(big)), undefined);
    assert.deepEqual(await cache.explain('big', big), ['no previous build of this step']);
  });

  describe('explain()', () => {
    const table: Array<{ name: string; prev: KeyPreimage | undefined; now: KeyPreimage; want: string[] }> = [
      { name: 'first build', prev: undefined, now: copyStep, want: ['no previous build of this step'] },
      {
        name: 'a source file changed',
        prev: copyStep,
        now: withFiles([['src/main.ts', 'main-2'], ['src/util.ts', 'util-1'], ['README.md', 'readme-1']], 'tree-2'),
        want: ['src/main.ts changed'],
      },
      {
        name: 'a file added and one removed',
        prev: copyStep,
        now: withFiles([['src/main.ts', 'main-1'], ['src/util.ts', 'util-1'], ['src/new.ts', 'new']], 'tree-3'),
        want: ['README.md removed', 'src/new.ts added'],
      },
      {
        name: 'a build arg changed',
        prev: copyStep,
        now: { ...copyStep, op: { ...copyStep.op, args: { VERSION: '1.3' } } },
        want: ['build arg VERSION 1.2 → 1.3'],
      },
      {
        name: 'a build arg added and one removed',
        prev: copyStep,
        now: { ...copyStep, op: { ...copyStep.op, args: { TARGET: 'prod' } } },
        want: ['build arg TARGET added (prod)', 'build arg VERSION removed'],
      },
      {
        name: 'the base image digest',
        prev: { type: 'base', parent: null, op: { ref: 'alpine:3.20', digest: D('alpine-a'), platform: 'linux/amd64' } },
        now: { type: 'base', parent: null, op: { ref: 'alpine:3.20', digest: D('alpine-b'), platform: 'linux/amd64' } },
        want: [`base image digest changed (${D('alpine-a').slice(0, 19)} → ${D('alpine-b').slice(0, 19)})`],
      },
      { name: 'the parent step', prev: copyStep, now: { ...copyStep, parent: D('parent-2') }, want: ['parent step changed'] },
      {
        name: 'an instruction parameter',
        prev: { type: 'run', parent: null, op: { cmd: ['make'] } },
        now: { type: 'run', parent: null, op: { cmd: ['make', 'test'] } },
        want: ['instruction changed: cmd ["make"] → ["make","test"]'],
      },
      {
        name: 'the kind of instruction',
        prev: { type: 'run', parent: null, op: { cmd: ['make'] } },
        now: { type: 'copy', parent: null, op: { dest: '/' } },
        want: ['instruction changed: run → copy'],
      },
      {
        name: 'another stage (an input without per-file detail)',
        prev: { type: 'copy', parent: null, op: { dest: '/' }, inputs: [{ name: 'stage:build', digest: D('b1') }] },
        now: { type: 'copy', parent: null, op: { dest: '/' }, inputs: [{ name: 'stage:build', digest: D('b2') }] },
        want: ['input stage:build changed'],
      },
      {
        name: 'parent and an arg at once',
        prev: copyStep,
        now: { ...copyStep, parent: D('p9'), op: { ...copyStep.op, args: { VERSION: '2' } } },
        want: ['parent step changed', 'build arg VERSION 1.2 → 2'],
      },
      {
        name: 'nothing but an excluded field (same key: the result was removed)',
        prev: copyStep,
        now: { ...copyStep, op: { ...copyStep.op, created: '2030-01-01' } },
        want: ['same inputs as the last build of this step; its result is no longer cached (pruned, or its layer was garbage-collected)'],
      },
    ];
    for (const t of table) {
      it(t.name, async () => {
        if (t.prev) await cache.record(keyOf(t.prev), t.prev, await layerRecord(store, t.name), 'step');
        assert.deepEqual(await cache.explain('step', t.now), t.want);
      });
    }

    it('caps per-file messages', () => {
      const many = (v: string): KeyPreimage => ({ ...copyStep, inputs: [{ name: 'src:0', digest: D(v) }], files: Array.from({ length: 30 }, (_, i) => ({ path: `f${String(i).padStart(2, '0')}`, digest: D(v + i) })) });
      const msgs = explainDifferences(many('a'), many('b'));
      assert.equal(msgs.length, 21);
      assert.equal(msgs[20], '... and 10 more file changes');
    });

    it('secrets never reach the stored preimage nor an explanation', async () => {
      const secretOp = (token: string, v: string): KeyPreimage => ({
        type: 'run',
        parent: null,
        op: {
          cmd: ['sh', '-c', 'deploy'],
          args: { VERSION: v, HTTP_PROXY: `http://user:${token}@proxy` },
          secrets: { TOKEN: token },
          mounts: [{ type: 'secret', id: 'npmrc', target: '/root/.npmrc', source: `/home/${token}/.npmrc` }],
        },
      });
      const prev = secretOp('hunter2-old', '1');
      await cache.record(keyOf(prev), prev, await layerRecord(store, 'x'), 'deploy');
      const msgs = await cache.explain('deploy', secretOp('hunter2-new', '2'));
      assert.deepEqual(msgs, ['build arg VERSION 1 → 2']);
      const metaFiles: string[] = [];
      const walk = async (d: string): Promise<void> => {
        for (const e of await readdir(d, { withFileTypes: true })) {
          if (e.isDirectory()) await walk(join(d, e.name));
          else metaFiles.push(join(d, e.name));
        }
      };
      await walk(root);
      for (const f of metaFiles) assert.ok(!(await readFile(f)).includes('hunter2'), `${f} holds a secret`);
    });
  });

  describe('prune()', () => {
    async function three(): Promise<Digest[]> {
      const keys: Digest[] = [];
      for (const [i, content] of ['a'.repeat(10), 'b'.repeat(10), 'c'.repeat(10)].entries()) {
        const p: KeyPreimage = { type: 'run', parent: null, op: { cmd: [String(i)] } };
        clock += 1000;
        await cache.record(keyOf(p), p, await layerRecord(store, content), `s${i}`);
        keys.push(keyOf(p));
      }
      return keys;
    }

    it('keepBytes drops least recently used first', async () => {
      const [k0, k1, k2] = await three();
      clock += 120_000;
      assert.ok(await cache.lookup(k0!)); // k0 is now the most recently used
      const size = (await cache.entry(k0!))!.rec.layer!.desc.size;
      assert.deepEqual(await cache.prune({ keepBytes: size * 2 }), { removed: 1 });
      assert.ok(await cache.entry(k0!));
      assert.equal(await cache.entry(k1!), undefined, 'k1 was the least recently used');
      assert.ok(await cache.entry(k2!));
      assert.deepEqual(await cache.prune({ keepBytes: 0 }), { removed: 2 });
    });

    it('olderThanMs drops records unused for that long', async () => {
      const [k0, k1, k2] = await three();
      assert.deepEqual(await cache.prune({ olderThanMs: 1500 }), { removed: 1 });
      assert.equal(await cache.entry(k0!), undefined);
      assert.ok(await cache.entry(k1!));
      assert.ok(await cache.entry(k2!));
    });
  });
});
