import { checkStore } from '../../cache/check.js';
import { DEFAULT_GC_GRACE_MS, diskUsage, gc } from '../../cache/gc.js';
import { pruneContextTables } from '../../cache/context-hash.js';
import { pruneBuilderMeta } from '../../builder/store-meta.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { BuildCache } from '../../cache/build-cache.js';
import type { ContentStore } from '../../cache/store.js';
import type { Digest } from '../../image/digest.js';
import { isIndexMediaType } from '../../image/mediatypes.js';
import type { Descriptor, ImageConfigFile, Index, Manifest } from '../../image/types.js';
import { pruneSnapshots } from '../../runtime/snapshot-gc.js';
import { join } from 'node:path';
import { parseSize } from '../../report/units.js';
import { HELP_FLAG, humanSize, openExistingStore, ROOT_FLAG, type Io } from '../common.js';

async function duCommand(argv: string[], io: Io): Promise<number> {
  const flags = [ROOT_FLAG, HELP_FLAG];
  const p = parseArgs(argv, flags);
  if (bool(p, 'help')) return io.out(helpText('tsbuild du [OPTIONS]', 'Show what uses space in the store (JSON: blobs, bytes, reclaimable).', flags)), 0;
  const store = await openExistingStore(p);
  const cache = new BuildCache(store);
  const u = await diskUsage(store, { extraRoots: await cache.roots() });
  io.out(`${JSON.stringify(u, null, 2)}\n`);
  return 0;
}

async function pruneCommand(argv: string[], io: Io): Promise<number> {
  const flags: FlagSpec[] = [
    { name: 'all', short: 'a', type: 'bool', description: 'also remove the whole build cache' },
    { name: 'keep-storage', type: 'string', valueName: 'SIZE', description: 'keep the most recently used build cache up to SIZE' },
    { name: 'filter', type: 'list', valueName: 'until=DURATION', description: 'remove build cache unused for DURATION (e.g. until=24h)' },
    { name: 'dry-run', type: 'bool', description: 'only say what would be removed' },
    ROOT_FLAG,
    HELP_FLAG,
  ];
  const p = parseArgs(argv, flags);
  if (bool(p, 'help')) return io.out(helpText('tsbuild prune [OPTIONS]', 'Remove blobs no image name references.', flags)), 0;
  const store = await openExistingStore(p);
  const cache = new BuildCache(store);
  const dry = bool(p, 'dry-run');
  const keep = str(p, 'keep-storage');
  const until = list(p, 'filter').map((f) => /^until=(\d+)(s|m|h|d)?$/.exec(f)).map((m, i) => {
    if (!m) throw new UsageError(`invalid --filter ${list(p, 'filter')[i]} (until=DURATION, e.g. until=24h)`);
    return Number(m[1]) * ({ s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd']);
  })[0];
  let removedRecords = 0;
  if (!dry && (bool(p, 'all') || keep !== undefined || until !== undefined)) {
    const r = await cache.prune({ ...(bool(p, 'all') ? { keepBytes: 0 } : {}), ...(keep !== undefined ? { keepBytes: parseSize(keep) } : {}), ...(until !== undefined ? { olderThanMs: until } : {}) });
    removedRecords = r.removed;
  }
  // Tagged images and what the build cache still names are roots; --all drops the grace period too.
  const r = await gc(store, { dryRun: dry, extraRoots: await cache.roots(), ...(bool(p, 'all') ? { minAgeMs: 0 } : {}) });
  if (removedRecords) io.out(`Removed ${removedRecords} build cache records\n`);
  // Unpacked layer snapshots of RUN steps: keep those of tagged images and cache records.
  const needed = await neededDiffIDs(store, cache);
  const snaps = await pruneSnapshots(join(store.root, 'runtime'), needed, { dryRun: dry });
  // Records that describe blobs and directories that are gone (layer indexes, image facts,
  // remembered context hashes).
  const metaOpts = { dryRun: dry, minAgeMs: bool(p, 'all') ? 0 : DEFAULT_GC_GRACE_MS };
  const meta = await pruneBuilderMeta(store, needed, metaOpts);
  const tables = await pruneContextTables(store, metaOpts);
  if (meta.removed + tables.removed) io.out(`${dry ? 'Would remove' : 'Removed'} ${meta.removed + tables.removed} metadata records\n`);
  r.bytes += meta.bytes + tables.bytes;
  if (snaps.skipped) io.out(`Snapshots kept: ${snaps.skipped}\n`);
  else if (snaps.removed) io.out(`${dry ? 'Would remove' : 'Removed'} ${snaps.removed} layer snapshots\n`);
  io.out(`${bool(p, 'dry-run') ? 'Would reclaim' : 'Total reclaimed space'}: ${humanSize(r.bytes)} (${r.removed} blobs)\n`);
  return 0;
}

/** diffIDs of every tagged image (indexes followed) and of every cached step's layer. */
async function neededDiffIDs(store: ContentStore, cache: BuildCache): Promise<Set<Digest>> {
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

async function checkStoreCommand(argv: string[], io: Io): Promise<number> {
  const flags: FlagSpec[] = [
    { name: 'repair', type: 'bool', description: 'remove corrupt blobs, and image names and cache records that name missing blobs' },
    ROOT_FLAG,
    HELP_FLAG,
  ];
  const p = parseArgs(argv, flags);
  if (bool(p, 'help')) {
    return io.out(helpText('tsbuild check-store [--repair]', 'Re-hash every blob and check what names blobs; exit 1 when something is wrong (without --repair).', flags)), 0;
  }
  const store = await openExistingStore(p);
  const r = await checkStore(store, { repair: bool(p, 'repair') });
  for (const x of r.problems) io.out(`${x.kind} ${x.subject}: ${x.problem}${x.repaired ? ' (removed)' : ''}\n`);
  io.out(`checked ${r.blobs} blobs (${humanSize(r.bytes)}) and ${r.refs} image names: `);
  if (r.problems.length === 0) return io.out('store OK\n'), 0;
  if (bool(p, 'repair')) return io.out(`repaired ${r.problems.length} problems\n`), 0;
  io.out(`${r.problems.length} problems (run with --repair to remove what is broken)\n`);
  return 1;
}

export const storeCommands = {
  'check-store': { run: checkStoreCommand, summary: 'Re-hash every blob and find records naming missing blobs (--repair)' },
  du: { run: duCommand, summary: 'Show what uses space in the store' },
  prune: { run: pruneCommand, summary: 'Remove unreferenced blobs from the store' },
};
