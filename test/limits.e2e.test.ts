import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from '../builder/build.js';
import { ContentStore } from '../cache/store.js';
import { execFileP, makeTree, removeAll, tempDir } from './helpers.js';

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

/** The CLI as its own process (exit codes, signals, stdin), as a user runs it. */
async function tsbuildProcess(args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: o.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(o.input ?? '');
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/** Hostile-but-valid inputs: they must cost time linear in their size. */
describe('build cost grows linearly with the Dockerfile', function () {
  this.timeout(180_000);
  let root: string;
  let ctx: string;
  before(async () => {
    root = await tempDir('tsb-root-');
    ctx = await makeTree({ 'a.txt': 'a' });
  });
  after(() => removeAll(root, ctx));

  const labels = (n: number): string => ['FROM scratch', ...Array.from({ length: n }, (_, i) => `LABEL l${i}=v${i}`), ''].join('\n');
  const timed = async (text: string): Promise<{ ms: number; r: Awaited<ReturnType<typeof build>> }> => {
    const store = await ContentStore.open(root);
    const t0 = performance.now();
    const r = await build({ store, contextDir: ctx, dockerfileText: text, noCache: true });
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
    const child = await build({ store: await ContentStore.open(root), contextDir: ctx, dockerfileText: text, target: 'child' });
    assert.deepEqual(child.config.config.Labels, { a: 'changed', b: '2' });
    assert.equal(child.config.history?.length, 4);
  });
});

describe('a build never exits 0 without its result', function () {
  this.timeout(60_000);
  let root: string;
  let ctx: string;
  before(async () => {
    root = await tempDir('tsb-root-');
    ctx = await makeTree({ 'x': 'x' });
  });
  after(() => removeAll(root, ctx));

  it('COPY --from its own stage fails at plan time with the cycle and its line (it used to exit 0 with no image)', async () => {
    const iid = `${root}/iid`;
    const r = await tsbuildProcess(['build', '--root', root, '--iidfile', iid, '-f', '-', ctx], { input: 'FROM scratch AS a\nCOPY --from=a /x /y\n' });
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
