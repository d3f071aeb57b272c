import type { BuildEvent } from '../builder/events.js';
import { oneLine, StepNumbers, stepTitle } from './progress-steps.js';
import type { ProgressOut, ProgressWriter } from './progress.js';

interface Active {
  title: string;
  start: number;
  lines: string[];
}

const LOG_LINES = 6;
const REDRAW_MS = 100;
/** Room for a right-aligned time (` 12.3s`). */
const TIME_WIDTH = 6;

/**
 * BuildKit-style terminal view: each finished step is printed once as ` => [label] NAME` with its
 * time right-aligned (` => CACHED …`, ` => ERROR …`, sub-tasks as ` => => naming to …`) and stays;
 * running steps sit in a live area at the bottom under `[+] Building 1.2s (3/9)` with their
 * elapsed time and last output lines, redrawn in place at most ten times a second. The end is
 * BuildKit's summary line, `[+] Building 4.2s (9/9) FINISHED`.
 */
export function ttyProgress(out: ProgressOut, width = 100): ProgressWriter {
  const numbers = new StepNumbers();
  const active = new Map<string, Active>();
  let finished = 0;
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const t0 = Date.now();
  const cut = (s: string, w: number): string => (s.length > w ? `${s.slice(0, w - 1)}…` : s);
  const secs = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;
  /** `left` cut to the width, then the time flush right, as BuildKit lays a step out. */
  const row = (left: string, ms: number, dim = ''): string => {
    const room = Math.max(20, width - TIME_WIDTH);
    const text = cut(left + dim, room);
    const body = text.length > left.length ? `${left}\x1b[2m${text.slice(left.length)}\x1b[0m` : text;
    return body + ' '.repeat(room - text.length) + secs(ms).padStart(TIME_WIDTH);
  };
  const header = (): string => `[+] Building ${secs(Date.now() - t0)} (${finished}/${numbers.count})`;

  const erase = (): string => (drawn > 0 ? `\x1b[${drawn}F\x1b[J` : '');
  const live = (): string[] => {
    const rows = [`\x1b[34m${header()}\x1b[0m`];
    for (const a of active.values()) {
      rows.push(row(` => ${a.title}`, Date.now() - a.start));
      for (const l of a.lines.slice(-LOG_LINES)) rows.push(`\x1b[2m${cut(`    ${l}`, width)}\x1b[0m`);
    }
    return rows;
  };
  const redraw = (permanent = ''): void => {
    const rows = active.size > 0 && !closed ? live() : [];
    out.write(erase() + permanent + rows.map((r) => `${r}\n`).join(''));
    drawn = rows.length;
  };
  const schedule = (): void => {
    if (timer === undefined && !closed) {
      timer = setTimeout(() => {
        timer = undefined;
        redraw();
        if (active.size > 0) schedule();
      }, REDRAW_MS);
      timer.unref();
    }
  };

  return {
    onEvent(e: BuildEvent) {
      if (e.type === 'message') {
        redraw(`${e.level === 'warn' ? '\x1b[33mWARN\x1b[0m' : 'INFO'}: ${e.text}${e.loc ? ` (${e.loc.file}:${e.loc.line})` : ''}\n`);
        return;
      }
      if (numbers.of(e) === undefined) return;
      if (e.type === 'log') {
        active.get(e.id)?.lines.push(oneLine(e.line));
        schedule();
        return;
      }
      if (e.type === 'status') {
        if (e.status === 'done') redraw(`\x1b[34m${row(` => => ${e.text}`, e.durationMs ?? 0)}\x1b[0m\n`);
        return;
      }
      if (e.status === 'started') {
        active.set(e.id, { title: stepTitle(e), start: Date.now(), lines: [] });
        schedule();
        return;
      }
      const a = active.get(e.id);
      active.delete(e.id);
      if (e.status === 'skipped') return;
      finished++;
      const title = stepTitle(e);
      const ms = e.durationMs ?? 0;
      let line: string;
      if (e.status === 'cached') line = `\x1b[34m${row(` => CACHED ${title}`, ms)}\x1b[0m\n`;
      else if (e.status === 'error') {
        // a failed step keeps its last output on screen
        line = `\x1b[31m${row(` => ERROR ${title}`, ms)}\x1b[0m\n` + (a?.lines.slice(-LOG_LINES).map((l) => `    ${l}\n`).join('') ?? '');
      } else line = `\x1b[34m${row(` => ${title}`, ms, e.reason ? ` (${e.reason})` : '')}\x1b[0m\n`;
      redraw(line);
    },
    close() {
      if (closed) return;
      if (timer) clearTimeout(timer);
      timer = undefined;
      closed = true;
      active.clear();
      redraw(`${header()} FINISHED\n`);
    },
  };
}
