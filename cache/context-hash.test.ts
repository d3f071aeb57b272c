import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../image/digest.js';
import { ContextHasher, RACY_MARGIN_MS } from './context-hash.js';
import { CacheKeyError } from './errors.js';
import { ContentStore } from './store.js';
import { tempRoot } from './testdata/helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A clock far enough ahead that no entry is racy: isolates the stat comparison from the racy rule. */
const settled = { now: () => Date.now() + 60_000 };

describe('cache/context-hash', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let store: ContentStore;
  let ctx: string;

  beforeEach(async () => {
    ({ root, cleanup } = await tempRoot());
    store = await ContentStore.open(join(root, 'store'));
    ctx = join(root, 'ctx');
    await mkdir(ctx);
  });
  afterEach(async () => cleanup());

  it('hashes once, then reuses while the stat is unchanged; persists across open()', async () => {
    const f = join(ctx, 'a.txt');
    await writeFile(f, 'hello\n');
    const h = await ContextHasher.open(store, ctx, settled);
    assert.equal(await h.hashFile(f, await lstat(f)), sha256('hello\n'));
    assert.equal(await h.hashFile(f, await lstat(f)), sha256('hello\n'));
    assert.deepEqual(h.stats(), { hashed: 1, reused: 1 });
    await h.save();
    const h2 = await ContextHasher.open(store, ctx, settled);
    assert.equal(await h2.hashFile(f, await lstat(f)), sha256('hello\n'));
    assert.deepEqual(h2.stats(), { hashed: 0, reused: 1 });
  });

  it('a session that only reused hashes writes nothing (the table and its generation stay as they were)', async () => {
    const f = join(ctx, 'a.txt');
    await writeFile(f, 'hello\n');
    const h = await ContextHasher.open(store, ctx, settled);
    await h.hashFile(f, await lstat(f));
    await h.save();
    const key = (await store.listMeta('context-hash'))[0]!;
    const before = JSON.stringify(await store.readMeta('context-hash', key));
    const h2 = await ContextHasher.open(store, ctx, settled);
    await h2.hashFile(f, await lstat(f));
    await h2.save();
    assert.equal(JSON.stringify(await store.readMeta('context-hash', key)), before);
    await writeFile(join(ctx, 'b.txt'), 'new\n');
    const h3 = await ContextHasher.open(store, ctx, settled);
    await h3.hashFile(join(ctx, 'b.txt'), await lstat(join(ctx, 'b.txt')));
    await h3.save();
    const after = await store.readMeta<{ generation: number; entries: Record<string, unknown> }>('context-hash', key);
    assert.equal(after!.generation, (JSON.parse(before) as { generation: number }).generation + 1);
    assert.deepEqual(Object.keys(after!.entries).sort(), ['a.txt', 'b.txt']);
  });

  it('re-hashes a file modified with the same size and mtime restored by utimes (ctime changed)', async () => {
    const f = join(ctx, 'same-size.txt');
    await writeFile(f, 'aaaa');
    const T = Math.floor(Date.now() / 1000) - 3600; // whole seconds: utimes can restore them exactly
    await utimes(f, T, T);
    const st1 = await lstat(f);
    const h = await ContextHasher.open(store, ctx, settled);
    assert.equal(await h.hashFile(f, st1), sha256('aaaa'));
    await sleep(20); // past the kernel's coarse timestamp tick, so ctime moves
    await writeFile(f, 'bbbb');
    await utimes(f, T, T);
    const st2 = await lstat(f);
    assert.equal(st2.size, st1.size);
    assert.equal(st2.mtimeMs, st1.mtimeMs, 'utimes restored mtime');
    assert.notEqual(st2.ctimeMs, st1.ctimeMs, 'ctime moved');
    assert.equal(await h.hashFile(f, st2), sha256('bbbb'));
    assert.deepEqual(h.stats(), { hashed: 2, reused: 0 });
  });

  it('racy: a file rewritten within the same second with an identical stat is re-hashed, never stale', async () => {
    const f = join(ctx, 'racy.txt');
    await writeFile(f, 'v1!!');
    const st = await lstat(f);
    const h = await ContextHasher.open(store, ctx); // the real clock: the entry is fresh, hence racy
    assert.equal(await h.hashFile(f, st), sha256('v1!!'));
    await writeFile(f, 'v2!!');
    // On a file system with 1 s timestamps the second write leaves the stat as it was:
    // pass the first stat to model exactly that.
    assert.equal(await h.hashFile(f, st), sha256('v2!!'));
    assert.deepEqual(h.stats(), { hashed: 2, reused: 0 });
    await h.save();
    const again = await ContextHasher.open(store, ctx);
    assert.equal(await again.hashFile(f, st), sha256('v2!!'));
    assert.equal(again.stats().reused, 0, 'a racy entry is not remembered');
  });

  it('control: without the racy rule the same sequence WOULD return the stale hash', async () => {
    // Proves the racy test above exercises a real hazard (this is what the rule prevents).
    const f = join(ctx, 'racy.txt');
    await writeFile(f, 'v1!!');
    const st = await lstat(f);
    const h = await ContextHasher.open(store, ctx, settled);
    await h.hashFile(f, st);
    await writeFile(f, 'v2!!');
    assert.equal(await h.hashFile(f, st), sha256('v1!!'));
  });

  it('refuses paths outside the context', async () => {
    const h = await ContextHasher.open(store, ctx);
    const st = await lstat(root);
    for (const p of [join(root, 'x'), ctx, `${ctx}/`, `${ctx}/..`, `${ctx}/../store/version`, `${ctx}/sub/../../x`, `${ctx}x/a`]) {
      await assert.rejects(h.hashFile(p, st), CacheKeyError, p);
    }
  });

  it('names a file the same however its path is spelled (./, //, sub/..), so the remembered hash is found', async () => {
    await mkdir(join(ctx, 'sub'));
    const f = join(ctx, 'sub', 'a.txt');
    await writeFile(f, 'same\n');
    const h = await ContextHasher.open(store, ctx, settled);
    await h.hashFile(f, await lstat(f));
    for (const spelled of [`${ctx}/./sub/a.txt`, `${ctx}//sub/a.txt`, `${ctx}/sub/../sub/a.txt`, `${ctx}/sub/./a.txt`]) {
      assert.equal(await h.hashFile(spelled, await lstat(f)), sha256('same\n'), spelled);
    }
    assert.deepEqual(h.stats(), { hashed: 1, reused: 4 });
  });

  it('a damaged table costs a re-hash, never a wrong answer', async () => {
    const f = join(ctx, 'a');
    await writeFile(f, 'x');
    const h = await ContextHasher.open(store, ctx, settled);
    await h.hashFile(f, await lstat(f));
    await h.save();
    const [name] = await store.listMeta('context-hash');
    const table = await store.readMeta<{ entries: Record<string, unknown[]> }>('context-hash', name!);
    table!.entries['a']![5] = 'not-a-digest';
    await store.writeMeta('context-hash', name!, table);
    const h2 = await ContextHasher.open(store, ctx, settled);
    assert.equal(await h2.hashFile(f, await lstat(f)), sha256('x'));
    assert.deepEqual(h2.stats(), { hashed: 1, reused: 0 });
  });

  it('two builds saving the same context keep each other\'s entries', async () => {
    await writeFile(join(ctx, 'a'), 'a');
    await writeFile(join(ctx, 'b'), 'b');
    const h1 = await ContextHasher.open(store, ctx, settled);
    const h2 = await ContextHasher.open(store, ctx, settled);
    await h1.hashFile(join(ctx, 'a'), await lstat(join(ctx, 'a')));
    await h2.hashFile(join(ctx, 'b'), await lstat(join(ctx, 'b')));
    await h1.save();
    await h2.save();
    const h3 = await ContextHasher.open(store, ctx, settled);
    await h3.hashFile(join(ctx, 'a'), await lstat(join(ctx, 'a')));
    await h3.hashFile(join(ctx, 'b'), await lstat(join(ctx, 'b')));
    assert.deepEqual(h3.stats(), { hashed: 0, reused: 2 });
  });

  it('a no-op second pass over 20,000 files reads none of them', async function () {
    this.timeout(120_000);
    const DIRS = 200;
    const PER = 100;
    for (let d = 0; d < DIRS; d++) {
      const dir = join(ctx, `d${d}`);
      await mkdir(dir);
      await Promise.all(Array.from({ length: PER }, (_, i) => writeFile(join(dir, `f${i}.txt`), `file ${d}/${i}\n`)));
    }
    // Let the files age past the racy window (as a real context is, by the time it is rebuilt).
    await sleep(RACY_MARGIN_MS + 100);

    const pass = async (): Promise<{ ms: number; stats: { hashed: number; reused: number }; sample: string }> => {
      const t0 = performance.now();
      const h = await ContextHasher.open(store, ctx);
      let sample = '';
      // A directory's files at once, as a builder walking a context would.
      for (const d of (await readdir(ctx)).sort()) {
        const names = await readdir(join(ctx, d));
        await Promise.all(
          names.map(async (name) => {
            const p = join(ctx, d, name);
            const digest = await h.hashFile(p, await lstat(p));
            if (d === 'd7' && name === 'f3.txt') sample = digest;
          }),
        );
      }
      await h.save();
      return { ms: performance.now() - t0, stats: h.stats(), sample };
    };
    const first = await pass();
    const second = await pass();
    console.log(
      `      20,000 files: first pass ${first.ms.toFixed(0)} ms (hashed ${first.stats.hashed}), ` +
        `no-op pass ${second.ms.toFixed(0)} ms (hashed ${second.stats.hashed}, reused ${second.stats.reused})`,
    );
    assert.deepEqual(first.stats, { hashed: DIRS * PER, reused: 0 });
    assert.deepEqual(second.stats, { hashed: 0, reused: DIRS * PER });
    assert.equal(second.sample, sha256('file 7/3\n'));
  });
});
