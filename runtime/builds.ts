/**
 * Build records and stale cleanup. Every Runtime registers `builds/<buildId>.json` with its pid
 * and the process start time (pids get reused); anything in the state dir named after a build
 * whose process is gone (containers, step dirs and their mounts, temp dirs, cgroups, logs) is
 * left over from a crash or a SIGKILL and is removed by the next command that opens the store
 * (cli/common.ts openStore) or the next Runtime.create.
 */
import { promises as fsp, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownerAlive, ownerTag, processStartTime } from '../image/owner.js';
import { RunRequestError } from './errors.js';
import type { RuntimeName } from './oci.js';

export const BUILD_PREFIX = 'tsb-';

interface BuildRecord {
  pid: number;
  start: string;
  /** `--cgroup-parent`: where this build's cgroups are, for the reaper. */
  cgroupParent?: string;
}

/**
 * A `--cgroup-parent` as a clean relative cgroup path (`a/b`): no `..`, no empty or odd segments,
 * so a reaper's rmdir stays under the cgroup mounts.
 */
export function checkCgroupParent(parent: string): string {
  const segments = parent.split('/').filter((x) => x !== '');
  if (segments.length === 0 || segments.some((x) => x === '.' || x === '..' || !/^[A-Za-z0-9_.:@-]+$/.test(x))) {
    throw new RunRequestError(`invalid cgroup parent ${JSON.stringify(parent)}: a path of letters, digits and _.:@- segments`, { cgroupParent: parent });
  }
  return segments.join('/');
}

/** Written by rename: a half-written record would read as a dead build and get its state reaped. */
export async function writeBuildRecord(root: string, buildId: string, cgroupParent?: string): Promise<void> {
  await fsp.mkdir(join(root, 'builds'), { recursive: true });
  const rec: BuildRecord = { pid: process.pid, start: processStartTime(process.pid) ?? '', ...(cgroupParent ? { cgroupParent } : {}) };
  // the temp name says whose it is, so a reaper never takes a live writer's for a dead build's
  const tmp = join(root, 'builds', `.${buildId}.${ownerTag()}.tmp`);
  await fsp.writeFile(tmp, JSON.stringify(rec));
  await fsp.rename(tmp, join(root, 'builds', `${buildId}.json`));
}

export async function removeBuildRecord(root: string, buildId: string): Promise<void> {
  await fsp.rm(join(root, 'builds', `${buildId}.json`), { force: true });
  // a record's temp file: left by a build killed while writing it
  for (const f of listDir(join(root, 'builds'))) {
    if (f.startsWith(`.${buildId}.`) && f.endsWith('.tmp')) await fsp.rm(join(root, 'builds', f), { force: true });
  }
}

/** The cgroup parent a build's record names (undefined: none, or no readable record). */
function recordedCgroupParent(root: string, buildId: string): string | undefined {
  try {
    const parent = (JSON.parse(readFileSync(join(root, 'builds', `${buildId}.json`), 'utf8')) as BuildRecord).cgroupParent;
    return parent !== undefined ? checkCgroupParent(parent) : undefined;
  } catch {
    return undefined;
  }
}

export function isBuildAlive(root: string, buildId: string): boolean {
  try {
    const rec = JSON.parse(readFileSync(join(root, 'builds', `${buildId}.json`), 'utf8')) as BuildRecord;
    return processStartTime(rec.pid) === rec.start;
  } catch {
    return false;
  }
}

/** `tsb-abc-12` (a container or step) → `tsb-abc` (its build); undefined for foreign names. */
export function buildOf(name: string): string | undefined {
  if (!name.startsWith(BUILD_PREFIX)) return undefined;
  const m = /^(tsb-[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*?)-(?:\d+|[0-9a-f]{12})$/.exec(name);
  return m?.[1];
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

const RUNTIME_NAMES: readonly RuntimeName[] = ['runc', 'crun'];

/**
 * Build ids with something left in this state dir whose process is gone. Costs one readdir per
 * subdirectory (~0.1 ms in all when nothing is left), so every command that opens the store can
 * afford it; cgroups are only looked at for builds found here.
 */
export function deadBuilds(root: string, self?: string, options: { logs: boolean } = { logs: true }): Set<string> {
  const dead = new Set<string>();
  const consider = (buildId: string | undefined): void => {
    if (buildId === undefined || buildId === self || dead.has(buildId)) return;
    if (!isBuildAlive(root, buildId)) dead.add(buildId);
  };
  for (const f of listDir(join(root, 'builds'))) {
    const writing = /^\.(tsb-.+)\.(\d+-\d+)\.tmp$/.exec(f);
    if (writing) {
      if (!ownerAlive(writing[2]!) && writing[1] !== self) dead.add(writing[1]!);
    } else if (f.endsWith('.json')) consider(f.slice(0, -'.json'.length));
  }
  if (options.logs) for (const b of listDir(join(root, 'logs'))) if (b.startsWith(BUILD_PREFIX)) consider(b);
  for (const sub of ['steps', 'tmp', ...RUNTIME_NAMES]) for (const name of listDir(join(root, sub))) consider(buildOf(name));
  return dead;
}

/**
 * Removes what dead builds left in state dir `root`: containers (killed and deleted), step and
 * temp dirs (unmounted first), cgroups in every hierarchy, logs and build records. Never touches
 * a live build's state (its record names a running process), nor `self`'s. With `logs: false`
 * (commands other than a build) step logs stay: an error message may have just named one.
 */
export async function cleanupStale(root: string, self?: string, options: { logs: boolean } = { logs: true }): Promise<number> {
  const dead = deadBuilds(root, self, options);
  if (dead.size === 0) return 0;
  // loaded only now: every command checks, hardly any finds something to remove
  const [{ which }, { unmountAllUnder }, { isHybridCgroups, OciRuntime, removeBuildCgroups }] = await Promise.all([
    import('./exec.js'),
    import('./mounts.js'),
    import('./oci.js'),
  ]);
  const isDead = (name: string): boolean => {
    const b = buildOf(name);
    return b !== undefined && dead.has(b);
  };
  for (const name of RUNTIME_NAMES) {
    const stateDir = join(root, name);
    const ids = listDir(stateDir).filter(isDead);
    if (ids.length === 0) continue;
    const bin = await which(name);
    if (!bin) continue;
    const rt = new OciRuntime(name, bin, stateDir, name === 'crun' && isHybridCgroups());
    for (const id of ids) {
      await rt.kill(id, 'KILL');
      await rt.delete(id);
    }
  }
  for (const sub of ['steps', 'tmp']) {
    for (const name of listDir(join(root, sub))) {
      if (!isDead(name)) continue;
      const dir = join(root, sub, name);
      await unmountAllUnder(dir);
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }
  // only cgroups of builds this state dir knows to be dead: another state dir's live build
  // may be between two steps with an empty parent
  for (const b of dead) removeBuildCgroups(b, recordedCgroupParent(root, b));
  for (const b of dead) {
    if (options.logs) await fsp.rm(join(root, 'logs', b), { recursive: true, force: true });
    await removeBuildRecord(root, b);
  }
  return dead.size;
}
