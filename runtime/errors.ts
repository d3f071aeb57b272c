/**
 * Errors of runtime/. Same shape as every tsbuild error: the `tsbuild.error` brand, a stable
 * `code` and structured `data`, so cli/ can map them without importing these classes.
 */
import { TsbuildError } from '../image/errors.js';

export class RuntimeError extends TsbuildError {}

/** The machine cannot run containers as asked: no runtime binary, mount failed, bad state dir... */
export class RuntimeSetupError extends RuntimeError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_RUNTIME_SETUP', message, data);
  }
}

/** What a failed RUN step leaves for the user: its last lines and the full log. */
export interface StepOutputData extends Record<string, unknown> {
  containerId: string;
  lastLines: string[];
  logFile: string;
}

export class RunTimeoutError extends RuntimeError {
  constructor(timeoutMs: number, data: StepOutputData) {
    super('TSB_RUNTIME_TIMEOUT', `RUN step timed out after ${timeoutMs} ms (all its processes were killed)`, {
      ...data,
      timeoutMs,
    });
  }
}

export class RunAbortedError extends RuntimeError {
  constructor(data: StepOutputData | { containerId?: string }) {
    super('TSB_RUNTIME_ABORTED', 'RUN step aborted', data);
  }
}

/** A request the runtime refuses before starting anything (unsafe cwd, bad user, bad mount...). */
export class RunRequestError extends RuntimeError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_RUNTIME_REQUEST', message, data);
  }
}

/** A snapshot (upper dir or copied rootfs) that cannot be turned into a layer. */
export class DiffError extends RuntimeError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_RUNTIME_DIFF', message, data);
  }
}
