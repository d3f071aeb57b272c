import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import { RACY_MARGIN_MS } from '../cache/context-hash.js';
import { cli, execFileP, makeTree, removeAll, storeWithBusybox, tempDir } from './helpers.js';
import { requireTools } from './tools.js';
import { startRegistry, type TestRegistry } from './registry-server.js';

/** Every file and directory under `root`: its type, size, mtime and ctime (ns) and a file's sha256. */
async function storeSnapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const st = await lstat(path, { bigint: true });
      const content = st.isFile() ? createHash('sha256').update(await readFile(path)).digest('hex') : '';
      out.set(path.slice(root.length), `${st.mode.toString(8)} ${st.size} m${st.mtimeNs} c${st.ctimeNs} ${content}`);
      if (st.isDirectory()) await walk(path);
    }
  };
  const top = await lstat(root, { bigint: true });
  out.set('/', `m${top.mtimeNs} c${top.ctimeNs}`);
  await walk(root);
  return out;
}

/** RUN steps in real containers, the build cache and cleanup, driven through the CLI. */
describe('RUN and the build cache: end to end', function () {
  this.timeout(300_000);
  let root: string;
  let work: string;

  before(async function () {
    ({ root, work } = await storeWithBusybox(this));
  });
  after(() => removeAll(root, work));

  const build = (args: string[], env: Record<string, string> = {}) => cli(['build', '--root', root, ...args], env);

  it('builds the README example and the image runs under runc', async () => {
    const tar = join(work, 'example.tar');
    const r = await build(['--progress=quiet', '-t', 'example:1', '--output', `type=oci,dest=${tar}`, 'testdata/example']);
    assert.equal(r.code, 0, r.stderr);
    const layout = join(work, 'example-oci');
    await mkdir(layout);
    await execFileP('tar', ['-xf', tar, '-C', layout]);
    const bundle = join(work, 'example-bundle');
    await execFileP('umoci', ['unpack', '--image', `${layout}:1`, bundle]);
    const cfgPath = join(bundle, 'config.json');
    await writeFile(cfgPath, (await readFile(cfgPath, 'utf8')).replace('"terminal": true', '"terminal": false'));
    const { stdout } = await execFileP('runc', ['--root', join(work, 'runc-state'), 'run', '--bundle', bundle, `tsb-example-${process.pid}`]);
    assert.match(stdout, /^hello from a tsbuild-built image \(built in Linux by uid 0\)$/m);
    assert.match(stdout, /^running as app in \/home\/app$/m);
  });

  it('reuses every step on an unchanged rebuild and re-runs only what a one-file change reaches', async () => {
    const ctx = await makeTree({
      'Dockerfile': 'FROM busybox:latest\nCOPY a.txt /a.txt\nRUN cat /a.txt > /a.copy\nCOPY --chmod=644 b.txt /b.txt\nRUN wc -c /b.txt > /b.count\n',
      'a.txt': 'a\n',
      'b.txt': 'b\n',
    });
    try {
      const first = await build(['--progress=plain', '--explain-cache', ctx]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /cache: 0 step\(s\) reused, 4 executed/);
      const again = await build(['--progress=plain', '--explain-cache', ctx]);
      assert.match(again.stderr, /cache: 4 step\(s\) reused, 0 executed/);
      // a fully cached rebuild is the same image (reused steps keep their dates)
      const id = (out: string): string | undefined => /built (sha256:[a-f0-9]{64})/.exec(out)?.[1];
      assert.ok(id(first.stderr));
      assert.equal(id(again.stderr), id(first.stderr));
      // A mode change under --chmod does not matter (buildkit#3821); content does.
      await execFileP('chmod', ['600', join(ctx, 'b.txt')]);
      const modeOnly = await build(['--progress=plain', '--explain-cache', ctx]);
      assert.match(modeOnly.stderr, /cache: 4 step\(s\) reused, 0 executed/);
      await writeFile(join(ctx, 'b.txt'), 'bb\n');
      const changed = await build(['--progress=plain', '--explain-cache', ctx]);
      assert.match(changed.stderr, /cache: 2 step\(s\) reused, 2 executed/);
      assert.match(changed.stderr, /COPY --chmod=644 b\.txt \/b\.txt \(.*Dockerfile:4\):\n {2}- b\.txt changed/);
      assert.match(changed.stderr, /RUN wc -c \/b\.txt > \/b\.count \(.*Dockerfile:5\):\n {2}- parent step changed/);
      const noCache = await build(['--progress=plain', '--explain-cache', '--no-cache', ctx]);
      assert.match(noCache.stderr, /cache: 0 step\(s\) reused, 4 executed/);
    } finally {
      await removeAll(ctx);
    }
  });

  it('a one-file change makes the COPY snapshot a delta on the last one; the RUN on it, and a COPY --from it, make the same image as on a whole unpack', async () => {
    const files: Record<string, string> = {
      'Dockerfile': [
        'FROM busybox:latest',
        'COPY files/ /data/files/',
        'RUN cd /data && find . -exec stat -c "%n %a %u %g %s %Y %F %N" {} + | sort > /listing && find . -type f -exec sha256sum {} + | sort >> /listing',
        'FROM busybox:latest',
        'COPY --from=0 /listing /listing',
        'COPY --from=0 /data/files/ /files/',
        '',
      ].join('\n'),
    };
    for (let i = 0; i < 30; i++) files[`files/d${i % 3}/f${i}.txt`] = `file ${i}\n`;
    const ctx = await makeTree(files);
    const env = { SOURCE_DATE_EPOCH: '1700000000' };
    const deltas = join(root, 'runtime', 'deltas');
    const id = (out: string): string | undefined => /built (sha256:[a-f0-9]{64})/.exec(out)?.[1];
    try {
      assert.equal((await build(['--progress=plain', ctx], env)).code, 0);
      const before = new Set(await readdir(deltas).catch(() => [] as string[]));
      await writeFile(join(ctx, 'files/d1/f4.txt'), 'changed\n');
      await mkdir(join(ctx, 'files/new'));
      await writeFile(join(ctx, 'files/new/g.txt'), 'new\n');
      const viaDelta = await build(['--progress=plain', ctx], env);
      assert.equal(viaDelta.code, 0, viaDelta.stderr);
      const made = (await readdir(deltas)).filter((d) => !before.has(d));
      assert.equal(made.length, 1, 'one delta snapshot');
      const written = (await execFileP('find', [join(deltas, made[0]!, 'fs'), '-mindepth', '1'])).stdout.trim().split('\n').map((p) => p.slice(join(deltas, made[0]!, 'fs').length));
      assert.deepEqual(written.sort(), ['/data', '/data/files', '/data/files/d1', '/data/files/d1/f4.txt', '/data/files/new', '/data/files/new/g.txt']);
      // no snapshot to stack on: the COPY's layer is unpacked whole, and the RUN must see the same tree
      await execFileP('sh', ['-c', `rm -rf '${join(root, 'runtime', 'snapshots')}'/* '${deltas}'/*`]);
      const whole = await build(['--progress=plain', '--no-cache', ctx], env);
      assert.equal(whole.code, 0, whole.stderr);
      assert.deepEqual(await readdir(deltas), [], 'no delta without a base snapshot');
      assert.ok(id(viaDelta.stderr));
      assert.equal(id(whole.stderr), id(viaDelta.stderr));
    } finally {
      await removeAll(ctx);
    }
  });

  describe('which changes invalidate which steps', () => {
    // Steps that touch the filesystem: COPY a (3), RUN (6), COPY b (8). Config-only
    // steps never run; a change must re-run exactly the steps it can affect.
    const dockerfile = (o: { v?: string; e?: string; label?: string; wd?: string; user?: string; run?: string; chmod?: string } = {}): string =>
      [
        'FROM busybox:latest',
        `ARG V=${o.v ?? '1'}`,
        `COPY --chmod=${o.chmod ?? '644'} a.txt /srv/a.txt`,
        `ENV E=${o.e ?? '1'}`,
        `LABEL l=${o.label ?? '1'}`,
        `RUN ${o.run ?? 'echo $V $E'} > /srv/out`,
        `WORKDIR ${o.wd ?? '/srv'}`,
        'COPY b.txt ./b.txt',
        `USER ${o.user ?? 'root'}`,
        '',
      ].join('\n');
    const cases: Array<{ change: string; edit: (ctx: string) => Promise<void>; executed: number }> = [
      { change: 'nothing', edit: async () => {}, executed: 0 },
      { change: 'a LABEL', edit: (c) => writeFile(join(c, 'Dockerfile'), dockerfile({ label: '2' })), executed: 0 },
      { change: 'USER after the last layer', edit: (c) => writeFile(join(c, 'Dockerfile'), dockerfile({ user: 'nobody' })), executed: 0 },
      { change: 'ARG default (only RUN uses it)', edit: (c) => writeFile(join(c, 'Dockerfile'), dockerfile({ v: '2' })), executed: 2 },
      { change: 'ENV (RUN sees it)', edit: (c) => writeFile(join(c, 'Dockerfile'), dockerfile({ e: '2' })), executed: 2 },
      { change: 'the RUN command', edit: (c) => writeFile(join(c, 'Dockerfile'), dockerfile({ run: 'echo $E $V' })), executed: 2 },
      { change: 'WORKDIR (the last COPY lands elsewhere)', edit: (c) => writeFile(join(c, 'Dockerfile'), dockerfile({ wd: '/opt' })), executed: 1 },
      { change: 'b.txt content', edit: (c) => writeFile(join(c, 'b.txt'), 'b2\n'), executed: 1 },
      { change: 'a.txt content', edit: (c) => writeFile(join(c, 'a.txt'), 'a2\n'), executed: 3 },
      { change: '--chmod of the first COPY', edit: (c) => writeFile(join(c, 'Dockerfile'), dockerfile({ chmod: '600' })), executed: 3 },
      { change: 'a.txt mode only (--chmod fixes it)', edit: (c) => execFileP('chmod', ['755', join(c, 'a.txt')]).then(() => {}), executed: 0 },
      { change: 'a.txt mtime only', edit: (c) => execFileP('touch', ['-d', '2001-01-01', join(c, 'a.txt')]).then(() => {}), executed: 0 },
    ];
    for (const c of cases) {
      it(`${c.change} → ${c.executed} step(s) run`, async () => {
        const ctx = await makeTree({ 'Dockerfile': dockerfile(), 'a.txt': 'a\n', 'b.txt': 'b\n' });
        try {
          const first = await build(['--progress=plain', '--explain-cache', ctx]);
          assert.equal(first.code, 0, first.stderr);
          await c.edit(ctx);
          const r = await build(['--progress=plain', '--explain-cache', ctx]);
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stderr, new RegExp(`cache: ${3 - c.executed} step\\(s\\) reused, ${c.executed} executed`), r.stderr);
        } finally {
          await removeAll(ctx);
        }
      });
    }
  });

  it('explains a miss caused by a build arg', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nARG VERSION=1\nRUN echo $VERSION > /v\n' });
    try {
      assert.equal((await build(['--progress=quiet', '--build-arg', 'VERSION=1.2', ctx])).code, 0);
      const r = await build(['--progress=rawjson', '--build-arg', 'VERSION=1.3', ctx]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /"reason":"[^"]*build arg VERSION 1\.2 → 1\.3/);
    } finally {
      await removeAll(ctx);
    }
  });

  it('keeps secrets out of layers, config, history and logs', async () => {
    const secret = `s3cr3t-${process.pid}-${Date.now()}`;
    const ctx = await makeTree({
      'Dockerfile':
        'FROM busybox:latest\n' +
        'RUN --mount=type=secret,id=tok wc -c /run/secrets/tok > /len\n' +
        'RUN --mount=type=secret,id=tok,env=TOKEN echo ${#TOKEN} > /envlen\n',
    });
    const secretFile = join(work, 'secret.txt');
    await writeFile(secretFile, secret);
    const tar = join(work, 'secret.tar');
    try {
      const r = await build(['--progress=rawjson', '-t', 'secret:1', '--secret', `id=tok,src=${secretFile}`, '--output', `type=oci,dest=${tar}`, ctx]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stderr.includes(secret), 'secret in the logs');
      const layout = join(work, 'secret-oci');
      await mkdir(layout, { recursive: true });
      await execFileP('tar', ['-xf', tar, '-C', layout]);
      const blobs = join(layout, 'blobs/sha256');
      let scanned = 0;
      for (const b of await readdir(blobs)) {
        const raw = await readFile(join(blobs, b));
        const text = raw[0] === 0x1f && raw[1] === 0x8b ? await gunzipText(join(blobs, b)) : raw.toString('latin1');
        assert.ok(!text.includes(secret), `secret found in blob ${b} (layer, config or manifest)`);
        if (raw[0] === 0x1f) {
          const { stdout: names } = await execFileP('tar', ['-tzf', join(blobs, b)]);
          assert.ok(!/(^|\/)run\/secrets/m.test(names), `secret mount stub left in layer ${b}: ${names}`);
        }
        scanned++;
      }
      assert.ok(scanned >= 5, `only ${scanned} blobs`);
      const bundle = join(work, 'secret-bundle');
      await execFileP('umoci', ['unpack', '--image', `${layout}:1`, bundle]);
      assert.match(await readFile(join(bundle, 'rootfs/len'), 'utf8'), new RegExp(`^${secret.length} /run/secrets/tok`));
      assert.equal((await readFile(join(bundle, 'rootfs/envlen'), 'utf8')).trim(), String(secret.length));
      await assert.rejects(readFile(join(bundle, 'rootfs/run/secrets/tok')), /ENOENT/);
    } finally {
      await removeAll(ctx);
    }
  });

  it('keeps secrets out of cache keys: a rebuild without --secret reuses the step and warns; required=true fails', async () => {
    const ctx = await makeTree({
      'Dockerfile':
        'FROM busybox:latest\n' +
        'RUN --mount=type=secret,id=tok --mount=type=secret,id=tok,env=TOKEN echo ran-${#TOKEN} > /ran\n',
    });
    const secretFile = join(work, 'cache-key-secret.txt');
    try {
      await writeFile(secretFile, `first-${process.pid}`);
      const first = await build(['--progress=plain', '--explain-cache', '--secret', `id=tok,src=${secretFile}`, ctx]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /cache: 0 step\(s\) reused, 1 executed/);
      assert.doesNotMatch(first.stderr, /secret tok was not provided/);
      // Another value, then none at all: the step's key is the same (BuildKit keys never hold secrets).
      await writeFile(secretFile, 'another value');
      const other = await build(['--progress=plain', '--explain-cache', '--secret', `id=tok,src=${secretFile}`, ctx]);
      assert.match(other.stderr, /cache: 1 step\(s\) reused, 0 executed/);
      const none = await build(['--progress=plain', '--explain-cache', ctx]);
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stderr, /cache: 1 step\(s\) reused, 0 executed/);
      assert.match(none.stderr, /secret tok was not provided: RUN runs without it/);
      assert.match(none.stderr, /Dockerfile:2/);
      await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nRUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok\n');
      const required = await build(['--progress=plain', ctx]);
      assert.equal(required.code, 2, required.stderr); // a missing flag: a usage error
      assert.match(required.stderr, /secret tok is required but was not provided/);
      assert.match(required.stderr, /Dockerfile:2/);
    } finally {
      await removeAll(ctx);
    }
  });

  it('keeps cache mounts across builds, outside the layers', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nRUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /runs\n' });
    try {
      for (const expected of ['1', '2']) {
        const dest = join(work, `cache-out-${expected}`);
        const r = await build(['--progress=quiet', '--no-cache', '--output', `type=local,dest=${dest}`, ctx]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal((await readFile(join(dest, 'runs'), 'utf8')).trim(), expected);
        assert.deepEqual(await readdir(join(dest, 'var/cache')).catch(() => []), [], 'the cache mount target leaked into the layer');
      }
    } finally {
      await removeAll(ctx);
    }
  });

  it('reports a failed RUN with its line, exit code and last output lines', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nRUN for i in $(seq 1 30); do echo line$i; done; exit 7\n' });
    try {
      const r = await build(['--progress=quiet', ctx]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Dockerfile:2:1: process "\/bin\/sh -c for i in .*" did not complete successfully: exit code: 7/);
      assert.match(r.stderr, /--- last 20 lines of output ---\nline11\n[\s\S]*line30\n/);
      assert.doesNotMatch(r.stderr, /^line10$/m);
      const log = /\(full log: (.*)\)/.exec(r.stderr)?.[1];
      assert.ok(log, r.stderr);
    } finally {
      await removeAll(ctx);
    }
  });

  it('leaves no mounts and no containers when the build is interrupted mid-RUN', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nRUN echo started && sleep 60\n' });
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'build', '--root', root, '--progress=plain', '--no-cache', ctx], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`step never started: ${err}`)), 60_000);
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('started\n')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : null))));
      assert.notEqual(code, 0);
      const mounts = await readFile('/proc/mounts', 'utf8');
      assert.ok(!mounts.includes(join(root, 'runtime')), `mounts left:\n${mounts.split('\n').filter((l) => l.includes(root)).join('\n')}`);
      for (const rt of ['runc', 'crun']) {
        const state = join(root, 'runtime', rt);
        const { stdout } = await execFileP(rt, ['--root', state, 'list', '-q']).catch(() => ({ stdout: '' }));
        assert.equal(stdout.trim(), '', `${rt} containers left: ${stdout}`);
      }
    } finally {
      await removeAll(ctx);
    }
  });

  it('resolves --chown names from the image\'s /etc/passwd and /etc/group, and USER for RUN', async () => {
    const ctx = await makeTree({
      'Dockerfile': 'FROM busybox:latest\nCOPY --chown=www-data:users f /f1\nCOPY --chown=nobody f /f2\nUSER www-data\nRUN id -u > /tmp/uid && id -g >> /tmp/uid\n',
      f: 'x',
    });
    const dest = await tempDir();
    try {
      const r = await build(['--progress=quiet', '-o', `type=local,dest=${dest}`, ctx]);
      assert.equal(r.code, 0, r.stderr);
      const f1 = await stat(join(dest, 'f1'));
      const f2 = await stat(join(dest, 'f2'));
      assert.deepEqual([f1.uid, f1.gid, f2.uid, f2.gid], [33, 100, 65534, 65534]);
      assert.equal(await readFile(join(dest, 'tmp/uid'), 'utf8'), '33\n33\n');
      // BuildKit owns files of an unknown --chown user by 0:0 without failing; we also warn
      const unknown = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nCOPY --chown=nosuchuser f /f\n', f: 'x' });
      const unknownOut = await tempDir();
      try {
        const b = await build(['--progress=plain', '-o', `type=local,dest=${unknownOut}`, unknown]);
        assert.equal(b.code, 0, b.stderr);
        assert.match(b.stderr, /user nosuchuser is not in the image's \/etc\/passwd/);
        const f = await stat(join(unknownOut, 'f'));
        assert.deepEqual([f.uid, f.gid], [0, 0]);
      } finally {
        await removeAll(unknown, unknownOut);
      }
    } finally {
      await removeAll(ctx, dest);
    }
  });

  it('carries cache-mount contents with --cache-to ...,cache-mounts=true to another store', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nRUN --mount=type=cache,id=travel,target=/c echo x >> /c/log && wc -l < /c/log > /n\n' });
    const cacheDir = join(work, 'travel-cache');
    const root2 = await tempDir('tsb-root2-');
    const dest = await tempDir();
    try {
      const a = await build(['--progress=quiet', '--no-cache', '--cache-to', `type=local,dest=${cacheDir},cache-mounts=true`, ctx]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal((await cli(['load', '--root', root2, '-i', join(work, 'bb'), '-t', 'busybox:latest'])).code, 0);
      const b = await cli(['build', '--root', root2, '--progress=plain', '--no-cache', '--cache-from', `type=local,src=${cacheDir}`, '-o', `type=local,dest=${dest}`, ctx]);
      assert.equal(b.code, 0, b.stderr);
      assert.match(b.stderr, /1\/1 cache mounts/);
      // the second store's RUN saw the first store's line: the mount travelled
      assert.equal((await readFile(join(dest, 'n'), 'utf8')).trim(), '2');
    } finally {
      await removeAll(ctx, root2, dest);
    }
  });

  it('prune removes layer snapshots nothing needs, and keeps those of tagged images', async () => {
    const root3 = await tempDir('tsb-root3-');
    const ctx = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nCOPY f /f\nRUN cat /f > /g\n', f: 'prune me\n' });
    try {
      assert.equal((await cli(['load', '--root', root3, '-i', join(work, 'bb'), '-t', 'busybox:latest'])).code, 0);
      assert.equal((await cli(['build', '--root', root3, '-q', '-t', 'gone:1', ctx])).code, 0);
      const snaps = join(root3, 'runtime', 'snapshots');
      assert.equal((await readdir(snaps)).length, 3, 'the base and the COPY layer were unpacked for the RUN, whose upper dir became the third');
      assert.equal((await cli(['rmi', '--root', root3, 'gone:1'])).code, 0);
      const r = await cli(['prune', '--root', root3, '--all']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Removed 2 layer snapshots/);
      const insp = JSON.parse((await cli(['inspect', '--root', root3, '-f', '{{json .RootFS.Layers}}', 'busybox:latest'])).stdout) as string[];
      assert.deepEqual(await readdir(snaps), insp.map((d) => d.slice('sha256:'.length)));
    } finally {
      await removeAll(root3, ctx);
    }
  });

  it('with SOURCE_DATE_EPOCH, a --no-cache rebuild seconds later gives the same image (every layer mtime clamped)', async () => {
    // WORKDIR makes /app, RUN writes into it (the overlay dir gets the clock's mtime), COPY brings a
    // context file modified just now; each would carry the build's wall-clock time unclamped.
    const ctx = await makeTree({
      'Dockerfile': 'FROM busybox:latest\nWORKDIR /app\nRUN echo x > /app/f && mkdir -p /var/made\nCOPY a.txt /app/\nADD a.txt /added\n',
      'a.txt': 'a\n',
    });
    try {
      const digests: string[] = [];
      for (let i = 0; i < 2; i++) {
        if (i > 0) {
          await new Promise((r) => setTimeout(r, 2100));
          await writeFile(join(ctx, 'a.txt'), 'a\n'); // same content, new mtime
        }
        const meta = join(work, `epoch-meta${i}.json`);
        const r = await build(['--progress=quiet', '--no-cache', '--metadata-file', meta, ctx], { SOURCE_DATE_EPOCH: '1700000000' });
        assert.equal(r.code, 0, r.stderr);
        digests.push((JSON.parse(await readFile(meta, 'utf8')) as Record<string, string>)['containerimage.digest']!);
      }
      assert.match(digests[0]!, /^sha256:[a-f0-9]{64}$/);
      assert.equal(digests[1], digests[0]);
    } finally {
      await removeAll(ctx);
    }
  });

  it('a warm no-op build leaves every file and directory of the store as it was: contents, mtimes and ctimes', async () => {
    const ctx = await makeTree({
      'Dockerfile':
        'FROM busybox:latest AS tool\nRUN echo tool > /tool\n' +
        'FROM busybox:latest\nENV A=1\nWORKDIR /srv/app\nCOPY a.txt ./\nRUN cat a.txt > copy.txt\nCOPY --from=tool /tool /usr/local/bin/tool\nCOPY dir/ ./dir/\nLABEL x=y\nCMD ["sh"]\n',
      'a.txt': 'a\n',
      'dir/b.txt': 'b\n',
      'dir/sub/c.txt': 'c\n',
    });
    const createdAt = Date.now();
    try {
      const build = (): ReturnType<typeof cli> => cli(['build', '--root', root, '--progress=plain', '--explain-cache', '-t', 'noop:1', '-t', 'noop:2', ctx]);
      const first = await build();
      assert.equal(first.code, 0, first.stderr);
      // Context files changed less than RACY_MARGIN_MS before a build are hashed again, and their
      // entries saved once they are older (git's racy rule): wait that out before the second build.
      await sleep(Math.max(0, createdAt + RACY_MARGIN_MS + 200 - Date.now()));
      // the second build may still refresh what the first found old (blob mtimes for gc, racy entries)
      assert.equal((await build()).code, 0);
      const before = await storeSnapshot(root);
      const again = await build();
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /cache: 5 step\(s\) reused, 0 executed/);
      const after = await storeSnapshot(root);
      const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
      assert.deepEqual(changed.map((k) => `${k}: ${before.get(k) ?? 'absent'} -> ${after.get(k) ?? 'absent'}`), []);
    } finally {
      await removeAll(ctx);
    }
  });

  it('runs independent stages in parallel', async () => {
    const ctx = await makeTree({
      'Dockerfile':
        'FROM busybox:latest AS a\nRUN sleep 1 && echo a > /a\n' +
        'FROM busybox:latest AS b\nRUN sleep 1 && echo b > /b\n' +
        'FROM busybox:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n',
    });
    try {
      const r = await build(['--progress=rawjson', '--no-cache', ctx]);
      assert.equal(r.code, 0, r.stderr);
      const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; name?: string; status?: string; stage?: string });
      const runs = events.filter((e) => e.type === 'step' && e.name?.startsWith('RUN sleep'));
      const order = runs.map((e) => `${e.stage}:${e.status}`);
      // both RUNs start before either finishes: the scheduler did not serialise them
      assert.deepEqual(order.slice(0, 2).map((x) => x.split(':')[1]), ['started', 'started'], order.join(' '));
    } finally {
      await removeAll(ctx);
    }
  });

  it('runs the steps before a COPY --from beside the stage it copies from (step-level scheduling)', async () => {
    const ctx = await makeTree({
      'Dockerfile':
        'FROM busybox:latest AS build\nRUN sleep 1 && echo built > /out\n' +
        'FROM busybox:latest\nRUN sleep 1 && echo installed > /deps\nCOPY --from=build /out /out\nRUN cat /deps /out > /both\n',
    });
    try {
      const r = await build(['--progress=rawjson', '--no-cache', ctx]);
      assert.equal(r.code, 0, r.stderr);
      const events = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { type: string; name?: string; status?: string });
      const order = events.filter((e) => e.type === 'step' && e.name?.startsWith('RUN ')).map((e) => `${/echo (\w+)|(cat)/.exec(e.name!)?.slice(1).join('')}:${e.status}`);
      // the final stage's first RUN starts before the build stage's RUN is done; its last RUN after
      assert.deepEqual(order.slice(0, 2).map((x) => x.split(':')[1]), ['started', 'started'], order.join(' '));
      assert.ok(order.indexOf('built:done') < order.indexOf('cat:started'), order.join(' '));
    } finally {
      await removeAll(ctx);
    }
  });

  it('COPY --from reads the source stage through its snapshots (overlay) and writes the same layers as from an unpacked copy', async () => {
    // whiteouts and an opaque dir (the second RUN), a hardlink, symlinks, owners, setuid; every
    // mtime fixed, so two builds of the source stage give the same files
    const src = [
      'mkdir -p /s/d /s/gone /s/opq && echo a > /s/d/a && echo b > /s/d/b && ln /s/d/a /s/d/hard && ln -s a /s/d/sym',
      'chown 5:6 /s/d/b && chmod 4755 /s/d/a && echo x > /s/gone/x && echo old > /s/opq/old && find /s -exec touch -h -d @1000000000 {} +',
    ].join(' && ');
    // (touching /s/d/a here would copy it up apart from /s/d/hard: overlay without index breaks the link)
    const again = 'rm -rf /s/gone /s/opq && mkdir /s/opq && echo new > /s/opq/new && rm /s/d/sym && ln -s b /s/d/sym && touch -h -d @1000000000 /s /s/d /s/d/sym /s/opq /s/opq/new';
    const ctx = await makeTree({
      'Dockerfile': [
        'FROM busybox:latest AS src',
        `RUN ${src}`,
        `RUN ${again}`,
        'FROM busybox:latest',
        'COPY --from=src /s /plain/',
        'COPY --from=src --chown=7:8 --chmod=640 /s/d /owned/',
        'COPY --from=src --parents /s/d/a /s/opq /par/',
        'COPY --from=src --exclude=b --exclude=*.x /s/d /excl/',
        'COPY --from=src /s/d/h* /s/d/sym /glob/',
        '',
      ].join('\n'),
    });
    try {
      const layers: Record<string, string[]> = {};
      for (const snapshotter of ['overlay', 'copy']) {
        const tar = join(work, `from-view-${snapshotter}.tar`);
        const r = await build(['--progress=quiet', '--no-cache', '--snapshotter', snapshotter, '--output', `type=oci,dest=${tar}`, ctx]);
        assert.equal(r.code, 0, r.stderr);
        const dir = join(work, `from-view-${snapshotter}`);
        await mkdir(dir);
        await execFileP('tar', ['-xf', tar, '-C', dir]);
        const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
        const manifest = JSON.parse(await readFile(join(dir, 'blobs', ...index.manifests[0]!.digest.split(':')), 'utf8')) as { layers: Array<{ digest: string }> };
        const copies = manifest.layers.slice(-5);
        layers[snapshotter] = [];
        for (const l of copies) {
          const { stdout } = await execFileP('tar', ['-tzvf', join(dir, 'blobs', ...l.digest.split(':')), '--numeric-owner', '--full-time']);
          layers[snapshotter]!.push(`${l.digest}\n${stdout}`);
        }
      }
      const overlay = layers['overlay']!.join('\n');
      for (const want of [/^-rwsr-xr-x 0\/0 .* plain\/d\/a$/m, /^h.* plain\/d\/hard link to plain\/d\/a$/m, /^-rw-r--r-- 5\/6 .* plain\/d\/b$/m, /plain\/opq\/new$/m, /^-rw-r----- 7\/8 .* owned\/b$/m, /par\/s\/d\/a$/m, /par\/s\/opq\/new$/m, /^-rw-r--r-- 5\/6 .* glob\/sym$/m]) {
        assert.match(overlay, want);
      }
      for (const gone of [/plain\/gone/, /opq\/old/, /excl\/b$/m]) assert.doesNotMatch(overlay, gone);
      assert.deepEqual(layers['overlay'], layers['copy']);
    } finally {
      await removeAll(ctx);
    }
  });

  it('stops the other stages when one fails, and reports the failing one', async () => {
    const ctx = await makeTree({
      'Dockerfile':
        'FROM busybox:latest AS slow\nRUN sleep 30\n' +
        'FROM busybox:latest AS broken\nRUN sleep 1; echo broken >&2; exit 5\n' +
        'FROM busybox:latest\nCOPY --from=slow /etc/passwd /a\nCOPY --from=broken /etc/passwd /b\n',
    });
    try {
      const t0 = Date.now();
      const r = await build(['--progress=quiet', '--no-cache', ctx]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Dockerfile:4:1: process .* exit code: 5/);
      assert.ok(Date.now() - t0 < 20_000, `the slow stage was not stopped (${Date.now() - t0} ms)`);
    } finally {
      await removeAll(ctx);
    }
  });

  it('needs --allow for RUN --security=insecure and applies RUN --network=none', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nRUN --security=insecure grep CapEff /proc/self/status > /caps\n' });
    const net = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nRUN --network=none ls /sys/class/net > /ifaces\n' });
    const dest = await tempDir();
    try {
      const denied = await build(['--progress=quiet', ctx]);
      assert.equal(denied.code, 2);
      assert.match(denied.stderr, /needs --allow security\.insecure/);
      const ok = await build(['--progress=quiet', '--allow', 'security.insecure', '-o', `type=local,dest=${dest}`, ctx]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.doesNotMatch(await readFile(join(dest, 'caps'), 'utf8'), /CapEff:\s*00000000a80425fb/);
      const n = await build(['--progress=quiet', '-o', `type=local,dest=${dest}`, net]);
      assert.equal(n.code, 0, n.stderr);
      assert.equal((await readFile(join(dest, 'ifaces'), 'utf8')).trim(), 'lo');
    } finally {
      await removeAll(ctx, net, dest);
    }
  });

  describe('shared cache through a registry', () => {
    let reg: TestRegistry;
    before(async function () {
      requireTools(this, ['docker-registry']);
      reg = await startRegistry({ mode: 'plain' });
    });
    after(async () => reg?.stop());

    it('a second store builds the same Dockerfile with zero steps executed', async () => {
      const ctx = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nCOPY app.sh /app.sh\nRUN sh /app.sh > /out\nRUN wc -c /out > /size\n', 'app.sh': 'echo shared cache\n' });
      const root2 = await tempDir('tsb-root2-');
      try {
        const ref = `${reg.host}/cache/app:buildcache`;
        const a = await build(['--progress=quiet', '--explain-cache', '--cache-to', `type=registry,ref=${ref},mode=max`, ctx]);
        assert.equal(a.code, 0, a.stderr);
        const { stdout } = await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
        assert.match(stdout, /"mediaType":\s*"application\/vnd\.oci\.image\.manifest\.v1\+json"/);
        assert.equal((await cli(['load', '--root', root2, '-i', join(work, 'bb'), '-t', 'busybox:latest'])).code, 0);
        const b = await cli(['build', '--root', root2, '--progress=quiet', '--explain-cache', '--cache-from', `type=registry,ref=${ref}`, ctx]);
        assert.equal(b.code, 0, b.stderr);
        assert.match(b.stderr, /cache: 3 step\(s\) reused, 0 executed/);
      } finally {
        await removeAll(ctx, root2);
      }
    });

    it('an inline cache travels inside the pushed image (--cache-to type=inline)', async () => {
      const ctx = await makeTree({ 'Dockerfile': 'FROM busybox:latest\nCOPY app.sh /app.sh\nRUN sh /app.sh > /out\n', 'app.sh': 'echo inline cache\n' });
      const root2 = await tempDir('tsb-root2-');
      try {
        const ref = `${reg.host}/inline/app:1`;
        const a = await build(['--progress=quiet', '--push', '-t', ref, '--cache-to', 'type=inline', ctx]);
        assert.equal(a.code, 0, a.stderr);
        const { stdout } = await execFileP('skopeo', ['inspect', '--config', '--raw', '--tls-verify=false', `docker://${ref}`]);
        assert.match(stdout, /"tsbuild\.cache\.v1"/);
        assert.equal((await cli(['load', '--root', root2, '-i', join(work, 'bb'), '-t', 'busybox:latest'])).code, 0);
        const b = await cli(['build', '--root', root2, '--progress=quiet', '--explain-cache', '--cache-from', `type=registry,ref=${ref}`, ctx]);
        assert.equal(b.code, 0, b.stderr);
        assert.match(b.stderr, /cache: 2 step\(s\) reused, 0 executed/);
      } finally {
        await removeAll(ctx, root2);
      }
    });
  });
});

async function gunzipText(file: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of createReadStream(file).pipe(createGunzip())) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('latin1');
}
