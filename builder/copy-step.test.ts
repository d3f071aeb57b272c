import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { ContentStore } from '../cache/store.js';
import { storeImage } from '../cache/store-image.js';
import { createTarStream } from '../image/tar/writer.js';
import { readTar } from '../image/tar/reader.js';
import { createGunzip } from '../image/compress.js';
import { makeTree, removeAll, tempDir } from '../test/helpers.js';
import { requireTools } from '../test/tools.js';
import { LayerViews } from './layers.js';
import { build } from './build.js';

/** Lists a layer's entries as `path uid:gid mode`. */
async function layerPaths(store: ContentStore, manifest: `sha256:${string}`, i: number): Promise<string[]> {
  const layers = await storeImage(store, manifest).layers();
  const out: string[] = [];
  for await (const { header, body } of readTar((await layers[i]!.compressed()).pipe(createGunzip()))) {
    body.resume();
    out.push(`${header.path} ${header.uid}:${header.gid} ${header.mode.toString(8)}`);
  }
  return out;
}

describe('builder: COPY keys and the lower filesystem', function () {
  this.timeout(60_000);
  let root: string;
  let ctx: string;
  before(async () => {
    root = await tempDir('tsb-copykey-');
    const files: Record<string, string> = {
      'Dockerfile': 'FROM scratch\nCOPY --chown=7:7 many/ /app/\nCOPY one.txt /app/\n',
      'one.txt': 'one\n',
    };
    for (let i = 0; i < 50; i++) files[`many/f${i}.txt`] = `${i}\n`;
    ctx = await makeTree(files);
  });
  after(() => removeAll(root, ctx));

  it('a cached COPY never reads the layers below it; a missed one is laid onto them', async () => {
    const store = await ContentStore.open(root);
    const first = await build({ store, contextDir: ctx });
    assert.equal(first.stats.executed, 2);
    // the second COPY lands in /app, which the first made: its layer repeats the directory with
    // the metadata the first gave it (as BuildKit's diff does), which only the lower view knows
    assert.deepEqual(await layerPaths(store, first.digest, 1), ['app 7:7 755', 'app/one.txt 0:0 644']);

    let indexReads = 0;
    const readMeta = store.readMeta.bind(store);
    store.readMeta = (async (ns: string, key: string) => {
      if (ns === 'layer-index') indexReads++;
      return readMeta(ns, key);
    }) as typeof store.readMeta;
    const second = await build({ store, contextDir: ctx });
    assert.deepEqual(second.stats, { executed: 0, cached: 2 });
    assert.equal(second.digest, first.digest);
    assert.equal(indexReads, 0, 'no layer index was loaded for a fully cached build');
  });
});

describe('builder: COPY --from unpacks only what its sources need', function () {
  this.timeout(60_000);
  let root: string;
  let ctx: string;
  let work: string;
  before(async () => {
    root = await tempDir('tsb-fromsel-');
    work = await tempDir('tsb-fromsel-work-');
    // a tar with a hardlink (data/hard → other/orig) and a symlinked directory (lnk → data)
    await makeTree({ 'other/orig': 'orig\n', 'data/file.txt': 'file\n', 'data/b.txt': 'b\n', 'data/sub/deep.txt': 'deep\n' }, join(work, 't'));
    execFileSync('ln', [join(work, 't/other/orig'), join(work, 't/data/hard')]);
    execFileSync('ln', ['-s', 'data', join(work, 't/lnk')]);
    const files: Record<string, string> = {
      'Dockerfile': [
        'FROM scratch AS src',
        'COPY big/ /big/',
        'ADD links.tar /',
        'FROM scratch',
        'COPY --from=src /data/file.txt /out/1',
        'COPY --from=src /data/ /out/2/',
        'COPY --from=src /lnk/sub/deep.txt /out/3',
        'COPY --from=src /data/hard /out/4',
        'COPY --from=src /data/*.txt /out/5/',
        '',
      ].join('\n'),
    };
    for (let i = 0; i < 30; i++) files[`big/f${i}`] = `${i}\n`;
    ctx = await makeTree(files);
    execFileSync('tar', ['-cf', join(ctx, 'links.tar'), '-C', join(work, 't'), 'other', 'data', 'lnk']);
  });
  after(() => removeAll(root, ctx, work));

  it('copies the same files as a full unpack would (symlinked dirs, wildcards, a hardlink to outside)', async function () {
    requireTools(this, ['tar']);
    const store = await ContentStore.open(root);
    const dest = join(work, 'out');
    const r = await build({ store, contextDir: ctx, outputs: [{ type: 'local', dest }] });
    assert.equal(r.stats.executed, 7);
    const read = (p: string) => readFileSync(join(dest, p), 'utf8');
    assert.equal(read('out/1'), 'file\n');
    assert.deepEqual(readdirSync(join(dest, 'out/2')).sort(), ['b.txt', 'file.txt', 'hard', 'sub']);
    assert.equal(read('out/2/sub/deep.txt'), 'deep\n');
    assert.equal(read('out/3'), 'deep\n');
    assert.equal(read('out/4'), 'orig\n');
    assert.deepEqual(readdirSync(join(dest, 'out/5')).sort(), ['b.txt', 'file.txt']);
  });

  it('unpacks a single file without the rest of the stage; a hardlink to outside falls back to everything', async () => {
    const store = await ContentStore.open(root);
    const file = (path: string, body: string) => ({ header: { path, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body: Buffer.from(body) });
    const dir = (path: string) => ({ header: { path, type: 'dir' as const, mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 } });
    const big = await store.ingestLayer(createTarStream([dir('big'), ...Array.from({ length: 30 }, (_, i) => file(`big/f${i}`, `${i}\n`))]));
    const top = await store.ingestLayer(
      createTarStream([
        dir('other'),
        file('other/orig', 'orig\n'),
        dir('data'),
        file('data/file.txt', 'file\n'),
        { header: { path: 'data/hard', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, linkname: 'other/orig' } },
        dir('data/sub'),
        file('data/sub/deep.txt', 'deep\n'),
        { header: { path: 'lnk', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 0, linkname: 'data' } },
      ]),
    );
    const layers = [big, top].map((l) => ({ desc: l.desc, diffID: l.diffID }));
    const views = new LayerViews(store, join(work, 'views'));
    const one = await views.unpackedFor(layers, ['/data/file.txt']);
    assert.equal(readFileSync(join(one, 'data/file.txt'), 'utf8'), 'file\n');
    assert.equal(existsSync(join(one, 'big')), false, 'the other layer was not unpacked');
    assert.equal(existsSync(join(one, 'other')), false);
    const viaLink = await views.unpackedFor(layers, ['/lnk/sub/deep.txt']);
    assert.equal(readFileSync(join(viaLink, 'lnk/sub/deep.txt'), 'utf8'), 'deep\n');
    assert.equal(existsSync(join(viaLink, 'big')), false);
    const hard = await views.unpackedFor(layers, ['/data/hard']);
    assert.ok(existsSync(join(hard, 'big/f0')), 'fell back to a full unpack');
    assert.equal(readFileSync(join(hard, 'data/hard'), 'utf8'), 'orig\n');
  });
});

describe('builder: the copy memo gives the key a full plan gives', function () {
  this.timeout(120_000);
  let root: string;
  let ctx: string;
  let store: ContentStore;
  const dockerfile = (chown: string): string => `FROM scratch\nCOPY first.txt /first.txt\nCOPY --chown=${chown} app/ /app/\nCOPY app/sub/c.txt /single\n`;
  before(async () => {
    root = await tempDir('tsb-copymemo-');
    ctx = await makeTree({
      'Dockerfile': dockerfile('1:1'),
      '.dockerignore': 'app/ignored*\n',
      'first.txt': 'first\n',
      'app/a.txt': 'aaaa\n',
      'app/b.txt': 'bbbb\n',
      'app/ignored.txt': 'ignored\n',
      'app/sub/c.txt': 'cccc\n',
    });
    symlinkSync('a.txt', join(ctx, 'app/link'));
    // whole seconds, so that an edit can put an mtime back exactly
    utimesSync(join(ctx, 'app/a.txt'), 1_700_000_000, 1_700_000_000);
    store = await ContentStore.open(root);
  });
  after(() => removeAll(root, ctx));

  /** A build that trusts files written just before it (the memo's racy margin is 0). */
  const rebuild = async (options: { noCache?: boolean } = {}) => {
    await sleep(20); // the edit's ctime lies before the build's start
    return build({ store, contextDir: ctx, racyMarginMs: 0, ...options });
  };
  const forgetMemos = async (): Promise<void> => {
    for (const key of await store.listMeta('copy-memo')) await store.deleteMeta('copy-memo', key);
  };
  /** Counts the metadata reads of each namespace during `fn`. */
  const countReads = async <T>(fn: () => Promise<T>): Promise<{ result: T; reads: Map<string, number> }> => {
    const reads = new Map<string, number>();
    const readMeta = store.readMeta.bind(store);
    store.readMeta = (async (ns: string, key: string) => {
      reads.set(ns, (reads.get(ns) ?? 0) + 1);
      return readMeta(ns, key);
    }) as typeof store.readMeta;
    try {
      return { result: await fn(), reads };
    } finally {
      store.readMeta = readMeta;
    }
  };
  const file = (p: string): string => join(ctx, p);

  // Each edit is applied to the tree the previous ones left.
  const edits: Array<{ name: string; edit: () => void; same?: boolean; reason?: RegExp }> = [
    {
      name: 'content changed, same size, mtime restored (seen by ctime)',
      edit: () => {
        const { size } = statSync(file('app/a.txt'));
        writeFileSync(file('app/a.txt'), 'AAAA\n');
        utimesSync(file('app/a.txt'), 1_700_000_000, 1_700_000_000);
        const st = statSync(file('app/a.txt'));
        assert.deepEqual([st.size, st.mtimeMs], [size, 1_700_000_000_000]);
      },
      reason: /app\/a\.txt changed/,
    },
    { name: 'chmod', edit: () => chmodSync(file('app/b.txt'), 0o600) },
    { name: 'rename', edit: () => renameSync(file('app/b.txt'), file('app/b2.txt')) },
    { name: 'add', edit: () => writeFileSync(file('app/sub/new.txt'), 'new\n') },
    { name: 'delete', edit: () => rmSync(file('app/sub/new.txt')) },
    {
      name: 'symlink retargeted',
      edit: () => {
        rmSync(file('app/link'));
        symlinkSync('b2.txt', file('app/link'));
      },
    },
    { name: '.dockerignore changed', edit: () => writeFileSync(file('.dockerignore'), 'app/none*\n') },
    { name: '--chown changed', edit: () => writeFileSync(file('Dockerfile'), dockerfile('2:2')) },
    { name: 'parent step changed', edit: () => writeFileSync(file('first.txt'), 'first, again\n') },
    { name: 'a single-file source changed', edit: () => writeFileSync(file('app/sub/c.txt'), 'cc\n') },
    { name: 'mtime only (touch)', edit: () => utimesSync(file('app/a.txt'), new Date(), new Date()), same: true },
  ];

  it('a rebuild with nothing changed takes the keys from the memo, without the context hash table', async () => {
    const first = await rebuild();
    assert.equal(first.stats.executed, 3);
    assert.equal((await store.listMeta('copy-memo')).length, 3, 'one memo per COPY');
    const { result: again, reads } = await countReads(() => rebuild());
    assert.deepEqual(again.stats, { executed: 0, cached: 3 });
    assert.deepEqual(again.cacheKeys.max, first.cacheKeys.max);
    assert.equal(reads.get('context-hash') ?? 0, 0, 'no context hash table loaded');
    assert.equal(reads.get('copy-memo'), 3);
  });

  for (const { name, edit, same, reason } of edits) {
    it(`after an edit (${name}), the memo path and a full plan give the same keys`, async () => {
      const before = (await rebuild()).cacheKeys.max;
      edit();
      const { result: memoed, reads } = await countReads(() => rebuild());
      assert.ok((reads.get('copy-memo') ?? 0) > 0, 'the memo was consulted');
      await forgetMemos();
      const planned = await rebuild();
      assert.deepEqual(memoed.cacheKeys.max, planned.cacheKeys.max, 'memo path = full plan');
      assert.equal(memoed.digest, planned.digest);
      if (same) assert.deepEqual(memoed.cacheKeys.max, before);
      else assert.notDeepEqual(memoed.cacheKeys.max, before);
      if (reason) assert.match(memoed.cacheMisses.flatMap((m) => m.reasons).join('\n'), reason);
    });
  }

  it('--no-cache runs every step although the memo knows them; a memo whose record is gone falls back to the plan', async () => {
    const warm = await rebuild();
    assert.equal(warm.stats.executed, 0);
    assert.equal((await rebuild({ noCache: true })).stats.executed, 3);
    for (const key of await store.listMeta('build-cache')) await store.deleteMeta('build-cache', key);
    const again = await rebuild();
    assert.equal(again.stats.executed, 3);
    assert.deepEqual(again.cacheKeys.max, warm.cacheKeys.max);
  });
});
