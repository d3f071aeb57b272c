import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createTarStream, type TarSource } from '../image/tar/writer.js';
import { digestHex } from '../image/digest.js';
import { gc } from './gc.js';
import { ContentStore } from './store.js';
import { tempRoot } from './testdata/helpers.js';

/** 2500 files of 0–6 KB (every fifth incompressible), about 8 MB of tar: several gzip members; `edit` changes a body by path. */
function layer(edit: (path: string, body: Buffer) => Buffer = (_p, b) => b): TarSource[] {
  const out: TarSource[] = [];
  for (let i = 0; i < 2500; i++) {
    const path = `app/f${String(i).padStart(5, '0')}.txt`;
    const size = (i * 7919) % 6000;
    const text = Buffer.from(`${path} line ${i}\n`.repeat(size / 10 + 1)).subarray(0, size);
    const body = edit(path, i % 5 === 0 ? Buffer.from(text.map((c, j) => (c * 31 + j * 17 + i) & 0xff)) : text);
    out.push({ header: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body });
  }
  return out;
}

const grow = (target: string) => (p: string, b: Buffer): Buffer => (p === target ? Buffer.concat([b, Buffer.from('one more line\n')]) : b);

describe('cache/layer-members (compressed members reused across ingests)', function () {
  this.timeout(60_000);
  let roots: Array<{ cleanup: () => Promise<void> }> = [];
  const fresh = async (): Promise<{ store: ContentStore; root: string }> => {
    const t = await tempRoot();
    roots.push(t);
    return { store: await ContentStore.open(t.root), root: t.root };
  };
  afterEach(async () => {
    for (const r of roots) await r.cleanup();
    roots = [];
  });

  it('a one-file change reuses every other member and gives the digest of an ingest from scratch; and back again', async () => {
    const { store, root } = await fresh();
    const v1 = await store.ingestLayer(createTarStream(layer()));
    assert.ok(v1.members.count > 3, `${v1.members.count} members`);
    assert.equal(v1.members.reused, 0);
    const v2 = await store.ingestLayer(createTarStream(layer(grow('app/f01234.txt'))), { reuseFrom: [v1.desc.digest] });
    assert.ok(v2.members.reused >= v2.members.count - 2, `${v2.members.reused} of ${v2.members.count} reused`);
    const scratch = await (await fresh()).store.ingestLayer(createTarStream(layer(grow('app/f01234.txt'))));
    assert.deepEqual(v2.desc, scratch.desc);
    assert.equal(v2.diffID, scratch.diffID);
    // and back: v1 rebuilt from v2's members is v1
    const back = await store.ingestLayer(createTarStream(layer()), { reuseFrom: [v2.desc.digest] });
    assert.deepEqual(back.desc, v1.desc);
    assert.ok(back.members.reused >= back.members.count - 2);
    // an independent reader agrees
    execFileSync('gzip', ['-t', store.blobPath(v2.desc.digest)]);
    assert.equal(execFileSync('tar', ['-tzf', store.blobPath(v2.desc.digest)], { maxBuffer: 1 << 24 }).toString().trim().split('\n').length, 2500);
    assert.ok((await readdir(join(root, 'meta', 'layer-members'))).includes(`${digestHex(v2.desc.digest)}.json`));
  });

  const noReuse: Array<[string, (store: ContentStore, v1: Awaited<ReturnType<ContentStore['ingestLayer']>>) => Promise<object>]> = [
    ['the earlier blob was removed (gc)', async (store, v1) => (await store.delete(v1.desc.digest), { reuseFrom: [v1.desc.digest] })],
    ['another level (members compress differently)', async (_s, v1) => ({ reuseFrom: [v1.desc.digest], level: 5 })],
    ['no earlier blob named', async () => ({})],
  ];
  for (const [name, setup] of noReuse) {
    it(`nothing is reused when ${name}, and the layer is still right`, async () => {
      const { store } = await fresh();
      const v1 = await store.ingestLayer(createTarStream(layer()));
      const opts = await setup(store, v1);
      const v2 = await store.ingestLayer(createTarStream(layer(grow('app/f00007.txt'))), opts);
      assert.equal(v2.members.reused, 0);
      const scratch = await (await fresh()).store.ingestLayer(createTarStream(layer(grow('app/f00007.txt'))), opts);
      assert.deepEqual(v2.desc, scratch.desc);
    });
  }

  it('gc drops the member index of a blob it removes', async () => {
    const { store, root } = await fresh();
    const v1 = await store.ingestLayer(createTarStream(layer()));
    const dir = join(root, 'meta', 'layer-members');
    assert.deepEqual(await readdir(dir), [`${digestHex(v1.desc.digest)}.json`]);
    await gc(store, { minAgeMs: 0 });
    assert.equal(await store.has(v1.desc.digest), false);
    assert.deepEqual(await readdir(dir), []);
  });
});
