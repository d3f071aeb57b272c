/**
 * Cross-process locks: a lock file created with O_EXCL that records who holds
 * it. A lock whose holder died (same host, pid gone) is taken over. Breaking a
 * stale lock is itself serialised through a short-lived `.break` file, so two
 * waiters that both saw the same stale lock cannot each delete a lock the
 * other has just taken.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { LockTimeoutError } from './errors.js';
import { isErrno, pidAlive, removeIfExists, sleep } from './fsutil.js';

export interface LockOptions {
  /** Give up after this long with a LockTimeoutError; default 120 s. */
  timeoutMs?: number;
}

interface Holder {
  pid: number;
  host: string;
  nonce: string;
  since: string;
}

/** A lock file that cannot be parsed is presumed to be mid-creation for this long. */
const UNPARSEABLE_GRACE_MS = 5_000;
/** A `.break` file older than this belongs to a breaker that died. */
const BREAK_GRACE_MS = 10_000;

/**
 * Waiters in this process queue here first, so they do not poll a file that
 * their own process holds (and so nested stores on one root share a queue).
 */
const inProcessTails = new Map<string, Promise<void>>();

async function inProcessMutex<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = inProcessTails.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = prev.then(() => mine);
  inProcessTails.set(key, tail);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (inProcessTails.get(key) === tail) inProcessTails.delete(key);
  }
}

/**
 * Run `fn` while holding the lock file at `path`. Not reentrant: calling it
 * again for the same path from inside `fn` deadlocks until the timeout.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  return inProcessMutex(path, async () => {
    const holder = await acquire(path, opts.timeoutMs ?? 120_000);
    try {
      return await fn();
    } finally {
      await release(path, holder);
    }
  });
}

async function acquire(path: string, timeoutMs: number): Promise<Holder> {
  const me: Holder = {
    pid: process.pid,
    host: hostname(),
    nonce: randomBytes(8).toString('hex'),
    since: new Date().toISOString(),
  };
  const body = JSON.stringify(me);
  const deadline = Date.now() + timeoutMs;
  let wait = 2;
  for (;;) {
    try {
      await writeFile(path, body, { flag: 'wx', mode: 0o644 });
      return me;
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw e;
    }
    if (await breakIfStale(path)) continue;
    if (Date.now() >= deadline) {
      const seen = await readLock(path);
      throw new LockTimeoutError(path, timeoutMs, seen?.holder ?? seen?.raw);
    }
    // Jitter so two waiters do not retry in lockstep.
    await sleep(wait + Math.random() * wait);
    wait = Math.min(wait * 2, 100);
  }
}

async function release(path: string, me: Holder): Promise<void> {
  const seen = await readLock(path);
  // Only remove the file if it is still ours; someone may have (wrongly) broken it.
  if (seen?.holder?.nonce === me.nonce) await removeIfExists(path);
}

interface LockFileState {
  raw: string;
  holder: Holder | undefined;
  ino: number;
  mtimeMs: number;
}

async function readLock(path: string): Promise<LockFileState | undefined> {
  try {
    const [raw, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    return { raw, holder: parseHolder(raw), ino: st.ino, mtimeMs: st.mtimeMs };
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

function parseHolder(raw: string): Holder | undefined {
  try {
    const v = JSON.parse(raw) as Partial<Holder>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.nonce === 'string') return v as Holder;
  } catch {
    // fall through: a file being written right now, or garbage
  }
  return undefined;
}

function isStale(s: LockFileState): boolean {
  if (s.holder === undefined) return Date.now() - s.mtimeMs > UNPARSEABLE_GRACE_MS;
  // A pid on another host says nothing about liveness here: never break it.
  if (s.holder.host !== hostname()) return false;
  return !pidAlive(s.holder.pid);
}

/** Returns true when the caller should retry at once (lock gone or broken). */
async function breakIfStale(path: string): Promise<boolean> {
  const seen = await readLock(path);
  if (seen === undefined) return true;
  if (!isStale(seen)) return false;
  const breakPath = `${path}.break`;
  try {
    await writeFile(breakPath, String(process.pid), { flag: 'wx' });
  } catch (e) {
    if (!isErrno(e, 'EEXIST')) throw e;
    const st = await stat(breakPath).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > BREAK_GRACE_MS) await removeIfExists(breakPath);
    return false;
  }
  try {
    // Re-check under the break lock: only delete the very file we judged stale.
    const again = await readLock(path);
    if (again && again.raw === seen.raw && again.ino === seen.ino && again.mtimeMs === seen.mtimeMs) {
      await removeIfExists(path);
    }
  } finally {
    await removeIfExists(breakPath);
  }
  return true;
}
