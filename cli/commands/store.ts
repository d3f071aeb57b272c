import { diskUsage, gc } from '../../cache/gc.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { BuildCache } from '../../cache/build-cache.js';
import { parseSize } from '../../report/index.js';
import { HELP_FLAG, humanSize, openStore, ROOT_FLAG, type Io } from '../common.js';

async function duCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, [ROOT_FLAG, HELP_FLAG]);
  if (bool(p, 'help')) return io.out('Usage: tsbuild du\n\nShow what uses space in the store.\n'), 0;
  const store = await openStore(p);
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
  const store = await openStore(p);
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
  io.out(`${bool(p, 'dry-run') ? 'Would reclaim' : 'Total reclaimed space'}: ${humanSize(r.bytes)} (${r.removed} blobs)\n`);
  return 0;
}

export const storeCommands = {
  du: { run: duCommand, summary: 'Show what uses space in the store' },
  prune: { run: pruneCommand, summary: 'Remove unreferenced blobs from the store' },
};
