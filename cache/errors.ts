/**
 * Errors of cache/. Same shape as every tsbuild error: the `tsbuild.error`
 * brand, a stable `code` and structured `data`.
 */
import { TsbuildError } from '../image/errors.js';

export class CacheError extends TsbuildError {}

/** The store has no blob with this digest. */
export class BlobNotFoundError extends CacheError {
  constructor(readonly digest: string) {
    super('TSB_CACHE_BLOB_NOT_FOUND', `blob not found in store: ${digest}`, { digest });
  }
}

/**
 * A stored blob's bytes no longer hash to its name (disk corruption, someone
 * edited the file). The blob has been deleted by the time this is raised, so a
 * retry re-fetches it instead of failing the same way again.
 */
export class BlobCorruptError extends CacheError {
  constructor(
    readonly digest: string,
    readonly actual: string,
    readonly path: string,
  ) {
    super('TSB_CACHE_BLOB_CORRUPT', `corrupt blob ${digest} (content hashes to ${actual}); it was removed from the store`, {
      digest,
      actual,
      path,
    });
  }
}

/** A lock could not be taken in time; `holder` is what the lock file says about its owner. */
export class LockTimeoutError extends CacheError {
  constructor(name: string, timeoutMs: number, holder: unknown) {
    super('TSB_CACHE_LOCK_TIMEOUT', `timed out after ${timeoutMs} ms waiting for lock ${JSON.stringify(name)}`, {
      name,
      timeoutMs,
      holder,
    });
  }
}

/** A ref, lock, or meta name that would be unsafe as a file name or key. */
export class InvalidNameError extends CacheError {
  constructor(kind: string, name: string, reason: string) {
    super('TSB_CACHE_INVALID_NAME', `invalid ${kind} name ${JSON.stringify(name)}: ${reason}`, { kind, name, reason });
  }
}

/** A stored name has no image for the platform asked for. */
export class NoStoredPlatformError extends CacheError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_CACHE_NO_PLATFORM', message, data);
  }
}

/** The store on disk is of another format version, or one of its files does not parse. */
export class StoreFormatError extends CacheError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_CACHE_STORE_FORMAT', message, data);
  }
}

/** A cache-key preimage holds something canonical JSON cannot express (NaN, a function, a cycle…), or is inconsistent. */
export class CacheKeyError extends CacheError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_CACHE_KEY', message, data);
  }
}

/** A context file kept changing while it was being hashed, so no stable digest could be taken. */
export class ContextChangedError extends CacheError {
  constructor(path: string, attempts: number) {
    super('TSB_CACHE_CONTEXT_CHANGED', `${path} changed while it was being hashed (${attempts} attempts)`, { path, attempts });
  }
}

/** An imported remote cache (registry or directory) is not a tsbuild cache, or is malformed. */
export class RemoteCacheFormatError extends CacheError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_CACHE_REMOTE_FORMAT', message, data);
  }
}
