import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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
