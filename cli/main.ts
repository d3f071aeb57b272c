#!/usr/bin/env node
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { didYouMean } from '../parser/suggest.js';
import { UsageError } from './args.js';
import { stdio, type Io } from './common.js';
import { formatError, exitCodeOf } from './errors.js';

type Command = (argv: string[], io: Io) => Promise<number>;

/** Each command's module loads only when it runs: `tsbuild --version` should not load undici. */
const COMMANDS: Record<string, { load: () => Promise<Command>; summary: string }> = {
  build: { load: async () => (await import('./commands/build.js')).buildCommand, summary: 'Build an image from a Dockerfile' },
  bake: { load: async () => (await import('./commands/bake.js')).bakeCommand, summary: 'Build every image of a compose.yaml or docker-bake.json project' },
  images: { load: async () => (await import('./commands/image-list.js')).imagesCommand, summary: 'List images in the local store' },
  tag: { load: async () => (await import('./commands/images.js')).tagCommand, summary: 'Give an image another name' },
  rmi: { load: async () => (await import('./commands/images.js')).rmiCommand, summary: 'Remove image names from the store' },
  save: { load: async () => (await import('./commands/images.js')).saveCommand, summary: 'Write images to a docker-archive or OCI tar' },
  load: { load: async () => (await import('./commands/images.js')).loadCommand, summary: 'Read images from a docker-archive or OCI tar' },
  inspect: { load: async () => (await import('./commands/inspect.js')).inspectCommand, summary: 'Show images as docker image inspect does (--format, --manifest)' },
  analyze: { load: async () => (await import('./commands/analyze.js')).analyzeCommand, summary: 'Image-size analysis: where the bytes go, what is wasted' },
  pull: { load: async () => (await import('./commands/registry.js')).registryCommands.pull.run, summary: 'Pull an image from a registry into the store' },
  push: { load: async () => (await import('./commands/registry.js')).registryCommands.push.run, summary: 'Push an image to a registry' },
  login: { load: async () => (await import('./commands/registry.js')).registryCommands.login.run, summary: 'Log in to a registry' },
  logout: { load: async () => (await import('./commands/registry.js')).registryCommands.logout.run, summary: 'Log out from a registry' },
  lint: { load: async () => (await import('./commands/check.js')).checkCommands.lint.run, summary: "Check a Dockerfile: BuildKit's build checks and hadolint's rules" },
  context: { load: async () => (await import('./commands/check.js')).checkCommands.context.run, summary: 'Show the build context after .dockerignore (--explain PATH)' },
  du: { load: async () => (await import('./commands/store.js')).storeCommands.du.run, summary: 'Show what uses space in the store' },
  prune: { load: async () => (await import('./commands/store.js')).storeCommands.prune.run, summary: 'Remove build cache and unreferenced blobs from the store' },
  binfmt: { load: async () => (await import('./commands/binfmt.js')).binfmtCommands.binfmt.run, summary: 'Show / register (root) the qemu emulators RUN uses for foreign platforms' },
  'check-store': { load: async () => (await import('./commands/store.js')).storeCommands['check-store'].run, summary: 'Verify every blob and what names blobs (--repair)' },
};

/** Commands that touch neither the store nor containers: no user namespace for a non-root user. */
const NO_NAMESPACE = new Set(['lint', 'context', 'login', 'logout']);

export function usage(): string {
  const rows = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(12)} ${c.summary}`);
  return `Usage: tsbuild COMMAND [OPTIONS]
       tsbuild [build options] CONTEXT     (same as tsbuild build)

A daemonless container image builder.

Commands:
${rows.join('\n')}

Run 'tsbuild COMMAND --help' (or 'tsbuild help COMMAND') for a command's options.
Exit status: 0 ok, 1 failed, 2 usage error (a bad flag, argument or Dockerfile), 3 a report gate failed.
`;
}

export async function main(argv: string[], io: Io = stdio): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === 'help' && rest[0] !== undefined) {
      const topic = COMMANDS[rest[0]];
      if (!topic) throw new UsageError(`unknown command "${rest[0]}"${didYouMean(rest[0], Object.keys(COMMANDS))}\nRun 'tsbuild --help' for the list of commands.`);
      return await (await topic.load())(['--help'], io);
    }
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      io.out(usage());
      return first === undefined ? 2 : 0;
    }
    if (first === '--version' || first === 'version') {
      io.out('tsbuild 0.1.0\n');
      return 0;
    }
    // rootless: everything but these runs again as root of a user namespace (runtime/rootless.ts)
    if (!NO_NAMESPACE.has(first) && !rest.includes('--help') && !rest.includes('-h')) {
      const { needsUserNamespace, runInUserNamespace } = await import('../runtime/rootless.js');
      if (needsUserNamespace()) return await runInUserNamespace(argv);
    }
    const cmd = COMMANDS[first];
    // `tsbuild -t app .` builds, as the brief promises docker users.
    if (!cmd) {
      // A word that is no path but close to a command name is a typo, not a build context.
      const hint = didYouMean(first, Object.keys(COMMANDS));
      const typo = hint !== '' && !existsSync(first);
      if (first.startsWith('-') || (argv.length === 1 && !typo)) return await (await COMMANDS.build!.load())(argv, io);
      throw new UsageError(`unknown command "${first}"${hint}\nRun 'tsbuild --help' for the list of commands.`);
    }
    return await (await cmd.load())(rest, io);
  } catch (e) {
    io.err(formatError(e));
    return exitCodeOf(e);
  }
}

/**
 * Run when executed (directly, through an npm bin symlink, as a bundle, or as the compiled
 * dist/tsbuild), not when imported by tests. Bun (and newer Node) say so in import.meta.main;
 * they must be believed: inside a compiled executable argv[1] and import.meta.url name a virtual
 * /$bunfs path that realpath cannot resolve, and a false here would exit 0 having done nothing.
 */
function isMain(): boolean {
  const declared = (import.meta as ImportMeta & { main?: boolean }).main;
  if (typeof declared === 'boolean') return declared;
  const arg = process.argv[1];
  if (arg === undefined) return false;
  try {
    return realpathSync(arg) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
/**
 * Runs a command as the process: its exit code becomes the process's. A
 * command whose promise never settles while nothing else is pending (e.g. a
 * step waiting for a result no one will produce) would let node exit 0 with
 * no result: 'beforeExit' turns that into an internal error, exit 1.
 */
export function runAsProcess(run: Promise<number>): void {
  let settled = false;
  const drained = (): void => {
    if (settled) return;
    settled = true;
    process.stderr.write('internal error: tsbuild stopped with its command unfinished (nothing left to wait for); no result was produced\n');
    process.exitCode = 1;
  };
  process.on('beforeExit', drained);
  run.then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (e: unknown) => {
      settled = true;
      process.stderr.write(`internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
if (isMain()) runAsProcess(main(process.argv.slice(2)));
