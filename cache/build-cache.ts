/**
 * The build cache: step key → result (a layer, or none, plus opaque config
 * edits the builder replays), and per step identity the last preimage, so a
 * miss can be explained by comparing with the previous build of that step.
 *
 * Records are small JSON files in the store's meta (`build-cache/<key hex>`,
 * `build-steps/<sha256(stepId) hex>`); layers are ordinary blobs. A record is
 * only a hit while every blob it names is in the store, so gc can never turn
 * the cache into a source of broken images: roots() tells gc what to keep,
 * and a record whose blob went anyway is dropped on lookup.
 */
import { digestHex, isDigest, sha256, type Digest } from '../image/digest.js';
import type { Descriptor } from '../image/types.js';
import { CacheKeyError } from './errors.js';
import { canonicalJson, keyOf, stripExcluded, type KeyFile, type KeyInput, type KeyPreimage } from './keys.js';
import type { ContentStore } from './store.js';

export interface CacheRecord {
  layer?: { desc: Descriptor; diffID: Digest };
  /** The step changed only the config (no layer, or an empty one the builder chose to drop). */
  emptyLayer: boolean;
  /** When the result was first produced (ISO 8601). */
  createdAt: string;
  /** Config edits to replay are the builder's business: opaque JSON, stored as given. */
  extra?: unknown;
}

/** A record with the links remote-cache export walks (parent step, input keys). */
export interface CacheEntry {
  key: Digest;
  rec: CacheRecord;
  parent: Digest | null;
  /** Digests of the step's inputs; those that are themselves keys are other stages' steps. */
  inputs: Digest[];
}

export const PREIMAGE_MEDIA_TYPE = 'application/vnd.tsbuild.cache.preimage.v1+json';
const RECORDS_NS = 'build-cache';
const STEPS_NS = 'build-steps';
const FORMAT = 1;
/** Preimages with more files than this (or bigger than INLINE_BYTES) go to a blob, keeping step files small. */
const INLINE_FILES = 64;
const INLINE_BYTES = 16 * 1024;
/** lastUsed is rewritten on a hit at most this often: LRU order needs no finer grain, and each write is an fsync. */
const TOUCH_EVERY_MS = 60_000;
/** At most this many per-file messages in one explanation. */
const MAX_FILE_MESSAGES = 20;

interface RecordFile extends CacheEntry {
  format: number;
  lastUsedMs: number;
}

interface StepFile {
  format: number;
  stepId: string;
  key: Digest;
  recordedMs: number;
  preimage?: KeyPreimage;
  preimageBlob?: Digest;
}

const noop = (): void => {};

function keyName(key: Digest): string {
  if (typeof key !== 'string' || !isDigest(key)) throw new CacheKeyError(`not a cache key: ${JSON.stringify(key)}`);
  return digestHex(key);
}

function stepName(stepId: string): string {
  if (typeof stepId !== 'string' || stepId === '') throw new CacheKeyError('stepId must be a non-empty string');
  return digestHex(sha256(stepId));
}

/** The preimage as stored: exclusions stripped (secrets never reach the disk), arrays copied. */
function storedPreimage(p: KeyPreimage): KeyPreimage {
  const out: KeyPreimage = { type: p.type, parent: p.parent, op: stripExcluded(p.op) };
  if (p.inputs) out.inputs = p.inputs.map((i) => ({ name: i.name, digest: i.digest }));
  if (p.files) out.files = p.files.map((f) => ({ path: f.path, digest: f.digest }));
  return out;
}

function isRecordFile(v: unknown): v is RecordFile {
  const r = v as RecordFile | undefined;
  return typeof r === 'object' && r !== null && r.format === FORMAT && typeof r.rec === 'object' && r.rec !== null && isDigest(r.key);
}

export class BuildCache {
  readonly #store: ContentStore;
  readonly #now: () => number;

  constructor(store: ContentStore, options: { now?: () => number } = {}) {
    this.#store = store;
    this.#now = options.now ?? Date.now;
  }

  async #readRecord(key: Digest): Promise<RecordFile | undefined> {
    const name = keyName(key);
    let r: unknown;
    try {
      r = await this.#store.readMeta<unknown>(RECORDS_NS, name);
    } catch {
      await this.#store.deleteMeta(RECORDS_NS, name).catch(noop); // unreadable: a miss, and gone
      return undefined;
    }
    return isRecordFile(r) && r.key === key ? r : undefined;
  }

  /** Whether every blob the record names is present with its size. */
  async #complete(rec: CacheRecord): Promise<boolean> {
    if (!rec.layer) return true;
    const st = await this.#store.stat(rec.layer.desc.digest).catch(() => undefined);
    return st !== undefined && st.size === rec.layer.desc.size;
  }

  /**
   * The result of `key`, or undefined. A record whose layer blob is gone (gc,
   * corruption) is deleted and reported as a miss.
   */
  async lookup(key: Digest): Promise<CacheRecord | undefined> {
    const r = await this.#readRecord(key);
    if (!r) return undefined;
    if (!(await this.#complete(r.rec))) {
      await this.#store.deleteMeta(RECORDS_NS, keyName(key)).catch(noop);
      return undefined;
    }
    if (r.rec.layer) await this.#store.touch(r.rec.layer.desc.digest); // in use: keep it young for gc
    const now = this.#now();
    if (now - r.lastUsedMs >= TOUCH_EVERY_MS) {
      await this.#store.writeMeta(RECORDS_NS, keyName(key), { ...r, lastUsedMs: now } satisfies RecordFile);
    }
    return r.rec;
  }

  /** The stored entry of `key` without checking blobs or counting a use (for export). */
  async entry(key: Digest): Promise<CacheEntry | undefined> {
    const r = await this.#readRecord(key);
    if (!r) return undefined;
    return { key: r.key, rec: r.rec, parent: r.parent, inputs: r.inputs };
  }

  /**
   * Store the result of a step and remember its preimage as the latest of
   * `stepId` (e.g. `<dockerfile path>#<stage>#<instruction index>`). The key
   * must be keyOf(preimage): a mismatch is a builder bug and throws.
   */
  async record(key: Digest, preimage: KeyPreimage, rec: CacheRecord, stepId: string): Promise<void> {
    const name = keyName(key);
    const actual = keyOf(preimage);
    if (actual !== key) throw new CacheKeyError(`cache key ${key} is not the key of its preimage (${actual})`, { key, actual, stepId });
    if (rec.layer && !(await this.#complete(rec))) {
      throw new CacheKeyError(`cache record names layer ${rec.layer.desc.digest}, which is not in the store`, { key, stepId });
    }
    const now = this.#now();
    const clean = JSON.parse(JSON.stringify(rec)) as CacheRecord;
    const file: RecordFile = {
      format: FORMAT,
      key,
      rec: clean,
      parent: preimage.parent,
      inputs: (preimage.inputs ?? []).map((i) => i.digest),
      lastUsedMs: now,
    };
    await this.#store.writeMeta(RECORDS_NS, name, file);
    await this.#writeStep(stepId, key, storedPreimage(preimage), now);
  }

  async #writeStep(stepId: string, key: Digest, pre: KeyPreimage, now: number): Promise<void> {
    const step: StepFile = { format: FORMAT, stepId, key, recordedMs: now };
    const json = canonicalJson(pre);
    if ((pre.files?.length ?? 0) > INLINE_FILES || json.length > INLINE_BYTES) {
      step.preimageBlob = (await this.#store.putJSON(pre, PREIMAGE_MEDIA_TYPE)).digest;
    } else step.preimage = pre;
    await this.#store.writeMeta(STEPS_NS, stepName(stepId), step);
  }

  /**
   * The layer of the last result recorded for `stepId` (the previous build of that step, when
   * it missed), without reading its preimage or counting a use; undefined when there is none.
   * The blob may since have been removed by gc.
   */
  async lastLayer(stepId: string): Promise<CacheRecord['layer']> {
    const s = await this.#stepFile(stepId);
    if (!s || !isDigest(s.key)) return undefined;
    return (await this.#readRecord(s.key))?.rec.layer;
  }

  /** The step file of `stepId`, when it is readable and of this format. */
  async #stepFile(stepId: string): Promise<StepFile | undefined> {
    const s = await this.#store.readMeta<StepFile>(STEPS_NS, stepName(stepId)).catch(() => undefined);
    return s && s.format === FORMAT && s.stepId === stepId ? s : undefined;
  }

  /** The last preimage recorded for `stepId`, if it is still readable. */
  async lastPreimage(stepId: string): Promise<{ key: Digest; preimage: KeyPreimage } | undefined> {
    const s = await this.#stepFile(stepId);
    if (!s) return undefined;
    if (s.preimage) return { key: s.key, preimage: s.preimage };
    if (!s.preimageBlob || !isDigest(s.preimageBlob)) return undefined;
    try {
      return { key: s.key, preimage: await this.#store.readJSON<KeyPreimage>(s.preimageBlob) };
    } catch {
      return undefined; // blob gone or corrupt: as if never recorded
    }
  }

  /**
   * Why `now` (a step that missed) differs from the last build of `stepId`,
   * one sentence per difference. Secrets never appear: both sides are
   * stripped of KEY_EXCLUSIONS before comparing.
   */
  async explain(stepId: string, now: KeyPreimage): Promise<string[]> {
    const last = await this.lastPreimage(stepId);
    if (!last) return ['no previous build of this step'];
    return explainDifferences(last.preimage, now);
  }

  /** Blobs the cache needs kept: record layers and stored preimages. Pass to gc as extraRoots. */
  async roots(): Promise<Digest[]> {
    const out = new Set<Digest>();
    for (const name of await this.#store.listMeta(RECORDS_NS)) {
      const r = await this.#store.readMeta<unknown>(RECORDS_NS, name).catch(() => undefined);
      if (isRecordFile(r) && r.rec.layer && isDigest(r.rec.layer.desc.digest)) out.add(r.rec.layer.desc.digest);
    }
    for (const name of await this.#store.listMeta(STEPS_NS)) {
      const s = await this.#store.readMeta<StepFile>(STEPS_NS, name).catch(() => undefined);
      if (s?.preimageBlob && isDigest(s.preimageBlob)) out.add(s.preimageBlob);
    }
    return [...out].sort();
  }

  /**
   * Records that are unreadable or name a blob the store lacks (a layer, a stored preimage): a
   * lookup would miss on them anyway. With `repair` they are deleted.
   */
  async dangling(options: { repair: boolean }): Promise<Array<{ record: string; problem: string }>> {
    const out: Array<{ record: string; problem: string }> = [];
    const found = async (ns: string, name: string, problem: string): Promise<void> => {
      out.push({ record: `${ns}/${name}`, problem });
      if (options.repair) await this.#store.deleteMeta(ns, name);
    };
    for (const name of await this.#store.listMeta(RECORDS_NS)) {
      const r = await this.#store.readMeta<unknown>(RECORDS_NS, name).catch(() => undefined);
      if (!isRecordFile(r) || digestHex(r.key) !== name) await found(RECORDS_NS, name, 'unreadable record');
      else if (!(await this.#complete(r.rec))) await found(RECORDS_NS, name, `layer ${r.rec.layer?.desc.digest ?? '?'} is missing`);
    }
    for (const name of await this.#store.listMeta(STEPS_NS)) {
      const s = await this.#store.readMeta<StepFile>(STEPS_NS, name).catch(() => undefined);
      if (typeof s !== 'object' || s === null || !isDigest(s.key)) await found(STEPS_NS, name, 'unreadable record');
      else if (s.preimageBlob !== undefined && !(isDigest(s.preimageBlob) && (await this.#store.has(s.preimageBlob)))) {
        await found(STEPS_NS, name, `preimage ${String(s.preimageBlob)} is missing`);
      }
    }
    return out;
  }

  /** Every entry (unordered). */
  async *entries(): AsyncGenerator<CacheEntry & { lastUsedMs: number }> {
    for (const name of await this.#store.listMeta(RECORDS_NS)) {
      const r = await this.#store.readMeta<unknown>(RECORDS_NS, name).catch(() => undefined);
      if (isRecordFile(r)) yield { key: r.key, rec: r.rec, parent: r.parent, inputs: r.inputs, lastUsedMs: r.lastUsedMs };
    }
  }

  /**
   * Add an entry from elsewhere (remote cache import). Its layer blob must
   * already be in the store. An existing local entry is kept (it has our
   * LRU history). Returns whether it was added.
   */
  async importEntry(entry: CacheEntry): Promise<boolean> {
    const name = keyName(entry.key);
    if (await this.#readRecord(entry.key)) return false;
    if (!(await this.#complete(entry.rec))) {
      throw new CacheKeyError(`imported record ${entry.key} names layer ${entry.rec.layer?.desc.digest ?? ''}, which is not in the store`, { key: entry.key });
    }
    const file: RecordFile = { format: FORMAT, key: entry.key, rec: entry.rec, parent: entry.parent, inputs: entry.inputs, lastUsedMs: this.#now() };
    await this.#store.writeMeta(RECORDS_NS, name, file);
    return true;
  }

  /**
   * Forget records: those unused for `olderThanMs`, then the least recently
   * used until the layers still referenced fit in `keepBytes` (a layer
   * shared by several records counts once). Blobs are freed by the next gc.
   */
  async prune(opts: { keepBytes?: number; olderThanMs?: number }): Promise<{ removed: number }> {
    const now = this.#now();
    const all: RecordFile[] = [];
    for (const name of await this.#store.listMeta(RECORDS_NS)) {
      const r = await this.#store.readMeta<unknown>(RECORDS_NS, name).catch(() => undefined);
      if (isRecordFile(r) && keyName(r.key) === name) all.push(r);
      else await this.#store.deleteMeta(RECORDS_NS, name).catch(noop); // unreadable: useless
    }
    const doomed = new Set<Digest>();
    if (opts.olderThanMs !== undefined) {
      for (const r of all) if (now - r.lastUsedMs > opts.olderThanMs) doomed.add(r.key);
    }
    if (opts.keepBytes !== undefined) {
      const live = all.filter((r) => !doomed.has(r.key)).sort((a, b) => b.lastUsedMs - a.lastUsedMs || (a.key < b.key ? -1 : 1));
      const counted = new Set<Digest>();
      let bytes = 0;
      for (const r of live) {
        const l = r.rec.layer?.desc;
        const extra = l && !counted.has(l.digest) ? l.size : 0;
        if (bytes + extra > opts.keepBytes) {
          doomed.add(r.key);
          continue;
        }
        if (l) counted.add(l.digest);
        bytes += extra;
      }
    }
    let removed = 0;
    for (const k of doomed) if (await this.#store.deleteMeta(RECORDS_NS, keyName(k))) removed++;
    if (opts.olderThanMs !== undefined) {
      // Step history older than that explains nothing useful any more.
      for (const name of await this.#store.listMeta(STEPS_NS)) {
        const s = await this.#store.readMeta<StepFile>(STEPS_NS, name).catch(() => undefined);
        if (!s || now - s.recordedMs > opts.olderThanMs) await this.#store.deleteMeta(STEPS_NS, name).catch(noop);
      }
    }
    return { removed };
  }
}

// ---------------------------------------------------------------- explanations

function short(v: unknown): string {
  if (v === undefined) return '(unset)';
  const s = typeof v === 'string' ? v : canonicalJson(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function shortDigest(d: unknown): string {
  return typeof d === 'string' ? d.slice(0, 'sha256:'.length + 12) : short(d);
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function same(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}

function fileMessages(prev: KeyFile[], now: KeyFile[]): string[] {
  const before = new Map(prev.map((f) => [f.path, f.digest]));
  const after = new Map(now.map((f) => [f.path, f.digest]));
  const msgs: string[] = [];
  for (const p of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const a = before.get(p);
    const b = after.get(p);
    if (a === b) continue;
    msgs.push(a === undefined ? `${p} added` : b === undefined ? `${p} removed` : `${p} changed`);
  }
  if (msgs.length <= MAX_FILE_MESSAGES) return msgs;
  return [...msgs.slice(0, MAX_FILE_MESSAGES), `... and ${msgs.length - MAX_FILE_MESSAGES} more file changes`];
}

function inputMessages(type: string, prev: KeyInput[], now: KeyInput[]): string[] {
  const before = new Map(prev.map((i) => [i.name, i.digest]));
  const after = new Map(now.map((i) => [i.name, i.digest]));
  const msgs: string[] = [];
  for (const n of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const a = before.get(n);
    const b = after.get(n);
    if (a === b) continue;
    if (a !== undefined && b !== undefined && (n === 'base' || type === 'base')) {
      msgs.push(`base image digest changed (${shortDigest(a)} → ${shortDigest(b)})`);
    } else msgs.push(a === undefined ? `input ${n} added` : b === undefined ? `input ${n} removed` : `input ${n} changed`);
  }
  if (msgs.length === 0 && prev.map((i) => i.name).join('\0') !== now.map((i) => i.name).join('\0')) msgs.push('inputs reordered');
  return msgs;
}

/**
 * The differences between two preimages of the same step, as sentences:
 * instruction kind or parameters, build args (`op.args`), the base image
 * (`op.digest` of a 'base' step, or an input named `base`), the parent step,
 * files of COPY sources (`files`), other inputs.
 */
export function explainDifferences(prevRaw: KeyPreimage, nowRaw: KeyPreimage): string[] {
  const prev = storedPreimage(prevRaw);
  const now = storedPreimage(nowRaw);
  if (keyOf(prev) === keyOf(now)) {
    return ['same inputs as the last build of this step; its result is no longer cached (pruned, or its layer was garbage-collected)'];
  }
  if (prev.type !== now.type) return [`instruction changed: ${prev.type} → ${now.type}`];
  const out: string[] = [];
  if (prev.parent !== now.parent) out.push('parent step changed');
  for (const k of [...new Set([...Object.keys(prev.op), ...Object.keys(now.op)])].sort()) {
    const a = prev.op[k];
    const b = now.op[k];
    if (same(a, b)) continue;
    if (k === 'args' && (isPlainRecord(a) || a === undefined) && (isPlainRecord(b) || b === undefined)) {
      const pa = a ?? {};
      const pb = b ?? {};
      for (const name of [...new Set([...Object.keys(pa), ...Object.keys(pb)])].sort()) {
        const x = pa[name];
        const y = pb[name];
        if (same(x, y)) continue;
        if (x === undefined) out.push(`build arg ${name} added (${short(y)})`);
        else if (y === undefined) out.push(`build arg ${name} removed`);
        else out.push(`build arg ${name} ${short(x)} → ${short(y)}`);
      }
    } else if (k === 'digest' && now.type === 'base') {
      out.push(`base image digest changed (${shortDigest(a)} → ${shortDigest(b)})`);
    } else {
      out.push(`instruction changed: ${k} ${short(a)} → ${short(b)}`);
    }
  }
  const files = prev.files && now.files ? fileMessages(prev.files, now.files) : [];
  out.push(...files);
  // Per-file messages already say why a source input changed; input sentences would only repeat them.
  if (files.length === 0) out.push(...inputMessages(now.type, prev.inputs ?? [], now.inputs ?? []));
  if (out.length === 0) out.push('inputs changed');
  return out;
}
