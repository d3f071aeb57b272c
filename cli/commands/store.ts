import { checkStore } from '../../cache/check.js';
import { diskUsage } from '../../cache/gc.js';
import { pruneStore } from '../../cache/prune.js';
import { builderPruneDependents } from '../../builder/store-meta.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { BuildCache } from '../../cache/build-cache.js';
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
  const r = await pruneStore(store, cache, { all: bool(p, 'all'), dryRun: dry, ...(keep !== undefined ? { keepBytes: parseSize(keep) } : {}), ...(until !== undefined ? { olderThanMs: until } : {}) }, builderPruneDependents(store));
  if (r.records) io.out(`Removed ${r.records} build cache records\n`);
  for (const d of r.dependents) {
    if (d.skipped) io.out(`${d.what[0]!.toUpperCase()}${d.what.slice(1)} kept: ${d.skipped}\n`);
    else if (d.removed) io.out(`${dry ? 'Would remove' : 'Removed'} ${d.removed} ${d.what}\n`);
  }
  io.out(`${dry ? 'Would reclaim' : 'Total reclaimed space'}: ${humanSize(r.bytes)} (${r.blobs} blobs)\n`);
  return 0;
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
