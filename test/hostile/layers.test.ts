/**
 * Hostile layers through every extractor entry point: image/extract applyLayers, the overlay
 * snapshot unpack (runtime/unpack), and builds FROM an OCI layout holding the layer exported
 * with --output type=local and type=tar and read by COPY --from. Each row is a real tar (made
 * with tar-stream, which writes what our own writer refuses) on top of a real base layer; it
 * expects a clean TSB_IMAGE_UNSAFE_PATH or a result contained in the root, and marker files around
 * the roots (their parent, a sibling) must be unchanged afterwards.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { listAttributesSync } from '@napi-rs/xattr';
import tarStream from 'tar-stream';
import { applyLayers } from '../../image/extract.js';
import { unpackOverlayLayer } from '../../runtime/unpack.js';
import { cli, makeTree, removeAll, tempDir } from '../helpers.js';

interface Entry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  linkname?: string;
  mode?: number;
  body?: string;
  devmajor?: number;
  devminor?: number;
  /** PAX records (a NUL in a name can only come from one: ustar fields end at the first NUL). */
  pax?: Record<string, string>;
}

async function tarOf(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: 0, gid: 0, mtime: new Date(1e12), ...(e.linkname ? { linkname: e.linkname } : {}), ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor } : {}), ...(e.pax ? { pax: e.pax } : {}) };
    await new Promise<void>((resolve, reject) => pack.entry(header, type === 'file' ? (e.body ?? '') : '', (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const BASE: Entry[] = [
  { name: 'etc/', type: 'directory' },
  { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n' },
  { name: 'data/', type: 'directory' },
  { name: 'data/keep', body: 'keep' },
  { name: 'a/', type: 'directory' },
];

const REFUSED = 'TSB_IMAGE_UNSAFE_PATH';
/** A contained result: checks on the extracted root (or undefined: only "no error, markers intact"). */
type Expect = typeof REFUSED | ((root: string) => void);

interface Case {
  name: string;
  entries: Entry[];
  /** image/extract (applyLayers, type=local/tar, COPY --from). */
  extract: Expect;
  /** runtime/unpack (overlay snapshot of this one layer). */
  overlay: Expect;
  /** --output type=local, when it differs from `extract` (it also makes fifos and device nodes). */
  local?: (root: string) => void;
  /** Refused before this change (else it was already safe; see the commit message). */
  bug?: string;
}

const ls = (root: string): string[] => {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (lstatSync(join(root, r)).isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
};
const has = (...paths: string[]) => (root: string) => {
  for (const p of paths) lstatSync(join(root, p)); // throws ENOENT when missing
};
const lacks = (...paths: string[]) => (root: string) => {
  for (const p of paths) assert.ok(!existsSync(join(root, p)), `${p} not in root`);
};
const mode = (path: string, want: number) => (root: string) => assert.equal(lstatSync(join(root, path)).mode & 0o7777, want);
const all = (...checks: Array<(root: string) => void>) => (root: string) => checks.forEach((c) => c(root));
const baseIntact = has('etc/passwd', 'data/keep');

const CASES: Case[] = [
  { name: '.wh... (whiteout of ..)', entries: [{ name: '.wh...' }], extract: REFUSED, overlay: REFUSED, bug: 'extract removed the root\'s parent' },
  { name: '.wh.. (whiteout of .)', entries: [{ name: '.wh..' }], extract: REFUSED, overlay: REFUSED, bug: 'extract removed the root itself' },
  { name: '.wh. (empty name)', entries: [{ name: '.wh.' }], extract: REFUSED, overlay: REFUSED, bug: 'extract and unpack removed the root itself' },
  { name: 'a/.wh... (whiteout of a/..)', entries: [{ name: 'a/.wh...' }], extract: REFUSED, overlay: REFUSED, bug: 'extract removed the root' },
  { name: '../x', entries: [{ name: '../x', body: 'x' }], extract: REFUSED, overlay: REFUSED },
  { name: 'x/../../y', entries: [{ name: 'x/../../y', body: 'y' }], extract: REFUSED, overlay: REFUSED },
  { name: '/abs stays inside', entries: [{ name: '/abs', body: 'abs' }], extract: all(has('abs'), baseIntact), overlay: has('abs') },
  {
    name: 'symlink then write through it (l -> /, l/etc/x)',
    entries: [{ name: 'l', type: 'symlink', linkname: '/' }, { name: 'l/etc/x', body: 'x' }],
    extract: all(has('etc/x'), baseIntact),
    overlay: REFUSED,
  },
  {
    name: 'symlink parent to .. (p -> .., p/escape)',
    entries: [{ name: 'p', type: 'symlink', linkname: '..' }, { name: 'p/escape', body: 'e' }],
    extract: has('escape'),
    overlay: REFUSED,
  },
  { name: 'hardlink to ../outside', entries: [{ name: 'h', type: 'link', linkname: '../outside' }], extract: REFUSED, overlay: REFUSED },
  {
    name: 'hardlink through a symlink (s -> /etc, h => s/passwd)',
    entries: [{ name: 's', type: 'symlink', linkname: '/etc' }, { name: 'h', type: 'link', linkname: 's/passwd' }],
    extract: (root) => assert.equal(lstatSync(join(root, 'h')).ino, lstatSync(join(root, 'etc/passwd')).ino),
    overlay: REFUSED,
  },
  {
    name: 'whiteout through a symlinked parent (w -> ../data, w/.wh.keep)',
    entries: [{ name: 'w', type: 'symlink', linkname: '../data' }, { name: 'w/.wh.keep' }],
    // chroot semantics: ../data from the root is /data, inside
    extract: lacks('data/keep'),
    overlay: REFUSED,
  },
  { name: 'NUL in a name', entries: [{ name: 'ab', pax: { path: 'a\0b' }, body: 'x' }], extract: REFUSED, overlay: REFUSED },
  { name: 'a 300-byte name', entries: [{ name: 'n'.repeat(300), body: 'x' }], extract: REFUSED, overlay: REFUSED, bug: 'ENAMETOOLONG, not a clean error' },
  { name: 'a 5000-byte path', entries: [{ name: 'd/'.repeat(2500) + 'f', body: 'x' }], extract: REFUSED, overlay: REFUSED, bug: 'ENAMETOOLONG, not a clean error' },
  {
    name: 'device node 1:3 mode 0666',
    entries: [{ name: 'null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }],
    extract: lacks('null'), // not created by applyLayer (onSkipped)
    overlay: mode('null', 0o600),
    local: mode('null', 0o600), // type=local makes nodes as the snapshotter does: owner bits only
    bug: 'unpack chmodded the node 0666 on the host',
  },
  // a fifo keeps its mode (it reaches nothing but its own pipe; see runtime/unpack.ts hostMode)
  { name: 'fifo mode 0666', entries: [{ name: 'f', type: 'fifo', mode: 0o666 }], extract: lacks('f'), overlay: mode('f', 0o666), local: mode('f', 0o666) },
  { name: 'setuid file', entries: [{ name: 'su', body: '#!/bin/sh\n', mode: 0o4755 }], extract: mode('su', 0o4755), overlay: mode('su', 0o4755) },
  {
    name: '.wh..wh..opq at the root',
    entries: [{ name: '.wh..wh..opq' }, { name: 'new', body: 'n' }],
    extract: (root) => assert.deepEqual(ls(root), ['new']),
    overlay: (root) => assert.ok(listAttributesSync(root).includes('trusted.overlay.opaque')),
  },
  {
    name: '.wh..wh..opq nested',
    entries: [{ name: 'data/.wh..wh..opq' }, { name: 'data/new', body: 'n' }],
    extract: all(lacks('data/keep'), has('data/new', 'etc/passwd')),
    overlay: (root) => assert.ok(listAttributesSync(join(root, 'data')).includes('trusted.overlay.opaque')),
  },
];

/** A box holding the root and markers around it: the root's parent and a sibling. */
function box(dir: string): { root: string; check: () => void } {
  mkdirSync(join(dir, 'root'), { recursive: true });
  mkdirSync(join(dir, 'sibling', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'marker'), 'parent marker');
  writeFileSync(join(dir, 'sibling', 'keep'), 'sibling marker');
  return {
    root: join(dir, 'root'),
    check: () => {
      assert.equal(readFileSync(join(dir, 'marker'), 'utf8'), 'parent marker');
      assert.equal(readFileSync(join(dir, 'sibling', 'keep'), 'utf8'), 'sibling marker');
      assert.ok(lstatSync(join(dir, 'sibling', 'sub')).isDirectory());
      assert.deepEqual(readdirSync(join(dir, 'sibling')).sort(), ['keep', 'sub']);
      for (const n of readdirSync(dir)) assert.ok(['marker', 'root', 'sibling', 'out', 'out.tar', 'tmp'].includes(n), `unexpected ${n} beside the root`);
      assert.ok(!existsSync(join(dir, 'escape')) && !existsSync(join(dir, 'outside')) && !existsSync(join(dir, 'x')) && !existsSync(join(dir, 'y')));
    },
  };
}

async function expectOutcome(run: () => Promise<unknown>, expect: Expect, root: string): Promise<void> {
  if (expect === REFUSED) {
    await assert.rejects(run(), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, REFUSED, e.message);
      return true;
    });
    return;
  }
  await run();
  expect(root);
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An OCI layout `<dir>` whose image `hostile` has the base layer and the case's layer (gzip). */
function writeLayout(dir: string, tars: Buffer[]): void {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (b: Buffer): string => {
    const d = sha(b);
    writeFileSync(join(blobs, d.slice(7)), b);
    return d;
  };
  const layers = tars.map((t) => {
    const gz = gzipSync(t);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: put(gz), size: gz.length };
  });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: tars.map(sha) } }));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: put(config), size: config.length }, layers }),
  );
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: put(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'hostile' } }] };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
}

describe('test/hostile: hostile layers through every extractor', function () {
  this.timeout(60_000);
  let work: string;
  let store: string;
  let baseTar: Buffer;
  before(async function () {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('hostile layer tests need root (lchown, mknod, trusted xattrs)');
      this.skip();
    }
    work = await tempDir('tsb-hostile-');
    store = join(work, 'store');
    baseTar = await tarOf(BASE);
  });
  after(() => removeAll(work));

  CASES.forEach((c, i) => {
    describe(`${c.name}${c.bug ? ` (was: ${c.bug})` : ''}`, () => {
      let layer: Buffer;
      let layout: string;
      before(async () => {
        layer = await tarOf(c.entries);
        layout = join(work, `layout-${i}`);
        writeLayout(layout, [baseTar, layer]);
      });

      it(`applyLayers → ${c.extract === REFUSED ? REFUSED : 'contained'}`, async () => {
        const b = box(join(work, `extract-${i}`));
        await expectOutcome(() => applyLayers([async () => Readable.from(baseTar), async () => Readable.from(layer)], b.root), c.extract, b.root);
        assert.ok(existsSync(b.root));
        b.check();
      });

      it(`overlay unpack → ${c.overlay === REFUSED ? REFUSED : 'contained'}`, async () => {
        const b = box(join(work, `overlay-${i}`));
        await expectOutcome(() => unpackOverlayLayer(Readable.from(layer), b.root), c.overlay, b.root);
        b.check();
      });

      const builds: Array<[string, string, (dir: string) => string[]]> = [
        ['--output type=local', `FROM oci-layout://${'LAYOUT'}:hostile\n`, (dir) => ['--output', `type=local,dest=${join(dir, 'out')}`]],
        ['--output type=tar', `FROM oci-layout://${'LAYOUT'}:hostile\n`, (dir) => ['--output', `type=tar,dest=${join(dir, 'out.tar')}`]],
        ['COPY --from', `FROM oci-layout://${'LAYOUT'}:hostile AS h\nFROM scratch\nCOPY --from=h / /copied/\n`, (dir) => ['--output', `type=local,dest=${join(dir, 'out')}`]],
      ];
      builds.forEach(([how, dockerfile, output], j) => {
        it(`build ${how} → ${c.extract === REFUSED ? `exit 1, ${REFUSED} message` : 'contained'}`, async () => {
          const dir = join(work, `build-${i}-${j}`);
          const b = box(dir);
          mkdirSync(join(dir, 'tmp'));
          writeFileSync(join(dir, 'tmp', 'marker'), 'tmp marker');
          const ctx = await makeTree({ Dockerfile: dockerfile.replaceAll('LAYOUT', layout) });
          try {
            const r = await cli(['build', '--root', store, '-q', ...output(dir), ctx], { TMPDIR: join(dir, 'tmp') });
            if (c.extract === REFUSED) {
              assert.equal(r.code, 1, r.stderr);
              assert.match(r.stderr, /unsafe path in archive/);
              assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
            } else {
              assert.equal(r.code, 0, r.stderr);
              if (how === '--output type=local') (c.local ?? c.extract)(join(dir, 'out'));
            }
            assert.equal(readFileSync(join(dir, 'tmp', 'marker'), 'utf8'), 'tmp marker');
            b.check();
          } finally {
            await removeAll(ctx);
          }
        });
      });
    });
  });
});

/**
 * ADD of a local tar with `.wh.NAME` entries deletes NAME from the image below (BuildKit untars
 * onto the destination), a deletion path of its own: the whiteout's directory is resolved inside
 * the root, its symlinks followed within it as a chroot would, and unsafe names are refused.
 */
describe('test/hostile: ADD of a tar with whiteouts deletes only inside the root', function () {
  this.timeout(60_000);
  let work: string;
  before(async function () {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('hostile layer tests need root (lchown)');
      this.skip();
    }
    work = await tempDir('tsb-hostile-add-');
    writeLayout(join(work, 'layout'), [await tarOf([...BASE, { name: 'marker', body: 'image marker' }])]);
  });
  after(() => removeAll(work));

  /** Builds `ADD links.tar /` then `ADD wh.tar /` over the base, exported to <dir>/out. */
  async function build(dir: string, wh: Entry[]): Promise<{ code: number; stderr: string }> {
    const links = await tarOf([
      { name: 'esc', type: 'symlink', linkname: '../../../../../../..' },
      { name: 'abs', type: 'symlink', linkname: '/data' },
    ]);
    const ctx = await makeTree({ Dockerfile: `FROM oci-layout://${join(work, 'layout')}:hostile\nADD links.tar /\nADD wh.tar /\n` });
    writeFileSync(join(ctx, 'links.tar'), links);
    writeFileSync(join(ctx, 'wh.tar'), await tarOf(wh));
    mkdirSync(join(dir, 'tmp'), { recursive: true });
    try {
      return await cli(['build', '--root', join(work, 'store'), '-q', '--output', `type=local,dest=${join(dir, 'out')}`, ctx], { TMPDIR: join(dir, 'tmp') });
    } finally {
      await removeAll(ctx);
    }
  }

  it('a whiteout through symlinks that climb out deletes the path as seen inside the root', async () => {
    const dir = join(work, 'climb');
    const b = box(dir);
    // esc/.wh.marker names <root>/marker (.. stops at the root), not <dir>/marker beside the export
    const r = await build(dir, [{ name: 'esc/.wh.marker' }, { name: 'abs/.wh.keep' }, { name: 'nothing/.wh.passwd' }]);
    assert.equal(r.code, 0, r.stderr);
    lacks('marker', 'data/keep')(join(dir, 'out'));
    has('etc/passwd', 'esc', 'abs', 'data')(join(dir, 'out'));
    b.check();
  });

  for (const name of ['.wh..', '.wh...', 'data/.wh...', '../.wh.marker']) {
    it(`${name} → exit 1, ${REFUSED} message, nothing deleted`, async () => {
      const dir = join(work, `refused-${name.replace(/[^a-z]/g, '_')}`);
      const b = box(dir);
      const r = await build(dir, [{ name }]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /unsafe path in archive/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      b.check();
    });
  }
});
