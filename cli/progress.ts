import type { BuildEvent } from '../builder/events.js';
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
      return ttyProgress(out, (out as { columns?: number }).columns ?? process.stderr.columns ?? 100);
    default:
      return plainProgress(out, false);
  }
}

function plainProgress(out: ProgressOut, color: boolean): ProgressWriter {
  const t0 = new Map<string, number>();
  const c = (code: string, s: string): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return {
    onEvent(e) {
      if (e.type === 'message') {
        const where = e.loc ? ` (${e.loc.file}:${e.loc.line})` : '';
        out.write(`${e.level === 'warn' ? c('33', 'WARN') : 'INFO'}: ${e.text}${where}\n`);
        return;
      }
      if (e.type === 'log') {
        const since = ((Date.now() - (t0.get(e.id) ?? Date.now())) / 1000).toFixed(3);
        out.write(`#${e.id} ${since} ${e.line}\n`);
        return;
      }
      const head = `#${e.id} [${e.stage}] ${oneLine(e.name)}`;
      switch (e.status) {
        case 'started':
          t0.set(e.id, Date.now());
          out.write(`${c('34', head)}\n`);
          break;
        case 'cached':
          out.write(`#${e.id} ${c('36', 'CACHED')}\n`);
          break;
        case 'done':
          out.write(`#${e.id} ${c('32', 'DONE')} ${((e.durationMs ?? 0) / 1000).toFixed(1)}s${e.reason ? ` (${e.reason})` : ''}\n`);
          break;
        case 'error':
          // The error itself is printed once, with its Dockerfile lines, when the build ends.
          out.write(`#${e.id} ${c('31', 'ERROR')}\n`);
          break;
        case 'skipped':
          break;
      }
    },
    close() {},
  };
}

function oneLine(s: string): string {
  const first = s.split('\n')[0] ?? '';
  return s.includes('\n') ? `${first} …` : first;
}
