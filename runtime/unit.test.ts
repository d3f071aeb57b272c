/** Pure parts of runtime/: path resolution, users, caps, rlimits, ids, cwd checks, unpack. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { getAttributeSync } from '@napi-rs/xattr';
import type { TarHeader } from '../image/tar/header.js';
import { createTarStream, type TarSource } from '../image/tar/writer.js';
import { buildOf, checkCgroupParent, deadBuilds } from './builds.js';
import { processStartTime } from '../image/owner.js';
import { which } from './exec.js';
import { checkCwd, hostsFile } from './index.js';
import { resolveInRoot } from '../image/safe-path.js';
import { defaultRlimits, hostCaps, hostHardLimits, specJson, withUlimits, type OciSpec } from './spec.js';
import { unpackOverlayLayer } from './unpack.js';
import { resolveUser } from './users.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsb-rt-unit-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('image/safe-path resolveInRoot (container roots)', () => {
  let root: string;
  before(() => {
    root = join(dir, 'root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'usr/lib'), { recursive: true });
    writeFileSync(join(root, 'etc/passwd'), '');
    symlinkSync('/usr/lib', join(root, 'lib'));
    symlinkSync('../../..', join(root, 'usr/lib/up'));
    symlinkSync('/etc/passwd', join(root, 'abs'));
    symlinkSync('/', join(root, 'slash'));
    symlinkSync('loop2', join(root, 'loop1'));
    symlinkSync('loop1', join(root, 'loop2'));
  });
  const cases: Array<[string, string, boolean, string[]]> = [
    // path, resolved in-root path, exists, missing components
    ['/etc/passwd', '/etc/passwd', true, []],
    ['/lib', '/usr/lib', true, []],
    ['/lib/x/y', '/usr/lib/x/y', false, ['/usr/lib/x', '/usr/lib/x/y']],
    ['/usr/lib/up/etc/passwd', '/etc/passwd', true, []], // `..` cannot climb above the root
    ['/../../etc/passwd', '/etc/passwd', true, []],
    ['/abs', '/etc/passwd', true, []],
    ['/slash/etc', '/etc', true, []],
    ['/run/secrets/a', '/run/secrets/a', false, ['/run', '/run/secrets', '/run/secrets/a']],
    ['/run/../etc', '/etc', true, []],
  ];
  for (const [p, path, exists, missing] of cases) {
    it(`${p} → ${path}`, () => {
      const r = resolveInRoot(root, p);
      assert.equal(r.path, path);
      assert.equal(r.exists, exists);
      assert.deepEqual(r.missing, missing);
      assert.ok(r.host.startsWith(root));
    });
  }
  it('a symlink loop is not followed forever', () => {
    const r = resolveInRoot(root, '/loop1/x');
    assert.equal(r.exists, false);
    assert.equal(r.blocked, true);
  });
  it('a file used as a directory blocks the path', () => {
    const r = resolveInRoot(root, '/etc/passwd/x');
    assert.equal(r.exists, false);
    assert.equal(r.blocked, true);
  });
});

describe('runtime/users resolveUser', () => {
  let root: string;
  before(() => {
    root = join(dir, 'users');
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(
      join(root, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\n# comment\nbroken line\napp:x:1000:1000::/home/app:/bin/sh\n',
    );
    writeFileSync(join(root, 'etc/group'), 'root:x:0:\nwww-data:x:33:\nusers:x:100:app,www-data\nwheel:x:10:root\napp:x:1000:\n');
  });
  const cases: Array<[string | undefined, { uid: number; gid: number; additionalGids: number[]; home: string }]> = [
    [undefined, { uid: 0, gid: 0, additionalGids: [10], home: '/root' }],
    ['root', { uid: 0, gid: 0, additionalGids: [10], home: '/root' }],
    ['33', { uid: 33, gid: 33, additionalGids: [100], home: '/var/www' }],
    ['www-data', { uid: 33, gid: 33, additionalGids: [100], home: '/var/www' }],
    ['app:users', { uid: 1000, gid: 100, additionalGids: [], home: '/home/app' }],
    ['app:7', { uid: 1000, gid: 7, additionalGids: [100], home: '/home/app' }],
    ['1234', { uid: 1234, gid: 0, additionalGids: [], home: '/' }],
    ['1234:5', { uid: 1234, gid: 5, additionalGids: [], home: '/' }],
    ['1234:www-data', { uid: 1234, gid: 33, additionalGids: [], home: '/' }],
  ];
  for (const [spec, want] of cases) {
    it(`${spec ?? '(none)'} → ${want.uid}:${want.gid}`, () => assert.deepEqual(resolveUser(root, spec), want));
  }
  for (const bad of ['nosuch', 'app:nogroup', '99999999999']) {
    it(`${bad} is refused`, () => assert.throws(() => resolveUser(root, bad), { code: 'TSB_RUNTIME_REQUEST' }));
  }
  it('reads the rootfs files, never the host ones, even through an absolute symlink', () => {
    const r2 = join(dir, 'users2');
    mkdirSync(join(r2, 'etc'), { recursive: true });
    mkdirSync(join(r2, 'x'), { recursive: true });
    writeFileSync(join(r2, 'x/pw'), 'svc:x:77:77::/srv:/bin/sh\n');
    symlinkSync('/x/pw', join(r2, 'etc/passwd'));
    assert.deepEqual(resolveUser(r2, 'svc'), { uid: 77, gid: 77, additionalGids: [], home: '/srv' });
    assert.throws(() => resolveUser(r2, 'daemon'), { code: 'TSB_RUNTIME_REQUEST' }); // the host has daemon
  });
});

describe('runtime/spec host limits', () => {
  it('caps come from the bounding set (CAP_SYS_RESOURCE missing here → not granted)', () => {
    const caps = hostCaps('CapBnd:\t000001fffeffffff\n');
    assert.equal(caps.includes('CAP_SYS_RESOURCE'), false);
    assert.equal(caps.includes('CAP_SYS_ADMIN'), true);
    assert.equal(caps.length, 40);
  });
  it('NOFILE is clamped to the hard limit of this process', () => {
    const limits = hostHardLimits(
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 20000                files\n',
    );
    assert.equal(limits.get('RLIMIT_NOFILE'), 20000);
    assert.deepEqual(defaultRlimits(limits), [{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
    assert.deepEqual(defaultRlimits(new Map([['RLIMIT_NOFILE', Infinity]])), [
      { type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 },
    ]);
  });
});

describe('runtime ids and cwd', () => {
  const ids: Array<[string, string | undefined]> = [
    ['tsb-abc-1', 'tsb-abc'],
    ['tsb-abc-12', 'tsb-abc'],
    ['tsb-a-1-5', 'tsb-a-1'],
    ['tsb-abc-0123456789ab', 'tsb-abc'],
    ['tsb-abc-probe', undefined],
    ['other-1', undefined],
  ];
  for (const [name, want] of ids) it(`buildOf(${name}) = ${want}`, () => assert.equal(buildOf(name), want));

  it('deadBuilds: what a gone process left, never a live build nor a record being written by a live process', () => {
    const root = join(dir, 'dead-builds');
    const exited = spawnSync(process.execPath, ['-e', '']).pid!; // a pid that no longer runs
    const me = `${process.pid}-${processStartTime(process.pid)!}`;
    const files: Record<string, string> = {
      'builds/tsb-live.json': JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) }),
      'builds/tsb-gone.json': JSON.stringify({ pid: exited, start: '1' }),
      'builds/tsb-reused.json': JSON.stringify({ pid: process.pid, start: '1' }), // our pid, not our start time
      [`builds/.tsb-writing.${me}.tmp`]: '{"pid":',
      [`builds/.tsb-killed.${exited}-1.tmp`]: '{"pid":',
      'steps/tsb-live-1/x': '',
      'steps/tsb-norecord-3/x': '',
      'runc/tsb-live-2/state.json': '',
      'runc/other-container/state.json': '',
      'logs/tsb-old/tsb-old-1.log': '',
    };
    for (const [p, content] of Object.entries(files)) {
      mkdirSync(join(root, p, '..'), { recursive: true });
      writeFileSync(join(root, p), content);
    }
    assert.deepEqual([...deadBuilds(root)].sort(), ['tsb-gone', 'tsb-killed', 'tsb-norecord', 'tsb-old', 'tsb-reused']);
    assert.deepEqual([...deadBuilds(root, undefined, { logs: false })].sort(), ['tsb-gone', 'tsb-killed', 'tsb-norecord', 'tsb-reused']);
    assert.deepEqual([...deadBuilds(root, 'tsb-gone', { logs: false })].sort(), ['tsb-killed', 'tsb-norecord', 'tsb-reused']);
  });

  const cwds: Array<[string, string | null]> = [
    ['/', '/'],
    ['/app/', '/app'],
    ['/a/../b', '/b'],
    ['/proc/self/fd/7', null],
    ['/proc', null],
    ['/x/../proc/self/cwd', null],
    ['relative', null],
    ['/procfs', '/procfs'],
  ];
  for (const [cwd, want] of cwds) {
    it(`checkCwd(${cwd}) ${want === null ? 'is refused' : '= ' + want}`, () => {
      if (want === null) assert.throws(() => checkCwd(cwd), { code: 'TSB_RUNTIME_REQUEST' });
      else assert.equal(checkCwd(cwd), want);
    });
  }
});

describe('runtime/unpack overlay-format snapshots', () => {
  const h = (path: string, type: TarHeader['type'], extra: Partial<TarHeader> = {}): TarHeader => ({
    path,
    type,
    mode: type === 'dir' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 1_000_000,
    ...extra,
  });
  const file = (path: string, text: string, extra: Partial<TarHeader> = {}): TarSource => ({
    header: h(path, 'file', { size: Buffer.byteLength(text), ...extra }),
    body: Buffer.from(text),
  });
  const tar = (entries: TarSource[]): Readable => createTarStream(entries);

  it('writes whiteouts as char 0:0, opaque dirs as xattrs, and keeps metadata', async () => {
    const out = join(dir, 'snap1');
    mkdirSync(out);
    await unpackOverlayLayer(
      tar([
        { header: h('.', 'dir') },
        { header: h('a', 'dir', { mode: 0o750, uid: 5, gid: 6, mtime: 1234 }) },
        file('a/f', 'hello', { mode: 0o4755, uid: 7 }),
        { header: h('a/.wh.gone', 'file') },
        { header: h('o', 'dir') },
        { header: h('o/.wh..wh..opq', 'file') },
        file('o/kept', 'x'),
        { header: h('a/hl', 'hardlink', { linkname: 'a/f' }) },
        { header: h('s', 'symlink', { linkname: '/etc/passwd' }) },
        { header: h('deep/er/f2', 'fifo') },
      ]),
      out,
    );
    const gone = lstatSync(join(out, 'a/gone'));
    assert.ok(gone.isCharacterDevice() && gone.rdev === 0);
    assert.equal(getAttributeSync(join(out, 'o'), 'trusted.overlay.opaque')?.toString(), 'y');
    assert.equal(existsSync(join(out, 'o/.wh..wh..opq')), false);
    const f = lstatSync(join(out, 'a/f'));
    assert.equal(f.mode & 0o7777, 0o4755);
    assert.equal(f.uid, 7);
    assert.equal(f.nlink, 2);
    const a = lstatSync(join(out, 'a'));
    assert.equal(a.mode & 0o7777, 0o750);
    assert.equal(a.mtimeMs, 1234_000);
    assert.ok(lstatSync(join(out, 'deep/er/f2')).isFIFO());
    assert.ok(lstatSync(join(out, 's')).isSymbolicLink());
  });

  // small files are made by descriptor, skipping the chown/chmod the creation already did
  const files: Array<Partial<TarHeader>> = [
    { mode: 0o644 },
    { mode: 0o755 },
    { mode: 0o666 }, // wider than the umask lets open(2) give
    { mode: 0o600, uid: 1000, gid: 1000 },
    { mode: 0o640, uid: 0, gid: 42 },
    { mode: 0o4755 },
    { mode: 0o2755, uid: 3 },
    { mode: 0o1777 },
    { mode: 0o000 },
    { mode: 0o644, xattrs: { 'user.k': Buffer.from('v') } },
  ];
  for (const setgidDir of [false, true]) {
    it(`small files get their mode, owner and mtime${setgidDir ? ' (in a setgid dir of another group)' : ''}`, async () => {
      const out = join(dir, `modes-${setgidDir}`);
      mkdirSync(out);
      if (setgidDir) {
        chownSync(out, 0, 77);
        chmodSync(out, 0o2755);
      }
      await unpackOverlayLayer(tar(files.map((extra, i) => file(`d/f${i}`, `file ${i}`, { mtime: 1_000_000 + i, ...extra }))), out);
      files.forEach((want, i) => {
        const st = lstatSync(join(out, `d/f${i}`));
        const got = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs / 1000, text: readFileSync(join(out, `d/f${i}`), 'utf8') };
        assert.deepEqual(got, { mode: want.mode, uid: want.uid ?? 0, gid: want.gid ?? 0, mtime: 1_000_000 + i, text: `file ${i}` }, `f${i}`);
      });
    });
  }

  const hostile: Array<[string, TarSource[]]> = [
    ['a `..` path', [file('../escape', 'x')]],
    ['a path through a symlink', [{ header: h('l', 'symlink', { linkname: '/tmp' }) }, file('l/escape', 'x')]],
    ['a hardlink outside the layer', [{ header: h('hl', 'hardlink', { linkname: '../../etc/passwd' }) }]],
    ['a hardlink through a symlink', [{ header: h('l', 'symlink', { linkname: '/etc' }) }, { header: h('hl', 'hardlink', { linkname: 'l/passwd' }) }]],
  ];
  for (const [name, entries] of hostile) {
    it(`refuses ${name} and writes nothing outside`, async () => {
      const out = join(dir, `hostile-${name.replace(/\W+/g, '_')}`);
      mkdirSync(out);
      await assert.rejects(unpackOverlayLayer(tar(entries), out), { code: 'TSB_IMAGE_UNSAFE_PATH' });
      assert.equal(existsSync(join(dir, 'escape')), false);
      assert.equal(existsSync('/tmp/escape'), false);
    });
  }
});

describe('runtime/exec which', () => {
  let dir: string;
  let saved: string | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsb-which-'));
    for (const d of ['a', 'b', 'c']) mkdirSync(join(dir, d));
    writeFileSync(join(dir, 'a', 'tool'), 'not executable', { mode: 0o644 });
    mkdirSync(join(dir, 'b', 'tool')); // a directory is not a command
    writeFileSync(join(dir, 'c', 'tool'), '#!/bin/sh\n', { mode: 0o755 });
    saved = process.env.PATH;
  });
  after(() => {
    process.env.PATH = saved;
    rmSync(dir, { recursive: true, force: true });
  });
  const cases: Array<[string, string, (d: string) => string, string | undefined]> = [
    ['skips a non-executable file and a directory', 'tool', (d) => `${d}/a:${d}/b:${d}/c`, 'c/tool'],
    ['takes the first match on PATH', 'tool', (d) => `${d}/c:${d}/a`, 'c/tool'],
    ['ignores relative PATH entries', 'tool', (d) => `relative:${d}/a`, undefined],
    ['a name with a slash is not looked up', 'c/tool', (d) => d, undefined],
    ['a missing command', 'no-such-tool', (d) => `${d}/c`, undefined],
  ];
  for (const [name, cmd, path, want] of cases) {
    it(name, async () => {
      process.env.PATH = path(dir);
      assert.equal(await which(cmd), want === undefined ? undefined : join(dir, want));
    });
  }
});

describe('RUN settings from the command line (--ulimit, --add-host, --cgroup-parent)', () => {
  it('--ulimit replaces the default of its name and adds others; -1 is written as RLIM_INFINITY', () => {
    const limits = withUlimits([{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }], [
      { name: 'nofile', soft: 10, hard: 20 },
      { name: 'core', soft: -1, hard: -1 },
    ]);
    assert.deepEqual(limits, [
      { type: 'RLIMIT_NOFILE', hard: 20, soft: 10 },
      { type: 'RLIMIT_CORE', hard: -1, soft: -1 },
    ]);
    const spec = { process: { rlimits: limits } } as unknown as OciSpec;
    assert.equal(specJson(spec), '{"process":{"rlimits":[{"type":"RLIMIT_NOFILE","hard":20,"soft":10},{"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":18446744073709551615}]}}');
  });
  it('/etc/hosts: BuildKit two lines, then one per extra host', () => {
    assert.equal(hostsFile('buildkitsandbox', [{ host: 'db', ip: '10.0.0.1' }]), '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.1\tdb\n');
  });
  it('a cgroup parent is a clean relative path', () => {
    assert.equal(checkCgroupParent('/a//b/'), 'a/b');
    assert.equal(checkCgroupParent('system.slice'), 'system.slice');
    for (const bad of ['', '/', '../x', 'a/../b', 'a/./b', 'a b', 'a\nb']) assert.throws(() => checkCgroupParent(bad), /invalid cgroup parent/, bad);
  });
});
