/**
 * Parallel gzip: the input is cut into fixed-size members, each compressed on the libuv pool,
 * and the members are emitted in order. The result is one valid multi-member gzip file that
 * every gunzip (GNU gzip, Go's compress/gzip, node) reads back; for the same input, level and
 * member size (and zlib build) it is always the same bytes. A single zlib stream uses one core;
 * this uses all of them (research/deps.md §4: 67–74 MB/s against 38–40 at level 6). Members that
 * would not shrink are stored, not deflated (see #levelFor).
 */
import { pipeline, type Readable, Transform, type TransformCallback } from 'node:stream';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';

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
    const p = this.#levelFor(data).then((level) => gzipAsync(data, { level, chunkSize: MiB }));
    p.catch(() => undefined); // handled when awaited in order; avoid an unhandled rejection meanwhile
    this.#queue.push(p);
  }

  /**
   * Already-compressed bytes (archives, images, binaries' packed sections, random data) do not
   * shrink, and deflate at level 6 spends the most time on exactly those: a member whose samples
   * all stay above 98% of their size at level 1 is stored (level 0, ~30x faster). The choice
   * depends only on the member's bytes, so the output stays deterministic.
   */
  async #levelFor(data: Buffer): Promise<number> {
    if (this.#level === 0 || data.length < SAMPLE * SAMPLES) return this.#level;
    const step = Math.floor((data.length - SAMPLE) / (SAMPLES - 1));
    let raw = 0;
    let packed = 0;
    for (let i = 0; i < SAMPLES; i++) {
      const sample = data.subarray(i * step, i * step + SAMPLE);
      raw += sample.length;
      packed += (await deflateRawAsync(sample, { level: 1 })).length;
    }
    return packed > raw * 0.98 ? 0 : this.#level;
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
