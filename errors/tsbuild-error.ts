/**
 * The root of every tsbuild error: the `tsbuild.error` brand (Symbol.for, so copies of this module
 * in a bundle agree), a stable typed `code`, structured `data` and an optional cause. Every other
 * module may import this one; it imports nothing. cli/ maps codes to exit codes without importing
 * each module's classes.
 */
export const ERROR_BRAND: unique symbol = Symbol.for('tsbuild.error') as never;

/**
 * Every code a tsbuild error carries. Scheme: `TSB_<AREA>_<WHAT>`, the area naming the module
 * that raises it. Older codes without an area (TSB_USAGE, TSB_ABORTED, TSB_CONTEXT, TSB_BLOB_*,
 * TSB_DIGEST_MISMATCH, TSB_UNSAFE_PATH, …) keep their spelling: scripts match on them.
 */
export type ErrorCode =
  // parser/
  | 'TSB_DOCKERFILE_PARSE'
  | 'TSB_DOCKERFILE_LINT'
  | 'TSB_DOCKERFILE_TOO_LARGE'
  | 'TSB_NO_STORE'
  | 'TSB_DEADLINE'
  | 'TSB_REGISTRY_TIMEOUT'
  | 'TSB_REGISTRY_UNAUTHORIZED'
  | 'TSB_DURATION'
  | 'TSB_IGNORE_PATTERN'
  | 'TSB_SHELL_EXPANSION'
  // image/
  | 'TSB_IMAGE_FORMAT'
  | 'TSB_IMAGE_INVALID'
  | 'TSB_DIGEST_MISMATCH'
  | 'TSB_UNSAFE_PATH'
  | 'TSB_TAR_WRITE'
  | 'TSB_INSTALL_BROKEN'
  // cache/
  | 'TSB_BLOB_CORRUPT'
  | 'TSB_BLOB_NOT_FOUND'
  | 'TSB_CACHE_INVALID_NAME'
  | 'TSB_CACHE_KEY'
  | 'TSB_CACHE_REMOTE_FORMAT'
  | 'TSB_CONTEXT_CHANGED'
  | 'TSB_LOCK_TIMEOUT'
  | 'TSB_STORE_FORMAT'
  | 'TSB_STORE_NO_PLATFORM'
  // registry/: its own codes, and TSB_REGISTRY_<registry's code> for an HTTP error a registry answered
  | 'TSB_REGISTRY_AUTH'
  | 'TSB_REGISTRY_BAD_REFERENCE'
  | 'TSB_REGISTRY_CRED_HELPER'
  | 'TSB_REGISTRY_NO_PLATFORM'
  | 'TSB_REGISTRY_NO_REFERENCE'
  | 'TSB_REGISTRY_TRANSPORT'
  | `TSB_REGISTRY_${string}`
  // runtime/
  | 'TSB_RUNTIME_SETUP'
  | 'TSB_RUN_ABORTED'
  | 'TSB_RUN_DIFF'
  | 'TSB_RUN_REQUEST'
  | 'TSB_RUN_TIMEOUT'
  // report/
  | 'TSB_REPORT_BAD_GATE'
  | 'TSB_REPORT_BAD_SIZE'
  | 'TSB_REPORT_LAYER_READ'
  // builder/
  | 'TSB_ABORTED'
  | 'TSB_BASE_IMAGE'
  | 'TSB_BUILD_USAGE'
  | 'TSB_CONTEXT'
  | 'TSB_COPY_SOURCE'
  | 'TSB_RUN_FAILED'
  | 'TSB_STEP_FAILED'
  // cli/ and bench/
  | 'TSB_USAGE'
  | 'TSB_BAKE_CONFIG'
  | 'TSB_BAKE_TARGET_FAILED'
  | 'TSB_GATE_FAILED'
  | 'TSB_BENCH_COMMAND_FAILED'
  | 'TSB_BENCH_CONFIG';

export class TsbuildError extends Error {
  readonly [ERROR_BRAND] = true;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly data: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Whether `e` is a tsbuild error (by brand: parser/'s errors and bundled copies count too). */
export function isTsbuildError(error: unknown): error is { code: ErrorCode; message: string; data?: Readonly<Record<string, unknown>> } {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[ERROR_BRAND] === true;
}

/** Node's own errors for a module or native addon of tsbuild that cannot load: a broken installation. */
export function isModuleLoadFailure(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || code === 'ERR_DLOPEN_FAILED';
}
