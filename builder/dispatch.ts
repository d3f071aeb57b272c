import type { Command, Instruction, Stage } from '../parser/instructions.js';
import { parseDockerfile } from '../parser/index.js';
import { isModuleLoadFailure } from '../errors/tsbuild-error.js';
import { TsbuildError } from '../image/errors.js';
import { formatPlatform, parsePlatform } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import type { HealthConfig } from '../image/types.js';
import { resolveImage, scratchConfig, type ResolvedBase } from './base.js';
import { BuildError, BuildUsageError, type SourceLocation } from './errors.js';
import { copyStep } from './ops/copy-step.js';
import { runStep } from './ops/run.js';
import { workdir } from './ops/workdir.js';
import type { SourceRef } from './plan.js';
import type { BuildSession } from './session.js';
import { addHistory, appendOwned, assignOwned, CREATED_BY_SUFFIX, envMap, setEnv, shellOf, type StageState, type StepOutcome } from './stage-state.js';
import { baseKey } from './step-cache.js';
import { expand, expandList, lookupFrom } from './vars.js';
import { registryNameOf } from '../image/image-spec.js';
import { storeRefName } from '../registry/reference.js';


/** Builds one stage: resolve its base, run ONBUILD triggers, then each instruction in order. */
export async function buildStage(session: BuildSession, stage: Stage, base: SourceRef): Promise<StageState> {
  const label = stage.name ?? String(stage.index);
  const counter = stepCounter(session, stage, base);
  let state = await startStage(session, stage, base, label, counter);
  const triggers = state.config.config.OnBuild ?? [];
  if (triggers.length > 0) {
    state = { ...state, config: { ...state.config, config: { ...state.config.config, OnBuild: null } } };
    counter.total += triggers.length;
    for (const [i, t] of triggers.entries()) {
      const ins = parseTrigger(t, stage);
      state = await runInstruction(session, state, ins, `ONBUILD ${t}`, `onbuild-${i}`, counter.next(ins));
    }
  }
  for (const [i, ins] of stage.instructions.entries()) {
    state = await runInstruction(session, state, ins, ins.original, String(i), counter.next(ins));
  }
  return state;
}

/** How a step shows in progress: BuildKit's `[stage n/m]` label, or hidden where BuildKit shows no step. */
interface StepShow {
  label?: string;
  hidden?: boolean;
}

/** Instructions that are steps in BuildKit's progress (they make an LLB op); the others only change metadata. */
const SHOWN_KINDS = new Set(['run', 'copy', 'add', 'workdir']);

/**
 * BuildKit's step numbering (dockerfile2llb prefixCommand): a stage's image FROM and its
 * RUN/COPY/ADD/WORKDIR steps count; the name is the stage's, `stage-N` for an unnamed one, none in
 * a one-stage Dockerfile; the number is padded to the width of the total.
 */
function stepCounter(s: BuildSession, stage: Stage, base: SourceRef): { total: number; fromShown: boolean; next: (ins: Instruction | 'from') => StepShow } {
  const name = s.df.stages.length === 1 ? '' : (stage.name ?? `stage-${stage.index}`);
  const fromShown = base.kind === 'image' || base.kind === 'context';
  let index = 0;
  const counter = {
    total: (fromShown ? 1 : 0) + stage.instructions.filter((ins) => SHOWN_KINDS.has(ins.kind)).length,
    fromShown,
    next: (ins: Instruction | 'from'): StepShow => {
      if (ins === 'from' ? !fromShown : !SHOWN_KINDS.has(ins.kind)) return { hidden: true };
      index++;
      const n = String(index).padStart(String(counter.total).length, ' ');
      return { label: `${name ? `${name} ` : ''}${n}/${counter.total}` };
    },
  };
  return counter;
}

/** FROM as BuildKit names the step: the image reference with its ARGs expanded, fully qualified. */
function fromDisplay(base: SourceRef, original: string): string {
  if (base.kind !== 'image') return original;
  try {
    return `FROM ${storeRefName(base.ref)}`;
  } catch {
    return `FROM ${base.ref}`;
  }
}

function parseTrigger(trigger: string, stage: Stage): Instruction {
  const df = parseDockerfile(`FROM scratch\n${trigger}\n`, { file: `ONBUILD trigger of ${stage.from.image}` });
  const ins = df.stages[0]?.instructions[0];
  if (!ins) throw new BuildUsageError(`invalid ONBUILD trigger: ${trigger}`);
  return ins;
}

async function startStage(s: BuildSession, stage: Stage, base: SourceRef, label: string, counter: ReturnType<typeof stepCounter>): Promise<StageState> {
  const id = stepId(s);
  const loc = locOf(stage.from);
  const t0 = s.clock.now();
  const step = { type: 'step' as const, id, stage: label, name: fromDisplay(base, stage.from.original), loc, ...counter.next('from') };
  s.emit({ ...step, status: 'started' });
  try {
    const fromPlatform = stagePlatform(s, stage, loc);
    // scratch is always the target's, FROM --platform or not (BuildKit's dockerfile2llb: emptyImage(targetPlatform))
    const platform = base.kind === 'scratch' ? s.platform : (fromPlatform ?? s.platform);
    const resolver = { ...s.resolver, platform };
    let resolved: ResolvedBase;
    if (base.kind === 'scratch') {
      resolved = { digest: 'scratch', name: 'scratch', layers: [], config: scratchConfig(platform) };
    } else if (base.kind === 'stage') {
      const st = await s.stageResult(base.index);
      resolved = { digest: 'scratch', name: st.label, layers: st.layers, config: st.config };
      const args = new Map<string, string | undefined>();
      s.emit({ ...step, status: 'done', durationMs: s.clock.now() - t0 });
      // the parent's valued ARGs stay in the environment of a stage built FROM it (BuildKit)
      // a stage FROM a stage is for that stage's platform (BuildKit), unless FROM --platform says
      return { label, platform: fromPlatform ?? st.platform, layers: st.layers, baseLayerCount: st.baseLayerCount, config: st.config, args, ...(st.argEnv ? { argEnv: st.argEnv } : {}), baseDigest: st.baseDigest, historySources: st.historySources, baseName: st.baseName, cacheKey: st.cacheKey, lastCreated: st.lastCreated, owned: new WeakSet() };
    } else if (base.kind === 'context') {
      const nc = s.namedContexts.get(base.name)!;
      if (nc.kind !== 'image') throw new BuildUsageError(`named context ${base.name} is a directory, not an image`, loc);
      resolved = await resolveImage(resolver, nc.ref, loc);
    } else {
      resolved = await resolveImage(resolver, base.ref, loc);
    }
    if (resolved.digest !== 'scratch') s.materials.push({ ref: base.kind === 'image' ? base.ref : resolved.name, digest: resolved.digest });
    s.emit({ ...step, status: 'done', durationMs: s.clock.now() - t0 });
    return {
      label,
      platform,
      layers: resolved.layers,
      baseLayerCount: resolved.layers.length,
      config: { ...resolved.config, config: { ...resolved.config.config } },
      args: new Map(),
      baseDigest: resolved.digest,
      cacheKey: baseKey(resolved.digest, formatPlatform(platform)),
      owned: new WeakSet(),
      ...(resolved.config.created ? { lastCreated: resolved.config.created } : {}),
      ...(resolved.digest !== 'scratch' && registryNameOf(resolved.name, 'dockerfile') !== undefined ? { baseName: registryNameOf(resolved.name, 'dockerfile')! } : {}),
    };
  } catch (e) {
    s.emit({ ...step, status: 'error', error: (e as Error).message });
    throw locate(e, loc);
  }
}

/** FROM --platform=…, expanded with the global ARGs (`$BUILDPLATFORM`) and normalized; undefined when absent or empty. */
function stagePlatform(s: BuildSession, stage: Stage, loc: SourceLocation): Platform | undefined {
  if (stage.from.platform === undefined) return undefined;
  const text = expand(stage.from.platform, (n) => s.globalArgs.get(n), s.df.escapeToken);
  if (text === '') return undefined;
  try {
    return parsePlatform(text);
  } catch (e) {
    throw new BuildUsageError(`FROM --platform=${stage.from.platform}: ${(e as Error).message}`, loc);
  }
}

function stepId(s: BuildSession): string {
  return `${s.nextStep()}/${s.totalSteps}`;
}

function locOf(ins: { loc: { file: string; line: number; column: number } }): SourceLocation {
  return { file: ins.loc.file, line: ins.loc.line, column: ins.loc.column };
}

async function runInstruction(s: BuildSession, state: StageState, ins: Instruction, display: string, index: string, show: StepShow): Promise<StageState> {
  if (s.signal?.aborted) throw new BuildError('TSB_BUILD_ABORTED', 'build aborted');
  const id = stepId(s);
  const loc = locOf(ins);
  const t0 = s.clock.now();
  const step = { type: 'step' as const, id, stage: state.label, name: display, loc, ...show };
  s.emit({ ...step, status: 'started' });
  // Read before the step: it may extend the stage's own history in place.
  const before = { history: state.config.history?.length ?? 0, sources: state.historySources };
  try {
    const { cacheHit, missReason, ...out } = await dispatch(s, state, ins, id, index, display);
    let next = attribute(before, out, loc);
    next = { ...next, lastCreated: next.config.history?.at(-1)?.created ?? state.lastCreated };
    s.emit({ ...step, status: cacheHit === true ? 'cached' : 'done', durationMs: s.clock.now() - t0, ...(missReason ? { reason: missReason } : {}) });
    return next;
  } catch (caught) {
    const e = causeOf(caught, s.signal);
    s.emit({ ...step, status: 'error', error: (e as Error).message });
    throw locate(e, loc);
  }
}

/**
 * A step stopped by the build's cancellation fails with the cancellation's reason ("build
 * cancelled (SIGTERM)"), not with the generic AbortError of whichever stream noticed first.
 */
function causeOf(e: unknown, signal: AbortSignal | undefined): unknown {
  const aborted = (e as { name?: unknown } | null)?.name === 'AbortError' || (e as { code?: unknown } | null)?.code === 'ABORT_ERR';
  return aborted && signal?.aborted && signal.reason instanceof Error ? signal.reason : e;
}

/**
 * Every failure of a step names its Dockerfile line: errors of other modules
 * (registry, cache, runtime) keep their code and data and gain the location.
 * Parser errors already carry theirs (an ONBUILD trigger's own text).
 */
function locate(e: unknown, loc: SourceLocation): Error {
  if (isInstallationFault(e)) return e as Error;
  if (e instanceof BuildError) return e.loc ? e : new BuildError(e.code, e.message, loc, e.data);
  if (e instanceof TsbuildError) return new BuildError(e.code, e.message, loc, e.data);
  if (e instanceof Error && 'format' in e) return e;
  return new BuildError('TSB_BUILD_STEP_FAILED', (e as Error).message ?? String(e), loc);
}

/** A module of tsbuild itself failed to load: a broken installation, not the Dockerfile's fault. */
function isInstallationFault(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === 'TSB_IMAGE_INSTALL_BROKEN' || isModuleLoadFailure(e);
}

/** Records which Dockerfile line made each new history entry (for reports). */
function attribute(before: { history: number; sources: StageState['historySources'] }, after: StageState, loc: SourceLocation): StageState {
  const n = after.config.history?.length ?? 0;
  const known = before.sources ?? Array.from({ length: before.history }, () => undefined);
  const added = Array.from({ length: Math.max(0, n - known.length) }, () => ({ file: loc.file, line: loc.line }));
  const sources = known.length > n ? known.slice(0, n) : appendOwned(after, known, ...added);
  return { ...after, historySources: sources };
}

function setConfig(state: StageState, edit: (c: StageState['config']['config']) => StageState['config']['config'], createdBy: string, epochIso: string | undefined): StageState {
  const config = { ...state.config, config: edit({ ...state.config.config }) };
  return {
    ...state,
    config: addHistory(state, { ...(epochIso ? { created: epochIso } : {}), created_by: createdBy + CREATED_BY_SUFFIX, comment: 'buildkit.dockerfile.v0', empty_layer: true }, config),
  };
}


async function dispatch(s: BuildSession, state: StageState, ins: Instruction, id: string, index: string, display: string): Promise<StepOutcome> {
  const env = envMap(state.config);
  const lookup = lookupFrom(env, state.argEnv);
  const esc = s.df.escapeToken;
  const ex = (w: string): string => expand(w, lookup, esc);
  // Times: a step that runs now is dated now; a cached one keeps its first date;
  // metadata steps take the date of the step before them. So a fully cached
  // rebuild yields the same config, hence the same image ID (as BuildKit).
  const created = s.epoch !== undefined ? new Date(s.epoch * 1000).toISOString() : new Date(s.clock.now()).toISOString();
  const metaCreated = s.epoch !== undefined ? created : state.lastCreated;
  const meta = (edit: Parameters<typeof setConfig>[1], by: string): StageState => setConfig(state, edit, by, metaCreated);

  switch (ins.kind) {
    case 'from':
      throw new BuildUsageError('FROM inside a stage');
    case 'arg': {
      const args = new Map(state.args);
      const argEnv = new Map(state.argEnv);
      for (const a of ins.args) {
        let value: string | undefined = a.value !== undefined ? ex(a.value) : undefined;
        if (s.buildArgs.has(a.key)) {
          value = s.buildArgs.get(a.key);
          s.usedBuildArgs.add(a.key);
        } else if (value === undefined && s.globalArgs.has(a.key)) {
          value = s.globalArgs.get(a.key);
        }
        args.set(a.key, value);
        if (value !== undefined) argEnv.set(a.key, value);
      }
      const next = { ...state, args, argEnv };
      return { ...next, config: addHistory(state, { ...(metaCreated ? { created: metaCreated } : {}), created_by: `ARG ${ins.args.map((a) => (a.value !== undefined ? `${a.key}=${a.value}` : a.key)).join(' ')}${CREATED_BY_SUFFIX}`, comment: 'buildkit.dockerfile.v0', empty_layer: true }) };
    }
    case 'env': {
      // Every value of one ENV sees the environment as it was before it (docker's rule).
      const pairs = ins.pairs.map((p) => ({ key: ex(p.key), value: ex(p.value) }));
      const next = meta((c) => {
        let e = c.Env;
        for (const p of pairs) e = setEnv(e, p.key, p.value);
        return { ...c, Env: e };
      }, `ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`);
      if (!state.argEnv || !pairs.some((p) => state.argEnv!.has(p.key))) return next;
      // a later ENV replaces an ARG of the same name in the environment
      const argEnv = new Map(state.argEnv);
      for (const p of pairs) argEnv.delete(p.key);
      return { ...next, argEnv };
    }
    case 'label': {
      const pairs = ins.pairs.map((p) => ({ key: ex(p.key), value: ex(p.value) }));
      return meta((c) => ({ ...c, Labels: assignOwned(state, c.Labels, pairs) }), `LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`);
    }
    case 'maintainer': {
      const next = meta((c) => c, `MAINTAINER ${ins.name}`);
      return { ...next, config: { ...next.config, author: ins.name } };
    }
    case 'expose': {
      const ports = ins.ports.flatMap((p) => expandList(p, lookup, esc)).flatMap(expandPortRange);
      return meta((c) => {
        const exposed = { ...(c.ExposedPorts ?? {}) };
        for (const p of ports) exposed[p] = {};
        return { ...c, ExposedPorts: exposed };
      }, `EXPOSE map[${ports.map((p) => p + ':{}').join(' ')}]`);
    }
    case 'user': {
      const user = ex(ins.user);
      return meta((c) => ({ ...c, User: user }), `USER ${user}`);
    }
    case 'volume': {
      const vols = ins.paths.map(ex);
      if (vols.some((v) => v === '')) throw new BuildUsageError('VOLUME specified can not be an empty string');
      return meta((c) => {
        const v = { ...(c.Volumes ?? {}) };
        for (const p of vols) v[p] = {};
        return { ...c, Volumes: v };
      }, `VOLUME [${vols.join(' ')}]`);
    }
    case 'stopsignal': {
      const sig = ex(ins.signal);
      return meta((c) => ({ ...c, StopSignal: sig }), `STOPSIGNAL ${sig}`);
    }
    case 'shell':
      return meta((c) => ({ ...c, Shell: [...ins.shell] }), `SHELL [${ins.shell.join(' ')}]`);
    case 'cmd': {
      const cmd = commandArgs(ins.cmd, shellOf(state));
      // CMD after ENTRYPOINT in the same stage keeps it; ENTRYPOINT resets an inherited CMD.
      return { ...meta((c) => ({ ...c, Cmd: cmd }), `CMD ${JSON.stringify(cmd)}`), cmdSet: true };
    }
    case 'entrypoint': {
      const ep = commandArgs(ins.cmd, shellOf(state));
      return meta((c) => ({ ...c, Entrypoint: ep, ...(state.cmdSet ? {} : { Cmd: null }) }), `ENTRYPOINT ${JSON.stringify(ep)}`);
    }
    case 'healthcheck': {
      if (ins.test === 'none') {
        return meta((c) => ({ ...c, Healthcheck: { Test: ['NONE'] } }), 'HEALTHCHECK NONE');
      }
      const hc: HealthConfig = {
        Test: ins.test.form === 'exec' ? ['CMD', ...ins.test.args] : ['CMD-SHELL', ins.test.script],
        ...(ins.interval !== undefined ? { Interval: ins.interval } : {}),
        ...(ins.timeout !== undefined ? { Timeout: ins.timeout } : {}),
        ...(ins.startPeriod !== undefined ? { StartPeriod: ins.startPeriod } : {}),
        ...(ins.startInterval !== undefined ? { StartInterval: ins.startInterval } : {}),
        ...(ins.retries !== undefined ? { Retries: ins.retries } : {}),
      };
      return meta((c) => ({ ...c, Healthcheck: hc }), `HEALTHCHECK &{${JSON.stringify(hc.Test)} ${hc.Interval ?? 0} ${hc.Timeout ?? 0} ${hc.StartPeriod ?? 0} ${hc.StartInterval ?? 0} ${hc.Retries ?? 0}}`);
    }
    case 'onbuild':
      // Config only, no history entry: BuildKit's dispatchOnbuild (20.10 and current) commits none.
      return { ...state, config: { ...state.config, config: { ...state.config.config, OnBuild: [...(state.config.config.OnBuild ?? []), ins.trigger] } } };
    case 'workdir':
      return workdir(s, state, ex(ins.path), metaCreated);
    case 'copy':
    case 'add':
      return copyStep(s, state, ins, ex, created, index, display);
    case 'run':
      return runStep(s, state, ins, id, lookup, created, index, display);
    default:
      return assertNever(ins);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled instruction ${JSON.stringify(x)}`);
}


function commandArgs(cmd: Command, shell: string[]): string[] {
  return cmd.form === 'exec' ? [...cmd.args] : [...shell, cmd.script];
}

function expandPortRange(p: string): string[] {
  const m = /^(\d+)-(\d+)(\/\w+)?$/.exec(p);
  const withProto = (x: string): string => (x.includes('/') ? x : `${x}/tcp`);
  if (!m) return [withProto(p)];
  const out: string[] = [];
  for (let i = Number(m[1]); i <= Number(m[2]); i++) out.push(withProto(`${i}${m[3] ?? ''}`));
  return out;
}


