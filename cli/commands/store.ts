import { checkStore } from '../../cache/check.js';
import { storeUsage, type UsageKind } from '../../cache/disk-usage.js';
import { RuntimeState } from '../../runtime/state.js';
import { alignColumns } from '../template.js';
import { pruneStore } from '../../cache/prune.js';
import { builderPruneDependents } from '../../builder/store-meta.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { BuildCache } from '../../cache/build-cache.js';
import { parseSize } from '../../report/units.js';
import { HELP_FLAG, humanSize, openExistingStore, ROOT_FLAG, type Io } from '../common.js';

const DU_FLAGS: FlagSpec[] = [
  { name: 'format', type: 'string', valueName: 'FORMAT', description: "'table' or 'json' (bytes as numbers)", default: 'table' },
  ROOT_FLAG,
  HELP_FLAG,
];

const DU_LABELS: Record<UsageKind, string> = {
  images: 'Images',
  'build-cache': 'Build cache',
  unreferenced: 'Unreferenced blobs',
  snapshots: 'Layer snapshots',
  'cache-mounts': 'Cache mounts',
  runtime: 'Runtime state',
  metadata: 'Metadata',
  temp: 'Temp files',
  other: 'Other',
};

const DU_HELP = helpText(
  'tsbuild du [OPTIONS]',
  `Show everything the store holds on disk, by kind (the total is what du -sb of the store says):
  Images              blobs an image name reaches (count: blobs)
  Build cache         blobs only build-cache records keep (prune --all frees them)
  Unreferenced blobs  blobs nothing names (prune frees them)
  Layer snapshots     unpacked layers RUN steps used (count: snapshots)
  Cache mounts        RUN --mount=type=cache contents (count: mounts)
  Runtime state       container bundles, logs, build records
  Metadata            layer indexes, sizes, cache records, image facts (count: records)
  Temp files          scratch and partial downloads of running or killed commands
  Other               refs.json, locks, the store's directories`,
  DU_FLAGS,
);

async function duCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, DU_FLAGS);
  if (bool(p, 'help')) return io.out(DU_HELP), 0;
  const format = str(p, 'format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw new UsageError(`unknown --format ${format} (table or json)`);
  const store = await openExistingStore(p);
  const runtime = RuntimeState.ofStore(store.root);
  const areas = runtime.diskAreas();
  const usage = await storeUsage(store, { cacheRoots: await new BuildCache(store).roots(), runtimeRoot: runtime.root, snapshots: areas.snapshots, cacheMounts: areas.cacheMounts, runtimeTemp: areas.temp });
  if (format === 'json') {
    io.out(`${JSON.stringify({ root: store.root, types: usage.rows.map((r) => ({ type: r.kind, count: r.count ?? null, bytes: r.bytes, reclaimable: r.reclaimable })), total: usage.total }, null, 2)}\n`);
    return 0;
  }
  const pct = (part: number, whole: number): string => `${humanSize(part)} (${whole === 0 ? 0 : Math.round((part * 100) / whole)}%)`;
  const lines = ['TYPE\tTOTAL\tSIZE\tRECLAIMABLE'];
  for (const r of usage.rows) lines.push(`${DU_LABELS[r.kind]}\t${r.count ?? '-'}\t${humanSize(r.bytes)}\t${pct(r.reclaimable, r.bytes)}`);
  const reclaimable = usage.rows.reduce((n, r) => n + r.reclaimable, 0);
  lines.push(`Total\t\t${humanSize(usage.total)}\t${pct(reclaimable, usage.total)}`);
  io.out(alignColumns(`${lines.join('\n')}\n`));
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
