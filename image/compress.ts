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
import { ByteSource } from './tar/reader.js';
import { TarHeaderDecoder, tarPaddingSize, type TarByteSource } from './tar/decode.js';

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
 * The member rules of gzipTarMembers, versioned: a change to them (sizes, the cut test, the
 * stored-vs-deflated probe) changes the bytes a member compresses to, so compressed members kept
 * from another rules version must not be reused.
 */
const TAR_MEMBER_RULES = 1;
/** Members aim at about this much input; an entry at least this long stands alone, cut in pieces of it. */
const TARGET_MEMBER = MiB;
/** No cut after an entry before the member holds this much (tiny members compress badly). */
const MIN_MEMBER = 256 * 1024;
/** A cut is forced after the entry that brings a member to this much. */
const MAX_MEMBER = 4 * MiB;

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
  /** sha256 hex of the member's uncompressed bytes. */
  key: string;
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

/**
 * A pipeline stage (pass it to stream.pipeline) gzipping a tar stream as a deterministic
 * multi-member gzip whose members end on tar-entry boundaries:
 * - an entry (its PAX/GNU long-name records, header, content and padding) shorter than
 *   TARGET_MEMBER joins the open member; the member ends after it when cutsAfter says so and it
 *   holds MIN_MEMBER, or when it reaches MAX_MEMBER;
 * - a longer entry stands alone, cut every TARGET_MEMBER bytes from its first header byte, so a
 *   big file still compresses in parallel and its pieces do not shift with what came before;
 * - the end-of-archive blocks (and anything after) close the last member.
 * The cuts depend only on the entries, never on an earlier build, and re-synchronise: a change
 * to one entry's content or size changes the member holding it (and at most, through the minimum
 * and maximum, the next cut); later members come out as before. Memory is bounded by
 * MAX_MEMBER × (concurrency + 1).
 */
export function gzipTarMembers(opts: TarGzipOptions = {}): (source: AsyncIterable<Buffer | string>) => AsyncGenerator<Buffer> {
  const level = opts.level ?? 6;
  const concurrency = opts.concurrency ?? availableParallelism();
  if (!Number.isInteger(level) || level < 0 || level > 9) throw new RangeError(`gzip level must be 0-9, got ${level}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be >= 1, got ${concurrency}`);
  const keyed = opts.reuse !== undefined || opts.onMember !== undefined;

  const compress = async (data: Buffer): Promise<{ out: Buffer; member?: GzipMember }> => {
    if (!keyed) return { out: await gzipAsync(data, { level: await levelFor(data, level), chunkSize: MiB }) };
    // WebCrypto hashes on the thread pool, beside the deflates, not on the main thread.
    const key = Buffer.from(await crypto.subtle.digest('SHA-256', data)).toString('hex');
    const old = await opts.reuse?.(key, data.length);
    const reused = old !== undefined && isMemberOf(old, data);
    const out = reused ? old : await gzipAsync(data, { level: await levelFor(data, level), chunkSize: MiB });
    return { out, member: { key, uncompressedSize: data.length, compressedSize: out.length, reused } };
  };

  return async function* gzipTar(source) {
    const src = new ByteSource(source);
    /** Bytes the decoder read for the entry it is decoding (its PAX/GNU records and header). */
    let head: Buffer[] = [];
    const recorded: TarByteSource = {
      get offset() {
        return src.offset;
      },
      async readExact(n, what) {
        const b = await src.readExact(n, what);
        if (b) head.push(b);
        return b;
      },
      async skip(n, what) {
        for (let left = n; left > 0; ) {
          const b = await src.readSome(Math.min(left, MiB), what);
          head.push(b);
          left -= b.length;
        }
      },
    };
    const decoder = new TarHeaderDecoder(recorded);
    let parts: Buffer[] = [];
    let filled = 0;
    const queue: Array<Promise<{ out: Buffer; member?: GzipMember }>> = [];
    let started = 0;
    const add = (b: Buffer): void => {
      parts.push(b);
      filled += b.length;
    };
    const start = (): void => {
      const p = compress(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, filled));
      p.catch(() => undefined); // handled when awaited in order; avoid an unhandled rejection meanwhile
      queue.push(p);
      started++;
      parts = [];
      filled = 0;
    };
    const emit = async function* (keep: number): AsyncGenerator<Buffer> {
      while (queue.length > keep) {
        const { out, member } = await (queue.shift() as Promise<{ out: Buffer; member?: GzipMember }>);
        if (member) opts.onMember?.(member);
        yield out;
      }
    };
    /** Ends the open member; waits while more than `concurrency` are in flight (bounded memory). */
    const cut = async function* (): AsyncGenerator<Buffer> {
      start();
      yield* emit(concurrency - 1);
    };
    try {
      for (;;) {
        const entry = await decoder.next();
        const header = Buffer.concat(head);
        head = [];
        if (!entry) {
          add(header);
          break;
        }
        const body = entry.dataSize + tarPaddingSize(entry.dataSize);
        const length = header.length + body;
        if (length >= TARGET_MEMBER) {
          if (filled > 0) yield* cut();
          add(header);
          for (let left = body; left > 0; ) {
            if (filled >= TARGET_MEMBER) yield* cut();
            const b = await src.readSome(Math.min(left, TARGET_MEMBER - filled), 'file content');
            add(b);
            left -= b.length;
          }
          yield* cut();
          continue;
        }
        add(header);
        for (let left = body; left > 0; ) {
          const b = await src.readSome(Math.min(left, MiB), 'file content');
          add(b);
          left -= b.length;
        }
        if (filled >= MAX_MEMBER || (filled >= MIN_MEMBER && cutsAfter(entry.header.path, length))) yield* cut();
      }
      // The end-of-archive blocks and whatever follows them.
      for (let b = await src.readUpTo(MiB); b; b = await src.readUpTo(MiB)) add(b);
      // An empty input still gives a valid (empty) gzip file.
      if (filled > 0 || started === 0) start();
      yield* emit(0);
    } finally {
      queue.length = 0;
      await src.close().catch(() => undefined);
    }
  };
}
