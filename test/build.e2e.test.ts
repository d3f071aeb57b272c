import assert from 'node:assert/strict';
import { readFile, readdir, lstat, readlink, stat, writeFile, symlink, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { cli, execFileP, makeTree, removeAll, tempDir } from './helpers.js';
import { requireTools } from './tools.js';

/**
 * End-to-end builds through the CLI, checked by independent tools (skopeo,
 * umoci, GNU tar), not only by our own reader.
 */
describe('tsbuild build (no RUN): end to end', function () {
  this.timeout(120_000);
  let root: string;
  let ctx: string;
  let out: string;

  before(async () => {
    root = await tempDir('tsb-root-');
    out = await tempDir('tsb-out-');
    ctx = await makeTree({
      'Dockerfile': [
        'ARG BASE=scratch',
        'FROM ${BASE} AS base',
        'ENV APP_HOME=/app PATH=/usr/bin',
        'WORKDIR $APP_HOME',
        'COPY src/ ./src/',
        'COPY --chmod=0755 bin/tool /usr/local/bin/tool',
        'COPY --chown=1000:1000 data.txt notes/',
        'LABEL com.example.name="demo app" version=1',
        'EXPOSE 8080 53/udp',
        'USER 1000',
        'VOLUME ["/data"]',
        'STOPSIGNAL SIGTERM',
        'HEALTHCHECK --interval=5s --retries=2 CMD ["/usr/local/bin/tool","health"]',
        'ENTRYPOINT ["/usr/local/bin/tool"]',
        'CMD ["serve"]',
        '',
        'FROM scratch AS other',
        'ARG BASE',
        'COPY <<EOF /hello.txt',
        'hello $BASE',
        'EOF',
        '',
        'FROM base',
        'COPY --from=other /hello.txt /from-other.txt',
        'ONBUILD COPY . /onbuild/',
        '',
      ].join('\n'),
      'src/main.sh': 'echo main\n',
      'src/lib/util.sh': 'echo util\n',
      'src/skip.tmp': 'ignored by .dockerignore\n',
      'bin/tool': '#!/bin/sh\necho tool\n',
      'data.txt': 'data\n',
      '.dockerignore': '**/*.tmp\n',
    });
    await symlink('main.sh', join(ctx, 'src/link.sh'));
  });

  after(() => removeAll(root, out, ctx));

  it('writes an OCI archive that skopeo inspects and umoci unpacks', async function () {
    requireTools(this, ['skopeo', 'umoci']);
    const tar = join(out, 'img.tar');
    const r = await cli(['build', '--root', root, '-t', 'demo:1', '--progress=plain', '--output', `type=oci,dest=${tar}`, ctx], {
      SOURCE_DATE_EPOCH: '1700000000',
    });
    assert.equal(r.code, 0, r.stderr);
    const { stdout } = await execFileP('skopeo', ['inspect', `oci-archive:${tar}:1`]);
    const info = JSON.parse(stdout) as { Labels: Record<string, string>; Layers: string[]; Env: string[]; Created: string };
    assert.equal(info.Labels['com.example.name'], 'demo app');
    assert.equal(info.Labels['version'], '1');
    assert.ok(info.Env.includes('APP_HOME=/app'));
    assert.equal(info.Created, '2023-11-14T22:13:20Z');
    // WORKDIR, COPY src, COPY tool, COPY data, COPY --from
    assert.equal(info.Layers.length, 5);

    const layout = join(out, 'layout');
    await mkdir(layout);
    await execFileP('tar', ['-xf', tar, '-C', layout]);
    const bundle = join(out, 'bundle');
    await execFileP('umoci', ['unpack', '--image', `${layout}:1`, bundle]);
    const rootfs = join(bundle, 'rootfs');
    assert.equal(await readFile(join(rootfs, 'app/src/main.sh'), 'utf8'), 'echo main\n');
    assert.equal(await readFile(join(rootfs, 'app/src/lib/util.sh'), 'utf8'), 'echo util\n');
    await assert.rejects(stat(join(rootfs, 'app/src/skip.tmp')), /ENOENT/);
    assert.equal(await readlink(join(rootfs, 'app/src/link.sh')), 'main.sh');
    assert.equal((await lstat(join(rootfs, 'usr/local/bin/tool'))).mode & 0o7777, 0o755);
    const data = await stat(join(rootfs, 'app/notes/data.txt'));
    assert.equal(data.uid, 1000);
    assert.equal(data.gid, 1000);
    assert.equal(await readFile(join(rootfs, 'from-other.txt'), 'utf8'), 'hello scratch\n');

    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; cwd: string; user: { uid: number } } };
    assert.deepEqual(config.process.args, ['/usr/local/bin/tool', 'serve']);
    assert.equal(config.process.cwd, '/app');
    assert.equal(config.process.user.uid, 1000);
  });

  it('gives the same digest when built twice with SOURCE_DATE_EPOCH', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const meta = join(out, `meta${i}.json`);
      const r = await cli(['build', '--root', root, '--progress=quiet', '--metadata-file', meta, ctx], { SOURCE_DATE_EPOCH: '1700000000' });
      assert.equal(r.code, 0, r.stderr);
      ids.push((JSON.parse(await readFile(meta, 'utf8')) as Record<string, string>)['containerimage.digest']!);
    }
    assert.match(ids[0]!, /^sha256:[a-f0-9]{64}$/);
    assert.equal(ids[0], ids[1]);
  });

  it('writes a docker-archive with manifest.json and its layers', async function () {
    requireTools(this, ['skopeo']);
    const tar = join(out, 'docker.tar');
    const r = await cli(['build', '--root', root, '-q', '-t', 'demo:docker', '--output', `type=docker,dest=${tar}`, ctx]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^sha256:[a-f0-9]{64}$/);
    const { stdout: list } = await execFileP('tar', ['-tf', tar]);
    const names = list.split('\n');
    assert.ok(names.includes('manifest.json'), list);
    const x = join(out, 'docker-x');
    await mkdir(x);
    await execFileP('tar', ['-xf', tar, '-C', x]);
    const manifest = JSON.parse(await readFile(join(x, 'manifest.json'), 'utf8')) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    assert.deepEqual(manifest[0]!.RepoTags, ['demo:docker']);
    assert.equal(manifest[0]!.Layers.length, 5);
    for (const l of manifest[0]!.Layers) assert.ok(names.includes(l), `${l} missing from the archive`);
    assert.equal(`sha256:${manifest[0]!.Config.split('/').pop()}`, r.stdout.trim());
    const { stdout } = await execFileP('skopeo', ['inspect', `docker-archive:${tar}`]);
    assert.equal((JSON.parse(stdout) as { Layers: string[] }).Layers.length, 5);
  });

  it('builds only what --target needs, and exports the filesystem with type=local', async () => {
    const dest = join(out, 'local');
    const r = await cli(['build', '--root', root, '--progress=plain', '--target', 'other', '--output', `type=local,dest=${dest}`, ctx]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readdir(dest), ['hello.txt']);
    assert.doesNotMatch(r.stderr, /COPY src/);
  });

  it('keeps -t images in the store: images, tag, inspect, save, rmi', async () => {
    assert.equal((await cli(['build', '--root', root, '-q', '-t', 'demo:store', ctx])).code, 0);
    const images = await cli(['images', '--root', root]);
    assert.match(images.stdout, /demo\s+store/);
    assert.equal((await cli(['tag', '--root', root, 'demo:store', 'registry.example/team/demo:v2'])).code, 0);
    const insp = await cli(['inspect', '--root', root, 'registry.example/team/demo:v2']);
    const parsed = JSON.parse(insp.stdout) as Array<{ Config: { Entrypoint: string[]; OnBuild: string[] } }>;
    assert.deepEqual(parsed[0]!.Config.Entrypoint, ['/usr/local/bin/tool']);
    assert.deepEqual(parsed[0]!.Config.OnBuild, ['COPY . /onbuild/']);
    const saved = join(out, 'saved.tar');
    assert.equal((await cli(['save', '--root', root, '-o', saved, 'demo:store'])).code, 0);
    const root2 = await tempDir('tsb-root2-');
    try {
      const loaded = await cli(['load', '--root', root2, '-i', saved]);
      assert.equal(loaded.code, 0, loaded.stderr);
      assert.match(loaded.stdout, /Loaded image: demo:store/);
    } finally {
      await removeAll(root2);
    }
    assert.equal((await cli(['rmi', '--root', root, 'demo:store'])).code, 0);
    assert.doesNotMatch((await cli(['images', '--root', root])).stdout, /demo\s+store/);
  });

  it('writes the filesystem as a tar with type=tar, and `tsbuild -t NAME CONTEXT` means build', async () => {
    const tar = join(out, 'fs.tar');
    const r = await cli(['--root', root, '-q', '-t', 'short:1', '--output', `type=tar,dest=${tar}`, ctx]);
    assert.equal(r.code, 0, r.stderr);
    const { stdout } = await execFileP('tar', ['-tvf', tar]);
    assert.match(stdout, /-rwxr-xr-x 0\/0 .* usr\/local\/bin\/tool$/m);
    assert.match(stdout, /-rw-r--r-- 1000\/1000 .* app\/notes\/data\.txt$/m);
    assert.match(stdout, /lrwxrwxrwx .* app\/src\/link\.sh -> main\.sh$/m);
    assert.match((await cli(['images', '--root', root])).stdout, /short\s+1/);
  });

  it('analyze renders an HTML report of a stored image to a file', async () => {
    assert.equal((await cli(['build', '--root', root, '-q', '-t', 'demo:report', ctx])).code, 0);
    const html = join(out, 'report.html');
    const r = await cli(['analyze', '--root', root, '--format', 'html', '-o', html, 'demo:report']);
    assert.equal(r.code, 0, r.stderr);
    const page = await readFile(html, 'utf8');
    assert.match(page, /^<!doctype html>/i);
    assert.doesNotMatch(page, /<script[^>]+src=|<link[^>]+href="http/i, 'the report must be self-contained');
    assert.match(page, /COPY src\/ \.\/src\//);
  });

  it('analyze --diff says what grew, per layer and per path', async () => {
    const a = await makeTree({ 'Dockerfile': 'FROM scratch\nCOPY data/ /data/\n', 'data/big.bin': 'x'.repeat(1000), 'data/same.txt': 's' });
    const b = await makeTree({ 'Dockerfile': 'FROM scratch\nCOPY data/ /data/\n', 'data/big.bin': 'x'.repeat(5000), 'data/same.txt': 's' });
    try {
      assert.equal((await cli(['build', '--root', root, '-q', '-t', 'diff:a', a])).code, 0);
      assert.equal((await cli(['build', '--root', root, '-q', '-t', 'diff:b', b])).code, 0);
      const r = await cli(['analyze', '--root', root, '--diff', 'diff:a', 'diff:b']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Layers \(1 of 1 differ\)\n +0 changed +\+3\.9 KiB +COPY data\/ \/data\//);
      assert.match(r.stdout, /\+3\.9 KiB +1000 B → 4\.9 KiB +\/data\/big\.bin/);
      assert.doesNotMatch(r.stdout, /same\.txt/);
    } finally {
      await removeAll(a, b);
    }
  });

  it('analyze counts a package-manager cache left in the image as waste; gates speak human units', async () => {
    const dir = await makeTree({
      'Dockerfile': 'FROM scratch\nCOPY app.bin /app.bin\nCOPY debs/ /var/cache/apt/archives/\n',
      'app.bin': 'a'.repeat(100_000),
      'debs/curl_8.5.0_amd64.deb': 'd'.repeat(2_000_000),
    });
    try {
      assert.equal((await cli(['build', '--root', root, '-q', '-t', 'cache:1', dir])).code, 0);
      const text = await cli(['analyze', '--root', root, 'cache:1']);
      assert.equal(text.code, 0, text.stderr);
      const flat = text.stdout.replace(/\n +/g, ' ');
      // dive's score sees nothing wrong (no path stored twice); the headline counts the cache
      assert.match(flat, /Waste {2}1\.9 MiB \(\d+\.\d% of added bytes\): 1\.9 MiB package-manager caches \+ 0 B reclaimable in 0 path\(s\) · dive's efficiency 100\.0% \(counts no caches\)/);
      const json = JSON.parse((await cli(['analyze', '--root', root, '--format', 'json', 'cache:1'])).stdout) as { cacheBytes: number; wastedBytes: number; reclaimableBytes: number };
      assert.deepEqual([json.cacheBytes, json.reclaimableBytes, json.wastedBytes], [2_000_000, 0, 2_000_000]);
      const gated = await cli(['analyze', '--root', root, '--max-wasted', '1MB', '--max-size', '10MB', 'cache:1']);
      assert.equal(gated.code, 3, gated.stderr);
      assert.match(gated.stderr, /gate maxSize: PASS \(size \d+\.\d MiB is within the limit 9\.5 MiB\)/);
      assert.match(gated.stderr, /gate maxWasted: FAIL \(wasted 1\.9 MiB exceeds the limit 976\.6 KiB\)/);
      assert.match(gated.stderr, /image gates failed: wasted 1\.9 MiB exceeds the limit 976\.6 KiB/);
      assert.doesNotMatch(gated.stderr, /\d{5,}/, 'no raw byte counts');
    } finally {
      await removeAll(dir);
    }
  });

  it('runs ONBUILD triggers of a base image in a later build', async () => {
    assert.equal((await cli(['build', '--root', root, '-q', '-t', 'onbuild-base:1', ctx])).code, 0);
    const child = await makeTree({ 'Dockerfile': 'FROM onbuild-base:1\n', 'marker.txt': 'child context\n' });
    try {
      const dest = join(out, 'onbuild');
      const r = await cli(['build', '--root', root, '--output', `type=local,dest=${dest}`, child]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(join(dest, 'onbuild/marker.txt'), 'utf8'), 'child context\n');
    } finally {
      await removeAll(child);
    }
  });
});

describe('tsbuild build: errors', function () {
  this.timeout(60_000);
  let root: string;
  before(async () => {
    root = await tempDir('tsb-root-');
  });
  after(() => removeAll(root));

  const cases: Array<{ name: string; dockerfile: string; files?: Record<string, string>; args?: string[]; code: number; message: RegExp }> = [
    { name: 'unknown instruction', dockerfile: 'FROM scratch\nFOOO bar\n', code: 2, message: /Dockerfile:2:\d+.*(unknown instruction|FOOO)/is },
    { name: 'missing COPY source', dockerfile: 'FROM scratch\nCOPY nope.txt /\n', code: 1, message: /Dockerfile:2:\d+.*nope\.txt.*not found/s },
    { name: 'unknown target', dockerfile: 'FROM scratch AS a\n', args: ['--target', 'zzz'], code: 2, message: /target stage "zzz" could not be found/ },
    { name: 'several sources need a / destination', dockerfile: 'FROM scratch\nCOPY a b /dest\n', files: { a: '1', b: '2' }, code: 1, message: /must be a directory and end with a \// },
    { name: 'RUN for a platform with no emulator', dockerfile: 'FROM scratch\nRUN true\n', args: ['--platform', 'linux/riscv32'], code: 1, message: /Dockerfile:2:\d+.*RUN for linux\/riscv32 needs an emulator: no binfmt_misc handler qemu-riscv32 is registered.*qemu-user-static/s },
    { name: 'an invalid FROM --platform', dockerfile: 'FROM --platform=linux//x scratch\n', code: 2, message: /Dockerfile:1:\d+.*invalid platform/s },
    { name: 'an invalid --platform', dockerfile: 'FROM scratch\n', args: ['--platform', 'a/b/c/d'], code: 2, message: /--platform: invalid platform "a\/b\/c\/d"/ },
    { name: 'COPY of a symlink out of the context', dockerfile: 'FROM scratch\nCOPY esc/passwd /x\n', code: 1, message: /not found/ },
  ];
  for (const c of cases) {
    it(`fails clearly on ${c.name}`, async () => {
      const ctx = await makeTree({ 'Dockerfile': c.dockerfile, ...(c.files ?? {}) });
      try {
        if (c.name.includes('symlink')) await symlink('/etc', join(ctx, 'esc'));
        const args = ['build', '--root', root, '--progress=quiet', ...(c.args ?? []), ctx];
        const r = await cli(args);
        assert.equal(r.code, c.code, r.stderr);
        assert.match(r.stderr, c.message);
      } finally {
        await removeAll(ctx);
      }
    });
  }

  it('COPY --from is reused while the source stage\'s layers are the same, and re-run when they change', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM scratch AS a\nCOPY a.txt /a.txt\nFROM scratch\nCOPY --from=a /a.txt /x\n', 'a.txt': '1' });
    try {
      const run = () => cli(['build', '--root', root, '--progress=plain', '--explain-cache', ctx]);
      assert.equal((await run()).code, 0);
      assert.match((await run()).stderr, /cache: 2 step\(s\) reused, 0 executed/);
      await writeFile(join(ctx, 'a.txt'), '2');
      const changed = await run();
      assert.match(changed.stderr, /cache: 0 step\(s\) reused, 2 executed/);
      assert.match(changed.stderr, /COPY --from=a \/a\.txt \/x \(.*Dockerfile:4\):\n {2}- input from-layers changed/);
    } finally {
      await removeAll(ctx);
    }
  });

  it('says which .dockerignore pattern hid a missing COPY source', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM scratch\nCOPY build/app.js /app.js\n', 'build/app.js': 'x', '.dockerignore': 'node_modules\nbuild\n' });
    try {
      const r = await cli(['build', '--root', root, '--progress=quiet', ctx]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Dockerfile:2:1: .*"\/build\/app\.js": not found: excluded by \.dockerignore pattern "build"/);
    } finally {
      await removeAll(ctx);
    }
  });

  it('prune drops metadata of what is gone: image facts, layer indexes, context hash tables of deleted dirs', async () => {
    const root = await tempDir('tsb-metagc-');
    const keepCtx = await makeTree({ 'Dockerfile': 'FROM scratch\nCOPY k.txt /k.txt\n', 'k.txt': 'keep\n' });
    const goneCtx = await makeTree({ 'Dockerfile': 'FROM scratch\nCOPY g.txt /g.txt\n', 'g.txt': 'gone\n' });
    const metaKeys = async (ns: string) => (await readdir(join(root, 'meta', ns)).catch(() => [] as string[])).filter((n) => n.endsWith('.json')).sort();
    try {
      assert.equal((await cli(['build', '--root', root, '-q', '-t', 'keep:1', keepCtx])).code, 0);
      assert.equal((await cli(['build', '--root', root, '-q', '-t', 'gone:1', goneCtx])).code, 0);
      assert.equal((await metaKeys('images')).length, 2);
      assert.equal((await metaKeys('layer-index')).length, 2);
      assert.equal((await metaKeys('context-hash')).length, 2);
      const keepDiff = (await cli(['inspect', '--root', root, '-f', '{{index .RootFS.Layers 0}}', 'keep:1'])).stdout.trim();
      const keepManifest = (await cli(['images', '--root', root, '--digests'])).stdout.match(/keep\s+1\s+(sha256:[a-f0-9]{64})/)![1]!;
      assert.equal((await cli(['rmi', '--root', root, 'gone:1'])).code, 0);
      await removeAll(goneCtx);
      const r = await cli(['prune', '--root', root, '--all']);
      assert.equal(r.code, 0, r.stderr);
      // the image record, the layer index and the layer size of gone:1, and its context's hash table
      assert.match(r.stdout, /Removed 4 metadata records/);
      assert.deepEqual(await metaKeys('images'), [`${keepManifest}.json`]);
      assert.deepEqual(await metaKeys('layer-index'), [`${keepDiff}.json`]);
      assert.deepEqual(await metaKeys('layer-size'), [`${keepDiff}.json`]);
      const tables = await metaKeys('context-hash');
      assert.equal(tables.length, 1);
      assert.equal(JSON.parse(await readFile(join(root, 'meta', 'context-hash', tables[0]!), 'utf8')).dir, keepCtx);
      // and the store still builds
      assert.equal((await cli(['build', '--root', root, '-q', '-t', 'keep:1', keepCtx])).code, 0);
    } finally {
      await removeAll(root, keepCtx, goneCtx);
    }
  });

  it('reads Dockerfile.dockerignore next to a named Dockerfile', async () => {
    const ctx = await makeTree({
      'Dockerfile': 'FROM scratch\nCOPY . /\n',
      'Dockerfile.dockerignore': 'bar\n',
      'Dockerfile2': 'FROM scratch\nCOPY . /\n',
      'Dockerfile2.dockerignore': 'foo\n',
      foo: 'foo',
      bar: 'bar',
    });
    const d1 = await tempDir();
    const d2 = await tempDir();
    try {
      assert.equal((await cli(['build', '--root', root, '-o', `type=local,dest=${d1}`, ctx])).code, 0);
      assert.equal((await cli(['build', '--root', root, '-f', join(ctx, 'Dockerfile2'), '-o', `type=local,dest=${d2}`, ctx])).code, 0);
      const l1 = await readdir(d1);
      const l2 = await readdir(d2);
      assert.ok(l1.includes('foo') && !l1.includes('bar'), l1.join(','));
      assert.ok(l2.includes('bar') && !l2.includes('foo'), l2.join(','));
    } finally {
      await removeAll(ctx, d1, d2);
    }
  });

  it('extracts a local tar with ADD and keeps --chown over its owners', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM scratch\nADD --chown=7:8 pkg.tar.gz /opt/\n', 'pkgsrc/a/b.txt': 'inside\n' });
    const dest = await tempDir();
    try {
      await execFileP('tar', ['-czf', join(ctx, 'pkg.tar.gz'), '-C', join(ctx, 'pkgsrc'), 'a']);
      await writeFile(join(ctx, '.dockerignore'), 'pkgsrc\n');
      const r = await cli(['build', '--root', root, '-o', `type=local,dest=${dest}`, ctx]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(join(dest, 'opt/a/b.txt'), 'utf8'), 'inside\n');
      const st = await stat(join(dest, 'opt/a/b.txt'));
      assert.deepEqual([st.uid, st.gid], [7, 8]);
    } finally {
      await removeAll(ctx, dest);
    }
  });
});

describe('ADD of a URL', function () {
  this.timeout(60_000);
  let root: string;
  let server: import('node:http').Server;
  let base: string;
  const body = 'remote file body\n';
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;

  before(async () => {
    root = await tempDir('tsb-root-');
    server = createServer((req, res) => {
      if (req.url === '/files/tool.txt') {
        res.writeHead(200, { 'last-modified': 'Tue, 14 Nov 2023 22:13:20 GMT', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else if (req.url === '/moved') {
        res.writeHead(302, { location: '/files/tool.txt' });
        res.end();
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  });
  after(async () => {
    server.close();
    await removeAll(root);
  });

  it('downloads, verifies --checksum, names the file after the URL, mode 0600, Last-Modified mtime', async () => {
    const ctx = await makeTree({ 'Dockerfile': `FROM scratch\nADD --checksum=${digest} ${base}/files/tool.txt /opt/\nADD ${base}/moved /opt/renamed.txt\n` });
    const dest = await tempDir();
    try {
      const r = await cli(['build', '--root', root, '--progress=quiet', '-o', `type=local,dest=${dest}`, ctx]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(join(dest, 'opt/tool.txt'), 'utf8'), body);
      assert.equal(await readFile(join(dest, 'opt/renamed.txt'), 'utf8'), body);
      const st = await stat(join(dest, 'opt/tool.txt'));
      assert.equal(st.mode & 0o7777, 0o600);
      assert.equal(st.mtimeMs, 1700000000000);
    } finally {
      await removeAll(ctx, dest);
    }
  });

  const failures: Array<[string, string, RegExp]> = [
    ['a wrong checksum', `ADD --checksum=sha256:${'0'.repeat(64)} URL/files/tool.txt /x`, /digest mismatch.*--checksum wants sha256:0{64}, got sha256:[a-f0-9]{64}/],
    ['a 404', 'ADD URL/nope /x', /failed to download .*HTTP 404/],
    ['a URL source for COPY', 'COPY URL/files/tool.txt /x', /source can't be a URL for COPY/],
  ];
  for (const [name, line, re] of failures) {
    it(`fails clearly on ${name}`, async () => {
      const ctx = await makeTree({ 'Dockerfile': `FROM scratch\n${line.replace('URL', base)}\n` });
      try {
        const r = await cli(['build', '--root', root, '--progress=quiet', ctx]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, re);
        assert.match(r.stderr, /Dockerfile:2:1/);
      } finally {
        await removeAll(ctx);
      }
    });
  }
});

describe('COPY flags and named contexts', function () {
  this.timeout(60_000);
  let root: string;
  before(async () => {
    root = await tempDir('tsb-root-');
  });
  after(() => removeAll(root));

  const listTree = async (dir: string, prefix = ''): Promise<string[]> => {
    const out: string[] = [];
    for (const e of (await readdir(join(dir, prefix), { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = prefix ? `${prefix}/${e.name}` : e.name;
      out.push(e.isDirectory() ? `${p}/` : p);
      if (e.isDirectory()) out.push(...(await listTree(dir, p)));
    }
    return out;
  };

  const cases: Array<{ name: string; dockerfile: string; args?: string[]; want: string[] }> = [
    {
      name: '--parents keeps the source structure (and /./ pivots it)',
      dockerfile: 'FROM scratch\nCOPY --parents a/b/*.txt /out/\nCOPY --parents ./a/./b/c.md /piv/\n',
      want: ['out/', 'out/a/', 'out/a/b/', 'out/a/b/one.txt', 'out/a/b/two.txt', 'piv/', 'piv/b/', 'piv/b/c.md'],
    },
    {
      name: '--exclude drops matching files from a directory copy',
      dockerfile: 'FROM scratch\nCOPY --exclude=**/*.md --exclude=b/two.txt a/ /out/\n',
      want: ['out/', 'out/b/', 'out/b/one.txt'],
    },
    {
      name: 'wildcards match per segment and copy into a directory',
      dockerfile: 'FROM scratch\nCOPY a/b/*.txt /w/\n',
      want: ['w/', 'w/one.txt', 'w/two.txt'],
    },
    {
      name: 'a single file onto a name without a slash becomes that file',
      dockerfile: 'FROM scratch\nCOPY a/b/one.txt /renamed\n',
      want: ['renamed'],
    },
    {
      name: '--parents: ** matches zero directories too (BuildKit include-pattern rules)',
      dockerfile: 'FROM scratch\nCOPY --parents ./a/**/*.md /dst/\n',
      want: ['dst/', 'dst/a/', 'dst/a/b/', 'dst/a/b/c.md', 'dst/a/readme.md'],
    },
    {
      name: 'without --parents, ** is one path segment like * (Go filepath.Match)',
      dockerfile: 'FROM scratch\nCOPY a/**/*.md /dst/\n',
      want: ['dst/', 'dst/c.md'],
    },
    {
      name: 'a wildcard matching nothing copies nothing, next to one that matches',
      dockerfile: 'FROM scratch\nCOPY nomatch*.txt /x/\nCOPY nomatch*.txt a/readme.md /y/\nCOPY a/b/*.c /z/\n',
      want: ['y/', 'y/readme.md'],
    },
    {
      name: 'a named context replaces a directory for COPY --from',
      dockerfile: 'FROM scratch\nCOPY --from=extra x.txt /from-extra.txt\n',
      args: ['--build-context', 'extra=NAMED'],
      want: ['from-extra.txt'],
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const ctx = await makeTree({ 'Dockerfile': c.dockerfile, 'a/b/one.txt': '1', 'a/b/two.txt': '2', 'a/b/c.md': 'c', 'a/readme.md': 'r' });
      const named = await makeTree({ 'x.txt': 'x' });
      const dest = await tempDir();
      try {
        const args = (c.args ?? []).map((a) => a.replace('NAMED', named));
        const r = await cli(['build', '--root', root, '--progress=quiet', ...args, '-o', `type=local,dest=${dest}`, ctx]);
        assert.equal(r.code, 0, r.stderr);
        assert.deepEqual(await listTree(dest), c.want);
      } finally {
        await removeAll(ctx, named, dest);
      }
    });
  }
});
