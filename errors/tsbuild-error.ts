/**
 * The root of every tsbuild error: the `tsbuild.error` brand (Symbol.for, so copies of this module
 * in a bundle agree), a stable typed `code`, structured `data` and an optional cause. Every other
 * module may import this one; it imports nothing. cli/ maps codes to exit codes without importing
 * each module's classes.
 */
export const ERROR_BRAND: unique symbol = Symbol.for('tsbuild.error') as never;

/**
 * Every code a tsbuild error carries. One scheme: `TSB_<AREA>_<WHAT>`, the area naming the part
 * that raises it: DOCKERFILE (parser/), IMAGE, CACHE, REGISTRY, RUNTIME, REPORT, BUILD (builder/),
 * BAKE, CLI, BENCH. errors/codes.test.ts holds every code in the source to it.
 */
export type ErrorCode =
  // parser/
  | 'TSB_DOCKERFILE_PARSE'
  | 'TSB_DOCKERFILE_LINT'
  | 'TSB_DOCKERFILE_TOO_LARGE'
  | 'TSB_DOCKERFILE_DURATION'
  | 'TSB_DOCKERFILE_IGNORE_PATTERN'
  | 'TSB_DOCKERFILE_SHELL_EXPANSION'
  // image/
  | 'TSB_IMAGE_FORMAT'
  | 'TSB_IMAGE_INVALID'
  | 'TSB_IMAGE_DIGEST_MISMATCH'
  | 'TSB_IMAGE_UNSAFE_PATH'
  | 'TSB_IMAGE_TAR_WRITE'
  | 'TSB_IMAGE_INSTALL_BROKEN'
  // cache/
  | 'TSB_CACHE_BLOB_CORRUPT'
  | 'TSB_CACHE_BLOB_NOT_FOUND'
  | 'TSB_CACHE_INVALID_NAME'
  | 'TSB_CACHE_KEY'
  | 'TSB_CACHE_REMOTE_FORMAT'
  | 'TSB_CACHE_CONTEXT_CHANGED'
  | 'TSB_CACHE_LOCK_TIMEOUT'
  | 'TSB_CACHE_STORE_FORMAT'
  | 'TSB_CACHE_NO_PLATFORM'
  // registry/: its own codes, and TSB_REGISTRY_<registry's code> for an HTTP error a registry answered
  | 'TSB_REGISTRY_AUTH'
  | 'TSB_REGISTRY_BAD_REFERENCE'
  | 'TSB_REGISTRY_CRED_HELPER'
  | 'TSB_REGISTRY_NO_PLATFORM'
  | 'TSB_REGISTRY_NO_REFERENCE'
  | 'TSB_REGISTRY_TRANSPORT'
  | 'TSB_REGISTRY_DEADLINE'
  | 'TSB_REGISTRY_TIMEOUT'
  | 'TSB_REGISTRY_UNAUTHORIZED'
  | `TSB_REGISTRY_${string}`
  // runtime/
  | 'TSB_RUNTIME_SETUP'
  | 'TSB_RUNTIME_ABORTED'
  | 'TSB_RUNTIME_DIFF'
  | 'TSB_RUNTIME_REQUEST'
  | 'TSB_RUNTIME_TIMEOUT'
  // report/
  | 'TSB_REPORT_BAD_GATE'
  | 'TSB_REPORT_BAD_SIZE'
  | 'TSB_REPORT_LAYER_READ'
  // builder/
  | 'TSB_BUILD_ABORTED'
  | 'TSB_BUILD_BASE_IMAGE'
  | 'TSB_BUILD_USAGE'
  | 'TSB_BUILD_CONTEXT'
  | 'TSB_BUILD_COPY_SOURCE'
  | 'TSB_BUILD_RUN_FAILED'
  | 'TSB_BUILD_STEP_FAILED'
  // cli/ and bench/
  | 'TSB_CLI_USAGE'
  | 'TSB_CLI_NO_STORE'
  | 'TSB_BAKE_CONFIG'
  | 'TSB_BAKE_TARGET_FAILED'
  | 'TSB_CLI_GATE_FAILED'
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
