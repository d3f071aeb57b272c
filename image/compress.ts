/**
 * Parallel gzip: the input is cut into fixed-size members, each compressed on the libuv pool,
 * and the members are emitted in order. The result is one valid multi-member gzip file that
 * every gunzip (GNU gzip, Go's compress/gzip, node) reads back; for the same input, level and
 * member size (and zlib build) it is always the same bytes. A single zlib stream uses one core;
 * this uses all of them (research/deps.md §4: 67–74 MB/s against 38–40 at level 6). Members that
 * would not shrink are stored, not deflated (see levelFor).
 *
 * Layers use gzipTarMembers: members cut on tar-entry boundaries chosen by the entries alone, so
 * a rebuild that changes one file changes only the member holding it, and the store can reuse
 * every other member's compressed bytes from the previous blob instead of deflating them again.
 */
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { headerFrame, paxPathAndSize, TAR_BLOCK, tarPaddingSize } from './tar/decode.js';

export interface GzipOptions {
  /** zlib level 0–9, default 6. */
  level?: number;
  /** Bytes of input per gzip member, default 1 MiB. Changing it changes the output bytes. */
  memberSize?: number;
  /** Members compressed at once, default: number of cores. Does not change the output bytes. */
  concurrency?: number;
}

const gzipAsync = promisify(zlib.gzip) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;
const deflateRawAsync = promisify(zlib.deflateRaw) as (buf: Buffer, opts: zlib.ZlibOptions) => Promise<Buffer>;
const MiB = 1024 * 1024;
/** Incompressibility probe: this many samples of this size, spread over a member. */
const SAMPLE = 16 * 1024;
const SAMPLES = 4;

/**
 * Already-compressed bytes (archives, images, binaries' packed sections, random data) do not
 * shrink, and deflate at level 6 spends the most time on exactly those: a member whose samples
 * all stay above 98% of their size at level 1 is stored (level 0, ~30x faster). The choice
 * depends only on the member's bytes, so the output stays deterministic.
 */
async function levelFor(data: Buffer, level: number): Promise<number> {
  if (level === 0 || data.length < SAMPLE * SAMPLES) return level;
  const step = Math.floor((data.length - SAMPLE) / (SAMPLES - 1));
  let raw = 0;
  let packed = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const sample = data.subarray(i * step, i * step + SAMPLE);
    raw += sample.length;
    packed += (await deflateRawAsync(sample, { level: 1 })).length;
  }
  return packed > raw * 0.98 ? 0 : level;
}

class ParallelGzip extends Transform {
  readonly #level: number;
  readonly #memberSize: number;
  readonly #concurrency: number;
  #member: Buffer;
  #filled = 0;
  /** Members being compressed, oldest first. */
  readonly #queue: Array<Promise<Buffer>> = [];
  #emitted = false;

  constructor(opts: GzipOptions) {
    super();
    const level = opts.level ?? 6;
    const memberSize = opts.memberSize ?? MiB;
    const concurrency = opts.concurrency ?? availableParallelism();
    if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip level must be 0-9, got ${level}`);
    if (!Number.isInteger(memberSize) || memberSize < 1) throw new RangeError(`memberSize must be a positive integer, got ${memberSize}`);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be >= 1, got ${concurrency}`);
    this.#level = level;
    this.#memberSize = memberSize;
    this.#concurrency = concurrency;
    this.#member = Buffer.allocUnsafe(memberSize);
  }

  #startMember(data: Buffer): void {
    const p = levelFor(data, this.#level).then((level) => gzipAsync(data, { level, chunkSize: MiB }));
    p.catch(() => undefined); // handled when awaited in order; avoid an unhandled rejection meanwhile
    this.#queue.push(p);
  }

  /** Push finished members in order; wait while more than `keep` are in flight. */
  async #emit(keep: number): Promise<void> {
    while (this.#queue.length > keep) {
      const out = await (this.#queue.shift() as Promise<Buffer>);
      this.#emitted = true;
      this.push(out);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#accept(chunk).then(() => cb(), cb);
  }

  async #accept(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, this.#memberSize - this.#filled);
      chunk.copy(this.#member, this.#filled, off, off + n);
      this.#filled += n;
      off += n;
      if (this.#filled === this.#memberSize) {
        this.#startMember(this.#member);
        // A fresh buffer: the one handed to zlib is read on the thread pool.
        this.#member = Buffer.allocUnsafe(this.#memberSize);
        this.#filled = 0;
        // Bounded memory: at most `concurrency` members in flight plus the one being filled.
        await this.#emit(this.#concurrency - 1);
      }
    }
  }

  override _flush(cb: TransformCallback): void {
    // An empty input still gives a valid (empty) gzip file.
    if (this.#filled > 0 || (!this.#emitted && this.#queue.length === 0)) {
      this.#startMember(this.#member.subarray(0, this.#filled));
    }
    this.#emit(0).then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#queue.length = 0;
    cb(err);
  }
}

/** A Transform that gzips its input as a deterministic multi-member gzip, compressing members in parallel. */
export function createParallelGzip(opts: GzipOptions = {}): Transform {
  return new ParallelGzip(opts);
}

/** A gunzip Transform; node's reads every member of a multi-member file. */
export function createGunzip(): Transform {
  return zlib.createGunzip({ chunkSize: 128 * 1024 });
}

/**
 * `source` gunzipped. Unlike `source.pipe(createGunzip())`, destroying the result (a tar reader
 * that stops early) destroys the source too, so its file handle closes now, not at garbage
 * collection (Node warns about that, DEP0137).
 */
export function gunzipStream(source: Readable): Readable {
  return pipeline(source, createGunzip(), () => {});
}

/**
 * The version of what turns a member's input into its compressed bytes (the gzip call, the
 * stored-vs-deflated probe): change it with them, so members compressed under the old rules are
 * not reused. (The cut rules decide which members exist, not how one compresses.)
 */
const TAR_MEMBER_RULES = 1;
/** Members aim at about this much input; an entry at least this long stands alone, cut in pieces of it. */
const TARGET_MEMBER = MiB;
/** No cut after an entry before the member holds this much (tiny members compress badly). */
const MIN_MEMBER = 256 * 1024;
/** A cut is forced after the entry that brings a member to this much. */
const MAX_MEMBER = 4 * MiB;
/** PAX/GNU records longer than this are no real header's (the decoder refuses them too): framed as opaque input. */
const MAX_META_RECORD = 16 * MiB;

export interface TarGzipOptions {
  /** zlib level 0–9, default 6. */
  level?: number;
  /** Members compressed at once, default: number of cores. Does not change the output bytes. */
  concurrency?: number;
  /**
   * The compressed bytes of an earlier member whose uncompressed bytes hash to `key` (sha256 hex),
   * made under the same memberFormat; undefined to deflate. Bytes that are not a gzip member of
   * exactly this input (length and CRC-32 checked) are not used.
   */
  reuse?: (key: string, uncompressedSize: number) => Promise<Buffer | undefined>;
  /** Called for each member in output order, before its bytes are emitted. */
  onMember?: (member: GzipMember) => void;
}

export interface GzipMember {
  /** sha256 hex of the member's uncompressed bytes; none for a stored (level 0) member, which is not worth reusing. */
  key?: string;
  uncompressedSize: number;
  compressedSize: number;
  /** Its bytes came from `reuse`, not from deflate. */
  reused: boolean;
}

/**
 * Everything besides a member's input that decides its compressed bytes under gzipTarMembers:
 * the rules version, the level and the zlib in use (node and bun link different ones). Reuse a
 * compressed member only where this is equal.
 */
export function memberFormat(level = 6): string {
  return `tar-members-${TAR_MEMBER_RULES}/level-${level}/zlib-${process.versions.zlib ?? 'unknown'}`;
}

/** 32-bit FNV-1a of the path with murmur3's finalizer: a well-spread, cheap, stable number per path. */
function pathHash(path: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Whether a member ends after this entry: with a chance proportional to the entry's length (so
 * members average about TARGET_MEMBER whatever the file sizes), decided by its path, so the same
 * entries always give the same cuts.
 */
function cutsAfter(path: string, length: number): boolean {
  return pathHash(path) / 2 ** 32 < length / TARGET_MEMBER;
}

/** Whether `compressed` is a single gzip member whose content has the length and CRC-32 of `data`. */
function isMemberOf(compressed: Buffer, data: Buffer): boolean {
  if (compressed.length < 18 || compressed[0] !== 0x1f || compressed[1] !== 0x8b) return false;
  const crc = compressed.readUInt32LE(compressed.length - 8);
  const size = compressed.readUInt32LE(compressed.length - 4);
  return size === data.length % 2 ** 32 && crc === zlib.crc32(data);
}

type Scan =
  /** Collecting a header block. */
  | { state: 'header' }
  /** Collecting the payload of a PAX 'x' or GNU 'L' record (for the path and size of the next entry). */
  | { state: 'meta'; flag: 'x' | 'L'; left: number; parts: Buffer[]; pad: number }
  /** Passing `left` bytes (payload, content, padding) into the member. */
  | { state: 'body'; left: number; endsEntry: boolean }
  /** Past the end-of-archive blocks, or input this scanner cannot frame: members cut at MAX_MEMBER only. */
  | { state: 'opaque' };

/**
 * gzip of a tar stream as a deterministic multi-member gzip whose members end on tar-entry
 * boundaries (a Transform; headers framed by the one tar decoder's headerFrame):
 * - an entry (its PAX/GNU long-name records, header, content and padding) shorter than
 *   TARGET_MEMBER joins the open member; the member ends after it when cutsAfter says so and it
 *   holds MIN_MEMBER, or when it reaches MAX_MEMBER;
 * - a longer entry stands alone, cut every TARGET_MEMBER bytes from its first header byte, so a
 *   big file still compresses in parallel and its pieces do not shift with what came before;
 * - the end-of-archive blocks (and anything after) end the last member.
 * The cuts depend only on the entries, never on an earlier build, and re-synchronise: a change
 * to one entry's content or size changes the member holding it (and at most, through the minimum
 * and maximum, the next cut); later members come out as before. Input that is not a tar is still
 * compressed (members of MAX_MEMBER). Memory: about MAX_MEMBER × (concurrency + 1).
 */
class TarMemberGzip extends Transform {
  readonly #level: number;
  readonly #concurrency: number;
  readonly #opts: TarGzipOptions;
  readonly #keyed: boolean;
  #buf = Buffer.allocUnsafe(2 * MiB);
  /** Bytes in the open member: #copied of them in #buf, the rest in #span. */
  #filled = 0;
  #copied = 0;
  #span: { chunk: Buffer; from: number; to: number } | undefined;
  /** Where in the open member the entry being scanned starts (its first record or header). */
  #entryStart = 0;
  /** The entry's path and PAX size, from records before its header. */
  #longPath: string | undefined;
  #paxSize: number | undefined;
  /** The entry being passed is TARGET_MEMBER or longer: cut in pieces from #entryStart. */
  #big = false;
  #entryLength = 0;
  #entryName = '';
  readonly #block = Buffer.alloc(TAR_BLOCK);
  #blockFill = 0;
  #scan: Scan = { state: 'header' };
  readonly #queue: Array<Promise<{ out: Buffer; member?: GzipMember }>> = [];
  #started = 0;

  constructor(opts: TarGzipOptions) {
    super();
    const level = opts.level ?? 6;
    const concurrency = opts.concurrency ?? availableParallelism();
    if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip level must be 0-9, got ${level}`);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be >= 1, got ${concurrency}`);
    this.#level = level;
    this.#concurrency = concurrency;
    this.#opts = opts;
    this.#keyed = opts.reuse !== undefined || opts.onMember !== undefined;
  }

  async #compress(data: Buffer): Promise<{ out: Buffer; member?: GzipMember }> {
    const level = await levelFor(data, this.#level);
    const deflate = (): Promise<Buffer> => gzipAsync(data, { level, chunkSize: MiB });
    if (!this.#keyed) return { out: await deflate() };
    if (level === 0) {
      // Stored, not deflated: as cheap to redo as to copy, so not worth a hash (the big files of a layer).
      const out = await deflate();
      return { out, member: { uncompressedSize: data.length, compressedSize: out.length, reused: false } };
    }
    // WebCrypto hashes on the thread pool, beside the deflates, not on the main thread.
    const key = Buffer.from(await crypto.subtle.digest('SHA-256', data)).toString('hex');
    const old = await this.#opts.reuse?.(key, data.length);
    const reused = old !== undefined && isMemberOf(old, data);
    const out = reused ? old : await deflate();
    return { out, member: { key, uncompressedSize: data.length, compressedSize: out.length, reused } };
  }

  /**
   * Adds chunk[from, to) to the open member. Spans that continue the previous one in the same
   * chunk are only noted, and copied in one go (#settle): a copy per tar header and body would
   * cost more than the scan.
   */
  #append(chunk: Buffer, from: number, to: number): void {
    if (this.#span?.chunk === chunk && this.#span.to === from) this.#span.to = to;
    else {
      this.#settle();
      this.#span = { chunk, from, to };
    }
    this.#filled += to - from;
  }

  /** Copies the noted span into the member buffer. */
  #settle(): void {
    const span = this.#span;
    if (!span) return;
    this.#span = undefined;
    const n = span.to - span.from;
    if (this.#copied + n > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#copied + n));
      this.#buf.copy(grown, 0, 0, this.#copied);
      this.#buf = grown;
    }
    span.chunk.copy(this.#buf, this.#copied, span.from, span.to);
    this.#copied += n;
  }

  /** Ends the open member at `at` (default: all of it); what follows `at` opens the next. */
  #cut(at = this.#filled): void {
    if (at === 0) return;
    this.#settle();
    const data = this.#buf.subarray(0, at);
    // A fresh buffer: the one handed to zlib is read on the thread pool.
    const next = Buffer.allocUnsafe(Math.max(2 * MiB, this.#filled - at));
    this.#buf.copy(next, 0, at, this.#filled);
    this.#buf = next;
    this.#filled -= at;
    this.#copied = this.#filled;
    this.#entryStart = Math.max(0, this.#entryStart - at);
    const p = this.#compress(data);
    p.catch(() => undefined); // handled when awaited in order; avoid an unhandled rejection meanwhile
    this.#queue.push(p);
    this.#started++;
  }

  /** Push finished members in order; wait while more than `keep` are in flight. */
  async #emit(keep: number): Promise<void> {
    while (this.#queue.length > keep) {
      const { out, member } = await (this.#queue.shift() as Promise<{ out: Buffer; member?: GzipMember }>);
      if (member) this.#opts.onMember?.(member);
      this.push(out);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#accept(chunk).then(() => cb(), cb);
  }

  async #accept(chunk: Buffer): Promise<void> {
    let i = 0;
    while (i < chunk.length) {
      const before = this.#started;
      i = this.#step(chunk, i);
      // Bounded memory: at most `concurrency` members in flight plus the one being filled.
      if (this.#started !== before) await this.#emit(this.#concurrency - 1);
    }
    this.#settle();
  }

  /** Scans from chunk[i]; returns where it stopped (at most one cut per call). */
  #step(chunk: Buffer, i: number): number {
    const scan = this.#scan;
    switch (scan.state) {
      case 'header': {
        if (this.#blockFill === 0 && i + TAR_BLOCK <= chunk.length) {
          this.#append(chunk, i, i + TAR_BLOCK);
          this.#header(chunk.subarray(i, i + TAR_BLOCK));
          return i + TAR_BLOCK;
        }
        const n = Math.min(TAR_BLOCK - this.#blockFill, chunk.length - i);
        chunk.copy(this.#block, this.#blockFill, i, i + n);
        this.#append(chunk, i, i + n);
        this.#blockFill += n;
        if (this.#blockFill === TAR_BLOCK) {
          this.#blockFill = 0;
          this.#header(this.#block);
        }
        return i + n;
      }
      case 'meta': {
        const n = Math.min(scan.left, chunk.length - i);
        scan.parts.push(Buffer.from(chunk.subarray(i, i + n)));
        this.#append(chunk, i, i + n);
        scan.left -= n;
        if (scan.left === 0) {
          const data = Buffer.concat(scan.parts);
          if (scan.flag === 'L') {
            const end = data.indexOf(0);
            this.#longPath = data.toString('utf8', 0, end === -1 ? data.length : end);
          } else {
            const pax = paxPathAndSize(data);
            if (!pax) {
              this.#scan = { state: 'opaque' };
              return i + n;
            }
            if (pax.path !== undefined) this.#longPath = pax.path;
            if (pax.size !== undefined) this.#paxSize = pax.size;
          }
          this.#scan = scan.pad ? { state: 'body', left: scan.pad, endsEntry: false } : { state: 'header' };
        }
        return i + n;
      }
      case 'body': {
        // A big entry's pieces: TARGET_MEMBER bytes each from its first header byte.
        if (this.#big && this.#filled >= TARGET_MEMBER) {
          this.#cut();
          return i;
        }
        const n = Math.min(scan.left, chunk.length - i, this.#big ? TARGET_MEMBER - this.#filled : Infinity);
        this.#append(chunk, i, i + n);
        scan.left -= n;
        if (scan.left === 0) {
          this.#scan = { state: 'header' };
          if (scan.endsEntry) this.#entryDone();
        }
        return i + n;
      }
      case 'opaque': {
        if (this.#filled >= MAX_MEMBER) {
          this.#cut();
          return i;
        }
        const n = Math.min(MAX_MEMBER - this.#filled, chunk.length - i);
        this.#append(chunk, i, i + n);
        return i + n;
      }
    }
  }

  /** A whole header block was read (it is already in the member). */
  #header(block: Buffer): void {
    const frame = headerFrame(block);
    if (frame.kind === 'end' || frame.kind === 'invalid') {
      this.#scan = { state: 'opaque' };
      return;
    }
    if (frame.kind === 'meta') {
      // A global PAX record changes how later headers read: framing them is the decoder's job, not ours.
      if (frame.flag === 'g' || frame.flag === 'V' || frame.size > MAX_META_RECORD) {
        this.#scan = { state: 'opaque' };
        return;
      }
      const pad = tarPaddingSize(frame.size);
      if ((frame.flag === 'x' || frame.flag === 'L') && frame.size > 0) this.#scan = { state: 'meta', flag: frame.flag, left: frame.size, parts: [], pad };
      else if (frame.size + pad > 0) this.#scan = { state: 'body', left: frame.size + pad, endsEntry: false };
      return;
    }
    const dataSize = this.#paxSize ?? frame.dataSize;
    const body = dataSize + tarPaddingSize(dataSize);
    this.#entryName = this.#longPath ?? frame.name;
    this.#longPath = undefined;
    this.#paxSize = undefined;
    this.#entryLength = this.#filled - this.#entryStart + body;
    this.#big = this.#entryLength >= TARGET_MEMBER;
    // A big entry starts its own member.
    if (this.#big) this.#cut(this.#entryStart);
    if (body > 0) this.#scan = { state: 'body', left: body, endsEntry: true };
    else this.#entryDone();
  }

  #entryDone(): void {
    if (this.#big) this.#cut();
    else if (this.#filled >= MAX_MEMBER || (this.#filled >= MIN_MEMBER && cutsAfter(this.#entryName, this.#entryLength))) this.#cut();
    this.#big = false;
    this.#entryStart = this.#filled;
  }

  override _flush(cb: TransformCallback): void {
    // An empty input still gives a valid (empty) gzip file.
    this.#settle();
    if (this.#filled > 0 || this.#started === 0) {
      const data = this.#buf.subarray(0, this.#filled);
      const p = this.#compress(data);
      p.catch(() => undefined);
      this.#queue.push(p);
      this.#started++;
    }
    this.#emit(0).then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#queue.length = 0;
    cb(err);
  }
}

/** A Transform gzipping a layer tar in members cut on its entry boundaries (see TarMemberGzip). */
export function gzipTarMembers(opts: TarGzipOptions = {}): Transform {
  return new TarMemberGzip(opts);
}
