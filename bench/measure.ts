/**
 * Time one command and read its peak RSS.
 *
 * Peak RSS comes from GNU time (`/usr/bin/time -f %M`): it reports the wait4()
 * rusage of the child, i.e. the largest resident set of any process in the
 * child's tree (for tsbuild that is the node process; runc children are far
 * smaller). Wall time is measured here with hrtime around the spawn, so the
 * ~1 ms of GNU time itself is included in every tool's numbers alike.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandFailedError } from './errors.js';

export interface Measurement {
  wallMs: number;
  /** Peak RSS in KiB, or undefined when GNU time is not installed. */
  maxRssKb: number | undefined;
  exitCode: number | null;
  /** The last OUTPUT_KEEP bytes of stdout+stderr (interleaved as they came). */
  output: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Sees every output chunk (stdout and stderr) as it arrives, e.g. to parse --trace-gc lines. */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
}

const GNU_TIME = '/usr/bin/time';
const OUTPUT_KEEP = 256 * 1024;

let gnuTimeChecked: boolean | undefined;
/** True when /usr/bin/time is GNU time (busybox/BSD time have no -f %M). */
export function hasGnuTime(): boolean {
  if (gnuTimeChecked === undefined) {
    gnuTimeChecked = existsSync(GNU_TIME) && spawnSync(GNU_TIME, ['-f', '%M', 'true'], { stdio: 'ignore' }).status === 0;
  }
  return gnuTimeChecked;
}

/** Run `cmd args`, keep a bounded tail of its output, and time it. */
export async function measure(cmd: string, args: string[], opts: RunOptions = {}): Promise<Measurement> {
  const gnu = hasGnuTime();
  const dir = gnu ? await mkdtemp(join(tmpdir(), 'tsb-bench-time-')) : undefined;
  const rssFile = dir ? join(dir, 'rss') : undefined;
  const [file, argv] = rssFile ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  let output = '';
  const keep = (stream: 'stdout' | 'stderr') => (b: Buffer): void => {
    const text = b.toString('utf8');
    opts.onOutput?.(text, stream);
    output += text;
    // why: a noisy build must not grow our own RSS; only the tail is used (errors, CACHED lines)
    if (output.length > OUTPUT_KEEP * 2) output = output.slice(-OUTPUT_KEEP);
  };
  const t0 = process.hrtime.bigint();
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(file, argv, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', keep('stdout'));
    child.stderr.on('data', keep('stderr'));
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  let maxRssKb: number | undefined;
  if (rssFile && dir) {
    // GNU time writes "Command exited with non-zero status N" before the number on failure
    const text = await readFile(rssFile, 'utf8').catch(() => '');
    const last = text.trim().split('\n').pop() ?? '';
    maxRssKb = /^\d+$/.test(last) ? Number(last) : undefined;
    await rm(dir, { recursive: true, force: true });
  }
  return { wallMs, maxRssKb, exitCode, output: output.slice(-OUTPUT_KEEP) };
}

/** Run a helper command (untimed); throw with its output's tail when it fails. */
export function runOrThrow(cmd: string, args: string[], opts: RunOptions = {}): string {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new CommandFailedError(`${cmd} ${args.join(' ')}`, null, r.error.message);
  if (r.status !== 0) throw new CommandFailedError(`${cmd} ${args.join(' ')}`, r.status, `${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Run a command, return whether it succeeded (for availability probes). */
export function succeeds(cmd: string, args: string[], opts: RunOptions = {}): boolean {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: 'ignore' });
  return !r.error && r.status === 0;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return NaN;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}
