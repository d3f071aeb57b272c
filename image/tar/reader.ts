/**
 * Streaming tar reader over the one header decoder (decode.ts). Our own because tar-stream
 * turns xattr bytes >= 0x80 into U+FFFD.
 */
import { Readable } from 'node:stream';
import type { TarHeader } from './header.js';
import { FormatError } from '../errors.js';
import { TarHeaderDecoder, tarPaddingSize, type TarByteSource } from './decode.js';

export { normalizeTarPath } from './decode.js';

export interface TarReadEntry {
  header: TarHeader;
  /** The entry's content (empty for non-files). Read it before asking for the next entry, or it is skipped. */
  body: Readable;
}

/** Largest chunk handed to a body stream at once. */
const MAX_CHUNK = 1024 * 1024;

/** Pull-based byte source over a stream's async iterator: exact reads for headers, slices for bodies. */
export class ByteSource implements TarByteSource {
  readonly #it: AsyncIterator<Buffer | string>;
  #bufs: Buffer[] = [];
  #avail = 0;
  #eof = false;
  /** Bytes consumed so far, for error messages. */
  offset = 0;

  constructor(input: AsyncIterable<Buffer | string>) {
    this.#it = input[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#eof = true;
      return false;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    if (b.length) {
      this.#bufs.push(b);
      this.#avail += b.length;
    }
    return true;
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.#avail -= n;
    this.offset += n;
    const first = this.#bufs[0] as Buffer;
    if (first.length === n) {
      this.#bufs.shift();
      return first;
    }
    if (first.length > n) {
      this.#bufs[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const b = this.#bufs[0] as Buffer;
      const k = Math.min(b.length, n - o);
      b.copy(out, o, 0, k);
      o += k;
      if (k === b.length) this.#bufs.shift();
      else this.#bufs[0] = b.subarray(k);
    }
    return out;
  }

  /** Exactly n bytes; null when the input ended cleanly before the first byte; FormatError when it ended midway. */
  async readExact(n: number, what: string): Promise<Buffer | null> {
    while (this.#avail < n) {
      if (!(await this.#fill())) {
        if (this.#avail === 0) return null;
        throw new FormatError(`tar: unexpected end of input in ${what}`, { offset: this.offset + this.#avail });
      }
    }
    return this.#take(n);
  }

  /** Up to max bytes (at least one); throws FormatError at end of input. */
  async readSome(max: number, what: string): Promise<Buffer> {
    while (this.#avail === 0) {
      if (!(await this.#fill())) throw new FormatError(`tar: unexpected end of input in ${what}`, { offset: this.offset });
    }
    return this.#take(Math.min(max, (this.#bufs[0] as Buffer).length));
  }

  async skip(n: number, what: string): Promise<void> {
    while (n > 0) n -= (await this.readSome(Math.min(n, MAX_CHUNK), what)).length;
  }

  /** Consume the rest of the input, so upstream transforms (gunzip, digest checks) run to completion. */
  async drain(): Promise<void> {
    this.#bufs = [];
    this.#avail = 0;
    while (await this.#fill()) {
      this.#bufs = [];
      this.#avail = 0;
    }
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

/**
 * Read a tar stream entry by entry. Each entry's body must be consumed (or is skipped) before
 * the next entry is produced. After the end-of-archive marker the rest of the input is drained.
 * Malformed input raises FormatError.
 */
export async function* readTar(input: Readable): AsyncGenerator<TarReadEntry> {
  const src = new ByteSource(input);
  const decoder = new TarHeaderDecoder(src);
  let finished = false;
  try {
    for (let entry = await decoder.next(); entry; entry = await decoder.next()) {
      const body = new BodyStream(src, entry.dataSize);
      yield { header: entry.header, body };
      await body.finish();
      await src.skip(tarPaddingSize(entry.dataSize), 'padding');
    }
    if (decoder.sawEndMarker) await src.drain();
    finished = true;
  } finally {
    if (!finished) await src.close().catch(() => undefined);
  }
}

/**
 * One entry's content, read from the shared source on demand. The generator calls finish()
 * before moving on: it waits for an in-flight read and skips whatever the consumer left.
 */
class BodyStream extends Readable {
  readonly #src: ByteSource;
  #remaining: number;
  #inflight: Promise<void> | undefined;
  #error: Error | undefined;

  constructor(src: ByteSource, size: number) {
    super({ highWaterMark: 64 * 1024 });
    this.#src = src;
    this.#remaining = size;
  }

  override _read(): void {
    if (this.#inflight) return;
    if (this.#remaining === 0) {
      this.push(null);
      return;
    }
    this.#inflight = this.#src.readSome(Math.min(this.#remaining, MAX_CHUNK), 'file content').then(
      (chunk) => {
        this.#inflight = undefined;
        this.#remaining -= chunk.length;
        this.push(chunk);
        if (this.#remaining === 0) this.push(null);
      },
      (err: Error) => {
        this.#inflight = undefined;
        this.#error = err;
        this.destroy(err);
      },
    );
  }

  async finish(): Promise<void> {
    while (this.#inflight) await this.#inflight;
    if (this.#error) throw this.#error;
    if (this.#remaining > 0) {
      const n = this.#remaining;
      this.#remaining = 0;
      await this.#src.skip(n, 'file content');
      // Skipped content never reaches the consumer; close the stream so nothing waits on it.
      if (!this.destroyed) this.destroy();
    }
  }
}
