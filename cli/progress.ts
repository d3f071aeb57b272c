import type { BuildEvent } from '../builder/events.js';
import { StepNumbers, stepTitle } from './progress-steps.js';
import { ttyProgress } from './progress-tty.js';

export type ProgressMode = 'auto' | 'plain' | 'tty' | 'quiet' | 'rawjson';

export interface ProgressWriter {
  onEvent(e: BuildEvent): void;
  /** Called once at the end; flushes what is left on screen. */
  close(): void;
}

/** Where progress goes: stderr by default (stdout stays free for `--output -` and `-q` image ids), like docker. */
export interface ProgressOut {
  write(s: string): void;
  isTTY?: boolean;
}

export function createProgress(mode: ProgressMode, out: ProgressOut = process.stderr): ProgressWriter {
  const resolved = mode === 'auto' ? (out.isTTY ? 'tty' : 'plain') : mode;
  switch (resolved) {
    case 'quiet':
      return { onEvent: () => {}, close: () => {} };
    case 'rawjson':
      return { onEvent: (e) => out.write(JSON.stringify({ ...e, time: new Date().toISOString() }) + '\n'), close: () => {} };
    case 'tty':
      return ttyProgress(out, usableWidth((out as { columns?: number }).columns ?? process.stderr.columns));
    default:
      return plainProgress(out, false);
  }
}

/**
 * BuildKit's plain output (`--progress=plain`): each shown step gets the next `#N` when it starts,
 * its header is `#N [label] NAME`, then its output lines (`#N 0.123 …`), sub-tasks (`#N naming to
 * … done`) and one end line (`#N DONE 0.2s`, `#N CACHED`, `#N ERROR`); a blank line separates steps.
 * Steps BuildKit does not show (ENV, LABEL…) are left out. Errors are printed once, by the CLI.
 */
/** A terminal's width, or BuildKit's 80 where it reports none (or one too narrow to lay steps out). */
function usableWidth(columns: number | undefined): number {
  return columns !== undefined && columns >= 40 ? columns : 80;
}

function plainProgress(out: ProgressOut, color: boolean): ProgressWriter {
  const numbers = new StepNumbers();
  const t0 = new Map<string, number>();
  let last: string | undefined;
  const c = (code: string, s: string): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const block = (id: string): void => {
    if (last !== undefined && last !== id) out.write('\n');
    last = id;
  };
  return {
    onEvent(e) {
      if (e.type === 'message') {
        const where = e.loc ? ` (${e.loc.file}:${e.loc.line})` : '';
        out.write(`${e.level === 'warn' ? c('33', 'WARN') : 'INFO'}: ${e.text}${where}\n`);
        return;
      }
      const n = numbers.of(e);
      if (n === undefined) return;
      if (e.type === 'log') {
        const since = ((Date.now() - (t0.get(e.id) ?? Date.now())) / 1000).toFixed(3);
        block(e.id);
        out.write(`#${n} ${since} ${e.line}\n`);
        return;
      }
      if (e.type === 'status') {
        if (e.status !== 'done') return;
        block(e.id);
        out.write(`#${n} ${e.text} ${timeDone(e.durationMs)}done\n`);
        return;
      }
      block(e.id);
      switch (e.status) {
        case 'started':
          t0.set(e.id, Date.now());
          out.write(`${c('34', `#${n} ${stepTitle(e)}`)}\n`);
          break;
        case 'cached':
          out.write(`#${n} ${c('36', 'CACHED')}\n`);
          break;
        case 'done':
          out.write(`#${n} ${c('32', 'DONE')} ${((e.durationMs ?? 0) / 1000).toFixed(1)}s${e.reason ? ` (${e.reason})` : ''}\n`);
          break;
        case 'error':
          // The error itself is printed once, with its Dockerfile lines, when the build ends.
          out.write(`#${n} ${c('31', 'ERROR')}\n`);
          break;
        case 'skipped':
          break;
      }
    },
    close() {},
  };
}

/** BuildKit prints a sub-task's time before `done` only when it took a measurable while. */
function timeDone(ms: number | undefined): string {
  return ms !== undefined && ms >= 50 ? `${(ms / 1000).toFixed(1)}s ` : '';
}

