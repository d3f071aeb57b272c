import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_CONTEXT_LIMITS, type ContextLimits } from './context-source.js';
import { DEFAULT_TIMEOUTS } from '../registry/timeouts.js';
import { availableParallelism } from 'node:os';
import type { ContentStore } from '../cache/store.js';
import type { Digest } from '../image/digest.js';
import type { ImageConfigFile } from '../image/types.js';
import type { Dockerfile } from '../parser/instructions.js';
import type { RegistryClient } from '../registry/client.js';
import type { NetworkTimeouts } from '../registry/http.js';
import { Solver, systemClock, type Clock, type Slots, type StepRuntime } from './solve.js';
import { attachSource } from '../parser/index.js';
import { buildStage } from './dispatch.js';
import { fetchNamedContexts, loadSecrets, prepare, readSource, resolveSsh, sshAgent, targetPlatforms, type DockerfileSource } from './prepare.js';
import { lintWithBuildFacts } from './build-lint.js';
import type { EventSink } from './events.js';
import { runExporter, type OutputSpec } from './exporters/index.js';
import { finalizeImage } from './finalize.js';
import { LayerViews } from './layers.js';
import { addDependency, planBuild, resolveSource, type BuildPlan } from './plan.js';
import { takePulledLayer } from './pulled-layer.js';
import { BuildCache } from '../cache/build-cache.js';
import { ContextHasher } from '../cache/context-hash.js';
import { inlineCacheRecords, INLINE_CACHE_KEY } from '../cache/remote-cache.js';
import { exportCaches, importCaches, type CacheIo } from './cache-io.js';
import { RuntimeState } from '../runtime/state.js';
import { releaseHeldSteps, type StepCache, type StepFlights } from './step-cache.js';
import type { BuildSession } from './session.js';
import type { StageState } from './stage-state.js';
import { IMAGES_NS } from './store-meta.js';
import type { ExtraHost, SecurityOptions, Ulimit } from '../runtime/types.js';

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
  /** Seconds since the epoch (SOURCE_DATE_EPOCH): fixes every timestamp, so rebuilds give the same digest. */
  sourceDateEpoch?: number;
  runtime?: { runtime?: 'auto' | 'runc' | 'crun'; snapshotter?: 'auto' | 'overlay' | 'copy' };
  /** Shared with the other builds of this process (bake): each step key runs once. */
  stepFlights?: StepFlights;
  /** The runtime RUN steps use instead of runtime/'s (tests: a fake that counts executions). */
  runtimeFactory?: () => Promise<StepRuntime>;
  registry?: RegistryClient;
  /** Time for step durations and `created` without SOURCE_DATE_EPOCH (tests: a fixed clock). */
  clock?: Clock;
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
  /** Manifest digest (what registries and `docker pull name@…` use). */
  digest: Digest;
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
export async function build(o: BuildOptions): Promise<BuildResult> {
  // where a tar, download or git context is unpacked (under the store: a killed build's is swept);
  // made only by such a context
  const contextScratch = o.store.tempDirName();
  // registry/ (and undici) load only for an http context
  let registry: Promise<RegistryClient> | undefined;
  const contextRegistry = (): Promise<RegistryClient> =>
    (registry ??= o.registry ? Promise.resolve(o.registry) : import('../registry/client.js').then((m) => new m.RegistryClient({ ...(o.networkTimeouts ? { timeouts: o.networkTimeouts } : {}) })));
  try {
    const source = await readSource(o, contextScratch, contextRegistry);
    if (source.description) o.onEvent?.({ type: 'message', level: 'info', text: source.description });
    o = { ...o, fetchedNamedContexts: await fetchNamedContexts(o, contextScratch, contextRegistry) };
    if (registry && !o.registry) await (await registry).close();
    if (!o.perPlatform && targetPlatforms(o.platform).length > 1) {
      // builder/platforms.ts runs this function once per platform and writes the image index
      const { buildPlatforms } = await import('./platforms.js');
      return await buildPlatforms(o, source, targetPlatforms(o.platform)).catch((e: unknown) => {
        throw attachSource(e, source.fileLabel, source.text);
      });
    }
    // Errors carry the text they point into, for the printer's excerpt (never re-read by label).
    return await buildSource(o, source).catch((e: unknown) => {
      throw attachSource(e, source.fileLabel, source.text);
    });
  } finally {
    if (registry && !o.registry) await (await registry.catch(() => undefined))?.close().catch(() => {});
    await rm(contextScratch, { recursive: true, force: true });
  }
}

export async function buildSource(o: BuildOptions, source: DockerfileSource): Promise<BuildResult> {
  const emit: EventSink = o.onEvent ?? (() => {});
  const { contextDir, df, platform, buildPlatform, buildArgs, globalArgs, ignore, namedContexts } = await prepare(o, source, emit);
  let registry: RegistryClient | undefined = o.registry;
  // registry/ (and undici) load only when a build talks to a registry.
  let registryP: Promise<RegistryClient> | undefined;
  const getRegistry = (): Promise<RegistryClient> =>
    (registryP ??= registry ? Promise.resolve(registry) : import('../registry/client.js').then((m) => (registry = new m.RegistryClient({ insecureRegistries: o.insecureRegistries, ...(o.networkTimeouts ? { timeouts: o.networkTimeouts } : {}) }))));
  const clock = o.clock ?? systemClock;
  const warnings: string[] = [];
  const plan = planBuild(df, globalArgs, { target: o.target, namedContexts: new Set(namedContexts.keys()) });

  // under the store, named after this process: a killed build's scratch is removed by the next command
  const tmp = o.store.tempDirName();
  const views = new LayerViews(o.store, tmp);
  let runtime: Promise<StepRuntime> | undefined;
  const runtimeState = RuntimeState.ofStore(o.store.root);
  // runtime/ loads only when a RUN step actually runs (a cached rebuild never needs it).
  const getRuntime = (): Promise<StepRuntime> =>
    (runtime ??= o.runtimeFactory
      ? o.runtimeFactory()
      : import('../runtime/index.js').then((m) => m.Runtime.create({ root: runtimeState.root, ...(o.runtime ?? {}), ...(o.run?.cgroupParent ? { cgroupParent: o.run.cgroupParent } : {}) })));
  const buildCache = new BuildCache(o.store);
  const hashers = new Map<string, Promise<ContextHasher>>();
  const noCacheStages = new Set((o.noCacheFilter ?? []).map((n) => n.toLowerCase()));
  const stepCache: StepCache = {
    cache: buildCache,
    hasher: (dir) => {
      let h = hashers.get(dir);
      if (!h) hashers.set(dir, (h = ContextHasher.open(o.store, dir)));
      return h;
    },
    misses: [],
    keys: new Map(),
    disabled: (label) => o.noCache === true || noCacheStages.has(label.toLowerCase()),
    ...(o.stepFlights || o.perPlatform ? { flights: o.perPlatform?.flights ?? o.stepFlights } : {}),
  };
  const stats = { executed: 0, cached: 0 };
  const userEmit = emit;
  const countingEmit: EventSink = (e) => {
    if (e.type === 'step' && e.status === 'cached') stats.cached++;
    if (e.type === 'step' && e.status === 'done' && /^(RUN|COPY|ADD)\b/i.test(e.name.replace(/^ONBUILD /, ''))) stats.executed++;
    userEmit(e);
  };
  const cacheIo: CacheIo = { store: o.store, buildCache, runtimeState, registry: getRegistry, emit };
  if (!o.perPlatform) await importCaches(o.cacheFrom ?? [], cacheIo);
  // Pulled base layers go straight into runtime snapshots only when some RUN will use them.
  const hasRun = df.stages.some((st) => st.instructions.some((ins) => ins.kind === 'run'));
  const stop = new AbortController();
  if (o.signal?.aborted) stop.abort(o.signal.reason);
  else o.signal?.addEventListener('abort', () => stop.abort(o.signal?.reason), { once: true });
  let step = 0;
  const timeouts = { ...DEFAULT_TIMEOUTS, ...o.networkTimeouts };
  const sshAuthSock = sshAgent(o);
  const session: BuildSession = {
    git: { deadlineMs: timeouts.deadlineMs, idleMs: timeouts.bodyIdleMs, ...DEFAULT_CONTEXT_LIMITS, ...o.contextLimits, ...(sshAuthSock ? { sshAuthSock } : {}) },
    store: o.store,
    df,
    emit: countingEmit,
    views,
    stepCache,
    resolver: {
      store: o.store,
      platform,
      registry: getRegistry,
      pull: o.pull ?? false,
      memo: new Map(),
      tee: (compressed) => takePulledLayer(compressed, { store: o.store, ...(hasRun ? { runtime: getRuntime } : {}) }),
    },
    registry: getRegistry,
    runtime: getRuntime,
    clock,
    context: { dir: contextDir, excludes: ignore.patterns, isContext: true },
    namedContexts,
    globalArgs,
    buildArgs,
    usedBuildArgs: new Set(),
    cacheMountIds: new Set(),
    runFollows: (label, index) => {
      const st = df.stages.find((x, i) => (x.name ?? String(i)) === label);
      return st !== undefined && st.instructions.slice(index + 1).some((ins) => ins.kind === 'run');
    },
    platform,
    buildPlatform,
    epoch: o.sourceDateEpoch,
    secrets: await loadSecrets(o.secrets ?? []),
    ssh: resolveSsh(o.ssh ?? {}),
    network: o.network ?? 'default',
    allow: new Set([...(o.allow ?? []), ...(o.network === 'host' ? ['network.host'] : [])]),
    run: o.run ?? {},
    stageResult: (i) => stageResult(i),
    sourceFor: (reader, name, site) => {
      const readerIndex = df.stages.findIndex((st, i) => (st.name ?? String(i)) === reader);
      const src = resolveSource(df, name, { namedContexts: new Set(namedContexts.keys()), reader: readerIndex, isFrom: false }, site.loc);
      if (src.kind === 'stage' && readerIndex >= 0) addDependency(plan, df, readerIndex, src.index, site);
      return src;
    },
    stepTimeoutMs: o.stepTimeoutMs,
    signal: stop.signal,
    nextStep: () => ++step,
    totalSteps: plan.order.reduce((n, i) => n + 1 + (plan.stages[i]?.stage.instructions.length ?? 0), 0),
  };
  const solver = new Solver<StageState>({
    plan,
    stop,
    parallelism: availableParallelism(),
    ...(o.perPlatform ? { slots: o.perPlatform.slots } : {}),
    // each stage waits for the stages it reads through its own waiter (which frees its slot)
    buildStage: (planned, _index, waitFor) => buildStage({ ...session, stageResult: waitFor }, planned.stage, planned.base),
  });
  const stageResult = (i: number): Promise<StageState> => solver.stageResult(i);

  try {
    const final = await solver.solve();
    for (const w of await lintWithBuildFacts(source.text, source.fileLabel, session.resolver.memo ?? new Map(), ignore.patterns, platform)) {
      emit({ type: 'message', level: 'warn', text: `${w.rule}: ${w.message}`, loc: { file: w.loc.file, line: w.loc.line } });
    }
    for (const k of buildArgs.keys()) {
      if (!session.usedBuildArgs.has(k) && !globalArgs.has(k) && !isPredefined(k)) {
        const w = `[Warning] One or more build-args [${k}] were not consumed`;
        warnings.push(w);
        emit({ type: 'message', level: 'warn', text: w });
      }
    }
    const inline = (o.cacheTo ?? []).some((c) => c.type === 'inline')
      ? { [INLINE_CACHE_KEY]: await inlineCacheRecords(buildCache, stageLineageKeys(plan, final.label, stepCache.keys, df), final.layers.map((l) => l.desc)) }
      : {};
    const img = await finalizeImage(o.store, final, { labels: o.labels ?? {}, epoch: o.sourceDateEpoch, clock, extraConfig: inline });
    // What report/ needs to attribute layers: kept beside the image, not inside it.
    await o.store.writeMetaIfChanged(IMAGES_NS, img.manifest.digest, {
      baseLayerCount: final.baseLayerCount,
      sourceMap: final.historySources ?? [],
    } satisfies BuildRecord);
    const tags = o.perPlatform ? [] : (o.tags ?? []);
    // each platform's image stays in the store; platforms.ts exports the index
    const outputs: OutputSpec[] = o.perPlatform ? [] : o.outputs && o.outputs.length > 0 ? [...o.outputs] : [{ type: 'image', names: tags, push: false }];
    // min: the target stage's steps (and the stages it starts FROM); max: every stage's.
    const cacheKeys = { min: stageLineageKeys(plan, final.label, stepCache.keys, df), max: [...stepCache.keys.values()].flat(), cacheMountIds: session.cacheMountIds };
    if (!o.perPlatform) await exportCaches(o.cacheTo ?? [], cacheIo, { keys: (mode) => cacheKeys[mode], cacheMountIds: session.cacheMountIds });
    const pushed: BuildResult['pushed'] = [];
    for (const out of outputs) {
      const spec = 'names' in out && out.names.length === 0 ? { ...out, names: tags } : out;
      const r = await runExporter(spec, {
        store: o.store,
        views,
        layers: final.layers,
        manifest: img.manifest,
        registry: getRegistry,
        baseName: final.baseName,
      });
      pushed.push(...r.pushed);
    }
    return {
      digest: img.manifest.digest,
      imageId: img.config.digest,
      manifestSize: img.manifest.size,
      config: img.configFile,
      tags,
      pushed,
      warnings,
      baseLayerCount: final.baseLayerCount,
      sourceMap: final.historySources ?? [],
      cacheMisses: stepCache.misses,
      stats,
      cacheKeys,
    };
  } finally {
    await solver.settled();
    releaseHeldSteps(stepCache);
    // Remember content hashes of real directories only (not unpacked stages in tmp).
    // (the store's scratch root holds both this build's tmp and an unpacked tar or git context)
    for (const [dir, h] of hashers) if (!dir.startsWith(dirname(tmp) + '/')) await (await h.catch(() => undefined))?.save().catch(() => {});
    if (runtime) await (await runtime.catch(() => undefined))?.close();
    if (registry && !o.registry) await registry.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Keys of the target stage and of every stage it builds FROM (not COPY --from): mode=min. */
function stageLineageKeys(plan: BuildPlan, finalLabel: string, keys: Map<string, Digest[]>, df: Dockerfile): Digest[] {
  const out: Digest[] = [...(keys.get(finalLabel) ?? [])];
  let base = plan.stages[plan.target]?.base;
  while (base?.kind === 'stage') {
    const st = df.stages[base.index];
    out.push(...(keys.get(st?.name ?? String(base.index)) ?? []));
    base = plan.stages[base.index]?.base;
  }
  return out;
}

function isPredefined(k: string): boolean {
  return /^(HTTPS?_PROXY|FTP_PROXY|NO_PROXY|ALL_PROXY)$/i.test(k) || k.startsWith('BUILDKIT_');
}
