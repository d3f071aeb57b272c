import { posix } from 'node:path';
import type { Instruction, Stage, Command } from '../parser/instructions.js';
import { parseDockerfile } from '../parser/index.js';
import type { HealthConfig } from '../image/types.js';
import { createTarStream } from '../image/tar/writer.js';
import { resolveImage, loadFromStore, scratchConfig, type ResolvedBase } from './base.js';
import { parseChmod } from './chmod.js';
import { BuildUsageError, BuildError, type SourceLocation } from './errors.js';
import { TsbuildError } from '../image/errors.js';
import { planCopy, type CopyRoot } from './ops/copy.js';
import { downloadSource, isUrlSource } from './ops/add-url.js';
import { runStep } from './ops/run.js';
import { resolveOwner } from './passwd.js';
import type { SourceRef } from './plan.js';
import type { BuildSession } from './session.js';
import { addHistory, envMap, setEnv, withLayer, type StageState } from './stage-state.js';
import { expand, expandList, lookupFrom, PREDEFINED_ARGS } from './vars.js';
import { baseKey, chainMeta, copyInputs, describeStep, lookupStep, recordStep } from './step-cache.js';
import { sha256, type Digest } from '../image/digest.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { formatPlatform } from '../image/platform.js';

const CREATED_BY_SUFFIX = ' # buildkit';

/** Builds one stage: resolve its base, run ONBUILD triggers, then each instruction in order. */
export async function buildStage(s: BuildSession, stage: Stage, base: SourceRef): Promise<StageState> {
  const label = stage.name ?? String(stage.index);
  let state = await startStage(s, stage, base, label);
  const triggers = state.config.config.OnBuild ?? [];
  if (triggers.length > 0) {
    state = { ...state, config: { ...state.config, config: { ...state.config.config, OnBuild: null } } };
    for (const [i, t] of triggers.entries()) {
      const ins = parseTrigger(t, stage);
      state = await runInstruction(s, state, ins, `ONBUILD ${t}`, `onbuild-${i}`);
    }
  }
  for (const [i, ins] of stage.instructions.entries()) {
    state = await runInstruction(s, state, ins, ins.original, String(i));
  }
  return state;
}

function parseTrigger(trigger: string, stage: Stage): Instruction {
  const df = parseDockerfile(`FROM scratch\n${trigger}\n`, { file: `ONBUILD trigger of ${stage.from.image}` });
  const ins = df.stages[0]?.instructions[0];
  if (!ins) throw new BuildUsageError(`invalid ONBUILD trigger: ${trigger}`);
  return ins;
}

async function startStage(s: BuildSession, stage: Stage, base: SourceRef, label: string): Promise<StageState> {
  const id = stepId(s);
  const loc = locOf(stage.from);
  const t0 = Date.now();
  s.emit({ type: 'step', id, stage: label, name: stage.from.original, status: 'started', loc });
  try {
    if (stage.from.platform !== undefined) {
      const p = expand(stage.from.platform, (n) => s.globalArgs.get(n), s.df.escapeToken);
      checkPlatform(s, p, loc);
    }
    let resolved: ResolvedBase;
    if (base.kind === 'scratch') {
      resolved = { digest: 'scratch', name: 'scratch', layers: [], config: scratchConfig(s.platform) };
    } else if (base.kind === 'stage') {
      const st = await s.stageResult(base.index);
      resolved = { digest: 'scratch', name: st.label, layers: st.layers, config: st.config };
      const args = new Map<string, string | undefined>();
      s.emit({ type: 'step', id, stage: label, name: stage.from.original, status: 'done', loc, durationMs: Date.now() - t0 });
      return { label, layers: st.layers, baseLayerCount: st.baseLayerCount, config: st.config, args, baseDigest: st.baseDigest, historySources: st.historySources, baseName: st.baseName, cacheKey: st.cacheKey, lastCreated: st.lastCreated };
    } else if (base.kind === 'context') {
      const nc = s.namedContexts.get(base.name)!;
      if (nc.kind !== 'image') throw new BuildUsageError(`named context ${base.name} is a directory, not an image`, loc);
      resolved = await resolveImage(s.resolver, nc.ref, loc);
    } else {
      resolved = await resolveImage(s.resolver, base.ref, loc);
    }
    s.emit({ type: 'step', id, stage: label, name: stage.from.original, status: 'done', loc, durationMs: Date.now() - t0 });
    return {
      label,
      layers: resolved.layers,
      baseLayerCount: resolved.layers.length,
      config: { ...resolved.config, config: { ...resolved.config.config } },
      args: new Map(),
      baseDigest: resolved.digest,
      cacheKey: baseKey(resolved.digest, formatPlatform(s.platform)),
      ...(resolved.config.created ? { lastCreated: resolved.config.created } : {}),
      ...(resolved.digest !== 'scratch' && !resolved.name.startsWith('oci-layout://') ? { baseName: resolved.name.replace(/^docker-image:\/\//, '') } : {}),
    };
  } catch (e) {
    s.emit({ type: 'step', id, stage: label, name: stage.from.original, status: 'error', loc, error: (e as Error).message });
    throw e;
  }
}

export function checkPlatform(s: BuildSession, p: string, loc?: SourceLocation): void {
  if (p === '') return;
  const want = p.split('/');
  const have = [s.platform.os, s.platform.architecture, s.platform.variant].filter(Boolean);
  const ok = want[0] === have[0] && want[1] === have[1] && (want[2] === undefined || want[2] === have[2]);
  if (!ok) {
    throw new BuildUsageError(
      `platform ${p} is not supported yet: tsbuild builds for the host platform ${have.join('/')} only (multi-platform builds are not implemented)`,
      loc,
    );
  }
}

function stepId(s: BuildSession): string {
  return `${s.nextStep()}/${s.totalSteps}`;
}

function locOf(ins: { loc: { file: string; line: number; column: number } }): SourceLocation {
  return { file: ins.loc.file, line: ins.loc.line, column: ins.loc.column };
}

async function runInstruction(s: BuildSession, state: StageState, ins: Instruction, display: string, index: string): Promise<StageState> {
  if (s.signal?.aborted) throw new BuildError('TSB_ABORTED', 'build aborted');
  const id = stepId(s);
  const loc = locOf(ins);
  const t0 = Date.now();
  s.emit({ type: 'step', id, stage: state.label, name: display, status: 'started', loc });
  try {
    const { cacheHit, missReason, ...out } = await dispatch(s, state, ins, id, index, display);
    let next = attribute(state, out, loc);
    next = { ...next, lastCreated: next.config.history?.at(-1)?.created ?? state.lastCreated };
    s.emit({ type: 'step', id, stage: state.label, name: display, status: cacheHit === true ? 'cached' : 'done', loc, durationMs: Date.now() - t0, ...(missReason ? { reason: missReason } : {}) });
    return next;
  } catch (e) {
    s.emit({ type: 'step', id, stage: state.label, name: display, status: 'error', loc, error: (e as Error).message });
    throw locate(e, loc);
  }
}

/**
 * Every failure of a step names its Dockerfile line: errors of other modules
 * (registry, cache, runtime) keep their code and data and gain the location.
 * Parser errors already carry theirs (an ONBUILD trigger's own text).
 */
function locate(e: unknown, loc: SourceLocation): Error {
  if (e instanceof BuildError) return e.loc ? e : new BuildError(e.code, e.message, loc, e.data);
  if (e instanceof TsbuildError) return new BuildError(e.code, e.message, loc, e.data);
  if (e instanceof Error && 'format' in e) return e;
  return new BuildError('TSB_STEP_FAILED', (e as Error).message ?? String(e), loc);
}

/** Records which Dockerfile line made each new history entry (for reports). */
function attribute(before: StageState, after: StageState, loc: SourceLocation): StageState {
  const n = after.config.history?.length ?? 0;
  const sources = [...(before.historySources ?? Array.from({ length: before.config.history?.length ?? 0 }, () => undefined))];
  while (sources.length < n) sources.push({ file: loc.file, line: loc.line });
  return { ...after, historySources: sources.slice(0, n) };
}

function setConfig(state: StageState, edit: (c: StageState['config']['config']) => StageState['config']['config'], createdBy: string, epochIso: string | undefined): StageState {
  const config = { ...state.config, config: edit({ ...state.config.config }) };
  return {
    ...state,
    config: addHistory(config, { ...(epochIso ? { created: epochIso } : {}), created_by: createdBy + CREATED_BY_SUFFIX, comment: 'buildkit.dockerfile.v0', empty_layer: true }),
  };
}

/** A step's result, plus what progress should say about the cache. */
type Dispatched = StageState & { cacheHit?: boolean; missReason?: string };

async function dispatch(s: BuildSession, state: StageState, ins: Instruction, id: string, index: string, display: string): Promise<Dispatched> {
  const env = envMap(state.config);
  const lookup = lookupFrom(env, state.args);
  const esc = s.df.escapeToken;
  const ex = (w: string): string => expand(w, lookup, esc);
  // Times: a step that runs now is dated now; a cached one keeps its first date;
  // metadata steps take the date of the step before them. So a fully cached
  // rebuild yields the same config, hence the same image ID (as BuildKit).
  const created = s.epoch !== undefined ? new Date(s.epoch * 1000).toISOString() : new Date().toISOString();
  const metaCreated = s.epoch !== undefined ? created : state.lastCreated;
  const meta = (edit: Parameters<typeof setConfig>[1], by: string): StageState => setConfig(state, edit, by, metaCreated);

  switch (ins.kind) {
    case 'from':
      throw new BuildUsageError('FROM inside a stage');
    case 'arg': {
      const args = new Map(state.args);
      for (const a of ins.args) {
        let value: string | undefined = a.value !== undefined ? ex(a.value) : undefined;
        if (s.buildArgs.has(a.key)) {
          value = s.buildArgs.get(a.key);
          s.usedBuildArgs.add(a.key);
        } else if (value === undefined && s.globalArgs.has(a.key)) {
          value = s.globalArgs.get(a.key);
        }
        args.set(a.key, value);
      }
      const next = { ...state, args };
      return { ...next, config: addHistory(state.config, { ...(metaCreated ? { created: metaCreated } : {}), created_by: `ARG ${ins.args.map((a) => (a.value !== undefined ? `${a.key}=${a.value}` : a.key)).join(' ')}${CREATED_BY_SUFFIX}`, comment: 'buildkit.dockerfile.v0', empty_layer: true }) };
    }
    case 'env': {
      // Every value of one ENV sees the environment as it was before it (docker's rule).
      const pairs = ins.pairs.map((p) => ({ key: ex(p.key), value: ex(p.value) }));
      return meta((c) => {
        let e = c.Env;
        for (const p of pairs) e = setEnv(e, p.key, p.value);
        return { ...c, Env: e };
      }, `ENV ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`);
    }
    case 'label': {
      const pairs = ins.pairs.map((p) => ({ key: ex(p.key), value: ex(p.value) }));
      return meta((c) => {
        const labels = { ...(c.Labels ?? {}) };
        for (const p of pairs) labels[p.key] = p.value;
        return { ...c, Labels: labels };
      }, `LABEL ${pairs.map((p) => `${p.key}=${p.value}`).join(' ')}`);
    }
    case 'maintainer':
      return { ...meta((c) => c, `MAINTAINER ${ins.name}`), config: { ...addHistory(state.config, { ...(metaCreated ? { created: metaCreated } : {}), created_by: `MAINTAINER ${ins.name}${CREATED_BY_SUFFIX}`, comment: 'buildkit.dockerfile.v0', empty_layer: true }), author: ins.name } };
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
      return meta((c) => ({ ...c, OnBuild: [...(c.OnBuild ?? []), ins.trigger] }), `ONBUILD ${ins.trigger}`);
    case 'workdir':
      return workdir(s, state, ex(ins.path), metaCreated);
    case 'copy':
    case 'add':
      return copy(s, state, ins, ex, created, index, display);
    case 'run':
      return runStep(s, state, ins, id, lookup, created, index, display);
    default:
      return assertNever(ins);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled instruction ${JSON.stringify(x)}`);
}

export function shellOf(state: StageState): string[] {
  return state.config.config.Shell && state.config.config.Shell.length > 0 ? state.config.config.Shell : ['/bin/sh', '-c'];
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

/** WORKDIR: sets the config and creates the directory (a layer) when it does not exist yet. */
async function workdir(s: BuildSession, state: StageState, path: string, created: string | undefined): Promise<StageState> {
  const cur = state.config.config.WorkingDir || '/';
  const wd = posix.resolve(cur, path);
  const view = await s.views.fsView(state.layers);
  const exists = view.get(wd)?.type === 'dir';
  let next: StageState = { ...state, config: { ...state.config, config: { ...state.config.config, WorkingDir: wd } } };
  if (exists || wd === '/') {
    return { ...next, config: addHistory(next.config, { ...(created ? { created } : {}), created_by: `WORKDIR ${wd}${CREATED_BY_SUFFIX}`, comment: 'buildkit.dockerfile.v0', empty_layer: true }) };
  }
  let owner = { uid: 0, gid: 0 };
  const user = state.config.config.User;
  if (user) owner = await ownerOf(s, state, user);
  const entries = [];
  const real = view.resolvePath(wd, true) ?? wd.slice(1);
  let acc = '';
  for (const part of real.split('/').filter(Boolean)) {
    acc = acc ? `${acc}/${part}` : part;
    if (view.get('/' + acc)?.type === 'dir') continue;
    entries.push({ header: { path: acc, type: 'dir' as const, mode: 0o755, uid: owner.uid, gid: owner.gid, size: 0, mtime: s.epoch ?? 0 } });
  }
  const layer = await s.store.ingestLayer(createTarStream(entries));
  const ref = { desc: layer.desc, diffID: layer.diffID };
  next = withLayer(next, ref, { ...(created ? { created } : {}), created_by: `WORKDIR ${wd}${CREATED_BY_SUFFIX}`, comment: 'buildkit.dockerfile.v0' });
  // The directory layer is part of the filesystem later steps build on.
  next = { ...next, cacheKey: chainMeta(state, { kind: 'workdir', diffID: ref.diffID }) };
  const nextView = view.clone();
  nextView.applyEntries(entries.map((e) => e.header), next.layers.length - 1);
  s.views.setFsView(next.layers, nextView);
  return next;
}

async function ownerOf(s: BuildSession, state: StageState, spec: string): Promise<{ uid: number; gid: number }> {
  const [u = '', g] = spec.split(':', 2);
  const numeric = /^\d+$/.test(u) && (g === undefined || /^\d+$/.test(g));
  if (numeric) return resolveOwner(spec, undefined, undefined);
  const passwd = (await s.views.readFile(state.layers, '/etc/passwd'))?.toString('utf8');
  const group = (await s.views.readFile(state.layers, '/etc/group'))?.toString('utf8');
  return resolveOwner(spec, passwd, group);
}

async function copy(
  s: BuildSession,
  state: StageState,
  ins: Extract<Instruction, { kind: 'copy' | 'add' }>,
  ex: (w: string) => string,
  created: string,
  index: string,
  display: string,
): Promise<Dispatched> {
  const loc = locOf(ins);
  let root: CopyRoot = s.context;
  let fromLabel = '';
  if (ins.from !== undefined) {
    const from = ex(ins.from);
    fromLabel = ` --from=${from}`;
    root = await copyRootFor(s, from, loc);
  }
  const owner = ins.chown !== undefined && ins.chown !== '' ? await ownerOf(s, state, ex(ins.chown)) : undefined;
  const chmod = ins.chmod !== undefined && ins.chmod !== '' ? parseChmod(ex(ins.chmod)) : undefined;
  const heredocs = new Map(ins.heredocs.map((h) => [h.name, h.expand ? ex(h.content) : h.content]));
  const sources = ins.sources.map((src) => (heredocs.has(src) ? src : ex(src)));
  const dest = ex(ins.dest);
  const lower = ins.link ? undefined : await s.views.fsView(state.layers);
  const checksum = ins.kind === 'add' && ins.checksum !== undefined ? ex(ins.checksum) : undefined;
  const downloads = new Map<string, Awaited<ReturnType<typeof downloadSource>>>();
  for (const src of sources) {
    if (!isUrlSource(src)) continue;
    if (ins.kind !== 'add') throw new BuildUsageError(`source can't be a URL for COPY: ${src}`, loc);
    downloads.set(src, await downloadSource(src, s.views.tmpDir, { checksum, loc, epoch: s.epoch, signal: s.signal }));
  }
  if (checksum !== undefined && downloads.size === 0) {
    throw new BuildUsageError('ADD --checksum is only valid for URL sources (git sources are not supported yet)', loc);
  }
  const plan = await planCopy({
    kind: ins.kind,
    root,
    sources,
    heredocs,
    dest,
    workdir: state.config.config.WorkingDir || '/',
    owner,
    chmod,
    parents: ins.parents,
    link: ins.link,
    exclude: ins.exclude.map(ex),
    unpack: ins.kind === 'add' ? ins.unpack !== false : false,
    lower,
    createdTime: s.epoch ?? 0,
    loc,
    downloads,
    scratchDir: s.views.tmpDir,
  });
  const by = `${ins.kind.toUpperCase()}${fromLabel}${ins.chown ? ` --chown=${ins.chown}` : ''}${ins.chmod ? ` --chmod=${ins.chmod}` : ''}${ins.link ? ' --link' : ''} ${sources.join(' ')} ${dest}`;
  const history = { created, created_by: by + CREATED_BY_SUFFIX, comment: 'buildkit.dockerfile.v0' };
  // The key sees every copied entry's content and metadata (never mtime), under
  // --chmod/--chown only the resulting mode/owner: a source's own mode can't cause a miss.
  const hasher = s.stepCache ? await s.stepCache.hasher(root.dir) : undefined;
  const inputs = await copyInputs(plan.entries, async (e) => {
    if (Buffer.isBuffer(e.body)) return sha256(e.body);
    const o = plan.origins.get(e.header.path);
    const dl = o ? downloads.get(o.path) : undefined;
    if (dl) return dl.contentDigest;
    if (!o || !hasher) return undefined;
    // Files of an unpacked ADD archive live outside the root: hash them directly.
    if (!o.absPath.startsWith(root.dir + '/')) return hashFileContent(o.absPath);
    return hasher.hashFile(o.absPath, { size: o.size, mtimeMs: o.mtimeMs, ctimeMs: o.ctimeMs, ino: o.ino, mode: 0o100000 | o.mode });
  }, (e) => plan.origins.get(e.header.path)?.path);
  const step = describeStep(s, state, Number.isNaN(Number(index)) ? 0 : Number(index), {
    type: 'copy',
    op: { kind: ins.kind, dest, workdir: state.config.config.WorkingDir || '/', link: ins.link, parents: ins.parents, exclude: ins.exclude.map(ex), from: fromLabel, created_by: by, epoch: s.epoch ?? null },
    inputs: [{ name: 'sources', digest: inputs.tree }],
    files: inputs.files,
  });
  const hit = await lookupStep(s, state, step, history, display, { file: loc.file, line: loc.line });
  if (hit.state) return { ...hit.state, cacheHit: true };
  const layer = await writeLayer(s, createTarStream(plan.entries), s.runFollows(state.label, Number(index)));
  const ref = { desc: layer.desc, diffID: layer.diffID };
  await s.views.rememberIndex(layer.diffID, plan.entries.map((e) => e.header));
  await recordStep(s, state, step, ref, created);
  const next: Dispatched = { ...withLayer(state, ref, history), cacheKey: step.key, missReason: hit.reasons.join('; ') };
  if (lower) {
    const view = lower.clone();
    view.applyEntries(plan.entries.map((e) => e.header), next.layers.length - 1);
    s.views.setFsView(next.layers, view);
  }
  return next;
}

/**
 * Writes a layer to the store; when a RUN comes next, the same tar also feeds
 * the runtime's snapshot of it, so that RUN need not gunzip and unpack it again.
 * A failed snapshot only costs that later unpack.
 */
async function writeLayer(s: BuildSession, tar: Readable, seed: boolean): Promise<Awaited<ReturnType<BuildSession['store']['ingestLayer']>>> {
  if (!seed) return s.store.ingestLayer(tar);
  const rt = await s.runtime();
  const toStore = new PassThrough({ highWaterMark: 1 << 20 });
  const toSnapshot = new PassThrough({ highWaterMark: 1 << 20 });
  tar.on('error', (e) => {
    toStore.destroy(e);
    toSnapshot.destroy(e);
  });
  tar.pipe(toStore);
  tar.pipe(toSnapshot);
  const ingest = s.store.ingestLayer(toStore);
  const snapshot = rt.seedLayer(toSnapshot, ingest.then((l) => l.diffID)).catch((e: Error) => {
    tar.unpipe(toSnapshot);
    toSnapshot.resume();
    s.emit({ type: 'message', level: 'warn', text: `could not pre-build a snapshot (the next RUN unpacks the layer): ${e.message}` });
  });
  const [layer] = await Promise.all([ingest, snapshot]);
  return layer;
}

async function hashFileContent(abs: string): Promise<Digest> {
  const h = createHash('sha256');
  for await (const c of createReadStream(abs)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** COPY --from / RUN --mount from=: a named context, a stage, or an image. */
export async function copyRootFor(s: BuildSession, from: string, loc?: SourceLocation): Promise<CopyRoot> {
  const nc = s.namedContexts.get(from);
  if (nc?.kind === 'dir') return nc.root;
  const layers = await layersFor(s, from, loc);
  return { dir: await s.views.unpacked(layers), excludes: [], isContext: false };
}

export async function layersFor(s: BuildSession, from: string, loc?: SourceLocation): Promise<StageState['layers']> {
  const nc = s.namedContexts.get(from);
  if (nc?.kind === 'image') return (await resolveImage(s.resolver, nc.ref, loc)).layers;
  const idx = s.df.stages.findIndex((st) => st.name === from.toLowerCase());
  if (idx >= 0) return (await s.stageResult(idx)).layers;
  if (/^\d+$/.test(from) && Number(from) < s.df.stages.length) return (await s.stageResult(Number(from))).layers;
  return (await resolveImage(s.resolver, from, loc)).layers;
}

export { loadFromStore, PREDEFINED_ARGS, ownerOf };
