import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ContentStore, defaultRoot } from '../cache/store.js';
import { BuildError } from '../builder/errors.js';
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
export async function openStore(parsed: Parsed): Promise<ContentStore> {
  const store = await ContentStore.open(str(parsed, 'root') ?? defaultRoot());
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
export async function openExistingStore(parsed: Parsed): Promise<ContentStore> {
  const root = resolve(str(parsed, 'root') ?? defaultRoot());
  if (!existsSync(join(root, 'version'))) {
    throw new TsbuildError('TSB_CLI_NO_STORE', `no tsbuild store at ${root} (a build, load or pull creates one; check --root and $TSBUILD_ROOT)`);
  }
  return openStore(parsed);
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const stdio: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

/**
 * docker's size strings (go-units HumanSizeWithPrecision): decimal units, `precision` significant
 * digits in Go's %g (`images` SIZE uses 3: 320MB, 1.99MB; `du` and messages 4: 1.986MB).
 */
export function humanSize(bytes: number, precision = 4): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];
  let i = 0;
  let v = bytes;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${goFormatG(v, precision)}${units[i]}`;
}

/** Go's %.{precision}g: shortest of fixed and exponent form, trailing zeros dropped. */
function goFormatG(v: number, precision: number): string {
  if (v === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(Number(v.toPrecision(precision)))));
  if (exp < -4 || exp >= precision) {
    const [mant, e] = v.toExponential(precision - 1).split('e');
    const m = mant!.includes('.') ? mant!.replace(/\.?0+$/, '') : mant!;
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  }
  const fixed = v.toFixed(Math.max(0, precision - 1 - exp));
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

/**
 * Turns the first SIGINT or SIGTERM into an abort of the returned signal, with a BuildError that
 * names the signal as its reason (what a stopping step reports). The handlers are `once`: a
 * second signal kills. Call `release` when the command ends.
 */
export function abortOnSignals(what: string): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => controller.abort(new BuildError('TSB_BUILD_ABORTED', `${what} cancelled (${name})`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    release: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
