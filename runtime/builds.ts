/**
 * Build records and stale cleanup. Every Runtime registers `builds/<buildId>.json` with its pid
 * and the process start time (pids get reused); anything in the state dir named after a build
 * whose process is gone (containers, step dirs and their mounts, temp dirs, cgroups, logs) is
 * left over from a crash or a SIGKILL and is removed by the next Runtime.create.
 */
import { existsSync, promises as fsp, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { unmountAllUnder, readMountInfo } from './mounts.js';
import type { OciRuntime } from './oci.js';

export const BUILD_PREFIX = 'tsb-';

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // field 22, counted after the parenthesised command name (which may hold spaces)
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

interface BuildRecord {
  pid: number;
  start: string;
}

export async function writeBuildRecord(root: string, buildId: string): Promise<void> {
  await fsp.mkdir(join(root, 'builds'), { recursive: true });
  const rec: BuildRecord = { pid: process.pid, start: processStartTime(process.pid) ?? '' };
  await fsp.writeFile(join(root, 'builds', `${buildId}.json`), JSON.stringify(rec));
}

export async function removeBuildRecord(root: string, buildId: string): Promise<void> {
  await fsp.rm(join(root, 'builds', `${buildId}.json`), { force: true });
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

/** cgroup hierarchies mounted on this host (v1 controllers and the v2 tree). */
export function cgroupMounts(): string[] {
  return [...new Set(readMountInfo().filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2').map((m) => m.mountPoint))];
}

/** rmdir a build's cgroup parent in every hierarchy (children first); busy ones are left. */
export function removeBuildCgroups(buildId: string): void {
  for (const mp of cgroupMounts()) {
    const dir = join(mp, buildId);
    if (!existsSync(dir)) continue;
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) {
          try {
            rmdirSync(join(dir, e.name));
          } catch {
            /* still has processes */
          }
        }
      }
      rmdirSync(dir);
    } catch {
      /* busy or already gone */
    }
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export async function cleanupStale(root: string, runtimes: OciRuntime[], self: string): Promise<void> {
  const dead = (buildId: string | undefined): buildId is string =>
    buildId !== undefined && buildId !== self && !isBuildAlive(root, buildId);

  for (const rt of runtimes) {
    // the runtime keeps one directory per container in its state dir: reading it saves a
    // `list` process per runtime, and only a dead build's container needs the runtime itself
    for (const id of listDir(rt.stateDir)) {
      if (!dead(buildOf(id))) continue;
      await rt.kill(id, 'KILL');
      await rt.delete(id);
    }
  }
  for (const sub of ['steps', 'tmp']) {
    for (const name of listDir(join(root, sub))) {
      if (!dead(buildOf(name))) continue;
      const dir = join(root, sub, name);
      await unmountAllUnder(dir);
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }
  const deadBuilds = new Set<string>();
  for (const f of listDir(join(root, 'builds'))) {
    const b = f.replace(/\.json$/, '');
    if (dead(b)) deadBuilds.add(b);
  }
  for (const b of listDir(join(root, 'logs'))) if (dead(b)) deadBuilds.add(b);
  for (const mp of cgroupMounts()) {
    for (const b of listDir(mp)) {
      // only cgroups of builds this state dir knows to be dead: another state dir's live build
      // may be between two steps with an empty parent
      if (b.startsWith(BUILD_PREFIX) && deadBuilds.has(b)) removeBuildCgroups(b);
    }
  }
  for (const b of deadBuilds) {
    await fsp.rm(join(root, 'logs', b), { recursive: true, force: true });
    await removeBuildRecord(root, b);
  }
}
