import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP, tempDir } from './helpers.js';

/**
 * The unprivileged users of the rootless tests, made the way /etc's tools make them (useradd, one
 * line per user in /etc/subuid and /etc/subgid). Idempotent; needs root (CI runs as root).
 * Never uid 1000: the tests use 1000 *inside* images.
 */
export interface TestUser {
  name: string;
  uid: number;
  /** Start of its 65536 subordinate ids; undefined: no range at all (for the error test). */
  subidStart?: number;
}

export const ROOTLESS_USER: TestUser = { name: 'tsbrootless', uid: 1500, subidStart: 200000 };
export const NO_SUBID_USER: TestUser = { name: 'tsbnosubid', uid: 1501 };

async function setSubidLine(file: string, user: string, line: string | undefined): Promise<void> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const kept = text.split('\n').filter((l) => l !== '' && !l.startsWith(`${user}:`));
  if (line !== undefined) kept.push(line);
  const next = kept.length > 0 ? `${kept.join('\n')}\n` : '';
  if (next === text) return;
  const tmp = `${file}.tsb-${process.pid}`;
  await writeFile(tmp, next, { mode: 0o644 });
  await rename(tmp, file);
}

export async function ensureUser(u: TestUser): Promise<void> {
  const exists = await execFileP('id', ['-u', u.name]).then(
    () => true,
    () => false,
  );
  if (!exists) await execFileP('useradd', ['-m', '-d', `/home/${u.name}`, '-s', '/bin/sh', '-u', String(u.uid), '-U', u.name]);
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    await setSubidLine(file, u.name, u.subidStart === undefined ? undefined : `${u.name}:${u.subidStart}:65536`);
  }
}

/** The CLI as a user installs it, where an unprivileged user can run it: a copy of $TSBUILD_CLI, or the bundle run by this node. */
export async function worldReadableCli(): Promise<{ dir: string; argv: string[] }> {
  const dir = await tempDir('tsb-rootless-');
  await chmod(dir, 0o755);
  const executable = process.env['TSBUILD_CLI'];
  if (executable) {
    await copyFile(executable, join(dir, 'tsbuild'));
    await chmod(join(dir, 'tsbuild'), 0o755);
    return { dir, argv: [join(dir, 'tsbuild')] };
  }
  await execFileP(process.execPath, ['scripts/bundle.mjs', join(dir, 'bundle')]);
  await execFileP('chmod', ['-R', 'a+rX', dir]);
  return { dir, argv: [process.execPath, join(dir, 'bundle', 'main.js')] };
}

/** A directory the user owns, inside `parent`. */
export async function userDir(parent: string, name: string, u: TestUser): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  await execFileP('chown', [`${u.uid}:${u.uid}`, dir]);
  return dir;
}

/** Starts argv as `u` (setpriv execs: the child's pid is the command's own, so a kill reaches it). */
export function spawnAs(u: TestUser, argv: string[], env: Record<string, string>): ChildProcess {
  return spawn('setpriv', ['--reuid', String(u.uid), '--regid', String(u.uid), '--init-groups', '--', ...argv], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: `/home/${u.name}`, USER: u.name, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: '/',
  });
}

export async function runAs(
  u: TestUser,
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawnAs(u, argv, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => void (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => void (stderr += s));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status, signal) => resolve(status ?? (signal ? 128 + 9 : 1)));
  });
  return { code, stdout, stderr };
}
