/**
 * Errors of report/. Same shape as every tsbuild error: the `tsbuild.error`
 * brand, a stable `code` and structured `data`, so cli/ maps them to exit
 * codes and messages without importing this module's classes.
 */
import { TsbuildError } from '../image/errors.js';

export class ReportError extends TsbuildError {}

/** A size such as `10MB` or `1.5GiB` that cannot be read. */
export class InvalidSizeError extends ReportError {
  constructor(input: string, reason: string) {
    super('TSB_REPORT_BAD_SIZE', `invalid size ${JSON.stringify(input)}: ${reason}`, { input, reason });
  }
}

/** A `.dive-ci` file (or a gate value) that cannot be used. */
export class GateConfigError extends ReportError {
  constructor(key: string, value: string, reason: string) {
    super('TSB_REPORT_BAD_GATE', `invalid CI rule ${key}=${JSON.stringify(value)}: ${reason}`, { key, value, reason });
  }
}

/** A layer that could not be read while analysing an image. */
export class LayerReadError extends ReportError {
  constructor(index: number, digest: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super('TSB_REPORT_LAYER_READ', `cannot analyse layer ${index} (${digest}): ${why}`, { index, digest }, { cause });
  }
}
