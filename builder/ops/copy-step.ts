import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Instruction } from '../../parser/instructions.js';
import { sha256, type Digest } from '../../image/digest.js';
import { createTarStream } from '../../image/tar/writer.js';
import { tee } from '../../image/tee.js';
import { parseChmod } from '../chmod.js';
import { BuildUsageError, CopySourceError, type SourceLocation } from '../errors.js';
import { isTsbuildError } from '../../errors/tsbuild-error.js';
import { parseGitSource } from '../../registry/git-url.js';
import { checkoutGit } from '../context-source.js';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildSession } from '../session.js';
import { layersFor } from '../stage-sources.js';
import { CREATED_BY_SUFFIX, withLayer, type StageState, type StepOutcome } from '../stage-state.js';
import { copyInputs, describeStep, lookupStep, previousLayerOfStep, previousLayerWithFiles, recordStep, reuseStep, type CachedStep } from '../step-cache.js';
import type { DeltaHint } from '../../runtime/index.js';
import type { TarSource } from '../../image/tar/writer.js';
import { entryParts } from '../../image/safe-path.js';
import { downloadSource, isUrlSource } from './add-url.js';
import { planCopy, stampCopySources, type CopyRequest, type CopyRoot } from './copy.js';
import { SourceStamp } from '../../cache/copy-memo.js';
import type { HistoryEntry } from '../../image/types.js';
import { walkContextBatches, type ContextEntry } from '../context.js';
import type { FsView } from '../fsview.js';
import { ownerOf } from './workdir.js';
import { clampToEpoch } from '../epoch.js';

function locOf(ins: { loc: { file: string; line: number; column: number } }): { file: string; line: number; column: number } {
  return { file: ins.loc.file, line: ins.loc.line, column: ins.loc.column };
}

/** COPY and ADD: plan the entries, key them by content, reuse a cached layer or write one. */
export async function copyStep(
  session: BuildSession,
  state: StageState,
  ins: Extract<Instruction, { kind: 'copy' | 'add' }>,
  ex: (w: string) => string,
  created: string,
  index: string,
  display: string,
): Promise<StepOutcome> {
  const loc = locOf(ins);
  let root: CopyRoot = session.context;
  let fromLabel = '';
  // COPY --from a stage or image: its result depends only on that layer stack (by diffID), the
  // paths and the flags — so it is looked up by those before anything is unpacked.
  let fromLayers: StageState['layers'] | undefined;
  if (ins.from !== undefined) {
    const from = ex(ins.from);
    fromLabel = ` --from=${from}`;
    const nc = session.namedContexts.get(from);
    if (nc?.kind === 'dir') root = nc.root;
    else fromLayers = await layersFor(session, state.label, from, { loc, text: ins.original.split('\n')[0] ?? '' });
  }
  const owner = ins.chown !== undefined && ins.chown !== '' ? await ownerOf(session, state, ex(ins.chown)) : undefined;
  const chmod = ins.chmod !== undefined && ins.chmod !== '' ? parseChmod(ex(ins.chmod)) : undefined;
  const heredocs = new Map(ins.heredocs.map((h) => [h.name, h.expand ? ex(h.content) : h.content]));
  const sources = ins.sources.map((src) => (heredocs.has(src) ? src : ex(src)));
  const dest = ex(ins.dest);
  const checksum = ins.kind === 'add' && ins.checksum !== undefined ? ex(ins.checksum) : undefined;
  // ADD <git url>: the checkout (its subdir) is copied into dest, as BuildKit's llb.Copy of the git state's "/"
  let planSources = sources;
  const git = await gitSource(session, ins, sources, checksum, loc);
  if (git) {
    root = git;
    planSources = ['.'];
  }
  const downloads = new Map<string, Awaited<ReturnType<typeof downloadSource>>>();
  for (const src of git ? [] : sources) {
    if (!isUrlSource(src)) continue;
    if (ins.kind !== 'add') throw new BuildUsageError(`source can't be a URL for COPY: ${src}`, loc);
    downloads.set(src, await downloadSource(await session.registry(), src, session.views.tmpDir, { checksum, loc, epoch: session.epoch, signal: session.signal }));
  }
  if (checksum !== undefined && downloads.size === 0 && !git) {
    throw new BuildUsageError('ADD --checksum is only valid for URL and git sources', loc);
  }
  const by = `${ins.kind.toUpperCase()}${fromLabel}${ins.chown ? ` --chown=${ins.chown}` : ''}${ins.chmod ? ` --chmod=${ins.chmod}` : ''}${ins.link ? ' --link' : ''} ${sources.join(' ')} ${dest}`;
  const history = { created, created_by: by + CREATED_BY_SUFFIX, comment: 'buildkit.dockerfile.v0' };
  const op = { kind: ins.kind, dest, workdir: state.config.config.WorkingDir || '/', link: ins.link, parents: ins.parents, exclude: ins.exclude.map(ex), from: fromLabel, created_by: by, epoch: session.epoch ?? null, owner: owner ?? null };
  const stepIndex = Number.isNaN(Number(index)) ? 0 : Number(index);
  let fromStep: ReturnType<typeof describeStep> | undefined;
  let fromReasons: string[] = [];
  if (fromLayers) {
    fromStep = describeStep(session, state, stepIndex, {
      type: 'copy-from',
      op: { ...op, chmod: ins.chmod !== undefined ? ex(ins.chmod) : null },
      inputs: [{ name: 'from-layers', digest: sha256(fromLayers.map((l) => l.diffID).join('\n')) }],
    });
    const hit = await lookupStep(session, state, fromStep, history, display, { file: loc.file, line: loc.line });
    if (hit.state) return { ...hit.state, cacheHit: true };
    fromReasons = hit.reasons;
    root = { dir: await fromLayersDir(session, fromLayers, sources), excludes: [], isContext: false };
  }
  const planReq = {
    kind: ins.kind,
    root,
    sources: planSources,
    heredocs,
    dest,
    workdir: state.config.config.WorkingDir || '/',
    owner,
    chmod,
    parents: ins.parents,
    link: ins.link,
    exclude: ins.exclude.map(ex),
    unpack: ins.kind === 'add' ? ins.unpack !== false : false,
    createdTime: session.epoch ?? 0,
    loc,
    downloads,
    scratchDir: session.views.tmpDir,
    readLower: (path: string) => session.views.readFile(state.layers, path),
  };
  // A COPY is keyed by a plan made without the lower filesystem: the parent key already fixes
  // that filesystem, so it adds nothing to the key, and loading its view (say a 100,000-entry
  // node_modules layer below the COPY) is what a cached rebuild must not pay. A miss plans again
  // against the real lower, from the same directory listings. ADD (archives unpack while
  // planning) plans once, against the lower.
  const keyedWithoutLower = ins.kind === 'copy' && !ins.link && !fromLayers;
  // A COPY from a directory whose sources' stat data is what it was last time has the key it had
  // then (cache/copy-memo.ts): look that up before planning anything.
  const memo = keyedWithoutLower ? copyMemoFor(session, state, stepIndex, op, root, { ...planReq, chmod: ins.chmod !== undefined ? ex(ins.chmod) : null }) : undefined;
  if (memo) {
    const reused = await memo.reuse(planReq, history);
    if (reused) return { ...reused, cacheHit: true };
  }
  const walk = keyedWithoutLower ? memoWalk() : undefined;
  const lowerView = (): Promise<FsView | undefined> => (ins.link ? Promise.resolve(undefined) : session.views.fsView(state.layers));
  let lower = keyedWithoutLower ? undefined : await lowerView();
  let plan = await planCopy({ ...planReq, lower, ...(walk ? { walk } : {}) });
  // COPY --from is keyed by its source layers (above): hashing every copied file again for a key
  // nobody reads cost a second read of all of them.
  const step = fromStep ?? (await contentStep(session, state, stepIndex, op, plan, root, downloads));
  const hit = fromStep ? { reasons: fromReasons } : await lookupStep(session, state, step, history, display, { file: loc.file, line: loc.line });
  if ('state' in hit && hit.state) {
    await memo?.remember({ ...planReq, ...(walk ? { walk } : {}) }, step.key);
    return { ...hit.state, cacheHit: true };
  }
  const keyedEntries = plan.entries;
  if (keyedWithoutLower) {
    lower = await lowerView();
    plan = await planCopy({ ...planReq, lower, ...(walk ? { walk } : {}) });
  }
  const entries = plan.entries.map((e) => clampToEpoch(e, session.epoch));
  const seed = session.runFollows(state.label, Number(index));
  const hint = seed && !fromStep ? await deltaHint(session, step, keyedEntries, entries) : undefined;
  const layer = await writeLayer(session, createTarStream(entries), seed, step.stepId, hint);
  const ref = { desc: layer.desc, diffID: layer.diffID };
  await session.views.rememberIndex(layer.diffID, plan.entries.map((e) => e.header));
  await recordStep(session, state, step, ref, created);
  await memo?.remember({ ...planReq, ...(walk ? { walk } : {}) }, step.key);
  const next: StepOutcome = { ...withLayer(state, ref, history), cacheKey: step.key, missReason: hit.reasons.join('; ') };
  if (lower) {
    const view = lower.clone();
    view.applyEntries(plan.entries.map((e) => e.header), next.layers.length - 1);
    session.views.setFsView(next.layers, view);
  }
  return next;
}

/**
 * Where COPY --from reads its source stack: when the build runs containers anyway, the runtime's
 * read-only overlay of the stack's layer snapshots (the source stage's RUN output already is one:
 * nothing is unpacked); else, or when a layer has no snapshot, the stack unpacked (only the parts
 * on the way to and under the sources).
 */
async function fromLayersDir(s: BuildSession, layers: StageState['layers'], sources: readonly string[]): Promise<string> {
  if (s.df.stages.some((st) => st.instructions.some((i) => i.kind === 'run'))) {
    const view = await s
      .runtime()
      .then((rt) => rt.layerView(layers.map((l) => s.views.toLayer(l))))
      .catch(() => undefined);
    if (view) return view;
  }
  return s.views.unpackedFor(layers, sources);
}

/**
 * The key of a COPY from the context (or a named context): every copied entry's content and
 * metadata (never mtime); under --chmod/--chown only the resulting mode/owner, so a source's own
 * mode can't cause a miss.
 */
async function contentStep(
  s: BuildSession,
  state: StageState,
  stepIndex: number,
  op: Record<string, unknown>,
  plan: Awaited<ReturnType<typeof planCopy>>,
  root: CopyRoot,
  downloads: Map<string, Awaited<ReturnType<typeof downloadSource>>>,
): Promise<ReturnType<typeof describeStep>> {
  const hasher = s.stepCache ? await s.stepCache.hasher(root.dir) : undefined;
  const inputs = await copyInputs(plan.entries, async (e) => {
    s.signal?.throwIfAborted(); // hashing a large context is long: stop between files
    if (Buffer.isBuffer(e.body)) return sha256(e.body);
    const o = plan.origins.get(e.header.path);
    const dl = o ? downloads.get(o.path) : undefined;
    if (dl) return dl.contentDigest;
    if (!o || !hasher) return undefined;
    // Files of an unpacked ADD archive live outside the root: hash them directly.
    if (!o.absPath.startsWith(root.dir + '/')) return hashFileContent(o.absPath);
    return hasher.hashFile(o.absPath, { size: o.size, mtimeMs: o.mtimeMs, ctimeMs: o.ctimeMs, ino: o.ino, mode: 0o100000 | o.mode }, s.signal);
  }, (e) => plan.origins.get(e.header.path)?.path);
  return describeStep(s, state, stepIndex, {
    type: 'copy',
    op,
    inputs: [{ name: 'sources', digest: inputs.tree }],
    files: inputs.files,
  });
}

/**
 * The copy memo of a COPY from a directory, or undefined when the cache is off for the stage or
 * the directory is scratch. Its stamp covers the step's key preimage without the content
 * (op, parent, base) and the request the plan is made from.
 */
function copyMemoFor(
  s: BuildSession,
  state: StageState,
  stepIndex: number,
  op: Record<string, unknown>,
  root: CopyRoot,
  request: Omit<CopyRequest, 'chmod' | 'lower'> & { chmod: string | null },
): { reuse: (req: Omit<CopyRequest, 'lower'>, history: HistoryEntry) => Promise<StageState | undefined>; remember: (req: Omit<CopyRequest, 'lower'>, key: Digest) => Promise<void> } | undefined {
  const sc = s.stepCache;
  const memo = sc && sc.disabled(state.label) === undefined ? sc.copyMemo(root.dir) : undefined;
  if (!memo) return undefined;
  const { preimage, stepId } = describeStep(s, state, stepIndex, { type: 'copy', op });
  const { kind, sources, heredocs, dest, workdir, owner, chmod, parents, link, exclude, unpack, createdTime } = request;
  const material = { preimage, request: { kind, root, sources, heredocs: [...heredocs], dest, workdir, owner: owner ?? null, chmod, parents, link, exclude, unpack, createdTime } };
  // Before the plan first looks at a file: an entry changed after this is never remembered.
  const startedAt = memo.now();
  const stampOf = async (req: Omit<CopyRequest, 'lower'>): Promise<{ digest: Digest; newestMs: number }> => {
    const stamp = new SourceStamp(material);
    await stampCopySources({ ...req, lower: undefined }, stamp);
    return stamp.finish();
  };
  return {
    // Any failure (a source missing, say) is left to the full plan, which reports it.
    reuse: async (req, history) => {
      // a step that remembers nothing (a cold build) is not stamped: the plan walks the sources anyway
      const keyFor = await memo.lookup(root.dir, stepId);
      const stamp = keyFor && (await stampOf(req).catch(() => undefined));
      const key = stamp && keyFor(stamp.digest);
      return key ? reuseStep(s, state, key, history) : undefined;
    },
    // Stamped from the listings the plan used (`req.walk`), checked for racy entries against
    // startedAt: what is remembered is what the key was computed from.
    remember: async (req, key) => {
      const stamp = await stampOf(req).catch(() => undefined);
      if (stamp) await memo.remember(root.dir, stepId, stamp, key, startedAt).catch(() => false);
    },
  };
}

/**
 * The checkout of an ADD's git source, as a copy root; undefined when no source is a git URL.
 * `--checksum` is the commit the ref must resolve to; `--keep-git-dir` keeps `.git`.
 */
async function gitSource(
  s: BuildSession,
  ins: Extract<Instruction, { kind: 'copy' | 'add' }>,
  sources: string[],
  checksum: string | undefined,
  loc: SourceLocation,
): Promise<CopyRoot | undefined> {
  const git = sources.map((src) => parseGitSource(src)).filter((g) => g !== undefined);
  if (git.length === 0) return undefined;
  if (ins.kind !== 'add') throw new BuildUsageError(`source can't be a git ref for COPY: ${git[0]!.remote}`, loc);
  if (sources.length > 1) throw new BuildUsageError('ADD of a git repository takes it as its only source (several sources with a git URL are not supported yet)', loc);
  const fromUrl = git[0]!;
  if (checksum !== undefined && fromUrl.checksum !== undefined && checksum !== fromUrl.checksum) throw new BuildUsageError(`checksum mismatch "${checksum}" != "${fromUrl.checksum}"`, loc);
  if (ins.keepGitDir !== undefined && fromUrl.keepGitDir !== undefined && ins.keepGitDir !== fromUrl.keepGitDir) throw new BuildUsageError('inconsistent keep-git-dir configuration', loc);
  const source = { ...fromUrl, ...(checksum !== undefined ? { checksum } : {}) };
  await mkdir(s.views.tmpDir, { recursive: true });
  const checkout = await mkdtemp(join(s.views.tmpDir, 'git-'));
  try {
    const { dir } = await checkoutGit(source, join(checkout, 'repo'), s.git, { keepGitDir: ins.keepGitDir ?? fromUrl.keepGitDir ?? false, ...(s.signal ? { signal: s.signal } : {}) });
    return { dir, excludes: [], isContext: false };
  } catch (e) {
    if (s.signal?.aborted) throw s.signal.reason;
    // at the ADD line, with git's reason
    throw isTsbuildError(e) ? new CopySourceError(e.message, loc, { code: e.code }) : e;
  }
}

/**
 * Writes a layer to the store; when a RUN comes next, the same tar also feeds
 * the runtime's snapshot of it, so that RUN need not gunzip and unpack it again
 * (with a hint, the runtime writes only what changed since the step's last build).
 * A failed snapshot only costs that later unpack. The gzip members this step's
 * previous layer shares with the new one are copied from it, not deflated again.
 */
async function writeLayer(s: BuildSession, tar: Readable, seed: boolean, stepId: string, hint?: DeltaHint): Promise<Awaited<ReturnType<BuildSession['store']['ingestLayer']>>> {
  const previous = await previousLayerOfStep(s, stepId);
  // The signal reaches the chunk loop of the ingest: SIGTERM stops a COPY of gigabytes mid-way.
  const opts = { ...(s.signal ? { signal: s.signal } : {}), ...(previous ? { reuseFrom: [previous.desc.digest] } : {}) };
  if (!seed) return s.store.ingestLayer(tar, opts);
  const rt = await s.runtime();
  const t = tee(tar);
  const ingest = s.store.ingestLayer(t.main, opts);
  const snapshot = rt.seedLayer(t.side, ingest.then((l) => l.diffID), hint).catch((e: Error) => {
    t.detachSide();
    s.emit({ type: 'message', level: 'warn', text: `could not pre-build a snapshot (the next RUN unpacks the layer): ${e.message}` });
  });
  const [layer] = await Promise.all([ingest, snapshot]);
  return layer;
}

/**
 * What the runtime needs to make this COPY's snapshot as a delta on the snapshot of the layer
 * the step's last build made (runtime/delta.ts): which entries have the same header (but mtime)
 * and content as then, by the per-file digests of both keys. `keyed` are the entries the key
 * was computed from (one file digest each, in order); `entries` those the layer is written from.
 */
async function deltaHint(session: BuildSession, step: CachedStep, keyed: readonly TarSource[], entries: readonly TarSource[]): Promise<DeltaHint | undefined> {
  const files = step.preimage.files;
  if (!files || files.length !== keyed.length) return undefined;
  const prev = await previousLayerWithFiles(session, step);
  if (!prev) return undefined;
  const same = new Set<string>();
  files.forEach((f, i) => {
    if (prev.files.get(f.path) === f.digest) same.add(entryParts(keyed[i]!.header.path).join('/'));
  });
  return { base: prev.diffID, headers: entries.map((e) => e.header), sameAsBase: (rel) => same.has(rel) };
}

async function hashFileContent(abs: string): Promise<Digest> {
  const h = createHash('sha256');
  for await (const c of createReadStream(abs)) h.update(c as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** walkContextBatches, with each listing kept for a second plan of the same step (same files, same order). */
function memoWalk(): typeof walkContextBatches {
  const seen = new Map<string, ContextEntry[][]>();
  return async function* (root, opts = {}) {
    const key = JSON.stringify([root, opts.excludes ?? [], opts.includes ?? []]);
    let batches = seen.get(key);
    if (!batches) {
      batches = [];
      for await (const batch of walkContextBatches(root, opts)) batches.push(batch);
      seen.set(key, batches);
    }
    yield* batches;
  };
}
