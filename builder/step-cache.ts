import type { BuildCache } from '../cache/build-cache.js';
import type { ContextHasher } from '../cache/context-hash.js';
import type { CopyMemo } from '../cache/copy-memo.js';
import { canonicalJson, fileDigest, keyOf, stripExcluded, treeDigest, type KeyPreimage } from '../cache/keys.js';
import type { Digest } from '../image/digest.js';
import type { TarSource } from '../image/tar/writer.js';
import type { HistoryEntry } from '../image/types.js';
import type { BuildSession } from './session.js';
import { withLayer, addHistory, type StageState, type LayerRef } from './stage-state.js';

/**
 * The build cache as the builder uses it: each step's key chains its parent's
 * key (so every earlier change reaches it), looks it up before running, and
 * records the result after. cache/ owns keys and storage; this file decides
 * what of a step goes into its key.
 */
export interface StepCache {
  cache: BuildCache;
  /** Hashers by root directory (the context, named contexts, unpacked stages). */
  hasher(dir: string): Promise<ContextHasher>;
  /** The copy memo for COPYs from `dir`; undefined for a scratch dir (an unpacked tar or git context). */
  copyMemo(dir: string): CopyMemo | undefined;
  /** Steps that missed, with why, for --explain-cache and progress. */
  misses: Array<{ step: string; loc?: { file: string; line: number }; reasons: string[] }>;
  /** Every key recorded or hit in this build, per stage index (for --cache-to). */
  keys: Map<string, Digest[]>;
  /** Why the cache is off for this stage (`--no-cache`, `--no-cache-filter NAME`), or undefined when it is on. */
  disabled: (stageLabel: string) => string | undefined;
  /** Shared by the builds of one process (the platforms of a multi-platform build, bake's targets): a step key runs once. */
  flights?: StepFlights;
  /** Keys this build holds in `flights` (released when recorded, or when the build ends). */
  held?: Map<Digest, () => void>;
}

/**
 * Single flight for step keys across concurrent builds on one store (the platforms of a
 * multi-platform build, the targets of `tsbuild bake`): the first build to miss a key holds it,
 * from before its cache lookup until it records the step; another build that reaches the same key
 * waits, then finds the record and reuses the step. So a stage with the same inputs for several
 * platforms or targets (`FROM --platform=$BUILDPLATFORM`, a shared base stage) is built once. A
 * holder that fails releases its keys (at the end of its build), and the next waiter runs the
 * step itself.
 */
export class StepFlights {
  private readonly flights = new Map<Digest, Promise<void>>();

  /** Waits until no other build holds `key`, then holds it; returns the release. */
  async hold(key: Digest): Promise<() => void> {
    for (let current = this.flights.get(key); current; current = this.flights.get(key)) await current;
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.flights.set(key, done);
    return () => {
      if (this.flights.get(key) === done) this.flights.delete(key);
      release();
    };
  }
}

/** Releases every key a build still holds (it failed or was cancelled before recording them). */
export function releaseHeldSteps(sc: StepCache): void {
  for (const release of sc.held?.values() ?? []) release();
  sc.held?.clear();
}

/** The chain key of a stage's first state. */
export function baseKey(baseDigest: string, platform: string): Digest {
  return keyOf({ type: 'base', parent: null, op: { digest: baseDigest, platform } });
}

/**
 * The chain links only steps that change the filesystem (COPY, ADD, RUN, a
 * WORKDIR that creates its directory). Config-only steps (ENV, LABEL, USER, …)
 * do not: what of them matters to a later step is in that step's own op
 * (RUN's env, user and cwd; COPY's resolved destination and owner), so a new
 * LABEL early in a Dockerfile does not rebuild everything after it.
 */
export function chainMeta(state: StageState, op: Record<string, unknown>): Digest {
  return keyOf({ type: 'meta', parent: state.cacheKey ?? null, op });
}

/**
 * The content of a COPY's entries, by destination path: header fields that
 * matter (mode, owner, type, link — never mtime) plus the content digest,
 * from the metadata cache for files whose stat did not change.
 */
export async function copyInputs(
  entries: readonly TarSource[],
  contentOf: (e: TarSource) => Promise<Digest | undefined>,
  sourcePathOf: (e: TarSource) => string | undefined,
): Promise<{ files: Array<{ path: string; digest: Digest }>; tree: Digest }> {
  const files: Array<{ path: string; digest: Digest }> = [];
  const seen = new Set<string>();
  for (const e of entries) {
    const content = e.header.type === 'file' ? await contentOf(e) : undefined;
    const { path: destPath, ...header } = e.header;
    // Named by source path where there is one, so a miss reads "src/main.ts changed";
    // the destination of each is fixed by the op, which is part of the key too.
    const src = sourcePathOf(e);
    const path = src !== undefined && !seen.has(src) ? src : `dest:${destPath}`;
    seen.add(path);
    files.push({ path, digest: fileDigest(header, content) });
  }
  return { files, tree: treeDigest(files) };
}

export interface CachedStep {
  preimage: KeyPreimage;
  key: Digest;
  stepId: string;
}

export function describeStep(session: BuildSession, state: StageState, index: number, preimage: Omit<KeyPreimage, 'parent'>): CachedStep {
  // The base image digest is named as an input too, so a miss it causes reads "base image digest changed".
  const base = state.baseDigest.startsWith('sha256:') ? [{ name: 'base', digest: state.baseDigest as Digest }] : [];
  const full: KeyPreimage = { ...preimage, inputs: [...base, ...(preimage.inputs ?? [])], parent: state.cacheKey ?? null };
  return { preimage: full, key: keyOf(full), stepId: `${session.df.file ?? 'Dockerfile'}#${state.label}#${index}` };
}

/**
 * The layer the last build of this step made, and the per-file digests it was keyed by, when
 * that build had the same op (so the same source path went to the same destination).
 * Undefined when there is none, the cache is off, or the step made no layer. Unlike
 * previousLayerOfStep, both come from one read of the step file: a build recording the step
 * meanwhile cannot pair one build's layer with another's digests.
 */
export async function previousLayerWithFiles(session: BuildSession, step: CachedStep): Promise<{ diffID: Digest; files: Map<string, Digest> } | undefined> {
  const cache = session.stepCache?.cache;
  const last = cache ? await cache.lastPreimage(step.stepId) : undefined;
  if (!cache || !last?.preimage.files || last.preimage.type !== step.preimage.type) return undefined;
  if (canonicalJson(last.preimage.op) !== canonicalJson(stripExcluded(step.preimage.op))) return undefined;
  const diffID = (await cache.entry(last.key))?.rec.layer?.diffID;
  if (!diffID) return undefined;
  return { diffID, files: new Map(last.preimage.files.map((f) => [f.path, f.digest])) };
}

/** Returns the state after a cache hit, or undefined on a miss (with the reasons recorded). */
export async function lookupStep(
  session: BuildSession,
  state: StageState,
  step: CachedStep,
  history: HistoryEntry,
  display: string,
  loc: { file: string; line: number },
): Promise<{ state?: StageState; reasons: string[] }> {
  const sc = session.stepCache;
  const off = sc ? sc.disabled(state.label) : 'no build cache';
  if (!sc || off !== undefined) return { reasons: [`cache disabled by ${off}`] };
  if (sc.flights && !sc.held?.has(step.key)) (sc.held ??= new Map()).set(step.key, await sc.flights.hold(step.key));
  const rec = await sc.cache.lookup(step.key);
  if (rec) {
    release(sc, step.key);
    return { state: reused(session, sc, state, step.key, rec, history), reasons: [] };
  }
  const reasons = await sc.cache.explain(step.stepId, step.preimage);
  sc.misses.push({ step: display, loc, reasons });
  return { reasons };
}

/**
 * The layer the previous build of this step (same Dockerfile, stage and instruction) wrote, when
 * it missed the cache and recorded one: what a rebuild after a small change is most like. Its
 * blob may be gone (gc). For reuse only (compressed members, snapshots), never as a result.
 */
export async function previousLayerOfStep(session: BuildSession, stepId: string): Promise<LayerRef | undefined> {
  return session.stepCache?.cache.lastLayer(stepId).catch(() => undefined);
}

/**
 * The state after the step of `key` (known without its preimage: the copy memo's), or undefined
 * when the cache is off or has no record of it; a miss records nothing (the caller goes on to
 * key the step in full, and that lookup explains the miss).
 */
export async function reuseStep(session: BuildSession, state: StageState, key: Digest, history: HistoryEntry): Promise<StageState | undefined> {
  const sc = session.stepCache;
  if (!sc || sc.disabled(state.label) !== undefined) return undefined;
  const rec = await sc.cache.lookup(key);
  return rec ? reused(session, sc, state, key, rec, history) : undefined;
}

function reused(session: BuildSession, sc: StepCache, state: StageState, key: Digest, rec: NonNullable<Awaited<ReturnType<BuildCache['lookup']>>>, historyIn: HistoryEntry): StageState {
  remember(sc, state.label, key);
  // A reused step keeps the date it was first built (unless SOURCE_DATE_EPOCH fixes all dates).
  const history = session.epoch === undefined ? { ...historyIn, created: rec.createdAt } : historyIn;
  const next = rec.layer ? withLayer(state, rec.layer, history) : { ...state, config: addHistory(state, { ...history, empty_layer: true }) };
  return { ...next, cacheKey: key };
}

export async function recordStep(session: BuildSession, state: StageState, step: CachedStep, layer: LayerRef | undefined, createdAt: string): Promise<void> {
  const sc = session.stepCache;
  if (!sc) return;
  try {
    await sc.cache.record(step.key, step.preimage, { layer, emptyLayer: layer === undefined, createdAt }, step.stepId);
  } finally {
    release(sc, step.key);
  }
  remember(sc, state.label, step.key);
}

/** Lets the steps waiting for `key` go on (to the cache hit, or to build it themselves after a failure). */
function release(sc: StepCache, key: Digest): void {
  sc.held?.get(key)?.();
  sc.held?.delete(key);
}

function remember(sc: StepCache, stage: string, key: Digest): void {
  const list = sc.keys.get(stage) ?? [];
  list.push(key);
  sc.keys.set(stage, list);
}
