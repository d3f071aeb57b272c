/** Small file-system helpers shared by the store, its locks and gc. */
import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as NodeJS.ErrnoException).code === code;
}

/** Unlink, ignoring a file that is already gone. */
export async function removeIfExists(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

/** A temp-file name that says which process owns it, so stale ones can be told apart. */
export function tempName(prefix = ''): string {
  return `${prefix}${process.pid}-${randomBytes(6).toString('hex')}.tmp`;
}

/** The pid encoded by tempName(), if any. */
export function tempOwner(name: string): number | undefined {
  const m = /(?:^|\.)(\d+)-[0-9a-f]{12}\.tmp$/.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** Whether a process with this pid exists on this host (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return isErrno(e, 'EPERM');
  }
}

/**
 * Make a rename durable: without an fsync of the directory, a crash can
 * forget the new name even though the file's data was synced.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Write a whole file atomically: temp file in the same directory → fsync →
 * rename. Readers see the old content or the new one, never a mix.
 */
export async function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, tempName(`.${basename(path)}.`));
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await removeIfExists(tmp).catch(() => undefined);
    throw e;
  }
  await fsyncDir(dir);
}

/**
 * A file used this recently is not touched again: its mtime already keeps it far inside gc's
 * grace period (10 minutes), and a no-op rebuild writes nothing.
 */
export const TOUCH_FRESH_MS = 60_000;

/** Mark a file as recently used (gc spares young blobs), unless it already is; best effort. */
export async function touch(path: string): Promise<boolean> {
  const now = new Date();
  try {
    if (now.getTime() - (await stat(path)).mtimeMs < TOUCH_FRESH_MS) return true;
    await utimes(path, now, now);
    return true;
  } catch {
    return false;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
