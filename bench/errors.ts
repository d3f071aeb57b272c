/**
 * Errors of bench/ (scripts, not library code; same brand/code/data shape as
 * every tsbuild module so a stray one still prints well).
 */
import { TsbuildError } from '../image/errors.js';

export class BenchError extends TsbuildError {}

/** A helper command (prepare step, anchor script, compiler) failed. */
export class CommandFailedError extends BenchError {
  constructor(command: string, exitCode: number | null, output: string) {
    super('TSB_BENCH_COMMAND_FAILED', `${command} exited with ${exitCode ?? 'a signal'}: ${output.trim().split('\n').slice(-5).join('\n')}`, {
      command,
      exitCode,
    });
  }
}

/** The environment asked for something the bench cannot do (unknown bench, tool, scenario). */
export class BenchConfigError extends BenchError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_BENCH_CONFIG', message, data);
  }
}
