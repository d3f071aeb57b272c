import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { getAttributeSync } from '@napi-rs/xattr';
import { requireRoot } from '../test/tools.js';
import { applyLayer, applyLayers, type ExtractOptions } from './extract.js';
import { UnsafePathError } from './errors.js';
import { createTarStream, type TarSource } from './tar/writer.js';
import type { TarHeader } from './tar/header.js';

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);

function h(p: Partial<TarHeader> & Pick<TarHeader, 'path' | 'type'>): TarHeader {
  return { mode: p.type === 'dir' ? 0o755 : p.type === 'symlink' ? 0o777 : 0o644, uid: 0, gid: 0, size: 0, mtime: 1_600_000_000, ...p };
}
const dir = (p: string, extra: Partial<TarHeader> = {}): TarSource => ({ header: h({ path: p, type: 'dir', ...extra }) });
const file = (p: string, content = p, extra: Partial<TarHeader> = {}): TarSource => {
  const body = Buffer.from(content);
  return { header: h({ path: p, type: 'file', size: body.length, ...extra }), body };
};
const sym = (p: string, target: string): TarSource => ({ header: h({ path: p, type: 'symlink', linkname: target }) });
const hard = (p: string, target: string): TarSource => ({ header: h({ path: p, type: 'hardlink', linkname: target }) });
const wh = (p: string): TarSource => file(p, '');

/** `path type [content|->target]`, sorted; what a layer stack should produce. */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = fs.lstatSync(path.join(root, r));
      if (st.isDirectory()) {
        out.push(`${r}/`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${fs.readlinkSync(path.join(root, r))}`);
      else if (st.isFile()) out.push(`${r} = ${fs.readFileSync(path.join(root, r), 'utf8')}`);
      else out.push(`${r} ?`);
    }
  };
  walk('');
  return out;
}

async function apply(layers: TarSource[][], root: string, opts?: ExtractOptions): Promise<void> {
  await applyLayers(layers.map((l) => async () => createTarStream(l)), root, opts);
}

describe('image/extract', () => {
  let work: string;
  let n = 0;
  const fresh = (): string => {
    const d = path.join(work, `r${n++}`);
    fs.mkdirSync(d);
    return d;
  };
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-ex-'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  const stacks: Array<[string, TarSource[][], string[]]> = [
    ['plain files, dirs, symlinks', [[dir('a'), file('a/f', 'x'), sym('a/l', '/nowhere'), file('top', 't')]], ['a/', 'a/f = x', 'a/l -> /nowhere', 'top = t']],
    ['missing parents are created', [[file('x/y/z', 'deep')]], ['x/', 'x/y/', 'x/y/z = deep']],
    ['"./" paths and a root entry', [[dir('.'), file('./a', 'a')]], ['a = a']],
    ['whiteout of a file', [[dir('a'), file('a/b'), file('a/c')], [wh('a/.wh.b')]], ['a/', 'a/c = a/c']],
    ['whiteout of a directory tree', [[file('a/d/x'), file('a/keep')], [wh('a/.wh.d')]], ['a/', 'a/keep = a/keep']],
    ['whiteout of something absent is a no-op', [[file('a')], [wh('.wh.zzz'), wh('no/such/.wh.x')]], ['a = a']],
    ['whiteout does not hide what the same layer wrote', [[], [file('n', 'new'), wh('.wh.n')]], ['n = new']],
    [
      'opaque dir hides lower content only',
      [[file('o/x'), file('o/sub/y'), file('other')], [dir('o'), wh('o/.wh..wh..opq'), file('o/new', 'n')]],
      ['o/', 'o/new = n', 'other = other'],
    ],
    [
      'opaque marker after same-layer children keeps them (also nested)',
      [[file('o/x'), file('o/sub/old')], [dir('o'), dir('o/sub'), file('o/sub/mine', 'm'), wh('o/.wh..wh..opq')]],
      ['o/', 'o/sub/', 'o/sub/mine = m'],
    ],
    ['file replaces a directory', [[file('a/b/c')], [file('a/b', 'now a file')]], ['a/', 'a/b = now a file']],
    ['directory replaces a file', [[file('a/b', 'file')], [dir('a/b'), file('a/b/c', 'c')]], ['a/', 'a/b/', 'a/b/c = c']],
    ['file under a former file (no dir entry)', [[file('a', 'file')], [file('a/b', 'b')]], ['a/', 'a/b = b']],
    ['symlink replaces a directory', [[file('d/x')], [sym('d', 'elsewhere')]], ['d -> elsewhere']],
    ['directory replaces a symlink', [[dir('real'), sym('d', 'real')], [dir('d'), file('d/x', 'x')]], ['d/', 'd/x = x', 'real/']],
    ['writes through a symlinked parent dir inside the root', [[dir('real'), sym('link', 'real')], [file('link/f', 'via')]], ['link -> real', 'real/', 'real/f = via']],
    ['file replaces a file', [[file('f', 'old')], [file('f', 'new')]], ['f = new']],
  ];
  for (const [name, layers, want] of stacks) {
    it(`layers: ${name}`, async () => {
      const root = fresh();
      await apply(layers, root);
      assert.deepEqual(listing(root), want);
    });
  }

  it('hardlinks within the layer and to lower layers share the inode', async () => {
    const root = fresh();
    await apply([[file('lower', 'L')], [file('a/f', 'F'), hard('a/same', 'a/f'), hard('b/lowerlink', 'lower'), hard('abs', '/a/f')]], root);
    const ino = (p: string): number => fs.lstatSync(path.join(root, p)).ino;
    assert.equal(ino('a/same'), ino('a/f'));
    assert.equal(ino('abs'), ino('a/f'));
    assert.equal(ino('b/lowerlink'), ino('lower'));
    assert.equal(fs.lstatSync(path.join(root, 'a/f')).nlink, 3);
  });

  it('a hardlink to a missing target or a directory is refused', async () => {
    await assert.rejects(apply([[hard('h', 'missing')]], fresh()), UnsafePathError);
    await assert.rejects(apply([[dir('d'), hard('h', 'd')]], fresh()), UnsafePathError);
  });

  it('modes (setuid after chown), owners, mtimes, xattrs incl. security.capability', async function () {
    requireRoot(this, 'owners and security.capability');
    const root = fresh();
    await apply(
      [
        [
          dir('bin', { mode: 0o751, uid: 2, gid: 3, mtime: 1_000_000 }),
          file('bin/su', 'su', { mode: 0o4755, uid: 0, gid: 0, mtime: 1_234_567.5 }),
          file('bin/ping', 'ping', { mode: 0o755, uid: 100_000, gid: 2 ** 31, xattrs: { 'security.capability': CAP, 'user.raw': Buffer.from([0, 0xff]) } }),
          file('bin/sgid', 'g', { mode: 0o2711, uid: 5, gid: 6 }),
          sym('bin/link', 'su'),
          dir('ro', { mode: 0o555 }),
          file('ro/inside', 'i'),
        ],
      ],
      root,
    );
    const st = (p: string): fs.Stats => fs.lstatSync(path.join(root, p));
    assert.deepEqual([st('bin').mode & 0o7777, st('bin').uid, st('bin').gid, st('bin').mtimeMs], [0o751, 2, 3, 1_000_000_000]);
    assert.deepEqual([st('bin/su').mode & 0o7777, st('bin/su').mtimeMs], [0o4755, 1_234_567_500]);
    assert.deepEqual([st('bin/ping').uid, st('bin/ping').gid], [100_000, 2 ** 31]);
    assert.equal(st('bin/sgid').mode & 0o7777, 0o2711);
    assert.equal(st('bin/link').mtimeMs, 1_600_000_000_000);
    assert.equal(st('ro').mode & 0o7777, 0o555);
    assert.deepEqual(getAttributeSync(path.join(root, 'bin/ping'), 'security.capability'), CAP);
    assert.deepEqual(getAttributeSync(path.join(root, 'bin/ping'), 'user.raw'), Buffer.from([0, 0xff]));
  });

  it('does not chown when sameOwner is false', async () => {
    const root = fresh();
    await apply([[file('f', 'x', { uid: 4321, gid: 4321 })]], root, { sameOwner: false });
    assert.equal(fs.lstatSync(path.join(root, 'f')).uid, process.getuid!());
  });

  it('devices and fifos are reported through onSkipped; overlay xattrs are never applied', async () => {
    const root = fresh();
    const skipped: string[] = [];
    await apply(
      [
        [
          { header: h({ path: 'dev/null', type: 'char', devmajor: 1, devminor: 3 }) },
          { header: h({ path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 }) },
          { header: h({ path: 'pipe', type: 'fifo' }) },
          dir('d', { xattrs: { 'trusted.overlay.opaque': Buffer.from('y') } }),
        ],
      ],
      root,
      { onSkipped: (p, reason) => skipped.push(`${p}: ${reason.split(' ')[0]}`) },
    );
    assert.deepEqual(skipped, ['dev/null: char', 'dev/sda: block', 'pipe: fifo', 'd: xattr']);
    assert.deepEqual(listing(root), ['d/', 'dev/']);
  });

  it('directory mtimes survive the children written after them', async () => {
    const root = fresh();
    await apply([[dir('d', { mtime: 1000 }), file('d/a'), file('d/b'), dir('d/e', { mtime: 2000 }), file('d/e/f')]], root);
    assert.equal(fs.lstatSync(path.join(root, 'd')).mtimeMs, 1_000_000);
    assert.equal(fs.lstatSync(path.join(root, 'd/e')).mtimeMs, 2_000_000);
  });

  it('streams a large file (async write path) byte-exact', async () => {
    const root = fresh();
    const big = Buffer.alloc(5 * 1024 * 1024 + 13);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
    await apply([[{ header: h({ path: 'big.bin', type: 'file', size: big.length }), body: () => Readable.from([big.subarray(0, 1_000_000), big.subarray(1_000_000)]) }]], root);
    assert.ok(fs.readFileSync(path.join(root, 'big.bin')).equals(big));
  });

  it('measures: applying 20,000 small entries', async () => {
    const root = fresh();
    const body = Buffer.alloc(2000, 0x61);
    function* entries(): Generator<TarSource> {
      for (let d = 0; d < 100; d++) {
        yield dir(`d${d}`);
        for (let i = 0; i < 200; i++) yield { header: h({ path: `d${d}/f${i}`, type: 'file', size: body.length }), body };
      }
    }
    const t0 = process.hrtime.bigint();
    await applyLayer(createTarStream(entries()), root);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`      extract: 20,100 entries (40 MB) in ${ms.toFixed(0)} ms to ${os.tmpdir()}`);
    assert.equal(fs.readdirSync(path.join(root, 'd99')).length, 200);
  });

  it('a file that stops mid-body fails the extraction', async () => {
    const chunks: Buffer[] = [];
    for await (const c of createTarStream([file('f', 'x'.repeat(5000))])) chunks.push(c as Buffer);
    const good = Buffer.concat(chunks);
    await assert.rejects(applyLayer(Readable.from([good.subarray(0, 2000)]), fresh()), /unexpected end/);
  });

  describe('hostile archives never write outside the root', () => {
    let sandbox: string;
    let root: string;
    let outside: string;
    let before: string[];
    beforeEach(() => {
      sandbox = fresh();
      root = path.join(sandbox, 'root');
      outside = path.join(sandbox, 'outside');
      fs.mkdirSync(root);
      fs.mkdirSync(outside, { mode: 0o755 });
      fs.writeFileSync(path.join(outside, 'sentinel'), 'untouched');
      before = snapshot();
    });
    function snapshot(): string[] {
      const out = [...listing(sandbox).filter((l) => !l.startsWith('root/'))];
      out.push(`outside mode ${(fs.statSync(outside).mode & 0o7777).toString(8)}`);
      return out;
    }
    afterEach(() => assert.deepEqual(snapshot(), before, 'nothing outside the root changed'));

    const refused: Array<[string, TarSource[][]]> = [
      ['../x', [[file('../x', 'evil')]]],
      ['a/../../x', [[file('a/../../x', 'evil')]]],
      ['a hardlink to ../../etc/passwd', [[hard('h', '../../etc/passwd')]]],
      ['a hardlink to ../outside/sentinel', [[hard('h', '../outside/sentinel')]]],
      ['a whiteout ../.wh.outside', [[wh('../.wh.outside')]]],
      ['a symlink loop', [[sym('a', 'a'), file('a/x', 'evil')]]],
    ];
    for (const [name, layers] of refused) {
      it(`refuses ${name} with UnsafePathError`, async () => {
        await assert.rejects(apply(layers, root), UnsafePathError);
      });
    }

    const contained: Array<[string, () => TarSource[][], (root: string) => void]> = [
      ['absolute /etc/x lands in root/etc/x', () => [[file('/etc/x', 'x')]], (r) => assert.equal(fs.readFileSync(path.join(r, 'etc/x'), 'utf8'), 'x')],
      [
        'a -> .. then a/x lands in root/x',
        () => [[sym('a', '..'), file('a/x', 'x')]],
        (r) => assert.equal(fs.readFileSync(path.join(r, 'x'), 'utf8'), 'x'),
      ],
      [
        'a -> ../outside then a/sentinel lands in root/outside/sentinel',
        () => [[sym('a', '../outside'), file('a/sentinel', 'evil')]],
        (r) => assert.equal(fs.readFileSync(path.join(r, 'outside/sentinel'), 'utf8'), 'evil'),
      ],
      [
        'a -> <absolute outside dir> then a/sentinel lands under root',
        () => [[sym('a', outside), file('a/sentinel', 'evil')]],
        (r) => assert.equal(fs.readFileSync(path.join(r, outside, 'sentinel'), 'utf8'), 'evil'),
      ],
      [
        'symlinks in lower layers are followed inside the root too',
        () => [[sym('a', '../../../..'), sym('b', outside)], [file('a/x', 'x'), dir('b/sub', { mode: 0o700 })]],
        (r) => {
          assert.equal(fs.readFileSync(path.join(r, 'x'), 'utf8'), 'x');
          assert.ok(fs.lstatSync(path.join(r, outside, 'sub')).isDirectory());
        },
      ],
      [
        'a file entry replaces a symlink to an outside file instead of writing through it',
        () => [[sym('f', path.join(outside, 'sentinel'))], [file('f', 'evil', { mode: 0o777 })]],
        (r) => assert.ok(fs.lstatSync(path.join(r, 'f')).isFile()),
      ],
      [
        'a whiteout and an opaque dir through a symlink to outside touch nothing outside',
        () => [[sym('a', outside)], [wh('a/.wh.sentinel'), wh('a/.wh..wh..opq')]],
        (r) => assert.ok(fs.lstatSync(path.join(r, 'a')).isSymbolicLink()),
      ],
      [
        'a dir replaced by a symlink to outside in the same layer does not get the dir\'s mode',
        () => [[dir('x', { mode: 0o700, mtime: 5 }), sym('x', outside)]],
        (r) => assert.ok(fs.lstatSync(path.join(r, 'x')).isSymbolicLink()),
      ],
      [
        'a hardlink to an absolute path links inside the root',
        () => [[file('etc/passwd', 'mine'), hard('h', '/etc/passwd')]],
        (r) => assert.equal(fs.lstatSync(path.join(r, 'h')).ino, fs.lstatSync(path.join(r, 'etc/passwd')).ino),
      ],
      [
        'xattrs and modes go to the entry, not through a symlink (symlink then same-name dir)',
        () => [[sym('d', outside)], [dir('d', { mode: 0o700 })]],
        (r) => assert.ok(fs.lstatSync(path.join(r, 'd')).isDirectory()),
      ],
    ];
    for (const [name, layers, check] of contained) {
      it(name, async () => {
        await apply(layers(), root);
        check(root);
      });
    }

    it('a -> / then a/etc/passwd writes root/etc/passwd, not the host file', async () => {
      // The body is the host file's own content, so even a broken extractor could not damage the host.
      const hostBefore = fs.lstatSync('/etc/passwd');
      const content = fs.readFileSync('/etc/passwd');
      const entry: TarSource = { header: h({ path: 'a/etc/passwd', type: 'file', size: content.length, mode: hostBefore.mode & 0o7777 }), body: content };
      await apply([[sym('a', '/'), entry]], root);
      assert.ok(fs.readFileSync(path.join(root, 'etc/passwd')).equals(content));
      const hostAfter = fs.lstatSync('/etc/passwd');
      assert.deepEqual([hostAfter.ino, hostAfter.mtimeMs, hostAfter.nlink], [hostBefore.ino, hostBefore.mtimeMs, hostBefore.nlink]);
    });
  });
});
