import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { digestHex, type Digest } from '../image/digest.js';
import { isBuildAlive } from './builds.js';

/** `wanted` plus the layers their delta snapshots stack on (runtime/delta.ts), all the way down. */
async function withDeltaBases(stateRoot: string, wanted: Set<string>): Promise<Set<string>> {
  const out = new Set(wanted);
  for (const hex of wanted) {
    let at: string | undefined = hex;
    for (let i = 0; at !== undefined && i < 64; i++) {
      const base: string | undefined = await fsp.readFile(join(stateRoot, 'deltas', at, 'base'), 'utf8').catch(() => undefined);
      if (base === undefined || out.has(base)) break;
      out.add(base);
      at = base;
    }
  }
  return out;
}

/**
 * Removes layer snapshots (and copy-snapshotter chains) no image or cache
 * record needs any more, nor a kept delta snapshot stacks on. Snapshots are
 * only a speed-up, rebuilt from the layer blob on demand, so anything not named in `keep` may go — but never while a
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
  const wanted = await withDeltaBases(stateRoot, new Set([...keep].map((d) => digestHex(d))));
  let removed = 0;
  for (const kind of ['snapshots', 'deltas']) {
    const dir = join(stateRoot, kind);
    for (const hex of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (wanted.has(hex)) continue;
      removed++;
      if (!options.dryRun) await fsp.rm(join(dir, hex), { recursive: true, force: true });
    }
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
