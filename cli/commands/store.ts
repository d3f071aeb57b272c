import { diskUsage, gc } from '../../cache/gc.js';
import { bool, helpText, parseArgs, type FlagSpec } from '../args.js';
import { HELP_FLAG, humanSize, openStore, ROOT_FLAG, type Io } from '../common.js';

async function duCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, [ROOT_FLAG, HELP_FLAG]);
  if (bool(p, 'help')) return io.out('Usage: tsbuild du\n\nShow what uses space in the store.\n'), 0;
  const store = await openStore(p);
  const u = await diskUsage(store);
  io.out(`${JSON.stringify(u, null, 2)}\n`);
  return 0;
}

async function pruneCommand(argv: string[], io: Io): Promise<number> {
  const flags: FlagSpec[] = [
    { name: 'dry-run', type: 'bool', description: 'only say what would be removed' },
    ROOT_FLAG,
    HELP_FLAG,
  ];
  const p = parseArgs(argv, flags);
  if (bool(p, 'help')) return io.out(helpText('tsbuild prune [OPTIONS]', 'Remove blobs no image name references.', flags)), 0;
  const store = await openStore(p);
  const r = await gc(store, { dryRun: bool(p, 'dry-run') });
  io.out(`${bool(p, 'dry-run') ? 'Would reclaim' : 'Total reclaimed space'}: ${humanSize(r.bytes)} (${r.removed} blobs)\n`);
  return 0;
}

export const storeCommands = {
  du: { run: duCommand, summary: 'Show what uses space in the store' },
  prune: { run: pruneCommand, summary: 'Remove unreferenced blobs from the store' },
};
