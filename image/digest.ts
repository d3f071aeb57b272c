import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestMismatchError } from './errors.js';

/** A content digest, always `sha256:<64 hex>` in tsbuild. */
export type Digest = `sha256:${string}`;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): value is Digest {
  return DIGEST_RE.test(value);
}

/** The hex part of a digest (the blob's file name). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * A pass-through stream that hashes and counts what flows through it.
 * `digest()`/`size()` are valid after the stream has ended.
 */
export class HashingStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;
  #digest: Digest | undefined;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.#digest = `sha256:${this.#hash.digest('hex')}`;
    cb();
  }

  digest(): Digest {
    if (this.#digest === undefined) throw new Error('HashingStream: digest read before end');
    return this.#digest;
  }

  size(): number {
    return this.#size;
  }
}

/**
 * Pass-through that verifies size and digest, failing the stream with a
 * DigestMismatchError at the end when they differ (ggcr's verify.ReadCloser).
 */
export class VerifyingStream extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #size = 0;
  constructor(
    readonly expected: Digest,
    readonly expectedSize?: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    if (this.expectedSize !== undefined && this.#size > this.expectedSize) {
      cb(new DigestMismatchError(this.expected, undefined, `more than ${this.expectedSize} bytes`));
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const got: Digest = `sha256:${this.#hash.digest('hex')}`;
    if (this.expectedSize !== undefined && this.#size !== this.expectedSize) {
      cb(new DigestMismatchError(this.expected, got, `size ${this.#size} != ${this.expectedSize}`));
    } else if (got !== this.expected) {
      cb(new DigestMismatchError(this.expected, got));
    } else cb();
  }
}
