/** Small wrappers around child_process for the host tools runtime/ drives (mount, runc, mknod...). */
import { spawn, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeSetupError } from './errors.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit (ENOENT → code 127). */
export function exec(
  cmd: string,
  args: readonly string[],
  opts: { input?: Buffer | string; cwd?: string; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolve) => {
    const so: SpawnOptions = { stdio: ['pipe', 'pipe', 'pipe'] };
    if (opts.cwd !== undefined) so.cwd = opts.cwd;
    const child = spawn(cmd, args, so);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.stdin?.on('error', () => {}); // EPIPE when the tool exits without reading
    child.stdin?.end(opts.input ?? '');
    let spawnError: Error | undefined;
    child.on('error', (e) => (spawnError = e));
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const stderr = Buffer.concat(err).toString();
      resolve({
        code: spawnError ? 127 : (code ?? 128 + signalNumber(signal)),
        stdout: Buffer.concat(out).toString(),
        stderr: spawnError ? `${spawnError.message}\n${stderr}` : stderr,
      });
    });
  });
}

/** Runs a command and throws RuntimeSetupError (with its stderr) when it fails. */
export async function execOk(
  cmd: string,
  args: readonly string[],
  opts: { input?: Buffer | string; cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) {
    throw new RuntimeSetupError(`${cmd} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`, {
      cmd,
      args: [...args],
      exitCode: r.code,
      stderr: r.stderr,
    });
  }
  return r.stdout;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };
export function signalNumber(sig: NodeJS.Signals | null): number {
  return sig ? (SIGNALS[sig] ?? 1) : 0;
}

/** Whether an executable named `name` is on PATH (or is an existing absolute path). */
/** The first executable file `name` on $PATH, as `command -v` finds it (without a shell: each spawn costs ~5 ms). */
export async function which(name: string): Promise<string | undefined> {
  if (name.includes('/')) return undefined;
  for (const dir of (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!dir.startsWith('/')) continue;
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) {
        accessSync(p, constants.X_OK);
        return p;
      }
    } catch {
      /* not here */
    }
  }
  return undefined;
}
