/**
 * `du`: every byte under the store root, by what it is. The walk counts what `du -sb` counts
 * (every entry's apparent size, directories included, a hard-linked file once), so the total is
 * the store's `du -sb`. Blobs are split by what keeps them: an image name, only the build cache,
 * or nothing (prune removes those).
 */
import { lstat, readdir } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { isDigest, type Digest } from '../image/digest.js';
import { markReachable } from './gc.js';
import type { ContentStore } from './store.js';

export type UsageKind = 'images' | 'build-cache' | 'unreferenced' | 'snapshots' | 'cache-mounts' | 'runtime' | 'metadata' | 'temp' | 'other';

export interface UsageRow {
  kind: UsageKind;
  /** Blobs, snapshots, cache mounts, records or scratch entries (undefined: not countable things). */
  count: number | undefined;
  bytes: number;
  /** What `prune --all` would free of it. */
  reclaimable: number;
}

export interface StoreUsage {
  rows: UsageRow[];
  /** Sum of the rows: the store's `du -sb`. */
  total: number;
}

export interface UsageAreas {
  /** Build-cache roots (cache/build-cache.ts roots()). */
  cacheRoots: Digest[];
  /** The runtime's state dir and its parts (runtime/state.ts diskAreas()). */
  runtimeRoot: string;
  snapshots: string[];
  cacheMounts: string[];
  runtimeTemp: string[];
}

export const USAGE_KINDS: readonly UsageKind[] = ['images', 'build-cache', 'unreferenced', 'snapshots', 'cache-mounts', 'runtime', 'metadata', 'temp', 'other'];

export async function storeUsage(store: ContentStore, areas: UsageAreas): Promise<StoreUsage> {
  const named = await markReachable(store, []);
  const live = await markReachable(store, areas.cacheRoots);
  const own = store.diskAreas();
  // [dir, kind, whether its top-level entries are the things counted]; the first snapshot and cache-mount dirs hold them, the rest are links
  const prefixes: Array<[string, UsageKind, boolean]> = [
    ...areas.snapshots.map((p, i): [string, UsageKind, boolean] => [p, 'snapshots', i === 0]),
    ...areas.cacheMounts.map((p, i): [string, UsageKind, boolean] => [p, 'cache-mounts', i === 0]),
    ...[...areas.runtimeTemp, ...own.temp].map((p): [string, UsageKind, boolean] => [p, 'temp', true]),
    [own.meta, 'metadata', false],
    [areas.runtimeRoot, 'runtime', false],
  ];
  const rows = new Map<UsageKind, UsageRow>(USAGE_KINDS.map((kind) => [kind, { kind, count: countable(kind) ? 0 : undefined, bytes: 0, reclaimable: 0 }]));
  const seen = new Set<string>();
  const add = (kind: UsageKind, bytes: number, counts: boolean): void => {
    const row = rows.get(kind)!;
    row.bytes += bytes;
    if (counts && row.count !== undefined) row.count++;
    if (kind === 'build-cache' || kind === 'unreferenced' || kind === 'temp') row.reclaimable += bytes;
  };
  const kindOf = (path: string, isDir: boolean): { kind: UsageKind; counts: boolean } => {
    if (dirname(path) === own.blobs && !isDir) {
      const d = `sha256:${basename(path)}`;
      if (!isDigest(d)) return { kind: 'unreferenced', counts: true };
      return { kind: named.has(d as Digest) ? 'images' : live.has(d as Digest) ? 'build-cache' : 'unreferenced', counts: true };
    }
    for (const [prefix, kind, topLevel] of prefixes) {
      if (path === prefix) return { kind, counts: false };
      // snapshots, cache mounts and scratch entries count at their top level; records count as files
      if (path.startsWith(prefix + sep)) return { kind, counts: kind === 'metadata' ? !isDir : topLevel && dirname(path) === prefix };
    }
    return { kind: 'other', counts: false };
  };
  const stack = [store.root];
  while (stack.length > 0) {
    const path = stack.pop()!;
    const st = await lstat(path).catch(() => undefined);
    if (!st) continue; // removed while we walked
    if (st.nlink > 1 && !st.isDirectory()) {
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) continue;
      seen.add(id);
    }
    const { kind, counts } = kindOf(path, st.isDirectory());
    add(kind, st.size, counts);
    if (st.isDirectory()) for (const name of await readdir(path).catch(() => [] as string[])) stack.push(join(path, name));
  }
  const out = [...rows.values()];
  return { rows: out, total: out.reduce((n, r) => n + r.bytes, 0) };
}

function countable(kind: UsageKind): boolean {
  return kind !== 'runtime' && kind !== 'other';
}
