/**
 * RUN steps in real containers (runc, and crun where it starts) on the busybox test image.
 * Needs root, runc, umoci and busybox-static: skipped locally without them, failing under CI=true.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { listAttributesSync } from '@napi-rs/xattr';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { digestHex, sha256 } from '../image/digest.js';
import type { Layer } from '../image/image.js';
import { createTarStream, type TarSource } from '../image/tar/writer.js';
import { Runtime, type RunRequest } from './index.js';
import { availableRuntimes, busyboxLayout, createOrSkip, layoutLayers, REPO_ROOT, requireRuntime, tarFileLayer } from './testing.js';
import { unpackOverlayLayer } from './unpack.js';
import { buildSpec, specJson } from './spec.js';

let work: string;
let layout: string;
let base: Layer[];

before(function () {
  this.timeout(120_000);
  requireRuntime(this);
  work = mkdtempSync(join(tmpdir(), 'tsb-rt-'));
  layout = busyboxLayout();
  base = layoutLayers(layout);
});
after(() => {
  if (!work) return;
  // never rm -rf through a mount (a rw bind would reach the host)
  for (const m of mountsUnder(work).sort().reverse()) execFileSync('umount', ['-l', m]);
  rmSync(work, { recursive: true, force: true });
});

function sh(script: string, extra: Partial<RunRequest> = {}): RunRequest {
  return { lowers: base, args: ['/bin/sh', '-c', script], env: [], cwd: '/', network: 'none', mounts: [], ...extra };
}

/** An overlay-format directory, entry by entry (a whiteout is any 0:0 char device: no mode or time). */
function snapshotListing(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, r));
      const whiteout = st.isCharacterDevice() && st.rdev === 0;
      const link = st.isSymbolicLink() ? readlinkSync(join(dir, r)) : '';
      const xattr = st.isDirectory() && listAttributesSync(join(dir, r)).includes('trusted.overlay.opaque') ? 'opaque' : '';
      out.push([r, whiteout ? 'whiteout' : st.mode.toString(8), `${st.uid}:${st.gid}`, st.isFile() ? st.size : '-', whiteout ? '-' : Math.floor(st.mtimeMs / 1000), link, st.isFile() ? st.nlink : '-', xattr].join('|'));
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  return out;
}

async function collect(diff: AsyncIterable<TarSource>): Promise<TarSource[]> {
  const out: TarSource[] = [];
  for await (const e of diff) out.push(e);
  return out;
}

async function writeTar(diff: AsyncIterable<TarSource>, file: string): Promise<string[]> {
  const entries = await collect(diff);
  await pipeline(createTarStream(entries), createWriteStream(file));
  return entries.map((e) => e.header.path);
}

/** Same listing inside the container and on the host: both use busybox's find and stat. */
const LIST = `cd "$1" && busybox find . -xdev -exec busybox stat -c '%n|%f|%u:%g|%s|%Y|%h|%N' {} + | busybox sort`;
const IGNORED = new Set(['.', './proc', './sys', './dev', './etc/hosts', './etc/resolv.conf']);

/** Comparable listing: mount points and runtime-provided files dropped, dir sizes/link counts dropped. */
function normalize(lines: string[], withMtime = true): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const f = l.split('|');
    if (f.length < 7 || IGNORED.has(f[0]!)) continue;
    const isDir = f[1]!.startsWith('41');
    if (isDir) {
      f[3] = '-';
      f[5] = '-';
    }
    // /etc got mount stubs (hosts, resolv.conf) during the run; its mtime is restored afterwards
    if (!withMtime || f[0] === './etc') f[4] = '-';
    out.push(f.join('|'));
  }
  return out;
}

function listHost(rootfs: string): string[] {
  return execFileSync('/bin/busybox', ['sh', '-c', LIST, 'sh', rootfs], { encoding: 'utf8' }).trim().split('\n');
}

/** base image + one diff layer, unpacked by umoci (an independent implementation). */
function unpackWithUmoci(diffTar: string, name: string): string {
  const d = join(work, `umoci-${name}`);
  execFileSync('cp', ['-a', layout, `${d}-layout`]);
  execFileSync('umoci', ['raw', 'add-layer', '--image', `${d}-layout:latest`, '--tag', 'step', diffTar]);
  execFileSync('umoci', ['unpack', '--image', `${d}-layout:step`, d], { stdio: 'ignore' });
  return join(d, 'rootfs');
}

const CHANGES = `set -e
echo new > /newfile
echo more >> /etc/passwd
rm /bin/vi
rm -rf /var/www && echo f > /var/www
rm /bin/ls && mkdir /bin/ls && echo x > /bin/ls/inner
rm -rf /srv/data && mkdir /srv/data && echo fresh > /srv/data/fresh
mkdir -p /d/sub && echo 1 > /d/sub/f
chmod 600 /etc/group
chown 33:33 /newfile
ln /newfile /newlink
ln /etc/shadow /shadowlink
ln -s ../etc/passwd /sym
mkfifo /fifo
mv /var/spool /var/spool2
touch -d @1000000000 /oldtime
rm -rf /home
echo ---LIST---
${LIST}`;

describe('testdata/busybox/build.sh', function () {
  this.timeout(60_000);
  it('builds the same image (same manifest digest) every time', function () {
    requireRuntime(this);
    const again = join(work, 'busybox-again');
    execFileSync(join(REPO_ROOT, 'testdata', 'busybox', 'build.sh'), [again], { stdio: 'ignore' });
    assert.equal(readFileSync(join(again, 'index.json'), 'utf8'), readFileSync(join(layout, 'index.json'), 'utf8'));
    assert.equal(base.length, 1);
  });
});

/** The CHANGES step's layer, applied on the base by umoci: a listing without mtimes. */
async function changesListing(ctx: Mocha.Context, runtime: 'runc' | 'crun', snapshotter: 'overlay' | 'copy'): Promise<string[]> {
  const rt = await createOrSkip(ctx, { root: join(work, `state-${runtime}-${snapshotter}`), runtime, snapshotter });
  try {
    const tar = join(work, `diff-only-${runtime}-${snapshotter}.tar`);
    const r = await rt.runStep(sh(CHANGES), async (diff) => ({ paths: await writeTar(diff, tar) }));
    assert.equal(r.exitCode, 0, r.lastLines.join('\n'));
    return normalize(listHost(unpackWithUmoci(tar, `only-${runtime}-${snapshotter}`)), false);
  } finally {
    await rt.close();
  }
}

describe('runtime: a RUN step comes out as the right layer', function () {
  this.timeout(60_000);
  /** Listings the per-snapshotter tests made; the comparison makes any that are missing (run alone). */
  const listings = new Map<string, string[]>();
  for (const runtime of availableRuntimes()) {
    for (const snapshotter of ['overlay', 'copy'] as const) {
      it(`${runtime} + ${snapshotter}: base + diff (unpacked by umoci) = what the container saw`, async function () {
        requireRuntime(this);
        const rt = await createOrSkip(this, { root: join(work, 'state'), runtime, snapshotter });
        try {
          assert.deepEqual(rt.info, { runtime, snapshotter });
          const lines: string[] = [];
          const tar = join(work, `diff-${runtime}-${snapshotter}.tar`);
          // the commit names its layer: with overlay the step's upper dir becomes that layer's snapshot
          const r = await rt.runStep(
            sh(CHANGES),
            async (diff) => ({ paths: await writeTar(diff, tar), diffID: sha256(readFileSync(tar)) }),
            (c) => c.diffID,
          );
          assert.equal(r.exitCode, 0, r.lastLines.join('\n'));
          const raw = readFileSync(r.logFile, 'utf8').split('\n');
          lines.push(...raw.slice(raw.indexOf('---LIST---') + 1).filter((l) => l !== ''));
          const paths = r.committed!.paths;
          const adopted = join(work, 'state', 'snapshots', digestHex(r.committed!.diffID));
          if (snapshotter === 'overlay') {
            assert.ok(existsSync(adopted), 'the upper dir was adopted as the snapshot');
            // what unpacking the layer would have made, entry by entry
            const unpackedHere = join(work, `unpack-${runtime}`);
            mkdirSync(unpackedHere);
            await unpackOverlayLayer(createReadStream(tar), unpackedHere);
            assert.deepEqual(snapshotListing(adopted), snapshotListing(unpackedHere));
          }
          // whiteouts for deleted lower entries; stubs and mounts never in the diff
          for (const p of ['bin/.wh.vi', 'home', 'var/.wh.spool', 'newfile', 'newlink', 'fifo', 'shadowlink']) {
            if (p === 'home') assert.ok(paths.includes('.wh.home'), 'whiteout for /home');
            else assert.ok(paths.includes(p), `${p} in ${paths.join(' ')}`);
          }
          for (const p of paths) assert.ok(!/^(etc\/hosts|etc\/resolv\.conf|proc|sys|dev|run)(\/|$)/.test(p), `stub ${p} leaked`);
          const unpacked = listHost(unpackWithUmoci(tar, `${runtime}-${snapshotter}`));
          assert.deepEqual(normalize(unpacked), normalize(lines));
          listings.set(`${runtime}-${snapshotter}`, normalize(unpacked, false));
          // the diff as a lower layer (whiteouts, opaque dirs, hardlinks, fifo) gives the same tree
          const r2 = await rt.runStep(sh(`echo ---LIST---; ${LIST}`, { lowers: [...base, tarFileLayer(tar)] }), collect);
          assert.equal(r2.exitCode, 0, r2.lastLines.join('\n'));
          const raw2 = readFileSync(r2.logFile, 'utf8').split('\n');
          const lines2 = raw2.slice(raw2.indexOf('---LIST---') + 1).filter((l) => l !== '');
          assert.deepEqual(normalize(lines2), normalize(unpacked));
        } finally {
          await rt.close();
        }
      });
    }
    it(`${runtime}: the copy snapshotter gives the same result as overlay`, async function () {
      requireRuntime(this);
      const a = listings.get(`${runtime}-overlay`) ?? (await changesListing(this, runtime, 'overlay'));
      const b = listings.get(`${runtime}-copy`) ?? (await changesListing(this, runtime, 'copy'));
      assert.deepEqual(b, a);
    });
  }
});

describe('runtime: layerView (what COPY --from reads: the snapshots, nothing unpacked)', function () {
  this.timeout(60_000);
  it('shows base + a RUN layer as the step saw it, one mount per stack; undefined without a snapshot; close() unmounts it', async function () {
    requireRuntime(this);
    const state = join(work, 'state-view');
    const rt = await createOrSkip(this, { root: state, snapshotter: 'overlay' });
    try {
      const tar = join(work, 'diff-view.tar');
      const r = await rt.runStep(sh(CHANGES), async (diff) => ({ paths: await writeTar(diff, tar), diffID: sha256(readFileSync(tar)) }), (c) => c.diffID);
      assert.equal(r.exitCode, 0, r.lastLines.join('\n'));
      const raw = readFileSync(r.logFile, 'utf8').split('\n');
      const saw = raw.slice(raw.indexOf('---LIST---') + 1).filter((l) => l !== '');
      // whiteouts, opaque dirs, hardlinks, a fifo, owners and modes as the container left them
      const stack = [...base, tarFileLayer(tar)];
      const view = await rt.layerView(stack);
      assert.ok(view !== undefined, 'the step\'s upper dir is the layer\'s snapshot');
      assert.deepEqual(normalize(listHost(view)), normalize(saw));
      assert.equal(await rt.layerView(stack), view);
      // a layer nobody made a snapshot of: unpacking it whole is not layerView's job
      const other = join(work, 'no-snapshot.tar');
      await pipeline(createTarStream([{ header: { path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 2, mtime: 0 }, body: Buffer.from('x\n') }]), createWriteStream(other));
      assert.equal(await rt.layerView([...base, tarFileLayer(other)]), undefined);
      assert.notDeepEqual(mountsUnder(state), []);
    } finally {
      await rt.close();
    }
    assert.deepEqual(mountsUnder(state), []);
    assert.deepEqual(readdirSync(join(state, 'steps')), []);
  });

  it('the copy snapshotter has no view (COPY --from unpacks instead)', async function () {
    requireRuntime(this);
    const rt = await createOrSkip(this, { root: join(work, 'state-view-copy'), snapshotter: 'copy' });
    try {
      assert.equal(await rt.layerView(base), undefined);
    } finally {
      await rt.close();
    }
  });
});

describe('runtime: crun runs steps with the seccomp filter compiled once (run.oci.seccomp_bpf_data)', function () {
  this.timeout(60_000);
  it('keeps one filter per profile in the state dir, byte for byte what crun compiles from a full step spec, and steps run confined by it', async function () {
    requireRuntime(this);
    if (!availableRuntimes().includes('crun')) {
      if (process.env.CI === 'true') throw new Error('crun is needed');
      this.skip();
    }
    const state = join(work, 'state-bpf');
    const rt = await createOrSkip(this, { root: state, runtime: 'crun' });
    try {
      for (let i = 0; i < 2; i++) {
        const lines: string[] = [];
        const r = await rt.runStep(sh('grep -E "^Seccomp(_filters)?:" /proc/self/status; unshare -U true 2>/dev/null; echo unshare=$?', { onOutput: (_s, l) => lines.push(l.replace(/\s+/g, ' ')) }), collect);
        assert.equal(r.exitCode, 0, r.lastLines.join('\n'));
        assert.deepEqual(lines, ['Seccomp: 2', 'Seccomp_filters: 1', 'unshare=1']);
      }
      const kept = readdirSync(join(state, 'seccomp-bpf'));
      assert.equal(kept.length, 1);
      // libseccomp's output for the step's own spec (all mounts, caps, masked paths), as crun leaves it after `create`
      const bundle = join(work, 'bpf-bundle');
      mkdirSync(join(bundle, 'rootfs', 'dev'), { recursive: true });
      writeFileSync(join(bundle, 'rootfs', 'x'), '', { mode: 0o755 });
      const spec = buildSpec({ rootfs: join(bundle, 'rootfs'), args: ['/x'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [], home: '/root' }, hostname: 'h', network: 'none', security: 'sandbox', mounts: [] } as Parameters<typeof buildSpec>[0]);
      writeFileSync(join(bundle, 'config.json'), specJson(spec));
      const crunState = join(work, 'bpf-crun-state');
      const hide = 'umount /sys/fs/cgroup/unified 2>/dev/null; crun --root="$1" create --bundle "$2" bpfcheck >/dev/null 2>&1; cat "$1/bpfcheck/seccomp.bpf"; crun --root="$1" delete -f bpfcheck';
      const direct = execFileSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', hide, 'sh', crunState, bundle]);
      assert.ok(direct.length > 0 && direct.length % 8 === 0, `crun left a filter (${direct.length} bytes)`);
      assert.ok(readFileSync(join(state, 'seccomp-bpf', kept[0]!)).equals(direct));
    } finally {
      await rt.close();
    }
  });
});

for (const runtime of availableRuntimes()) describe(`runtime (${runtime}): process, output and isolation`, function () {
  this.timeout(60_000);
  let rt: Runtime;
  before(async function () {
    requireRuntime(this);
    rt = await createOrSkip(this, { root: join(work, 'state'), runtime });
  });
  after(async () => rt?.close());

  const noCommit = async (diff: AsyncIterable<TarSource>) => (await collect(diff)).map((e) => e.header.path);

  const exits: Array<[string, string[], number]> = [
    ['exit 0', ['/bin/sh', '-c', 'exit 0'], 0],
    ['exit 42', ['/bin/sh', '-c', 'exit 42'], 42],
    ['a SIGKILLed child', ['/bin/sh', '-c', 'sh -c "kill -9 \\$\\$"; exit $?'], 137],
  ];
  for (const [name, args, code] of exits) {
    it(`exit code: ${name} → ${code}`, async () => {
      let called = false;
      const r = await rt.runStep({ ...sh(''), args }, async () => (called = true));
      assert.equal(r.exitCode, code);
      assert.equal(called, code === 0);
      assert.equal(r.committed, code === 0 ? true : undefined);
    });
  }

  it('a step that changed nothing is adopted as an empty snapshot (stub parents copied up are dropped)', async function () {
    const own = await createOrSkip(this, { root: join(work, `adopt-empty-${runtime}`), runtime });
    try {
      const tar = join(work, `empty-${runtime}.tar`);
      // /etc/hosts and /etc/resolv.conf are mount stubs: /etc is copied up, then restored
      const r = await own.runStep(sh('true'), async (diff) => ({ paths: await writeTar(diff, tar), diffID: sha256(readFileSync(tar)) }), (c) => c.diffID);
      assert.deepEqual(r.committed!.paths, []);
      if (own.info.snapshotter !== 'overlay') return;
      assert.deepEqual(readdirSync(join(work, `adopt-empty-${runtime}`, 'snapshots', digestHex(r.committed!.diffID))), []);
    } finally {
      await own.close();
    }
  });

  it('a missing binary fails the step with the runtime error in its last lines', async () => {
    const r = await rt.runStep({ ...sh(''), args: ['/nonexistent'] }, noCommit);
    assert.notEqual(r.exitCode, 0);
    assert.match(r.lastLines.join('\n'), /nonexistent/);
  });

  it('streams output line by line as it happens, keeps the last 20 lines and the full log', async () => {
    const seen: Array<{ stream: string; line: string; t: number }> = [];
    const script = 'echo a; sleep 0.3; echo b >&2; sleep 0.3; i=0; while [ $i -lt 30 ]; do echo n$i; i=$((i+1)); done';
    const r = await rt.runStep({ ...sh(script), onOutput: (stream, line) => seen.push({ stream, line, t: Date.now() }) }, noCommit);
    assert.equal(r.exitCode, 0);
    assert.deepEqual(seen.slice(0, 2).map((s) => `${s.stream}:${s.line}`), ['stdout:a', 'stderr:b']);
    assert.ok(seen[1]!.t - seen[0]!.t >= 200, `lines arrived ${seen[1]!.t - seen[0]!.t} ms apart`);
    assert.equal(r.lastLines.length, 20);
    assert.equal(r.lastLines[19], 'n29');
    const log = readFileSync(r.logFile, 'utf8');
    assert.ok(log.includes('a\n') && log.includes('b\n') && log.includes('n0\n') && log.includes('n29\n'));
  });

  const users: Array<[string | undefined, string]> = [
    [undefined, '0:0:0 10'],
    ['33', '33:33:33 100'],
    ['www-data', '33:33:33 100'],
    ['1234', '1234:0:0'],
    ['1234:5', '1234:5:5'],
    ['nobody:users', '65534:100:100'],
  ];
  for (const [user, want] of users) {
    it(`user ${user ?? '(default)'} → uid:gid:groups ${want}`, async () => {
      const lines: string[] = [];
      const req = sh('echo "$(id -u):$(id -g):$(id -G)"', { onOutput: (_s, l) => lines.push(l) });
      if (user !== undefined) req.user = user;
      const r = await rt.runStep(req, noCommit);
      assert.equal(r.exitCode, 0);
      assert.deepEqual(lines, [want]);
    });
  }

  it('env, cwd, hostname, HOME and PATH defaults; a missing cwd is created and not in the diff', async () => {
    const lines: string[] = [];
    const r = await rt.runStep(
      sh('echo "$FOO|$(pwd)|$(hostname)|$HOME|$PATH"; touch /made', {
        env: ['FOO=bar baz'],
        cwd: '/not/yet/there',
        hostname: 'h1',
        onOutput: (_s, l) => lines.push(l),
      }),
      noCommit,
    );
    assert.equal(r.exitCode, 0);
    assert.deepEqual(lines, ['bar baz|/not/yet/there|h1|/root|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    assert.deepEqual(r.committed, ['made']);
  });

  it('mount stub cleanup never reaches the host: a step that swaps a stub parent for a symlink to a host dir', async () => {
    // /swap/a/b (cwd) and /swap/m/t (tmpfs target) are stubs runc creates; the step moves /swap
    // away and points /swap at a host dir holding the same empty dirs and an empty file.
    // Cleaning stubs by joined host paths removed them there (before this fix: a/b, m/t, m).
    const marker = mkdtempSync(join(work, `stub-marker-${runtime}-`));
    for (const d of ['a/b', 'm/t']) mkdirSync(join(marker, d), { recursive: true });
    writeFileSync(join(marker, 'a', 'empty'), '');
    const r = await rt.runStep(
      sh(`cd / && mv /swap /swapped && ln -s ${marker} /swap`, {
        cwd: '/swap/a/b',
        mounts: [{ type: 'tmpfs', target: '/swap/m/t', size: 1 << 20 }],
      }),
      noCommit,
    );
    assert.equal(r.exitCode, 0);
    const left = execFileSync('find', [marker], { encoding: 'utf8' }).trim().split('\n').map((l) => l.slice(marker.length)).sort();
    assert.deepEqual(left, ['', '/a', '/a/b', '/a/empty', '/m', '/m/t']);
    // the moved stubs are the step's own result now (a renamed dir is opaque: redirect_dir=off)
    assert.deepEqual(r.committed!.sort(), ['swap', 'swapped', 'swapped/.wh..wh..opq', 'swapped/a', 'swapped/a/b', 'swapped/m', 'swapped/m/t']);
  });

  it('a layer with .wh..wh..opq at its root hides every lower layer from RUN (overlay and copy alike)', async function () {
    // overlayfs ignores the opaque xattr on a lowerdir's root: before this fix the overlay
    // step still listed the base image's /etc/passwd and /usr
    const tar = join(work, `root-opaque-${runtime}.tar`);
    const opaqueLayer: TarSource[] = [
      { header: { path: '.wh..wh..opq', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1 }, body: Buffer.alloc(0) },
      { header: { path: 'bin/', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1 } },
      { header: { path: 'bin/busybox', type: 'file', mode: 0o755, uid: 0, gid: 0, size: statSync('/bin/busybox').size, mtime: 1 }, body: readFileSync('/bin/busybox') },
      { header: { path: 'only-here', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1 }, body: Buffer.alloc(0) },
    ];
    await pipeline(createTarStream(opaqueLayer), createWriteStream(tar));
    const listings: string[][] = [];
    for (const snapshotter of ['overlay', 'copy'] as const) {
      const own = await createOrSkip(this, { root: join(work, `root-opaque-${runtime}-${snapshotter}`), runtime, snapshotter });
      try {
        const lines: string[] = [];
        const r = await own.runStep(
          { ...sh(''), lowers: [...base, tarFileLayer(tar)], args: ['/bin/busybox', 'find', '/', '-xdev'], onOutput: (_s, l) => lines.push(l) },
          noCommit,
        );
        assert.equal(r.exitCode, 0, lines.join('\n'));
        listings.push(lines.sort());
      } finally {
        await own.close();
      }
    }
    assert.ok(listings[0]!.includes('/only-here') && listings[0]!.includes('/bin/busybox'), listings[0]!.join(' '));
    assert.ok(!listings[0]!.includes('/etc/passwd') && !listings[0]!.includes('/bin/sh'), listings[0]!.join(' '));
    assert.deepEqual(listings[0], listings[1]);
  });

  it('network none shows only lo; host network shows the host interfaces', async () => {
    const run = async (network: RunRequest['network']) => {
      const lines: string[] = [];
      await rt.runStep(sh('ls /sys/class/net', { network, onOutput: (_s, l) => lines.push(l) }), noCommit);
      return lines;
    };
    assert.deepEqual(await run('none'), ['lo']);
    const host = readdirSync('/sys/class/net').sort();
    assert.deepEqual((await run('host')).sort(), host);
  });

  it('sandbox: default caps, seccomp, masked paths; insecure: more caps, no seccomp', async () => {
    const script = 'grep -E "^(CapEff|Seccomp):" /proc/self/status; cat /proc/timer_list | wc -c';
    const out = async (security: 'sandbox' | 'insecure') => {
      const lines: string[] = [];
      await rt.runStep(sh(script, { security, onOutput: (_s, l) => lines.push(l.replace(/\s+/g, ' ')) }), noCommit);
      return lines;
    };
    assert.deepEqual(await out('sandbox'), ['CapEff: 00000000a80425fb', 'Seccomp: 2', '0']);
    const insecure = await out('insecure');
    assert.equal(insecure[1], 'Seccomp: 0');
    assert.ok(Number(insecure[2]) > 0, 'masked paths are not masked when insecure');
    assert.ok(BigInt('0x' + insecure[0]!.split(' ')[1]) > 0xa80425fbn);
  });

  it('the step sees only fds 0, 1 and 2 (nothing of the builder leaks in)', async () => {
    const lines: string[] = [];
    await rt.runStep(sh('ls /proc/$$/fd; true', { onOutput: (_s, l) => lines.push(l) }), noCommit);
    assert.deepEqual(lines, ['0', '1', '2']);
  });

  it('CVE-2024-21626: a cwd under /proc (directly or through a symlink in the image) is refused', async () => {
    await assert.rejects(rt.runStep(sh('pwd', { cwd: '/proc/self/fd/7' }), noCommit), { code: 'TSB_RUNTIME_REQUEST' });
    const tar = join(work, 'evil.tar');
    const r = await rt.runStep(sh('ln -s /proc/self/fd/7 /evil && ln -s ../proc/self/cwd /evil2'), (d) => writeTar(d, tar));
    assert.equal(r.exitCode, 0);
    const lowers = [...base, tarFileLayer(tar)];
    for (const cwd of ['/evil', '/evil2', '/evil/x']) {
      await assert.rejects(rt.runStep(sh('pwd', { lowers, cwd }), noCommit), { code: 'TSB_RUNTIME_REQUEST' }, cwd);
    }
  });

  it('a timeout kills the whole pid namespace and leaves nothing mounted', async () => {
    const t0 = Date.now();
    await assert.rejects(
      rt.runStep(sh('echo started; sleep 997 & sleep 998 & trap "" TERM; sleep 999', { timeoutMs: 800 }), noCommit),
      (e: Error & { code?: string; data?: { lastLines: string[] } }) => {
        assert.equal(e.code, 'TSB_RUNTIME_TIMEOUT');
        assert.ok(e.data?.lastLines.includes('started'));
        return true;
      },
    );
    assert.ok(Date.now() - t0 < 10_000);
    assert.deepEqual(sleepers(/^sleep\x00(997|998|999)\x00$/), []);
    assert.deepEqual(mountsUnder(join(work, 'state')), []);
  });

  it('an abort signal stops a running step', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 500);
    const t0 = Date.now();
    await assert.rejects(rt.runStep(sh('sleep 996', { signal: ac.signal }), noCommit), { code: 'TSB_RUNTIME_ABORTED' });
    assert.ok(Date.now() - t0 < 10_000);
    assert.deepEqual(sleepers(/^sleep\x00996\x00$/), []);
  });

  it('runs steps in parallel, each with its own snapshot', async () => {
    const [a, b] = await Promise.all([
      rt.runStep(sh('sleep 0.3; echo a > /a'), noCommit),
      rt.runStep(sh('sleep 0.3; echo b > /b'), noCommit),
    ]);
    assert.deepEqual([a.committed, b.committed], [['a'], ['b']]);
  });

  it('an error thrown by commit reaches the caller and still tears everything down', async () => {
    await assert.rejects(
      rt.runStep(sh('touch /x'), async () => {
        throw new Error('store full');
      }),
      /store full/,
    );
    assert.deepEqual(mountsUnder(join(work, 'state')), []);
    assert.deepEqual(readdirSync(join(work, 'state', 'steps')), []);
  });

  it('a cache mount persists across steps and never reaches the diff', async () => {
    const mounts: RunRequest['mounts'] = [{ type: 'cache', target: '/root/.cache/app', id: `c1-${runtime}`, sharing: 'locked', mode: 0o700 }];
    const lines: string[] = [];
    const r1 = await rt.runStep(sh('echo 1 >> /root/.cache/app/count', { mounts }), noCommit);
    const r2 = await rt.runStep(
      sh('echo 2 >> /root/.cache/app/count; cat /root/.cache/app/count; stat -c %a /root/.cache/app', {
        mounts,
        onOutput: (_s, l) => lines.push(l),
      }),
      noCommit,
    );
    assert.deepEqual(lines, ['1', '2', '700']);
    assert.deepEqual(r1.committed, []);
    assert.deepEqual(r2.committed, []);
  });

  it('a secret is readable in the step, mode 0400, and absent from the diff and the host disk', async () => {
    const lines: string[] = [];
    const r = await rt.runStep(
      sh('cat /run/secrets/token; echo; stat -c %a /run/secrets/token; grep -c " /run/secrets/token " /proc/mounts', {
        mounts: [{ type: 'secret', target: '/run/secrets/token', data: Buffer.from('s3cr3t') }],
        onOutput: (_s, l) => lines.push(l),
      }),
      noCommit,
    );
    assert.deepEqual(lines, ['s3cr3t', '400', '1']);
    assert.deepEqual(r.committed, []);
    const grep = spawn('grep', ['-rl', 's3cr3t', join(work, 'state')]);
    const found = await new Promise<string>((res) => {
      let s = '';
      grep.stdout.on('data', (b: Buffer) => (s += b.toString()));
      grep.on('close', () => res(s));
    });
    assert.equal(found.split('\n').filter((l) => l !== '' && !l.endsWith('.log')).join('\n'), '');
  });

  it('an ssh mount is a socket with the asked owner/mode that forwards to the agent', async () => {
    const agentPath = join(work, `agent-${runtime}.sock`);
    const agent = createServer((c) => c.end('pong\n'));
    await new Promise<void>((r) => agent.listen(agentPath, r));
    try {
      const lines: string[] = [];
      let forwarded = '';
      const r = await rt.runStep(
        sh('stat -c "%a %F %u" /run/ssh/agent.sock; sleep 1', {
          mounts: [{ type: 'ssh', target: '/run/ssh/agent.sock', socketPath: agentPath, uid: 33, mode: 0o660 }],
          onOutput: (_s, l) => {
            lines.push(l);
            // while the step runs, talk to the proxy the step sees, from the host side
            const steps = readdirSync(join(work, 'state', 'steps'));
            const sock = steps.map((d) => join(work, 'state', 'steps', d, 'ssh-1.sock')).find((p) => existsSync(p));
            if (sock) connect(sock).on('data', (b: Buffer) => (forwarded += b.toString()));
          },
        }),
        noCommit,
      );
      assert.deepEqual(lines, ['660 socket 33']);
      assert.equal(forwarded, 'pong\n');
      assert.deepEqual(r.committed, []);
    } finally {
      agent.close();
    }
  });

  it('a tmpfs mount is a tmpfs and its writes are not in the diff', async () => {
    const lines: string[] = [];
    const r = await rt.runStep(
      sh('echo x > /scratch/f; grep " /scratch " /proc/mounts | cut -d" " -f3', {
        mounts: [{ type: 'tmpfs', target: '/scratch', size: 1 << 20 }],
        onOutput: (_s, l) => lines.push(l),
      }),
      noCommit,
    );
    assert.deepEqual(lines, ['tmpfs']);
    assert.deepEqual(r.committed, []);
  });

  it('bind from a host dir: read-only by default, readwrite writes are discarded, symlinks stay inside', async () => {
    const ctx = join(work, `context-${runtime}`);
    mkdirSync(join(ctx, 'sub'), { recursive: true });
    writeFileSync(join(ctx, 'sub/file'), 'from context\n');
    symlinkSync('/etc', join(ctx, 'escape'));
    const lines: string[] = [];
    const ro = await rt.runStep(
      sh('cat /ctx/file; if touch /ctx/new 2>/dev/null; then echo writable; else echo readonly; fi', {
        mounts: [{ type: 'bind', target: '/ctx', source: 'sub', from: { hostDir: ctx } }],
        onOutput: (_s, l) => lines.push(l),
      }),
      noCommit,
    );
    assert.deepEqual(lines, ['from context', 'readonly']);
    assert.deepEqual(ro.committed, []);
    const rw = await rt.runStep(
      sh('echo changed > /ctx/file && touch /ctx/new', {
        mounts: [{ type: 'bind', target: '/ctx', source: '/sub', from: { hostDir: ctx }, readwrite: true }],
      }),
      noCommit,
    );
    assert.equal(rw.exitCode, 0);
    assert.deepEqual(rw.committed, []);
    assert.equal(readFileSync(join(ctx, 'sub/file'), 'utf8'), 'from context\n');
    assert.equal(existsSync(join(ctx, 'sub/new')), false);
    // `escape` → /etc resolves inside the context (ctx/etc), which does not exist
    await assert.rejects(
      rt.runStep(sh('true', { mounts: [{ type: 'bind', target: '/x', source: 'escape/passwd', from: { hostDir: ctx } }] }), noCommit),
      { code: 'TSB_RUNTIME_REQUEST' },
    );
  });

  it('bind from layers (RUN --mount=from=...)', async () => {
    const lines: string[] = [];
    const r = await rt.runStep(
      sh('cat /m/hello.txt /m/sub/nested.txt', {
        lowers: [],
        args: ['/bb/busybox', 'sh', '-c', 'cat /m/hello.txt /m/sub/nested.txt'],
        mounts: [
          { type: 'bind', target: '/m', source: '/srv/data', from: { layers: base } },
          { type: 'bind', target: '/bb', source: '/bin', from: { layers: base } },
        ],
        onOutput: (_s, l) => lines.push(l),
      }),
      noCommit,
    );
    assert.equal(r.exitCode, 0, r.lastLines.join('\n'));
    assert.deepEqual(lines, ['hello', 'nested']);
    assert.deepEqual(r.committed, []);
  });
});

describe('runtime: the probe verdict', function () {
  this.timeout(60_000);
  it('is remembered per machine: a new state dir on the same file system does not probe again; another fingerprint does', async function () {
    requireRuntime(this);
    const memo = join(work, 'probe-memo');
    const saved = process.env.TSBUILD_PROBE_DIR;
    process.env.TSBUILD_PROBE_DIR = memo;
    try {
      const a = join(work, 'memo-a');
      const first = await Runtime.create({ root: a });
      await first.close();
      assert.ok(existsSync(join(a, 'probe.json')), 'the first state dir probed');
      const files = readdirSync(memo);
      assert.equal(files.length, 1);

      const b = join(work, 'memo-b');
      const second = await Runtime.create({ root: b });
      await second.close();
      assert.deepEqual(second.info, first.info);
      assert.equal(existsSync(join(b, 'probe.json')), false, 'the second state dir used the machine verdict');

      // a verdict for another machine (kernel, binaries, file system) is not used
      const file = join(memo, files[0]!);
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), fingerprint: 'another machine' }));
      const c = join(work, 'memo-c');
      await (await Runtime.create({ root: c })).close();
      assert.ok(existsSync(join(c, 'probe.json')), 'a fingerprint mismatch probes again');
    } finally {
      if (saved === undefined) delete process.env.TSBUILD_PROBE_DIR;
      else process.env.TSBUILD_PROBE_DIR = saved;
    }
  });
});

describe('runtime: crash recovery', function () {
  this.timeout(60_000);
  for (const runtime of availableRuntimes()) {
    it(`${runtime}: a SIGKILLed builder's step dies with it; its mounts and cgroups go at the next Runtime.create`, async function () {
      requireRuntime(this);
      await (await createOrSkip(this, { root: join(work, 'probe-crash'), runtime })).close();
      const state = join(work, `crash-${runtime}`);
      const secs = 10_000 + Math.floor(Math.random() * 80_000); // tells our sleepers from any other
      const mine = new RegExp(`^sleep\\x00${secs}\\x00$`);
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(REPO_ROOT, 'runtime', 'testing-step-child.ts'), state, runtime, String(secs)],
        { stdio: ['ignore', 'pipe', 'inherit'], cwd: REPO_ROOT },
      );
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => b.toString().includes('STARTED') && resolve());
        child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
      });
      for (let i = 0; i < 50 && sleepers(mine).length < 2; i++) await sleep(50);
      assert.equal(sleepers(mine).length, 2);
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      // the watchdog kills the container (PR_SET_PDEATHSIG); its mounts wait for the next command
      for (let i = 0; i < 60 && sleepers(mine).length > 0; i++) await sleep(50);
      assert.deepEqual(sleepers(mine), [], 'the step outlived its builder by 3 s');
      assert.ok(mountsUnder(state).length > 0);

      const deadBuilds = readdirSync(join(state, 'builds')).map((f) => f.replace(/\.json$/, ''));
      assert.equal(deadBuilds.length, 1);
      const rt = await Runtime.create({ root: state, runtime });
      try {
        assert.deepEqual(mountsUnder(state), []);
        const list = execFileSync(runtime, ['--root', join(state, runtime), 'list', '-q'], { encoding: 'utf8' }).trim();
        assert.equal(list, '');
        assert.deepEqual(readdirSync(join(state, 'steps')), []);
        assert.deepEqual(sleepers(mine), []);
        for (const hierarchy of ['memory', 'pids', 'cpu']) {
          assert.equal(existsSync(join('/sys/fs/cgroup', hierarchy, deadBuilds[0]!)), false, `${hierarchy} cgroup left`);
        }
        assert.deepEqual(readdirSync(join(state, 'builds')), [`${rt.buildId}.json`]);
      } finally {
        await rt.close();
      }
    });
  }
});

describe('runtime: SIGTERM', function () {
  this.timeout(60_000);
  it('tears down the live step (container, mounts, cgroups) and re-raises the signal', async function () {
    requireRuntime(this);
    const state = join(work, 'sigterm');
    const secs = 10_000 + Math.floor(Math.random() * 80_000);
    const mine = new RegExp(`^sleep\\x00${secs}\\x00$`);
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'runtime', 'testing-step-child.ts'), state, 'runc', String(secs)],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: REPO_ROOT },
    );
    let out = '';
    const exited = new Promise<NodeJS.Signals | number | null>((r) => child.on('exit', (code, sig) => r(sig ?? code)));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (out.includes('STARTED')) resolve();
      });
    });
    for (let i = 0; i < 50 && sleepers(mine).length < 2; i++) await sleep(50);
    assert.equal(sleepers(mine).length, 2);
    const buildId = readdirSync(join(state, 'builds'))[0]!.replace(/\.json$/, '');
    child.kill('SIGTERM');
    assert.equal(await exited, 'SIGTERM');
    assert.match(out, /STEP FAILED RunAbortedError/);
    assert.deepEqual(sleepers(mine), []);
    assert.deepEqual(mountsUnder(state), []);
    assert.equal(execFileSync('runc', ['--root', join(state, 'runc'), 'list', '-q'], { encoding: 'utf8' }).trim(), '');
    assert.deepEqual(readdirSync(join(state, 'steps')), []);
    assert.equal(existsSync(join('/sys/fs/cgroup/memory', buildId)), false);
    assert.deepEqual(readdirSync(join(state, 'builds')), []);
  });
});

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(dir + '/'));
}

/** pids whose whole cmdline matches (NUL-separated args). */
function sleepers(re: RegExp): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (re.test(readFileSync(`/proc/${p}/cmdline`, 'latin1'))) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}
