import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry, requireTools, type TestRegistry } from './registry-server.js';
import { cli, execFileP, makeTree, removeAll, tempDir } from './helpers.js';
import { requireRoot } from './tools.js';

/**
 * `--platform linux/amd64,linux/arm64` end to end, against a real docker-registry, checked with
 * skopeo: the base is a multi-arch busybox index made here (the host's busybox for amd64, Debian's
 * busybox-static:arm64 for arm64, pushed with skopeo, the index PUT by hand), the arm64 RUN goes
 * through qemu (binfmt_misc; the test registers the handler itself, idempotently).
 */
describe('multi-platform build: --platform linux/amd64,linux/arm64', function () {
  this.timeout(600_000);
  let reg: TestRegistry;
  let work: string;
  let root: string;
  let ctx: string;
  let base: string;

  before(async function () {
    requireTools(this, ['docker-registry', 'skopeo', 'umoci', 'busybox', 'qemu-aarch64-static', 'dpkg-deb', 'apt-get']);
    requireRoot(this, 'registers binfmt handlers and builds busybox rootfs trees');
    const binfmt = await cli(['binfmt', '--install', 'arm64']);
    assert.equal(binfmt.code, 0, binfmt.stdout + binfmt.stderr);
    reg = await startRegistry({ mode: 'plain' });
    work = await tempDir('tsb-mp-');
    root = await tempDir('tsb-root-');
    const arm64Busybox = (await execFileP('bash', ['testdata/busybox/arm64-busybox.sh'])).stdout.trim();
    const manifests: Array<Record<string, unknown>> = [];
    for (const [arch, busybox, variant] of [['amd64', '/bin/busybox', undefined], ['arm64', arm64Busybox, 'v8']] as const) {
      await execFileP('bash', ['testdata/busybox/build.sh', join(work, arch)], { env: { ...process.env, ARCH: arch, BUSYBOX: busybox } });
      await execFileP('skopeo', ['copy', '--dest-tls-verify=false', `oci:${join(work, arch)}:latest`, `docker://${reg.host}/library/busybox:${arch}`]);
      const raw = (await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/library/busybox:${arch}`], { encoding: 'buffer' })).stdout as unknown as Buffer;
      const digest = `sha256:${createHash('sha256').update(raw).digest('hex')}`;
      manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: raw.length, platform: { architecture: arch, os: 'linux', ...(variant ? { variant } : {}) } });
    }
    // the index Docker Hub would serve (arm64 with variant v8)
    const index = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
    const put = await fetch(`http://${reg.host}/v2/library/busybox/manifests/multi`, { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.index.v1+json' }, body: index });
    assert.equal(put.status, 201, await put.text());
    base = `${reg.host}/library/busybox:multi`;
    ctx = await makeTree({
      'Dockerfile': [
        `FROM --platform=$BUILDPLATFORM ${base} AS build`,
        // the same inputs for every target: built once, so both images carry the same nonce
        'RUN head -c 16 /dev/urandom | od -An -tx1 | tr -d " \\n" > /nonce && uname -m > /build-uname',
        'ARG TARGETARCH',
        'RUN echo "cross-compiled for $TARGETARCH" > /artifact',
        `FROM ${base}`,
        'ARG TARGETARCH TARGETPLATFORM BUILDPLATFORM',
        'COPY --from=build /nonce /build-uname /artifact /out/',
        'RUN uname -m > /out/uname && echo "$TARGETARCH $TARGETPLATFORM $BUILDPLATFORM" > /out/args',
        '',
      ].join('\n'),
    });
  });

  after(async () => {
    await reg?.stop();
    await removeAll(work, root, ctx);
  });

  const build = (...args: string[]) => cli(['build', '--root', root, '--progress=plain', '--platform', 'linux/amd64,linux/arm64', ...args, ctx]);

  it('pushes an index of both platforms; RUN ran natively in the build stage and under qemu for arm64', async () => {
    const local = join(work, 'local');
    const r = await build('-t', `${reg.host}/team/app:1`, '--push', '--output', `type=local,dest=${local}`);
    assert.equal(r.code, 0, r.stderr);
    const raw = JSON.parse((await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/team/app:1`])).stdout) as { mediaType: string; manifests: Array<{ platform: { architecture: string; os: string; variant?: string } }> };
    assert.equal(raw.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(raw.manifests.map((m) => m.platform), [{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux' }]);
    for (const arch of ['amd64', 'arm64']) {
      const cfg = JSON.parse((await execFileP('skopeo', ['inspect', '--config', '--tls-verify=false', '--override-arch', arch, `docker://${reg.host}/team/app:1`])).stdout) as { architecture: string; os: string };
      assert.equal(cfg.architecture, arch);
      assert.equal(cfg.os, 'linux');
    }
    const file = (p: string, f: string) => readFile(join(local, p, 'out', f), 'utf8');
    const table = [
      { dir: 'linux_amd64', uname: 'x86_64\n', args: 'amd64 linux/amd64 linux/amd64\n', artifact: 'cross-compiled for amd64\n' },
      { dir: 'linux_arm64', uname: 'aarch64\n', args: 'arm64 linux/arm64 linux/amd64\n', artifact: 'cross-compiled for arm64\n' },
    ];
    for (const t of table) {
      assert.equal(await file(t.dir, 'uname'), t.uname, `${t.dir}: RUN uname -m`);
      assert.equal(await file(t.dir, 'args'), t.args, `${t.dir}: TARGETARCH TARGETPLATFORM BUILDPLATFORM`);
      assert.equal(await file(t.dir, 'artifact'), t.artifact);
      assert.equal(await file(t.dir, 'build-uname'), 'x86_64\n', 'the build stage runs natively');
    }
    assert.equal(await file('linux_amd64', 'nonce'), await file('linux_arm64', 'nonce'), 'a stage with the same inputs for both targets is built once');
  });

  it('a second build is fully cached', async () => {
    const r = await build('--explain-cache', '-t', 'app:2');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /cache: \d+ step\(s\) reused, 0 executed/);
    const images = await cli(['images', '--root', root]);
    assert.match(images.stdout, /app\s+2/);
  });

  it('type=oci: index.json names one image index, which skopeo reads', async () => {
    const archive = join(work, 'app.tar');
    const r = await build('--output', `type=oci,dest=${archive}`);
    assert.equal(r.code, 0, r.stderr);
    const { stdout } = await execFileP('tar', ['-xOf', archive, 'index.json']);
    const ix = JSON.parse(stdout) as { manifests: Array<{ mediaType: string }> };
    assert.deepEqual(ix.manifests.map((m) => m.mediaType), ['application/vnd.oci.image.index.v1+json']);
    const inner = JSON.parse((await execFileP('skopeo', ['inspect', '--raw', `oci-archive:${archive}`])).stdout) as { manifests: unknown[] };
    assert.equal(inner.manifests.length, 2);
  });

  it("one foreign --platform gives a plain manifest (no index) with that platform's config", async () => {
    const archive = join(work, 'arm64.tar');
    const r = await cli(['build', '--root', root, '--progress=plain', '--platform', 'linux/arm64', '--output', `type=oci,dest=${archive}`, ctx]);
    assert.equal(r.code, 0, r.stderr);
    const raw = JSON.parse((await execFileP('skopeo', ['inspect', '--raw', `oci-archive:${archive}`])).stdout) as { mediaType: string };
    assert.equal(raw.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    const cfg = JSON.parse((await execFileP('skopeo', ['inspect', '--config', `oci-archive:${archive}`])).stdout) as { architecture: string };
    assert.equal(cfg.architecture, 'arm64');
  });

  const failures = [
    { name: 'type=docker with several platforms', args: ['--output', 'type=docker,dest=/dev/null'], code: 2, message: /type=docker holds one image, not the 2 platforms asked for \(linux\/amd64, linux\/arm64\)/ },
  ];
  for (const f of failures) {
    it(`fails clearly: ${f.name}`, async () => {
      const r = await build(...f.args);
      assert.equal(r.code, f.code, r.stderr);
      assert.match(r.stderr, f.message);
    });
  }

  it('pull --platform keeps the index with one platform; push needs them all; pull --all, push and save --format oci carry the index', async () => {
    const store = await tempDir('tsb-root-pull-');
    try {
      const run = (...args: string[]) => cli([...args.slice(0, 1), '--root', store, ...args.slice(1)]);
      const one = await run('pull', '--platform', 'linux/arm64', `${reg.host}/team/app:1`);
      assert.equal(one.code, 0, one.stderr);
      assert.match((await run('images', '--tree')).stdout, /team\/app\s+1[^\n]*\n\s+└─ linux\/arm64 /);
      const partial = await run('push', `${reg.host}/team/app:1`, `${reg.host}/team/copy:1`);
      assert.notEqual(partial.code, 0);
      assert.match(partial.stderr, /lacks its images for linux\/amd64 \(pull --all first/);
      assert.equal((await run('pull', '--all', `${reg.host}/team/app:1`)).code, 0);
      const tree = (await run('images', '--tree')).stdout;
      assert.match(tree, /└─ linux\/amd64 [\s\S]*└─ linux\/arm64 /);
      const inspect = JSON.parse((await run('inspect', '--manifest', '--platform', 'linux/arm64', `${reg.host}/team/app:1`)).stdout) as Array<{ Platforms: string[]; Config: { architecture: string } }>;
      assert.deepEqual(inspect[0]!.Platforms, ['linux/amd64', 'linux/arm64']);
      assert.equal(inspect[0]!.Config.architecture, 'arm64');
      const pushed = await run('push', `${reg.host}/team/app:1`, `${reg.host}/team/copy:1`);
      assert.equal(pushed.code, 0, pushed.stderr);
      const [a, b] = await Promise.all(['app', 'copy'].map(async (n) => (await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/team/${n}:1`])).stdout));
      assert.equal(b, a, 'the pushed index is the same bytes');
      const archive = join(work, 'saved.tar');
      assert.equal((await run('save', '--format', 'oci', '-o', archive, `${reg.host}/team/app:1`)).code, 0);
      assert.equal((await execFileP('skopeo', ['inspect', '--raw', `oci-archive:${archive}`])).stdout, a);
    } finally {
      await removeAll(store);
    }
  });

  it('--cache-to/--cache-from type=local carry both platforms: a fresh store builds fully cached', async () => {
    const cacheDir = join(work, 'cache');
    assert.equal((await build('--cache-to', `type=local,dest=${cacheDir},mode=max`)).code, 0);
    const fresh = await tempDir('tsb-root-fresh-');
    try {
      const r = await cli(['build', '--root', fresh, '--progress=plain', '--explain-cache', '--platform', 'linux/amd64,linux/arm64', '--cache-from', `type=local,src=${cacheDir}`, ctx]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /cache: \d+ step\(s\) reused, 0 executed/);
    } finally {
      await removeAll(fresh);
    }
  });

  it('FROM oci-layout:// of a multi-platform layout picks each platform\'s image', async () => {
    const store = await tempDir('tsb-root-oci-');
    const layout = join(store, 'layout');
    const df = await makeTree({ 'Dockerfile': `FROM oci-layout://${layout}\nRUN uname -m > /u\n` });
    try {
      assert.equal((await cli(['pull', '--root', store, '--all', base])).code, 0);
      assert.equal((await cli(['save', '--root', store, '--format', 'oci', '-o', join(store, 'b.tar'), base])).code, 0);
      await execFileP('mkdir', ['-p', layout]);
      await execFileP('tar', ['-xf', join(store, 'b.tar'), '-C', layout]);
      const out = join(store, 'out');
      const r = await cli(['build', '--root', store, '--platform', 'linux/amd64,linux/arm64', '--output', `type=local,dest=${out}`, df]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(join(out, 'linux_amd64/u'), 'utf8'), 'x86_64\n');
      assert.equal(await readFile(join(out, 'linux_arm64/u'), 'utf8'), 'aarch64\n');
    } finally {
      await removeAll(store, df);
    }
  });

  it('a single-platform base used for another platform names both platforms', async () => {
    const single = await makeTree({ 'Dockerfile': `FROM ${reg.host}/library/busybox:amd64\nRUN true\n` });
    try {
      const r = await cli(['build', '--root', root, '--progress=plain', '--platform', 'linux/arm64', single]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /busybox:amd64 is a single-platform image for linux\/amd64, not for linux\/arm64/);
    } finally {
      await removeAll(single);
    }
  });
});
