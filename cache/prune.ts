/**
 * `tsbuild prune`'s policy, in one place: drop build-cache records (all, beyond a size, or
 * older than an age), collect unreachable blobs with tagged images and the remaining cache as
 * roots, then let the store's dependents (runtime snapshots, builder metadata) drop what
 * describes nothing that is left. cache/ knows the order and the roots; the dependents are
 * passed in, since they live above cache/.
 */
import type { Digest } from '../image/digest.js';
import { isIndexMediaType } from '../image/mediatypes.js';
import type { Descriptor, ImageConfigFile, Index, Manifest } from '../image/types.js';
import type { BuildCache } from './build-cache.js';
import { pruneContextTables } from './context-hash.js';
import { pruneCopyMemos } from './copy-memo.js';
import { DEFAULT_GC_GRACE_MS, gc } from './gc.js';
import type { ContentStore } from './store.js';

export interface PrunePolicy {
  /** Remove the whole build cache and skip the grace period for unreachable blobs. */
  all?: boolean;
  /** Keep the most recently used build cache up to this many bytes. */
  keepBytes?: number;
  /** Remove build cache unused for this long. */
  olderThanMs?: number;
  /** Only count what would go. */
  dryRun?: boolean;
}

/** Something kept beside the store that describes its blobs (snapshots, metadata records). */
export interface PruneDependent {
  /** What its items are called in a report line ("layer snapshots", "metadata records"). */
  what: string;
  /** `needed`: diffIDs of every tagged image and cached step layer; minAgeMs: the grace period. */
  prune(needed: ReadonlySet<Digest>, opts: { dryRun: boolean; minAgeMs: number }): Promise<{ removed: number; bytes?: number; skipped?: string }>;
}

export interface PruneReport {
  /** Build-cache records removed. */
  records: number;
  blobs: number;
  /** Bytes reclaimed (blobs and dependents' records). */
  bytes: number;
  dependents: Array<{ what: string; removed: number; skipped?: string }>;
}

export async function pruneStore(store: ContentStore, cache: BuildCache, policy: PrunePolicy, dependents: PruneDependent[]): Promise<PruneReport> {
  const dryRun = policy.dryRun === true;
  let records = 0;
  if (!dryRun && (policy.all || policy.keepBytes !== undefined || policy.olderThanMs !== undefined)) {
    const keepBytes = policy.keepBytes ?? (policy.all ? 0 : undefined);
    records = (await cache.prune({ ...(keepBytes !== undefined ? { keepBytes } : {}), ...(policy.olderThanMs !== undefined ? { olderThanMs: policy.olderThanMs } : {}) })).removed;
  }
  // Tagged images and what the build cache still names are roots; --all drops the grace period too.
  const minAgeMs = policy.all ? 0 : DEFAULT_GC_GRACE_MS;
  const swept = await gc(store, { dryRun, extraRoots: await cache.roots(), minAgeMs });
  const needed = await neededDiffIDs(store, cache);
  const report: PruneReport = { records, blobs: swept.removed, bytes: swept.bytes, dependents: [] };
  const contextTables: PruneDependent = { what: 'metadata records', prune: (_needed, opts) => pruneContextTables(store, opts) };
  const copyMemos: PruneDependent = { what: 'metadata records', prune: (_needed, opts) => pruneCopyMemos(store, opts) };
  for (const d of [...dependents, contextTables, copyMemos]) {
    const r = await d.prune(needed, { dryRun, minAgeMs });
    report.bytes += r.bytes ?? 0;
    const same = report.dependents.find((x) => x.what === d.what && !x.skipped && !r.skipped);
    if (same) same.removed += r.removed;
    else report.dependents.push({ what: d.what, removed: r.removed, ...(r.skipped ? { skipped: r.skipped } : {}) });
  }
  return report;
}

/** diffIDs of every tagged image (indexes followed) and of every cached step's layer: the GC roots of layer-keyed state. */
export async function neededDiffIDs(store: ContentStore, cache: BuildCache): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  const visit = async (desc: Descriptor): Promise<void> => {
    if (!(await store.has(desc.digest))) return;
    if (isIndexMediaType(desc.mediaType)) {
      for (const m of (await store.readJSON<Index>(desc.digest)).manifests) await visit(m);
      return;
    }
    const manifest = await store.readJSON<Manifest>(desc.digest);
    if (!(await store.has(manifest.config.digest))) return;
    const config = await store.readJSON<ImageConfigFile>(manifest.config.digest);
    for (const d of config.rootfs?.diff_ids ?? []) out.add(d);
  };
  for (const r of await store.listRefs()) await visit(r.desc);
  for await (const e of cache.entries()) if (e.rec.layer) out.add(e.rec.layer.diffID);
  return out;
}
