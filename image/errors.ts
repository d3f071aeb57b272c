/**
 * Errors of image/. The root TsbuildError lives in errors/tsbuild-error.ts; it is re-exported
 * here for the modules that import it from image/.
 */
import { TsbuildError } from '../errors/tsbuild-error.js';

export { ERROR_BRAND, TsbuildError, type ErrorCode } from '../errors/tsbuild-error.js';

export class ImageError extends TsbuildError {}

export class DigestMismatchError extends ImageError {
  constructor(expected: string, got: string | undefined, detail?: string) {
    super(
      'TSB_IMAGE_DIGEST_MISMATCH',
      `content does not match ${expected}` + (got ? ` (got ${got})` : '') + (detail ? `: ${detail}` : ''),
      { expected, got, detail },
    );
  }
}

/** A tar entry that would land outside the root, or is otherwise unsafe. */
export class UnsafePathError extends ImageError {
  constructor(path: string, reason: string) {
    super('TSB_IMAGE_UNSAFE_PATH', `unsafe path in archive: ${JSON.stringify(path)}: ${reason}`, { path, reason });
  }
}

export class FormatError extends ImageError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_IMAGE_FORMAT', message, data);
  }
}
