/**
 * `--isolation chroot`: RUN without containers, for where none can be made — root inside an
 * unprivileged container (Docker's default capabilities and seccomp profile, no user namespaces:
 * the Kubernetes pod of most CI systems). Measured in such a container (docker run, defaults):
 * mount(2) of any kind, unshare(2) of every namespace and pivot_root fail with EPERM, mknod of
 * the whiteout device 0:0 fails, chroot(2), chown and mknod of /dev/null (1:3) work. So, as
 * kaniko does, the step runs on the container's own kernel objects: a copy of the rootfs
 * (copy snapshotter), chroot into it, the image's user, no new namespaces.
 *
 * What is NOT isolated: the step shares the container's processes, network, IPC and hostname,
 * keeps the container's capabilities (root in a chroot can leave it), has no seccomp profile of
 * its own, no /proc, /sys or /dev/pts, and may outlive the step only by leaving its process
 * group (setsid). The container is the only boundary; run untrusted Dockerfiles elsewhere.
 *
 * Like BuildKit's bind mounts, /etc/hosts, /etc/resolv.conf and /dev never reach a layer: the
 * files and device nodes are placed before the step and taken out of its diff.
 */
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, promises as fsp, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import type { TarSource } from '../image/tar/writer.js';
import { hostPathBeneath, resolveInRoot } from '../image/safe-path.js';
import { whiteoutOf } from '../image/whiteout.js';
import { RunRequestError } from './errors.js';
import { execOk } from './exec.js';
import type { StepOutput } from './output.js';
import type { RunRequest } from './types.js';
import type { ResolvedUser } from './users.js';

/** The device nodes Docker's device cgroup lets a container create (and every step expects). */
export const CHROOT_DEVICES: ReadonlyArray<readonly [name: string, major: number, minor: number]> = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

const FILE_FIXTURES = ['etc/hosts', 'etc/resolv.conf'] as const;

/** What RUN asks for that chroot isolation cannot give, as the error that says so. */
export function chrootRefusal(req: Pick<RunRequest, 'network' | 'mounts'>): string | undefined {
  if (req.network === 'none') {
    return '--network=none needs a network namespace, which --isolation chroot cannot create: RUN shares the network of the container tsbuild runs in';
  }
  if (req.mounts.length > 0) {
    return `RUN --mount=type=${req.mounts[0]!.type} needs mount(2), which --isolation chroot does not have`;
  }
  return undefined;
}

/** Layer entries minus what the step's environment put there: /dev, /etc/hosts, /etc/resolv.conf. */
export async function* withoutChrootFixtures(entries: AsyncIterable<TarSource>): AsyncGenerator<TarSource> {
  const fixture = (p: string): boolean => p === 'dev' || p.startsWith('dev/') || (FILE_FIXTURES as readonly string[]).includes(p);
  for await (const e of entries) {
    const p = e.header.path.replace(/\/$/, '');
    const hidden = whiteoutOf(p);
    if (!fixture(hidden?.kind === 'whiteout' ? hidden.path : p)) yield e;
  }
}

interface Placed {
  rel: string;
  saved?: string;
}

/**
 * Puts the step's /etc/hosts, /etc/resolv.conf and /dev nodes into `rootfs` (moving what was
 * there aside into `saveDir`); `remove()` takes them out again and puts back the originals and
 * the parents' mtimes. Paths are reached only through real directories (hostPathBeneath), never
 * through a symlink the image or the step planted.
 */
export async function placeChrootFixtures(
  rootfs: string,
  files: { hosts: string; resolvConf: string },
  saveDir: string,
): Promise<{ remove: () => Promise<void> }> {
  await fsp.mkdir(saveDir, { recursive: true });
  const placed: Placed[] = [];
  const createdDirs: string[] = [];
  const parentTimes = new Map<string, Stats>();
  const parentOf = async (rel: string): Promise<string | undefined> => {
    const dir = posix.dirname(rel); // 'etc' or 'dev': one level below the root
    let found = hostPathBeneath(rootfs, dir);
    if (!found) {
      if (lstatOrUndefined(join(rootfs, dir)) !== undefined) return undefined; // a symlink: leave it
      await fsp.mkdir(join(rootfs, dir), { mode: 0o755 });
      createdDirs.push(dir);
      found = hostPathBeneath(rootfs, dir);
    } else if (!parentTimes.has(dir)) {
      parentTimes.set(dir, found.stat);
    }
    return found?.stat.isDirectory() ? found.host : undefined;
  };
  const place = async (rel: string, make: (host: string) => Promise<void>): Promise<void> => {
    const parent = await parentOf(rel);
    if (!parent) return;
    const host = join(parent, posix.basename(rel));
    const entry: Placed = { rel };
    const existing = lstatOrUndefined(host);
    if (existing?.isDirectory()) return;
    if (existing) {
      entry.saved = join(saveDir, String(placed.length));
      await fsp.rename(host, entry.saved);
    }
    placed.push(entry);
    await make(host);
  };
  await place('etc/hosts', (h) => fsp.writeFile(h, files.hosts, { mode: 0o644 }));
  await place('etc/resolv.conf', (h) => fsp.writeFile(h, files.resolvConf, { mode: 0o644 }));
  for (const [name, major, minor] of CHROOT_DEVICES) {
    await place(`dev/${name}`, (h) => execOk('mknod', ['-m', '0666', h, 'c', String(major), String(minor)]).then(() => undefined));
  }
  let removed = false;
  return {
    remove: async () => {
      if (removed) return;
      removed = true;
      for (const p of placed.reverse()) {
        const found = hostPathBeneath(rootfs, p.rel);
        if (found && !found.stat.isDirectory()) await fsp.rm(found.host, { force: true });
        const parent = hostPathBeneath(rootfs, posix.dirname(p.rel));
        if (p.saved && parent?.stat.isDirectory() && !existsSync(join(parent.host, posix.basename(p.rel)))) {
          await fsp.rename(p.saved, join(parent.host, posix.basename(p.rel)));
        }
      }
      for (const dir of createdDirs.reverse()) {
        const found = hostPathBeneath(rootfs, dir);
        if (found?.stat.isDirectory()) await fsp.rmdir(found.host).catch(() => {});
      }
      for (const [dir, st] of parentTimes) {
        const found = hostPathBeneath(rootfs, dir);
        if (found?.stat.isDirectory()) await fsp.utimes(found.host, st.atime, st.mtime).catch(() => {});
      }
    },
  };
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/**
 * The chroot(1) command line: coreutils chroot switches to the image's user after chroot(2)
 * (setpriv would drop CAP_SYS_CHROOT first). chroot(1) starts in /, so another working
 * directory takes the image's /bin/sh to `cd` there.
 */
export function chrootArgv(rootfs: string, user: ResolvedUser, cwd: string, args: readonly string[]): string[] {
  const groups = user.additionalGids.length > 0 ? user.additionalGids : [user.gid];
  const head = ['chroot', `--userspec=${user.uid}:${user.gid}`, `--groups=${groups.join(',')}`, rootfs];
  if (cwd === '/') return [...head, ...args];
  return [...head, '/bin/sh', '-c', 'cd -- "$0" && exec "$@"', cwd, ...args];
}

/** A watchdog shell, its own process group's leader, kills the group when tsbuild dies (PDEATHSIG=TERM). */
const WATCHDOG = 'trap "kill -KILL 0" TERM; "$@" & pid=$!; wait $pid; rc=$?; while kill -0 $pid 2>/dev/null; do wait $pid; rc=$?; done; exit $rc';

export interface ChrootRun {
  rootfs: string;
  cwd: string;
  user: ResolvedUser;
  args: readonly string[];
  env: readonly string[];
  output: StepOutput;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with a function that kills the step's whole process group (close() uses it). */
  onKill: (kill: () => void) => void;
}

export async function runChrooted(run: ChrootRun): Promise<{ exitCode: number; timedOut: boolean }> {
  if (run.cwd !== '/' && !resolveInRoot(run.rootfs, '/bin/sh').exists) {
    throw new RunRequestError(`--isolation chroot: a RUN in ${run.cwd} needs /bin/sh in the image to change into it`, { cwd: run.cwd });
  }
  const env: Record<string, string> = {};
  for (const kv of run.env) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const argv = chrootArgv(run.rootfs, run.user, run.cwd, run.args);
  const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', 'setsid', 'sh', '-c', WATCHDOG, 'watchdog', ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const killGroup = (): void => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  };
  run.onKill(killGroup);
  run.output.attach('stdout', child.stdout);
  run.output.attach('stderr', child.stderr);
  let timedOut = false;
  const timer =
    run.timeoutMs !== undefined && run.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          run.output.note(`tsbuild: step timed out after ${run.timeoutMs} ms, killing it`);
          killGroup();
        }, run.timeoutMs)
      : undefined;
  run.signal?.addEventListener('abort', killGroup, { once: true });
  try {
    const exitCode = await new Promise<number>((resolve) => {
      child.on('error', (e) => {
        run.output.note(`chroot: ${e.message}`);
        resolve(127);
      });
      // background processes still hold the output pipes: they die with the step's group
      // (as with a container's pid namespace), then 'close' comes
      let status = 1;
      child.on('exit', (code, signal) => {
        status = code ?? (signal ? 137 : 1);
        killGroup();
      });
      child.on('close', () => resolve(status));
    });
    return { exitCode, timedOut };
  } finally {
    if (timer) clearTimeout(timer);
    run.signal?.removeEventListener('abort', killGroup);
    killGroup(); // what the step left running in the background ends with it, as in a container
  }
}
