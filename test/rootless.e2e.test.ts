import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readMountInfo } from '../runtime/mounts.js';
import { busyboxLayout } from '../runtime/testing.js';
import { execFileP, processesWith, removeAll } from './helpers.js';
import { ensureUser, NO_SUBID_USER, ROOTLESS_USER, runAs, spawnAs, userDir, worldReadableCli } from './rootless-user.js';
import { requireRoot, requireTools } from './tools.js';

/**
 * Rootless mode as a user runs it: an unprivileged user with subordinate ids (made here the way
 * useradd and /etc/subuid make one) runs the shipped CLI through setpriv. The image must equal
 * the one root builds, owners in the layers exact, a rebuild cached, a SIGKILLed build must
 * leave no process or mount, and the next build must start clean.
 */
const EPOCH = '1700000000';

const DOCKERFILE = [
  'FROM busybox:latest',
  'COPY --chown=1000:1000 a.txt /a.txt',
  'COPY --chown=2000 b.txt /b.txt',
  "RUN echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:1000:' >> /etc/group" +
    ' && mkdir -p /home/app /data && chown 1000:1000 /home/app && echo x > /data/f && chown -R 2000:3000 /data && touch /rootfile',
  'USER app',
  'RUN touch /home/app/mine && id -u > /home/app/uid',
  'USER root',
  'RUN rm -rf /data && mkdir /data && chown 65536:65536 /data',
  '',
].join('\n');

/** Owners each layer must carry (layer index above the base → path → uid/gid). */
const OWNERS: Array<[number, string, string]> = [
  [0, 'a.txt', '1000/1000'],
  [1, 'b.txt', '2000/2000'],
  [2, 'data/', '2000/3000'],
  [2, 'data/f', '2000/3000'],
  [2, 'home/app/', '1000/1000'],
  [2, 'rootfile', '0/0'],
  [3, 'home/app/mine', '1000/1000'],
  [3, 'home/app/uid', '1000/1000'],
  [4, 'data/', '65536/65536'],
];

/** `tar -tv --numeric-owner` of each layer above the base: path → "uid/gid". */
async function layerOwners(ociTar: string, work: string): Promise<Array<Map<string, string>>> {
  const dir = join(work, `layout-${Date.now()}`);
  await mkdir(dir);
  await execFileP('tar', ['-xf', ociTar, '-C', dir]);
  const blob = (d: string) => join(dir, 'blobs', 'sha256', d.split(':')[1]!);
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(await readFile(blob(index.manifests[0]!.digest), 'utf8')) as { layers: Array<{ digest: string }> };
  const out: Array<Map<string, string>> = [];
  for (const layer of manifest.layers.slice(1)) {
    const { stdout } = await execFileP('tar', ['--numeric-owner', '-tvf', blob(layer.digest)]);
    const owners = new Map<string, string>();
    for (const line of stdout.split('\n').filter(Boolean)) {
      const f = line.split(/\s+/);
      owners.set(f.slice(5).join(' '), f[1]!);
    }
    out.push(owners);
  }
  return out;
}

describe('rootless mode: an unprivileged user with subordinate ids builds', function () {
  this.timeout(600_000);
  let work: string;
  let cliArgv: string[];
  let ctx: string;
  let data: string;
  let out: string;

  before(async function () {
    requireRoot(this, 'creating the rootless test users');
    requireTools(this, ['runc', 'umoci', 'unshare', 'setpriv', 'newuidmap', 'newgidmap', 'useradd']);
    await ensureUser(ROOTLESS_USER);
    await ensureUser(NO_SUBID_USER);
    const cli = await worldReadableCli();
    work = cli.dir;
    cliArgv = cli.argv;
    await cp(busyboxLayout(), join(work, 'bb'), { recursive: true });
    ctx = join(work, 'ctx');
    await mkdir(ctx);
    await writeFile(join(ctx, 'Dockerfile'), DOCKERFILE);
    await writeFile(join(ctx, 'a.txt'), 'a\n');
    await writeFile(join(ctx, 'b.txt'), 'b\n');
    await execFileP('chmod', ['-R', 'a+rX', work]);
    data = await userDir(work, 'data', ROOTLESS_USER);
    out = await userDir(work, 'out', ROOTLESS_USER);
    const loaded = await tsbuildAs(['load', '-i', join(work, 'bb'), '-t', 'busybox:latest']);
    assert.equal(loaded.code, 0, loaded.stderr);
  });
  after(async () => {
    // the store holds files of the user's subordinate ids: root removes it
    await removeAll(work);
  });

  const tsbuildAs = (args: string[], env: Record<string, string> = {}) =>
    runAs(ROOTLESS_USER, [...cliArgv, ...args], { XDG_DATA_HOME: data, SOURCE_DATE_EPOCH: EPOCH, ...env });

  it('keeps its store in $XDG_DATA_HOME/tsbuild', () => {
    assert.ok(existsSync(join(data, 'tsbuild', 'refs.json')));
  });

  it('gives the image root gives, with exact owners in every layer, and a cached rebuild', async () => {
    const tar = join(out, 'rootless.tar');
    const built = await tsbuildAs(['build', '--progress=plain', '--explain-cache', '-t', 'rl:1', '--output', `type=oci,dest=${tar}`, ctx]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /cache: 0 step\(s\) reused, 5 executed/);
    const rootStore = join(work, 'root-store');
    const asRoot = (args: string[]) =>
      execFileP(cliArgv[0]!, [...cliArgv.slice(1), ...args], { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } });
    await asRoot(['load', '--root', rootStore, '-i', join(work, 'bb'), '-t', 'busybox:latest']);
    const rootTar = join(work, 'root.tar');
    const rootBuilt = await asRoot(['build', '--root', rootStore, '--progress=quiet', '-t', 'rl:1', '--output', `type=oci,dest=${rootTar}`, ctx]);
    const id = (text: string) => /sha256:[0-9a-f]{64}/.exec(text)?.[0];
    assert.ok(id(rootBuilt.stdout));
    assert.equal(id(built.stderr.split('\nbuilt ')[1] ?? ''), id(rootBuilt.stdout), 'the same image id as root');

    const layers = await layerOwners(tar, work);
    assert.equal(layers.length, 5);
    for (const [layer, path, owner] of OWNERS) assert.equal(layers[layer]!.get(path), owner, `${path} in layer ${layer}`);
    assert.deepEqual(layers, await layerOwners(rootTar, work));

    const again = await tsbuildAs(['build', '--progress=plain', '--explain-cache', '-t', 'rl:1', ctx]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /cache: 5 step\(s\) reused, 0 executed/);
  });

  it('runs with --network=none (only lo) and --network=host (the host interfaces)', async () => {
    const netCtx = join(out, 'net');
    await mkdir(netCtx, { recursive: true });
    await writeFile(join(netCtx, 'Dockerfile'), 'FROM busybox:latest\nRUN echo "nets: $(ls /sys/class/net | tr "\\n" " ")"\n');
    await execFileP('chmod', ['-R', 'a+rX', netCtx]);
    const none = await tsbuildAs(['build', '--progress=plain', '--no-cache', '--network=none', netCtx]);
    assert.equal(none.code, 0, none.stderr);
    // an output line ('#2/2 0.41 nets: …'), not the step's title, which quotes the command
    const nets = (text: string) => / [\d.]+ nets: (.*)$/m.exec(text)?.[1]?.trim().split(' ');
    assert.deepEqual(nets(none.stderr), ['lo']);
    const host = await tsbuildAs(['build', '--progress=plain', '--no-cache', '--network=host', netCtx]);
    assert.equal(host.code, 0, host.stderr);
    assert.deepEqual(nets(host.stderr), readdirSync('/sys/class/net'));
  });

  it('leaves no process or mount when killed mid-RUN, and the next build starts clean', async () => {
    const token = `tsb-killed-${process.pid}-${Date.now()}`;
    const killCtx = join(out, 'kill');
    await mkdir(killCtx, { recursive: true });
    // the shell stays (a last command would be exec'd), so the token is in a process's argv
    await writeFile(join(killCtx, 'Dockerfile'), `FROM busybox:latest\nRUN echo started; sleep 1000; echo ${token}\n`);
    await execFileP('chmod', ['-R', 'a+rX', killCtx]);
    const child = spawnAs(ROOTLESS_USER, [...cliArgv, 'build', '--progress=plain', killCtx], { XDG_DATA_HOME: data });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => void (stderr += s));
    const closed = new Promise((resolve) => child.on('close', resolve));
    try {
      for (let i = 0; i < 600 && !/ [\d.]+ started$/m.test(stderr); i++) await sleep(100);
      assert.match(stderr, / [\d.]+ started$/m);
      assert.ok(processesWith(token).length > 0, 'the RUN step is running');
    } finally {
      child.kill('SIGKILL');
      await closed;
    }
    let left: number[] = [];
    for (let i = 0; i < 100; i++) {
      left = [...processesWith(token), ...processesWith(work)];
      if (left.length === 0) break;
      await sleep(100);
    }
    assert.deepEqual(left, [], 'no process of the killed build is left');
    // its mounts lived in its own mount namespace, which ended with its last process
    assert.deepEqual(readMountInfo().filter((m) => m.mountPoint.startsWith(work)), []);

    await writeFile(join(killCtx, 'Dockerfile'), 'FROM busybox:latest\nRUN echo next > /next\n');
    const next = await tsbuildAs(['build', '--progress=quiet', killCtx]);
    assert.equal(next.code, 0, next.stderr);
    const runtime = join(data, 'tsbuild', 'runtime');
    assert.deepEqual(readdirSync(join(runtime, 'steps')), [], 'step dirs of the killed build are gone');
    assert.deepEqual(readdirSync(join(runtime, 'builds')), [], 'no build record is left');
    assert.deepEqual(existsSync(join(runtime, 'runc')) ? readdirSync(join(runtime, 'runc')) : [], [], 'no container state is left');
  });

  it('says in one line what to set up for a user without subordinate ids', async () => {
    const r = await runAs(NO_SUBID_USER, [...cliArgv, 'images'], { XDG_DATA_HOME: join(work, 'nosubid') });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      /^ERROR: rootless: user tsbnosubid \(uid 1501\) has no subordinate id range in \/etc\/subuid and \/etc\/subgid: as root, run "usermod --add-subuids/,
    );
  });
});
