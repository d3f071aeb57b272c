import assert from 'node:assert/strict';
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xattr } from '../../image/xattr.js';
import { FsView } from '../fsview.js';
import { planCopy, type CopyRequest } from './copy.js';

/** planCopy's metadata rules, each checked against dockerd 20.10's BuildKit. */
describe('builder/ops/copy planCopy metadata (BuildKit parity)', () => {
  let dir: string;
  before(function () {
    if (process.getuid?.() !== 0) this.skip(); // chown and trusted/security xattrs need root
    dir = mkdtempSync(join(tmpdir(), 'tsb-copy-'));
    mkdirSync(join(dir, 'src/d'), { recursive: true });
    writeFileSync(join(dir, 'src/d/f'), 'x');
    chownSync(join(dir, 'src/d/f'), 123, 456);
    chmodSync(join(dir, 'src/d'), 0o700);
    chownSync(join(dir, 'src/d'), 123, 456);
    xattr().setAttributeSync(join(dir, 'src/d/f'), 'user.note', 'kept');
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  const request = (over: Partial<CopyRequest>): CopyRequest => ({
    kind: 'copy',
    root: { dir, excludes: [], isContext: false },
    sources: ['src/d'],
    heredocs: new Map(),
    dest: '/out/',
    workdir: '/',
    parents: false,
    link: false,
    exclude: [],
    unpack: false,
    lower: FsView.empty(),
    createdTime: 0,
    ...over,
  });
  const summary = async (req: CopyRequest): Promise<string[]> =>
    (await planCopy(req)).entries.map((e) => {
      const h = e.header;
      const x = h.xattrs ? ` ${Object.keys(h.xattrs).join(',')}` : '';
      return `${h.path} ${h.type} ${h.mode.toString(8)} ${h.uid}:${h.gid}${x}`;
    });

  it('COPY --from keeps owners and xattrs; the directory it creates for the contents is 0755 root', async () => {
    assert.deepEqual(await summary(request({})), ['out dir 755 0:0', 'out/f file 644 123:456 user.note']);
  });

  it('--chown replaces the owners, also of the created directory', async () => {
    assert.deepEqual(await summary(request({ owner: { uid: 5, gid: 6 } })), ['out dir 755 5:6', 'out/f file 644 5:6 user.note']);
  });

  it('files of the build context belong to root', async () => {
    assert.deepEqual(await summary(request({ root: { dir, excludes: [], isContext: true } })), ['out dir 755 0:0', 'out/f file 644 0:0']);
  });

  it('an existing parent directory is written with its own metadata (not made root 0755 by an unpacker)', async () => {
    const lower = FsView.empty();
    lower.applyEntries([{ path: 'out', type: 'dir', mode: 0o750, uid: 1000, gid: 1000, size: 0 }], 0);
    assert.deepEqual(await summary(request({ lower, sources: ['src/d/f'], dest: '/out/sub/f' })), [
      'out dir 750 1000:1000',
      'out/sub dir 755 0:0',
      'out/sub/f file 644 123:456 user.note',
    ]);
  });
});

describe('builder/ops/copy hardlinks in path order', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsb-copy-hl-'));
    mkdirSync(join(dir, 'src/a'), { recursive: true });
    // walk order visits a/ before a-b; byte order puts a-b first: the link must not precede its target
    writeFileSync(join(dir, 'src/a/f'), 'x');
    linkSync(join(dir, 'src/a/f'), join(dir, 'src/a-b'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the first name in the layer carries the content; the others link to it', async () => {
    const plan = await planCopy({
      kind: 'copy', root: { dir, excludes: [], isContext: true }, sources: ['src'], heredocs: new Map(), dest: '/o/',
      workdir: '/', parents: false, link: false, exclude: [], unpack: false, lower: FsView.empty(), createdTime: 0,
    });
    const got = plan.entries.map((e) => `${e.header.path} ${e.header.type}${e.header.linkname ? ` ${e.header.linkname}` : ''}`);
    assert.deepEqual(got, ['o dir', 'o/a dir', 'o/a-b file', 'o/a/f hardlink o/a-b']);
    assert.ok(plan.origins.has('o/a-b'), 'the carrier keeps its source for the cache key');
  });
});
