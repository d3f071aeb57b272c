#!/usr/bin/env node
import { buildCommand } from './commands/build.js';
import { imagesCommand, inspectCommand, loadCommand, rmiCommand, saveCommand, tagCommand } from './commands/images.js';
import { registryCommands } from './commands/registry.js';
import { storeCommands } from './commands/store.js';
import { analyzeCommand } from './commands/analyze.js';
import { checkCommands } from './commands/check.js';
import { UsageError } from './args.js';
import { stdio, type Io } from './common.js';
import { formatError, exitCodeOf } from './errors.js';

type Command = (argv: string[], io: Io) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  build: { run: buildCommand, summary: 'Build an image from a Dockerfile' },
  images: { run: imagesCommand, summary: 'List images in the local store' },
  tag: { run: tagCommand, summary: 'Give an image another name' },
  rmi: { run: rmiCommand, summary: 'Remove image names from the store' },
  save: { run: saveCommand, summary: 'Write images to a docker-archive or OCI tar' },
  load: { run: loadCommand, summary: 'Read images from a docker-archive or OCI tar' },
  inspect: { run: inspectCommand, summary: 'Show an image\'s manifest and config' },
  analyze: { run: analyzeCommand, summary: 'Image-size analysis: where the bytes go, what is wasted' },
  ...registryCommands,
  ...checkCommands,
  ...storeCommands,
};

export function usage(): string {
  const rows = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(10)} ${c.summary}`);
  return `Usage: tsbuild COMMAND [OPTIONS]
       tsbuild [build options] CONTEXT     (same as tsbuild build)

A daemonless container image builder.

Commands:
${rows.join('\n')}

Run 'tsbuild COMMAND --help' for a command's options.
`;
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      io.out(usage());
      return first === undefined ? 2 : 0;
    }
    if (first === '--version' || first === 'version') {
      io.out('tsbuild 0.1.0\n');
      return 0;
    }
    const cmd = COMMANDS[first];
    // `tsbuild -t app .` builds, as the brief promises docker users.
    if (!cmd) {
      if (first.startsWith('-') || argv.length === 1) return await buildCommand(argv, io);
      throw new UsageError(`unknown command: ${first}\n\n${usage()}`);
    }
    return await cmd.run(rest, io);
  } catch (e) {
    io.err(formatError(e));
    return exitCodeOf(e);
  }
}

const isMain = process.argv[1] !== undefined && /cli[\\/]main\.(js|ts)$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
