/**
 * One pass from a layer tar to stored bytes: tar → sha256 (diffID) → parallel gzip in members cut
 * on entry boundaries (gzipTarMembers) → sha256 (digest).
 * The diffID (uncompressed) is what cache keys and image configs use; the digest names the blob.
 */
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { HashingStream, type Digest } from './digest.js';
import { gzipTarMembers, type TarGzipOptions } from './compress.js';

export interface EncodedLayerResult {
  /** sha256 of the uncompressed tar. */
  diffID: Digest;
  uncompressedSize: number;
  /** sha256 of the gzip bytes that `stream` produced (the blob digest). */
  digest: Digest;
  /** Length of the gzip bytes. */
  size: number;
}

export interface EncodedLayer {
  /** The gzip bytes to store. Must be consumed: `result` settles only once it has been read to the end. */
  stream: Readable;
  /** Rejects (and `stream` errors) when the tar source fails. */
  result: Promise<EncodedLayerResult>;
}

export function encodeLayer(tar: Readable, opts?: TarGzipOptions): EncodedLayer {
  const diff = new HashingStream();
  const blob = new HashingStream();
  const result = new Promise<EncodedLayerResult>((resolve, reject) => {
    pipeline(tar, diff, gzipTarMembers(opts), blob, (err) => {
      if (err) reject(err);
      else resolve({ diffID: diff.digest(), uncompressedSize: diff.size(), digest: blob.digest(), size: blob.size() });
    });
  });
  // Callers that only consume `stream` see the error there; do not also crash on an unhandled rejection.
  result.catch(() => undefined);
  return { stream: blob, result };
}
