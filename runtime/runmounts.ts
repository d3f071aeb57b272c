/**
 * RUN --mount: turning RunMount requests into OCI mounts plus the host-side pieces they need.
 * Everything created here is registered in `ctx.cleanup` (run in reverse by the step teardown).
 *
 * - cache:  <root>/cache-mounts/<sha256(id)>, bound rw (ro if asked). `locked` waits for other
 *           users (in this process and others); `private` takes a throwaway dir when it is busy.
 * - bind:   from the build context (hostDir) or from layers. Sources resolve inside their root,
 *           so a symlink in the context cannot expose host files. `readwrite` writes go to a
 *           throwaway overlay upper (or copy) and are discarded.
 * - tmpfs, secret (a file on a per-step host tmpfs, bound read-only), ssh (a proxy socket with
 *   the requested owner/mode that forwards to the agent socket).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, join, posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processStartTime } from '../image/owner.js';
import { cacheMountDir } from './cache-mount-io.js';
import { RunAbortedError, RunRequestError } from './errors.js';
import { resolveInRoot } from '../image/safe-path.js';
import { mountTmpfs } from './mounts.js';
import type { Snapshotter } from './snapshotter.js';
import type { OciMount } from './spec.js';
import type { RunMount } from './types.js';

export interface MountContext {
  stateRoot: string;
  stepDir: string;
  snapshotter: Snapshotter;
  signal?: AbortSignal;
  /** Undo actions, run last-in first-out by the teardown. */
  cleanup: Array<() => Promise<void> | void>;
  /** Host mount points this step created (unmounted by the teardown). */
  hostMounts: string[];
}

export function normalizeTarget(target: string): string {
  if (!target.startsWith('/')) throw new RunRequestError(`mount target must be absolute: ${JSON.stringify(target)}`, { target });
  const n = posix.normalize(target);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

// ---------------------------------------------------------------- locks for cache mounts

const inProcess = new Map<string, Promise<void>>();

/** An exclusive lock: a chain within this process, a lock dir (with owner pid) across processes. */
async function lock(path: string, wait: boolean, signal?: AbortSignal): Promise<(() => Promise<void>) | undefined> {
  const prev = inProcess.get(path);
  if (prev && !wait) return undefined;
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = (prev ?? Promise.resolve()).then(() => mine);
  inProcess.set(path, chained);
  const giveUp = () => {
    release();
    if (inProcess.get(path) === chained) inProcess.delete(path);
  };
  try {
    await abortable(prev ?? Promise.resolve(), signal);
    const dir = `${path}.lock`;
    for (;;) {
      try {
        await fsp.mkdir(dir);
        await fsp.writeFile(join(dir, 'owner'), `${process.pid} ${processStartTime(process.pid) ?? ''}`);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const owner = await fsp.readFile(join(dir, 'owner'), 'utf8').catch(() => '');
        const [pid, start] = owner.split(' ');
        if (owner !== '' && processStartTime(Number(pid)) !== start) {
          await fsp.rm(dir, { recursive: true, force: true }); // its holder died
          continue;
        }
        if (!wait) {
          giveUp();
          return undefined;
        }
        await abortable(sleep(100), signal);
      }
    }
  } catch (e) {
    giveUp();
    throw e;
  }
  return async () => {
    await fsp.rm(`${path}.lock`, { recursive: true, force: true });
    giveUp();
  };
}

function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new RunAbortedError({}));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new RunAbortedError({}));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

// ---------------------------------------------------------------- the mounts

async function makeOwnedDir(dir: string, uid: number, gid: number, mode: number): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  await fsp.chown(dir, uid, gid);
  await fsp.chmod(dir, mode);
}

async function cacheMount(m: Extract<RunMount, { type: 'cache' }>, ctx: MountContext, i: number): Promise<OciMount> {
  let dir = cacheMountDir(ctx.stateRoot, m.id);
  await fsp.mkdir(dirname(dir), { recursive: true });
  if (m.sharing !== 'shared') {
    const release = await lock(dir, m.sharing === 'locked', ctx.signal);
    if (release) ctx.cleanup.push(release);
    else dir = join(ctx.stepDir, `cache-private-${i}`); // busy: BuildKit gives a private copy a fresh dir
  }
  if (!existsSync(dir)) {
    const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
    await makeOwnedDir(tmp, m.uid ?? 0, m.gid ?? 0, m.mode ?? 0o755);
    await fsp.rename(tmp, dir).catch(() => fsp.rm(tmp, { recursive: true, force: true }));
  }
  return { destination: normalizeTarget(m.target), type: 'bind', source: dir, options: ['rbind', m.readonly ? 'ro' : 'rw'] };
}

async function bindMount(m: Extract<RunMount, { type: 'bind' }>, ctx: MountContext, i: number): Promise<OciMount> {
  let root: string;
  if ('hostDir' in m.from) {
    root = m.from.hostDir;
  } else {
    root = await ctx.snapshotter.view(m.from.layers, { dir: join(ctx.stepDir, `from-${i}`), hostMounts: ctx.hostMounts });
  }
  const r = resolveInRoot(root, m.source);
  if (!r.exists) {
    throw new RunRequestError(`bind mount source ${JSON.stringify(m.source)} not found`, { source: m.source, target: m.target });
  }
  const writable = m.readwrite === true;
  // Layer snapshots and flattened chains are shared: never bind them writable.
  const source = writable ? await ctx.snapshotter.writableView(r.host, { dir: join(ctx.stepDir, `bind-${i}`), hostMounts: ctx.hostMounts }) : r.host;
  return { destination: normalizeTarget(m.target), type: 'bind', source, options: ['rbind', writable ? 'rw' : 'ro'] };
}

async function secretsDir(ctx: MountContext, bytes: number): Promise<string> {
  const dir = join(ctx.stepDir, 'secrets');
  if (!existsSync(dir)) {
    await fsp.mkdir(dir, { mode: 0o700 });
    // secrets never touch a disk: a small tmpfs only root can enter
    await mountTmpfs(dir, `size=${Math.max(1 << 20, bytes * 2 + (64 << 10))},mode=0700,nosuid,nodev,noexec`);
    ctx.hostMounts.push(dir);
  }
  return dir;
}

async function secretMount(m: Extract<RunMount, { type: 'secret' }>, ctx: MountContext, i: number, total: number): Promise<OciMount> {
  const dir = await secretsDir(ctx, total);
  const file = join(dir, `secret-${i}`);
  await fsp.writeFile(file, m.data, { mode: 0o600 });
  await fsp.chown(file, m.uid ?? 0, m.gid ?? 0);
  await fsp.chmod(file, m.mode ?? 0o400);
  return { destination: normalizeTarget(m.target), type: 'bind', source: file, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] };
}

async function sshMount(m: Extract<RunMount, { type: 'ssh' }>, ctx: MountContext, i: number): Promise<OciMount> {
  const sock = join(ctx.stepDir, `ssh-${i}.sock`);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(m.socketPath);
    sockets.add(client).add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sock, () => resolve());
  });
  ctx.cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  await fsp.chown(sock, m.uid ?? 0, m.gid ?? 0);
  await fsp.chmod(sock, m.mode ?? 0o600);
  return { destination: normalizeTarget(m.target), type: 'bind', source: sock, options: ['rbind', 'rw'] };
}

export async function prepareMounts(mounts: readonly RunMount[], ctx: MountContext): Promise<OciMount[]> {
  const out: OciMount[] = [];
  const secretBytes = mounts.reduce((n, m) => n + (m.type === 'secret' ? m.data.length : 0), 0);
  let i = 0;
  for (const m of mounts) {
    i++;
    switch (m.type) {
      case 'cache':
        out.push(await cacheMount(m, ctx, i));
        break;
      case 'bind':
        out.push(await bindMount(m, ctx, i));
        break;
      case 'tmpfs': {
        const options = ['nosuid', 'nodev'];
        if (m.size !== undefined && m.size > 0) options.push(`size=${m.size}`);
        out.push({ destination: normalizeTarget(m.target), type: 'tmpfs', source: 'tmpfs', options });
        break;
      }
      case 'secret':
        out.push(await secretMount(m, ctx, i, secretBytes));
        break;
      case 'ssh':
        out.push(await sshMount(m, ctx, i));
        break;
    }
  }
  return out;
}
