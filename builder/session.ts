/**
 * The build session (what one build's steps share: created here, passed down, never global) and
 * the solve phase that runs the planned stages with it.
 */
import { availableParallelism } from 'node:os';
import type { ContentStore } from '../cache/store.js';
import type { Digest } from '../image/digest.js';
import type { Dockerfile } from '../parser/instructions.js';
import type { Platform } from '../image/types.js';
import { Solver, systemClock, type SolveEnv } from './solve.js';
import type { BaseResolver } from './base.js';
import type { EventSink } from './events.js';
import type { LayerViews } from './layers.js';
import { addDependency, resolveSource, type BuildPlan, type ReadSite, type SourceRef } from './plan.js';
import type { CopyRoot } from './ops/copy.js';
import type { StageState } from './stage-state.js';
import type { BuildOptions, RunSettings } from './build.js';
import { keysForMode } from './cache-io.js';
import { buildStage } from './dispatch.js';
import { loadSecrets, resolveSsh, sshAgent, type DockerfileSource, type Prepared } from './prepare.js';
import { lintWithBuildFacts } from './build-lint.js';
import { takePulledLayer } from './pulled-layer.js';
import type { BuildResources } from './resources.js';
import type { StepCache } from './step-cache.js';
import { DEFAULT_CONTEXT_LIMITS, type GitSettings } from './context-source.js';
import { DEFAULT_TIMEOUTS } from '../registry/timeouts.js';

/** Everything one build's ops share; created by build(), passed down, never global. */
export interface BuildSession extends SolveEnv {
  store: ContentStore;
  df: Dockerfile;
  emit: EventSink;
  views: LayerViews;
  resolver: BaseResolver;
  context: CopyRoot;
  namedContexts: Map<string, NamedContext>;
  /** Global ARG values (after --build-arg), including the platform ARGs. */
  globalArgs: Map<string, string | undefined>;
  buildArgs: Map<string, string>;
  /** Build args that some ARG consumed (others produce a warning, as docker does). */
  usedBuildArgs: Set<string>;
  /** The build's target platform (TARGETPLATFORM); a stage's own is StageState.platform. */
  platform: Platform;
  /** The host's platform (BUILDPLATFORM): what RUN runs natively. */
  buildPlatform: Platform;
  /** Seconds; times written into images and synthesized layer entries. */
  epoch: number | undefined;
  secrets: Map<string, Buffer>;
  ssh: Map<string, string>;
  network: 'default' | 'none' | 'host';
  allow: Set<string>;
  /** Base images the build resolved (ref as expanded, manifest digest): provenance materials. */
  materials: Array<{ ref: string; digest: string }>;
  /** Limits and the ssh agent of `ADD <git url>` fetches. */
  git: GitSettings;
  /** What every RUN gets from the command line: hosts, limits, /dev/shm, confinement. */
  run: RunSettings;
  /** Another stage's result; within a stage, its solver waiter (the stage's slot is free while it waits). */
  stageResult: (index: number) => Promise<StageState>;
  /**
   * What a --from of stage `reader` (a label) names, resolved as the plan does;
   * a stage it names becomes a dependency, or an error when that closes a cycle.
   */
  sourceFor: (reader: string, name: string, site: ReadSite) => SourceRef;
  stepTimeoutMs?: number;
  /** Whether a RUN follows instruction `index` of the stage labelled `stage` (COPY then pre-builds its snapshot). */
  runFollows: (stage: string, index: number) => boolean;
  /** Ids of the cache mounts RUN steps used (for --cache-to ...,cache-mounts=true). */
  cacheMountIds: Set<string>;
  /** Undefined only when a caller builds without any cache at all. */
  stepCache?: StepCache;
  signal?: AbortSignal;
  /** Monotonic step counter for progress ids. */
  nextStep: () => number;
  totalSteps: number;
}

export type NamedContext =
  | { kind: 'dir'; root: CopyRoot }
  | { kind: 'image'; ref: string };

/** Steps that ran and steps the cache gave, counted from the progress events. */
export interface StepStats {
  executed: number;
  cached: number;
}

export interface Solved {
  final: StageState;
  session: BuildSession;
  stats: StepStats;
  /** Build args nothing consumed, as docker warns. */
  warnings: string[];
  /** The step keys a cache export of `mode` carries. */
  stepKeys: (mode: 'min' | 'max') => Digest[];
}

/** The solve phase: every planned stage through dispatch, independent ones in parallel; the target's state. */
export async function solveBuild(options: BuildOptions, source: DockerfileSource, prepared: Prepared, plan: BuildPlan, res: BuildResources, emit: EventSink): Promise<Solved> {
  const stats: StepStats = { executed: 0, cached: 0 };
  const stop = new AbortController();
  if (options.signal?.aborted) stop.abort(options.signal.reason);
  else options.signal?.addEventListener('abort', () => stop.abort(options.signal?.reason), { once: true });
  const session = await openSession(options, prepared, plan, res, {
    emit: countSteps(emit, stats),
    signal: stop.signal,
    stageResult: (i) => solver.stageResult(i),
  });
  const solver = new Solver<StageState>({
    plan,
    stop,
    parallelism: availableParallelism(),
    ...(options.perPlatform ? { slots: options.perPlatform.slots } : {}),
    // each stage waits for the stages it reads through its own waiter (which frees its slot)
    buildStage: (planned, _index, waitFor) => buildStage({ ...session, stageResult: waitFor }, planned.stage, planned.base),
  });
  try {
    const final = await solver.solve();
    // lint rules that need what the build learnt (base images' facts, the context's ignore file)
    for (const w of await lintWithBuildFacts(source.text, source.fileLabel, session.resolver.memo ?? new Map(), prepared.ignore.patterns, prepared.platform)) {
      emit({ type: 'message', level: 'warn', text: `${w.rule}: ${w.message}`, loc: { file: w.loc.file, line: w.loc.line } });
    }
    const stepKeys = (mode: 'min' | 'max'): Digest[] => keysForMode(mode, plan, prepared.df, final.label, res.stepCache.keys);
    return { final, session, stats, warnings: unusedBuildArgs(session, emit), stepKeys };
  } finally {
    await solver.settled();
  }
}

function unusedBuildArgs(s: BuildSession, emit: EventSink): string[] {
  const warnings: string[] = [];
  for (const k of s.buildArgs.keys()) {
    if (!s.usedBuildArgs.has(k) && !s.globalArgs.has(k) && !isPredefined(k)) {
      const w = `[Warning] One or more build-args [${k}] were not consumed`;
      warnings.push(w);
      emit({ type: 'message', level: 'warn', text: w });
    }
  }
  return warnings;
}

function isPredefined(k: string): boolean {
  return /^(HTTPS?_PROXY|FTP_PROXY|NO_PROXY|ALL_PROXY)$/i.test(k) || k.startsWith('BUILDKIT_');
}

function countSteps(emit: EventSink, stats: StepStats): EventSink {
  return (e) => {
    if (e.type === 'step' && e.status === 'cached') stats.cached++;
    if (e.type === 'step' && e.status === 'done' && /^(RUN|COPY|ADD)\b/i.test(e.name.replace(/^ONBUILD /, ''))) stats.executed++;
    emit(e);
  };
}

async function openSession(
  o: BuildOptions,
  prepared: Prepared,
  plan: BuildPlan,
  res: BuildResources,
  wiring: Pick<BuildSession, 'emit' | 'signal' | 'stageResult'>,
): Promise<BuildSession> {
  const { df, platform, buildPlatform, globalArgs, buildArgs, namedContexts } = prepared;
  // Pulled base layers go straight into runtime snapshots only when some RUN will use them.
  const hasRun = df.stages.some((st) => st.instructions.some((ins) => ins.kind === 'run'));
  let step = 0;
  const timeouts = { ...DEFAULT_TIMEOUTS, ...o.networkTimeouts };
  const sshAuthSock = sshAgent(o);
  return {
    ...wiring,
    git: { deadlineMs: timeouts.deadlineMs, idleMs: timeouts.bodyIdleMs, ...DEFAULT_CONTEXT_LIMITS, ...o.contextLimits, ...(sshAuthSock ? { sshAuthSock } : {}) },
    store: o.store,
    df,
    materials: [],
    views: res.views,
    stepCache: res.stepCache,
    resolver: {
      store: o.store,
      platform,
      registry: res.registry,
      pull: o.pull ?? false,
      memo: new Map(),
      tee: (compressed) => takePulledLayer(compressed, { store: o.store, ...(hasRun ? { runtime: res.runtime } : {}) }),
    },
    registry: res.registry,
    runtime: res.runtime,
    clock: o.clock ?? systemClock,
    context: { dir: prepared.contextDir, excludes: prepared.ignore.patterns, isContext: true },
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
    sourceFor: (reader, name, site) => {
      const readerIndex = df.stages.findIndex((st, i) => (st.name ?? String(i)) === reader);
      const src = resolveSource(df, name, { namedContexts: new Set(namedContexts.keys()), reader: readerIndex, isFrom: false }, site.loc);
      if (src.kind === 'stage' && readerIndex >= 0) addDependency(plan, df, readerIndex, src.index, site);
      return src;
    },
    stepTimeoutMs: o.stepTimeoutMs,
    nextStep: () => ++step,
    totalSteps: plan.order.reduce((n, i) => n + 1 + (plan.stages[i]?.stage.instructions.length ?? 0), 0),
  };
}
