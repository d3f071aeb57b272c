import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { digestHex, type Digest } from '../image/digest.js';
import { isBuildAlive } from './builds.js';

/**
 * Removes layer snapshots (and copy-snapshotter chains) no image or cache
 * record needs any more. Snapshots are only a speed-up, rebuilt from the layer
 * blob on demand, so anything not named in `keep` may go — but never while a
 * build on this state dir is alive (it may be mounting them right now).
 */
export async function pruneSnapshots(
  stateRoot: string,
  keep: Iterable<Digest>,
  options: { dryRun?: boolean } = {},
): Promise<{ removed: number; skipped?: string }> {
  if (!existsSync(stateRoot)) return { removed: 0 };
  const builds = await fsp.readdir(join(stateRoot, 'builds')).catch(() => [] as string[]);
  const alive = builds.map((f) => f.replace(/\.json$/, '')).filter((id) => isBuildAlive(stateRoot, id));
  if (alive.length > 0) return { removed: 0, skipped: `a build is running (${alive.join(', ')})` };
  const wanted = new Set([...keep].map((d) => digestHex(d)));
  let removed = 0;
  const snapDir = join(stateRoot, 'snapshots');
  for (const hex of await fsp.readdir(snapDir).catch(() => [] as string[])) {
    if (wanted.has(hex)) continue;
    removed++;
    if (!options.dryRun) await fsp.rm(join(snapDir, hex), { recursive: true, force: true });
  }
  if (!options.dryRun) {
    // short links whose snapshot is gone
    const links = join(stateRoot, 'l');
    for (const name of await fsp.readdir(links).catch(() => [] as string[])) {
      if (!existsSync(join(links, name))) await fsp.rm(join(links, name), { force: true });
    }
    // copy-snapshotter chains are keyed by chain, not layer: all of them are rebuildable caches
    const flat = join(stateRoot, 'flat');
    for (const name of await fsp.readdir(flat).catch(() => [] as string[])) {
      removed++;
      await fsp.rm(join(flat, name), { recursive: true, force: true });
    }
  }
  return { removed };
}
