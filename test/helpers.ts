import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { main } from '../cli/main.js';
import { requireRoot, requireTools } from './tools.js';

export const execFileP = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in-process with captured output (what a user would see). With TSBUILD_CLI set to
 * an executable (CI sets dist/tsbuild, see .ci/run) it runs that as a process instead, so the
 * end-to-end tests check the compiled executable too.
 */
export async function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const executable = process.env['TSBUILD_CLI'];
  if (executable) return cliProcess(resolve(executable), args, env);
  let stdout = '';
  let stderr = '';
  const saved: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    const code = await main(args, { out: (s) => void (stdout += s), err: (s) => void (stderr += s) });
    return { code, stdout, stderr };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * The CLI as its own process with `input` on stdin (`tsbuild build - < ctx.tar`): TSBUILD_CLI's
 * executable, else cli/main.ts under tsx.
 */
export async function cliWithInput(args: string[], input: Buffer | string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const executable = process.env['TSBUILD_CLI'];
  const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
  const [command, prefix] = executable ? [resolve(executable), []] : [process.execPath, ['--import', 'tsx', main]];
  return cliProcess(command, [...prefix, ...args], env, input);
}

async function cliProcess(executable: string, args: string[], env: Record<string, string | undefined>, input?: Buffer | string): Promise<CliResult> {
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const child = spawn(executable, args, { env: childEnv, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) {
    child.stdin?.on('error', () => {}); // EPIPE: the CLI may stop reading (a size limit)
    child.stdin?.end(input);
  }
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => void (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => void (stderr += s));
  const code = await new Promise<number>((settle, fail) => {
    child.on('error', fail);
    child.on('close', (status, signal) => settle(status ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0)));
  });
  return { code, stdout, stderr };
}

/** A temp directory tree from a `{ path: content }` table. */
export async function makeTree(files: Record<string, string>, base?: string): Promise<string> {
  const dir = base ?? (await mkdtemp(join(tmpdir(), 'tsb-ctx-')));
  for (const [p, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, p)), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  return dir;
}

export async function tempDir(prefix = 'tsb-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Removes each path that is set (an `after` hook runs even when `before` failed before setting them). */
export async function removeAll(...paths: (string | undefined)[]): Promise<void> {
  await Promise.all(paths.filter((path): path is string => path !== undefined).map((path) => rm(path, { recursive: true, force: true })));
}

/**
 * For RUN end-to-end tests: checks root, runc and umoci (failing under CI), then makes a store
 * holding testdata's busybox as busybox:latest. Returns the store root and a work directory.
 */
export async function storeWithBusybox(ctx: Mocha.Context): Promise<{ root: string; work: string }> {
  requireRoot(ctx, 'RUN steps');
  requireTools(ctx, ['runc', 'umoci']);
  const root = await tempDir('tsb-root-');
  const work = await tempDir('tsb-run-');
  await execFileP('bash', ['testdata/busybox/build.sh', join(work, 'bb')]);
  const r = await cli(['load', '--root', root, '-i', join(work, 'bb'), '-t', 'busybox:latest']);
  if (r.code !== 0) throw new Error(`loading busybox failed: ${r.stderr}`);
  return { root, work };
}

/** Pids (other than this process) whose command line contains `needle`; as root, every user's are seen. */
export function processesWith(needle: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle)) found.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return found;
}
