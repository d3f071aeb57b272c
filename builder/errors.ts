import { TsbuildError, type ErrorCode } from '../errors/tsbuild-error.js';

export interface SourceLocation {
  file: string;
  line: number;
  column: number;
  endLine?: number;
}

/** Errors of builder/: each knows which Dockerfile instruction it belongs to, when it does. */
export class BuildError extends TsbuildError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly loc?: SourceLocation,
    data: Readonly<Record<string, unknown>> = {},
  ) {
    super(code, loc ? `${loc.file}:${loc.line}:${loc.column}: ${message}` : message, data);
  }
}

/** The build was asked for something it cannot do (bad flag values, unknown stage, unsupported platform). */
export class BuildUsageError extends BuildError {
  constructor(message: string, loc?: SourceLocation, data: Record<string, unknown> = {}) {
    super('TSB_BUILD_USAGE', message, loc, data);
  }
}

/** A RUN step exited non-zero. */
export class RunStepFailedError extends BuildError {
  constructor(
    readonly step: string,
    readonly exitCode: number,
    readonly lastLines: string[],
    readonly logFile: string | undefined,
    loc: SourceLocation | undefined,
  ) {
    super(
      'TSB_BUILD_RUN_FAILED',
      `process "${step}" did not complete successfully: exit code: ${exitCode}` +
        (lastLines.length ? `\n--- last ${lastLines.length} lines of output ---\n${lastLines.join('\n')}` : '') +
        (logFile ? `\n(full log: ${logFile})` : ''),
      loc,
      { exitCode, logFile },
    );
  }
}

/** A COPY/ADD source is missing, outside the context, or otherwise unusable. */
export class CopySourceError extends BuildError {
  constructor(message: string, loc?: SourceLocation, data: Record<string, unknown> = {}) {
    super('TSB_BUILD_COPY_SOURCE', message, loc, data);
  }
}

export class BaseImageError extends BuildError {
  constructor(message: string, loc?: SourceLocation, data: Record<string, unknown> = {}) {
    super('TSB_BUILD_BASE_IMAGE', message, loc, data);
  }
}
