import pLimit from 'p-limit';
import { build, type BuildOptions, type BuildResult } from '../../builder/build.js';
import { BuildError } from '../../builder/errors.js';
import { StepFlights } from '../../builder/step-cache.js';
import type { ContentStore } from '../../cache/store.js';
import { createProgress, type ProgressMode, type ProgressWriter } from '../progress.js';
import { buildOutputs, parseCacheSpec, parseSecret, parseSsh } from '../specs.js';
import type { BakeTarget } from './config.js';
import { dockerfilePath } from './resolve.js';

export interface BakeRunOptions {
  store: ContentStore;
  targets: readonly BakeTarget[];
  push: boolean;
  progress: ProgressMode;
  /** Where progress goes (stderr); each line names its target. */
  write: (text: string) => void;
  /** How many targets build at once (each also runs its independent stages in parallel). */
  parallelism: number;
  /** Settings of `tsbuild build` that apply to every target. */
  common: Pick<BuildOptions, 'insecureRegistries' | 'networkTimeouts' | 'runtime' | 'sourceDateEpoch' | 'allow' | 'stepTimeoutMs'>;
  signal: AbortSignal;
}

export type TargetOutcome =
  | { name: string; status: 'built'; result: BuildResult }
  | { name: string; status: 'failed'; error: unknown }
  | { name: string; status: 'cancelled' };

/**
 * Builds the targets in one process, on one store: at most `parallelism` at once, with one
 * StepFlights so a step that several targets share (same key: same Dockerfile up to it, same
 * inputs, args and platform) runs once. The first failure cancels the targets still building; the
 * outcome of each is returned once all have ended.
 */
export async function runTargets(options: BakeRunOptions): Promise<TargetOutcome[]> {
  const flights = new StepFlights();
  const stop = new AbortController();
  const forward = (): void => stop.abort(options.signal.reason);
  if (options.signal.aborted) forward();
  else options.signal.addEventListener('abort', forward, { once: true });
  const limit = pLimit(Math.max(1, options.parallelism));
  const width = Math.max(...options.targets.map((t) => t.name.length));
  try {
    return await Promise.all(
      options.targets.map((target) =>
        limit(async (): Promise<TargetOutcome> => {
          if (stop.signal.aborted) return { name: target.name, status: 'cancelled' };
          const progress = targetProgress(options.progress, target.name, width, options.write);
          try {
            const result = await build({ ...buildOptionsOf(target, options.push), ...options.common, store: options.store, stepFlights: flights, onEvent: (event) => progress.onEvent(event), signal: stop.signal });
            return { name: target.name, status: 'built', result };
          } catch (error) {
            // Once one target failed (or the user interrupted), what the others report is the cancel.
            if (stop.signal.aborted) return { name: target.name, status: 'cancelled' };
            stop.abort(new BuildError('TSB_BUILD_ABORTED', `cancelled: target "${target.name}" failed`));
            return { name: target.name, status: 'failed', error };
          } finally {
            progress.close();
          }
        }),
      ),
    );
  } finally {
    options.signal.removeEventListener('abort', forward);
  }
}

/** A target as the options `tsbuild build` would pass for the same flags. */
export function buildOptionsOf(target: BakeTarget, push: boolean): Omit<BuildOptions, 'store'> {
  return {
    contextDir: target.context,
    ...(target.dockerfileInline !== undefined ? { dockerfileText: target.dockerfileInline } : { dockerfile: dockerfilePath(target) }),
    buildArgs: target.args,
    target: target.target,
    labels: target.labels,
    tags: target.tags,
    outputs: buildOutputs(target.outputs, push, target.tags),
    noCache: target.noCache ?? false,
    noCacheFilter: target.noCacheFilter,
    cacheFrom: target.cacheFrom.map((spec) => parseCacheSpec(spec, 'from')),
    cacheTo: target.cacheTo.map((spec) => parseCacheSpec(spec, 'to')),
    pull: target.pull ?? false,
    ...(target.platforms.length > 0 ? { platform: target.platforms.join(',') } : {}),
    namedContexts: target.contexts,
    secrets: target.secrets.map(parseSecret),
    ssh: parseSsh(target.ssh),
    ...(target.network !== undefined ? { network: target.network as BuildOptions['network'] } : {}),
  };
}

/** Plain progress with each line prefixed by the target (rawjson gets a `target` field); one display for all. */
function targetProgress(mode: ProgressMode, name: string, width: number, write: (text: string) => void): ProgressWriter {
  if (mode === 'quiet') return createProgress('quiet');
  if (mode === 'rawjson') {
    return createProgress('rawjson', { write: (line) => write(`${JSON.stringify({ target: name, ...(JSON.parse(line) as object) })}\n`) });
  }
  const prefix = `${name.padEnd(width)} | `;
  return createProgress('plain', {
    write: (text) => write(text.replace(/\n$/, '').split('\n').map((line) => `${prefix}${line}\n`).join('')),
    isTTY: false,
  });
}
