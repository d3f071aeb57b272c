import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from '../builder/build.js';
import { ContentStore } from '../cache/store.js';
import { cli, execFileP, makeTree, removeAll, tempDir } from './helpers.js';

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
/** tsx by its path: a child may run in a directory where the package does not resolve. */
const TSX = import.meta.resolve('tsx');

/** The CLI as its own process (exit codes, signals, stdin), as a user runs it. */
async function tsbuildProcess(args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: o.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(o.input ?? '');
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/** A new store, context directory and scratch dir (for the tests' own Dockerfiles) for one describe block. */
function withStoreAndContext(files: Record<string, string>): { root: string; ctx: string; dockerfile: (text: string) => Promise<string> } {
  let scratch = '';
  let count = 0;
  const dirs = {
    root: '',
    ctx: '',
    /** Writes `text` as a Dockerfile of its own under the block's scratch dir (removed after the block). */
    dockerfile: async (text: string): Promise<string> => join(await makeTree({ 'Dockerfile': text }, join(scratch, String(count++))), 'Dockerfile'),
  };
  before(async () => {
    dirs.root = await tempDir('tsb-root-');
    dirs.ctx = await makeTree(files);
    scratch = await tempDir('tsb-limits-');
  });
  after(() => removeAll(dirs.root, dirs.ctx, scratch));
  return dirs;
}

/** Hostile-but-valid inputs: they must cost time linear in their size. */
describe('build cost grows linearly with the Dockerfile', function () {
  this.timeout(180_000);
  const dirs = withStoreAndContext({ 'a.txt': 'a' });

  const labels = (n: number): string => ['FROM scratch', ...Array.from({ length: n }, (_, i) => `LABEL l${i}=v${i}`), ''].join('\n');
  const timed = async (text: string): Promise<{ ms: number; r: Awaited<ReturnType<typeof build>> }> => {
    const store = await ContentStore.open(dirs.root);
    const t0 = performance.now();
    const r = await build({ store, contextDir: dirs.ctx, dockerfileText: text, noCache: true });
    return { ms: performance.now() - t0, r };
  };

  it('20,000 LABEL lines build in seconds, and twice the lines take well under four times as long', async () => {
    const small = await timed(labels(10_000));
    const big = await timed(labels(20_000));
    // Before: 10,000 lines took 45 s and 20,000 took 156 s (a copy of all labels and history per line).
    assert.ok(big.ms < 20_000, `20,000 LABELs took ${Math.round(big.ms)} ms`);
    assert.ok(big.ms < 4 * small.ms, `10,000 LABELs: ${Math.round(small.ms)} ms, 20,000: ${Math.round(big.ms)} ms`);
    assert.equal(Object.keys(big.r.config.config.Labels ?? {}).length, 20_000);
    assert.equal(big.r.config.config.Labels?.l19999, 'v19999');
    assert.equal(big.r.config.history?.length, 20_000);
    assert.deepEqual(big.r.sourceMap.at(-1), { file: 'Dockerfile', line: 20_001 });
  });

  it('stages built FROM one stage do not see each other\'s labels or history', async () => {
    const text = [
      'FROM scratch AS base',
      'LABEL a=1',
      'MAINTAINER me',
      'FROM base AS child',
      'LABEL b=2 a=changed',
      'COPY a.txt /a.txt',
      'FROM base',
      'COPY --from=child /a.txt /x',
      'LABEL c=3',
      '',
    ].join('\n');
    const final = (await timed(text)).r;
    assert.deepEqual(final.config.config.Labels, { a: '1', c: '3' });
    assert.equal(final.config.author, 'me');
    assert.deepEqual(final.config.history?.map((h) => h.created_by?.replace(/ # buildkit$/, '')), ['LABEL a=1', 'MAINTAINER me', 'COPY --from=child /a.txt /x', 'LABEL c=3']);
    const child = await build({ store: await ContentStore.open(dirs.root), contextDir: dirs.ctx, dockerfileText: text, target: 'child' });
    assert.deepEqual(child.config.config.Labels, { a: 'changed', b: '2' });
    assert.equal(child.config.history?.length, 4);
  });
});

describe('a build never exits 0 without its result', function () {
  this.timeout(60_000);
  const dirs = withStoreAndContext({ 'x': 'x' });

  it('COPY --from its own stage fails at plan time with the cycle and its line (it used to exit 0 with no image)', async () => {
    const iid = `${dirs.root}/iid`;
    const r = await tsbuildProcess(['build', '--root', dirs.root, '--iidfile', iid, '-f', '-', dirs.ctx], { input: 'FROM scratch AS a\nCOPY --from=a /x /y\n' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Dockerfile:2:1: circular dependency detected on stage: a -> a \(COPY --from=a \/x \/y\)/);
    await assert.rejects(readFile(iid));
  });

  it('a command left pending when the event loop drains exits 1 with an internal error', async () => {
    const { stdout, stderr, code } = await execFileP(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `import { runAsProcess } from ${JSON.stringify(MAIN)}; runAsProcess(new Promise(() => {}));`]).then(
      (r) => ({ ...r, code: 0 }),
      (e: { stdout: string; stderr: string; code: number }) => e,
    );
    assert.equal(code, 1, stdout + stderr);
    assert.match(stderr, /internal error: tsbuild stopped with its command unfinished/);
  });
});

describe('bad input gets a clear error, with file:line:column and the text', function () {
  this.timeout(120_000);
  const dirs = withStoreAndContext({ 'a.txt': 'a' });

  const doubling = ['FROM scratch', 'ENV a=0123456789abcdef', ...Array.from({ length: 24 }, () => 'ENV a=$a$a'), ''].join('\n');
  const nested = `FROM scratch\nENV x=${'${a:-'.repeat(10_000)}x${'}'.repeat(10_000)}\n`;
  const cases: Array<{ name: string; file?: string; dockerfile?: string; code: number; message: RegExp; excerpt?: RegExp }> = [
    { name: '-f /dev/zero (read forever before)', file: '/dev/zero', code: 1, message: /\/dev\/zero:1:1: the Dockerfile is larger than the 4194304-byte limit/ },
    { name: '-f a directory (said "no such file" before)', file: '/etc', code: 2, message: /failed to read dockerfile: \/etc is a directory, not a file/ },
    { name: '-f a missing file', file: '/nonexistent/Dockerfile', code: 2, message: /open \/nonexistent\/Dockerfile: no such file or directory/ },
    { name: 'a doubling ENV chain (4 GB and out of memory before)', dockerfile: doubling, code: 2, message: /Dockerfile:19:1: .*the expanded value is longer than 1048576 characters/, excerpt: />>>\s+19 \| ENV a=\$a\$a/ },
    { name: '10,000 nested ${a:-…} (stack overflow before)', dockerfile: nested, code: 2, message: /Dockerfile:2:1: failed to process "\$\{a:-\$\{a:-.*… \(\d+ characters\): \$\{…\} nested more than 64 levels deep/ },
    { name: 'a user id over 32 bits (RangeError, or a silent wrong owner, before)', dockerfile: 'FROM scratch\nCOPY --chown=99999999999 a.txt /a\n', code: 2, message: /Dockerfile:2:1: invalid user id 99999999999: ids range from 0 to 2147483647/, excerpt: />>>\s+2 \| COPY --chown=99999999999/ },
    { name: 'a group id over 32 bits', dockerfile: 'FROM scratch\nCOPY --chown=1:99999999999999999999 a.txt /a\n', code: 2, message: /Dockerfile:2:1: invalid group id/ },
  ];
  for (const c of cases) {
    it(`fails clearly on ${c.name}`, async () => {
      const file = c.file ?? (await dirs.dockerfile(c.dockerfile!));
      const r = await cli(['build', '--root', dirs.root, '--progress=quiet', '-f', file, dirs.ctx]);
      assert.equal(r.code, c.code, r.stderr);
      assert.match(r.stderr, c.message);
      if (c.excerpt) assert.match(r.stderr, c.excerpt);
      assert.ok(r.stderr.length < 4000, `a short message, not ${r.stderr.length} characters`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no JS stack');
    });
  }

  it('with -f -, the excerpt shows the Dockerfile from stdin, not ./Dockerfile', async () => {
    const cwd = await makeTree({ 'Dockerfile': 'FROM scratch\n# an unrelated file in the working directory\n' });
    try {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', TSX, MAIN, 'build', '--root', dirs.root, '-q', '-f', '-', dirs.ctx], { cwd, stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.stdin.end('FROM scratch\nCOPY --from=0 /x /y\n');
        child.on('close', (code) => resolve({ code, stderr }));
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /Dockerfile:2:1: circular dependency detected/);
      assert.match(r.stderr, />>>\s+2 \| COPY --from=0 \/x \/y/);
      assert.doesNotMatch(r.stderr, /unrelated file/);
    } finally {
      await removeAll(cwd);
    }
  });

  it('an endless stdin stops at the size limit (13.7 GB RSS before)', async () => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, 'build', '--root', dirs.root, '-q', '-f', '-', dirs.ctx], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = Buffer.from('RUN true\n'.repeat(10_000));
    const feed = (): void => {
      while (child.stdin.writable && child.stdin.write(line));
    };
    child.stdin.on('drain', feed);
    child.stdin.on('error', () => {});
    feed();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 1, stderr);
    assert.match(stderr, /Dockerfile:1:1: the Dockerfile is larger than the 4194304-byte limit/);
  });

  const manifests: Array<{ name: string; body: string; contentType: string; message: RegExp }> = [
    { name: 'a null manifest', body: 'null', contentType: 'application/vnd.oci.image.manifest.v1+json', message: /manifest is not a JSON object \(got null\)/ },
    { name: 'a manifest with a null config', body: '{"schemaVersion":2,"config":null,"layers":[]}', contentType: 'application/vnd.oci.image.manifest.v1+json', message: /manifest has no config or layers/ },
    { name: 'a layer without a digest', body: '{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aa","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":1}]}', contentType: 'application/vnd.oci.image.manifest.v1+json', message: /manifest layer 0 has no digest/ },
    { name: 'a null index', body: 'null', contentType: 'application/vnd.oci.image.index.v1+json', message: /index is not a JSON object \(got null\)/ },
  ];
  for (const m of manifests) {
    it(`a registry serving ${m.name}: a FormatError at the FROM line ("Cannot read properties of null" before)`, async () => {
      const digest = `sha256:${createHash('sha256').update(m.body).digest('hex')}`;
      // A hostile registry: docker-registry itself refuses to store such a manifest.
      const server = createServer((req, res) => {
        if (req.url === '/v2/') return res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        if (req.url?.includes('/manifests/')) {
          return res.writeHead(200, { 'content-type': m.contentType, 'docker-content-digest': digest, 'content-length': m.body.length }).end(req.method === 'HEAD' ? undefined : m.body);
        }
        res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const df = await dirs.dockerfile(`FROM scratch\nFROM ${host}/bad/image:v1\n`);
        const r = await cli(['build', '--root', dirs.root, '--progress=quiet', '--insecure-registry', host, '-f', df, dirs.ctx]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`Dockerfile:2:1: (.*: )?${m.message.source}`));
        assert.match(r.stderr, />>>\s+2 \| FROM 127\.0\.0\.1/);
      } finally {
        server.close();
      }
    });
  }
});

describe('SIGTERM stops a CPU-bound build', function () {
  this.timeout(120_000);
  const dirs = withStoreAndContext({ 'Dockerfile': 'FROM scratch\nCOPY . /data/\n' });
  before(async () => {
    // 400 MB to hash and compress: tens of seconds on a loaded 2-core machine.
    await execFileP('sh', ['-c', `head -c 400000000 /dev/urandom > ${dirs.ctx}/big.bin`]);
  });

  it('during a large COPY: the process ends within a few seconds, non-zero, saying why (it ran on to exit 0 before)', async () => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, 'build', '--root', dirs.root, '--progress=plain', dirs.ctx], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Signal once the COPY has started working on the file.
    for (let i = 0; i < 600 && !/COPY \. \/data\//.test(stderr); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 1000));
    const t0 = performance.now();
    child.kill('SIGTERM');
    const code = await closed;
    const ms = performance.now() - t0;
    assert.notEqual(code, 0, stderr);
    assert.ok(ms < 5000, `exited ${Math.round(ms)} ms after SIGTERM`);
    assert.match(stderr, /Dockerfile:2:1: build cancelled \(SIGTERM\)/);
  });
});
