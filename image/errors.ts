/**
 * Errors of image/. Every tsbuild error class carries the `tsbuild.error` brand,
 * a stable `code` and structured `data`, so cli/ can recognise and map them
 * without importing each module's classes.
 */
export const ERROR_BRAND: unique symbol = Symbol.for('tsbuild.error') as never;

/**
 * The base of every tsbuild error outside parser/ (which imports nothing of
 * ours and restates it): brand, stable code, structured data, optional cause.
 */
export class TsbuildError extends Error {
  readonly [ERROR_BRAND] = true;
  constructor(
    readonly code: string,
    message: string,
    readonly data: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ImageError extends TsbuildError {}

export class DigestMismatchError extends ImageError {
  constructor(expected: string, got: string | undefined, detail?: string) {
    super(
      'TSB_DIGEST_MISMATCH',
      `content does not match ${expected}` + (got ? ` (got ${got})` : '') + (detail ? `: ${detail}` : ''),
      { expected, got, detail },
    );
  }
}

/** A tar entry that would land outside the root, or is otherwise unsafe. */
export class UnsafePathError extends ImageError {
  constructor(path: string, reason: string) {
    super('TSB_UNSAFE_PATH', `unsafe path in archive: ${JSON.stringify(path)}: ${reason}`, { path, reason });
  }
}

export class FormatError extends ImageError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_IMAGE_FORMAT', message, data);
  }
}
