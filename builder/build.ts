import { rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ContentStore } from '../cache/store.js';
import type { Digest } from '../image/digest.js';
import type { ImageConfigFile } from '../image/types.js';
import { attachSource } from '../parser/index.js';
import type { RegistryClient } from '../registry/client.js';
import type { NetworkTimeouts } from '../registry/http.js';
import type { ExtraHost, SecurityOptions, Ulimit } from '../runtime/types.js';
import { importCaches } from './cache-io.js';
import type { ContextLimits } from './context-source.js';
import type { EventSink } from './events.js';
import { exportBuild } from './export.js';
import type { OutputSpec } from './exporters/index.js';
import { finalizeBuild, type FinalImage } from './finalize.js';
import { planBuild } from './plan.js';
import { fetchNamedContexts, prepare, readSource, targetPlatforms, type DockerfileSource } from './prepare.js';
import { BuildResources } from './resources.js';
import { solveBuild, type Solved } from './session.js';
import type { Clock, Slots, StepRuntime } from './solve.js';
import type { StepCache, StepFlights } from './step-cache.js';
import type { AnnotationSet, AttestOptions } from './attestations.js';
import { attachAttestations } from './attest-build.js';
import type { Descriptor } from '../image/types.js';

export interface SecretSpec {
  id: string;
  /** A file to read, or an environment variable to take the value from. */
  src?: string;
  env?: string;
}

/** `cacheMounts`: also carry RUN cache-mount contents, each up to `cacheMountsMax` bytes (default 512 MiB). */
export type CacheSpec = ({ type: 'registry'; ref: string } | { type: 'local'; dir: string } | { type: 'inline' }) & {
  mode?: 'min' | 'max';
  cacheMounts?: boolean;
  cacheMountsMax?: number;
};

/** Command-line settings every RUN step gets (`--add-host`, `--ulimit`, `--shm-size`, `--security-opt`, `--cgroup-parent`). */
export interface RunSettings {
  extraHosts?: ExtraHost[];
  ulimits?: Ulimit[];
  shmSize?: number;
  securityOptions?: SecurityOptions;
  cgroupParent?: string;
}

export interface BuildOptions {
  store: ContentStore;
  /** The CONTEXT argument: a directory, `-` (stdin), a tar file, an http(s) URL or a git URL (builder/context-source.ts). */
  contextDir: string;
  /** Set by build(): the `--build-context` URLs it fetched, by name (their directories). */
  fetchedNamedContexts?: Record<string, string>;
  /** What `-` reads (the CLI passes process.stdin). */
  stdin?: Readable;
  /** Size limits of a tar, download or git context. */
  contextLimits?: Partial<ContextLimits>;
  /** Path of the Dockerfile (default CONTEXT/Dockerfile; inside a tar or git context, relative to it); ignored when dockerfileText is given. */
  dockerfile?: string;
  dockerfileText?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  labels?: Record<string, string>;
  tags?: string[];
  outputs?: OutputSpec[];
  noCache?: boolean;
  /** Stages (by name) that must not use the cache. */
  noCacheFilter?: string[];
  /** `--cache-from` / `--cache-to`: a registry ref or a local OCI layout directory. */
  cacheFrom?: CacheSpec[];
  cacheTo?: CacheSpec[];
  pull?: boolean;
  platform?: string;
  /** `--build-context NAME=DIR|oci-layout://PATH[:TAG]|docker-image://REF`. */
  namedContexts?: Record<string, string>;
  secrets?: SecretSpec[];
  /** `--ssh id=socket`; `default` with no socket uses $SSH_AUTH_SOCK. */
  ssh?: Record<string, string>;
  network?: 'default' | 'none' | 'host';
  allow?: string[];
  run?: RunSettings;
  /** `--provenance` / `--sbom`: in-toto attestations attached as BuildKit attaches them (the result becomes an index). */
  attest?: AttestOptions;
  /** `--annotation` by target; index ones need an index (attestations), as in BuildKit. */
  annotations?: AnnotationSet;
  /** Seconds since the epoch (SOURCE_DATE_EPOCH): fixes every timestamp, so rebuilds give the same digest. */
  sourceDateEpoch?: number;
  runtime?: { runtime?: 'auto' | 'runc' | 'crun'; snapshotter?: 'auto' | 'overlay' | 'copy'; isolation?: 'container' | 'chroot' };
  /** Shared with the other builds of this process (bake): each step key runs once. */
  stepFlights?: StepFlights;
  /** The runtime RUN steps use instead of runtime/'s (tests: a fake that counts executions). */
  runtimeFactory?: () => Promise<StepRuntime>;
  registry?: RegistryClient;
  /** Time for step durations and `created` without SOURCE_DATE_EPOCH (tests: a fixed clock). */
  clock?: Clock;
  /**
   * How recent a context file's mtime/ctime may be for the copy memo to remember its COPY's key
   * (default RACY_MARGIN_MS; tests: 0, to see the memo used on files they just wrote).
   */
  racyMarginMs?: number;
  insecureRegistries?: string[];
  /** Network timeouts and the deadline of each pull, push and ADD <url> (registry/'s defaults otherwise). */
  networkTimeouts?: Partial<NetworkTimeouts>;
  stepTimeoutMs?: number;
  onEvent?: EventSink;
  signal?: AbortSignal;
  /** Set by builder/platforms.ts for each platform of a multi-platform build; not for callers. */
  perPlatform?: PerPlatformHooks;
}

/** What the platforms of one multi-platform build share, and what each leaves to the whole. */
export interface PerPlatformHooks {
  /** One limit over every platform's stages. */
  slots: Slots;
  /** Steps in flight across platforms (a step with the same key is built once). */
  flights: StepFlights;
}

/** Per-image facts of a build, in the store's `images` meta namespace. */
export interface BuildRecord {
  baseLayerCount: number;
  sourceMap: Array<{ file: string; line: number } | undefined>;
}

export interface BuildResult {
  /** Manifest digest of the image. */
  digest: Digest;
  /** The index the result is when attestations are attached (what is tagged and pushed). */
  index?: Descriptor;
  /** The attestation manifest of this image (`--provenance`/`--sbom`), for the index that holds it. */
  attestation?: Descriptor;
  /** Config digest: docker's image ID. */
  imageId: Digest;
  manifestSize: number;
  config: ImageConfigFile;
  tags: string[];
  pushed: Array<{ name: string; digest: Digest }>;
  warnings: string[];
  /** For reports: layers from the base image, and the Dockerfile line of each history entry. */
  baseLayerCount: number;
  sourceMap: BuildRecord['sourceMap'];
  /** Steps that missed the cache and why (for --explain-cache). */
  cacheMisses: StepCache['misses'];
  /** Steps that ran / were reused. */
  stats: { executed: number; cached: number };
  /** Step keys `--cache-to` exports (mode=min / mode=max) and the cache mounts RUN used. */
  cacheKeys: { min: Digest[]; max: Digest[]; cacheMountIds: ReadonlySet<string> };
  /** A multi-platform build: each platform's image, in --platform order (digest/imageId are the index's). */
  platforms?: Array<{ platform: string; digest: Digest; imageId: Digest; config: ImageConfigFile }>;
}

/** Builds a Dockerfile. The one public entry point of builder/. */
export async function build(options: BuildOptions): Promise<BuildResult> {
  // where a tar, download or git context is unpacked (under the store: a killed build's is swept);
  // made only by such a context
  const contextScratch = options.store.tempDirName();
  // registry/ (and undici) load only for an http context
  let registry: Promise<RegistryClient> | undefined;
  const contextRegistry = (): Promise<RegistryClient> =>
    (registry ??= options.registry ? Promise.resolve(options.registry) : import('../registry/client.js').then((m) => new m.RegistryClient({ ...(options.networkTimeouts ? { timeouts: options.networkTimeouts } : {}) })));
  try {
    const source = await readSource(options, contextScratch, contextRegistry);
    if (source.description) options.onEvent?.({ type: 'message', level: 'info', text: source.description });
    options = { ...options, fetchedNamedContexts: await fetchNamedContexts(options, contextScratch, contextRegistry) };
    if (registry && !options.registry) await (await registry).close();
    if (!options.perPlatform && targetPlatforms(options.platform).length > 1) {
      // builder/platforms.ts runs this function once per platform and writes the image index
      const { buildPlatforms } = await import('./platforms.js');
      return await buildPlatforms(options, source, targetPlatforms(options.platform)).catch((e: unknown) => {
        throw attachSource(e, source.fileLabel, source.text);
      });
    }
    // Errors carry the text they point into, for the printer's excerpt (never re-read by label).
    return await buildSource(options, source).catch((e: unknown) => {
      throw attachSource(e, source.fileLabel, source.text);
    });
  } finally {
    if (registry && !options.registry) await (await registry.catch(() => undefined))?.close().catch(() => {});
    await rm(contextScratch, { recursive: true, force: true });
  }
}

/**
 * One platform's build, phase by phase (README, Architecture). Under builder/platforms.ts
 * (`perPlatform`), cache import/export and the outputs are the whole build's, not this one's.
 */
export async function buildSource(options: BuildOptions, source: DockerfileSource): Promise<BuildResult> {
  const emit: EventSink = options.onEvent ?? (() => {});
  const startedOn = new Date();
  const prepared = await prepare(options, source, emit);
  const plan = planBuild(prepared.df, prepared.globalArgs, { target: options.target, namedContexts: new Set(prepared.namedContexts.keys()) });
  const res = BuildResources.open(options);
  try {
    if (!options.perPlatform) await importCaches(options.cacheFrom ?? [], res.cacheIo(emit));
    const solved = await solveBuild(options, source, prepared, plan, res, emit);
    const image = await finalizeBuild(options, solved, res, emit);
    const attached = await attachAttestations(options, solved, source, image, res.views, startedOn);
    const pushed = options.perPlatform ? [] : await exportBuild(options, solved, image, res, emit, attached.index);
    return { ...resultOf(options, solved, image, pushed, res.stepCache), ...attached };
  } finally {
    await res.close();
  }
}

function resultOf(o: BuildOptions, solved: Solved, image: FinalImage, pushed: BuildResult['pushed'], stepCache: StepCache): BuildResult {
  return {
    digest: image.manifest.digest,
    imageId: image.config.digest,
    manifestSize: image.manifest.size,
    config: image.configFile,
    tags: o.perPlatform ? [] : (o.tags ?? []),
    pushed,
    warnings: solved.warnings,
    baseLayerCount: solved.final.baseLayerCount,
    sourceMap: solved.final.historySources ?? [],
    cacheMisses: stepCache.misses,
    stats: solved.stats,
    cacheKeys: { min: solved.stepKeys('min'), max: solved.stepKeys('max'), cacheMountIds: solved.session.cacheMountIds },
  };
}
