/** Host-side mounts: overlay snapshots, tmpfs for secrets, and finding/unmounting leftovers. */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeSetupError } from './errors.js';
import { exec, execOk } from './exec.js';
import { inUserNamespace } from './userns.js';

/** Kernel mount options are limited to one page; overlay fails beyond it. */
const MAX_MOUNT_DATA = 4000;

/**
 * Mounts an overlay at `target`. `lowers` are names relative to `cwd` (short symlinks, so many
 * layers fit in one page of mount options), top layer first. redirect_dir/metacopy/index are
 * forced off: with them on, renames and chmods leave xattr-only traces an upper-only diff misses.
 */
export async function mountOverlay(mountSpec: { cwd: string; lowers: string[]; upper: string; work: string; target: string }): Promise<void> {
  const lowers = withoutRepeatedLowers(mountSpec.lowers);
  for (const p of [mountSpec.upper, mountSpec.work, ...lowers]) {
    if (/[,:]/.test(p)) throw new RuntimeSetupError(`overlay path contains ',' or ':': ${p}`, { path: p });
  }
  // In a user namespace (rootless) overlay may only keep its markers in user.* xattrs, and the
  // kernel refuses userxattr with redirect_dir=off ("conflicting options: userxattr,
  // redirect_dir=follow"); nofollow creates no redirects either.
  const data =
    `lowerdir=${lowers.join(':')},upperdir=${mountSpec.upper},workdir=${mountSpec.work}` +
    (inUserNamespace() ? ',redirect_dir=nofollow,metacopy=off,index=off,userxattr' : ',redirect_dir=off,metacopy=off,index=off');
  if (data.length > MAX_MOUNT_DATA) {
    throw new RuntimeSetupError(`too many layers for one overlay mount (${lowers.length}; options ${data.length} bytes)`, {
      layers: lowers.length,
    });
  }
  await execOk('mount', ['-t', 'overlay', 'overlay', '-o', data, mountSpec.target], { cwd: mountSpec.cwd });
}

/**
 * The lower stack (top first) with every repeat of a layer below its topmost use dropped. The
 * kernel refuses a lowerdir listed twice (ELOOP, "Too many levels of symbolic links"), which an
 * ordinary Dockerfile produces (`COPY a /x/`, `RUN rm -rf /x`, `COPY a /x/` gives one layer
 * twice). Dropping the lower copy changes nothing: every entry it has (files, directories,
 * whiteouts, opaque markers) is found first in the upper copy, which also hides what it hides.
 */
export function withoutRepeatedLowers(topFirst: readonly string[]): string[] {
  return [...new Set(topFirst)];
}

export async function mountTmpfs(target: string, options: string): Promise<void> {
  await execOk('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', target]);
}

/** Unmounts, retrying while busy (a dead container's mount namespace is freed lazily), then lazily. */
export async function unmount(target: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const r = await exec('umount', [target]);
    if (r.code === 0 || /not mounted|no mount point|not found/i.test(r.stderr)) return;
    await sleep(20 * (i + 1));
  }
  await exec('umount', ['-l', target]);
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

export interface MountInfo {
  mountPoint: string;
  fsType: string;
  source: string;
}

export function readMountInfo(text = readFileSync('/proc/self/mountinfo', 'utf8')): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [pre, post = ''] = line.split(' - ');
    const f = pre!.split(' ');
    const g = post.split(' ');
    out.push({ mountPoint: unescapeMountPath(f[4] ?? ''), fsType: g[0] ?? '', source: unescapeMountPath(g[1] ?? '') });
  }
  return out;
}

/** Mount points at or under `dir`, deepest first (the order they must be unmounted in). */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  const found = new Set<string>();
  for (const m of readMountInfo()) if (m.mountPoint === dir || m.mountPoint.startsWith(prefix)) found.add(m.mountPoint);
  return [...found].sort((a, b) => b.length - a.length);
}

export async function unmountAllUnder(dir: string): Promise<void> {
  // A path can be mounted several times over; loop until nothing is left (bounded).
  for (let round = 0; round < 4; round++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) await unmount(p);
  }
}
