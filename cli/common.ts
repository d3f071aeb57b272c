import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ContentStore, defaultRoot } from '../cache/store.js';
import { TsbuildError } from '../image/errors.js';
// static: a few readdirs' worth of code (the parts that act load only when something is dead)
import { RuntimeState } from '../runtime/state.js';
import type { FlagSpec, Parsed } from './args.js';
import { str } from './args.js';

export const ROOT_FLAG: FlagSpec = { name: 'root', type: 'string', valueName: 'DIR', description: 'store directory (default $TSBUILD_ROOT or ~/.local/share/tsbuild)' };
export const HELP_FLAG: FlagSpec = { name: 'help', short: 'h', type: 'bool', description: 'show this help' };

/**
 * Opens the store and first removes what killed builds left behind (containers, mounts, cgroups,
 * temp dirs): every command does, so a leftover never waits for the next RUN that misses the
 * cache. With nothing left this costs a few readdirs.
 * Creates the store when missing: for build, load and pull, which put things in it.
 */
export async function openStore(p: Parsed): Promise<ContentStore> {
  const store = await ContentStore.open(str(p, 'root') ?? defaultRoot());
  await reapDeadBuilds(store);
  return store;
}

/** Best effort: a store whose leftovers cannot be removed (not root, a busy mount) is still usable. */
async function reapDeadBuilds(store: ContentStore): Promise<void> {
  try {
    await RuntimeState.ofStore(store.root).cleanupStale({ logs: false });
  } catch {
    /* the next command tries again */
  }
}

/** The store for commands that only look at (or take from) it: a wrong --root is an error, not a new empty store. */
export async function openExistingStore(p: Parsed): Promise<ContentStore> {
  const root = resolve(str(p, 'root') ?? defaultRoot());
  if (!existsSync(join(root, 'version'))) {
    throw new TsbuildError('TSB_NO_STORE', `no tsbuild store at ${root} (a build, load or pull creates one; check --root and $TSBUILD_ROOT)`);
  }
  return openStore(p);
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const stdio: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

export function humanSize(n: number): string {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < u.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)}${u[i]}`;
}
