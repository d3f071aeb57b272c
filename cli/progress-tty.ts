import type { BuildEvent } from '../builder/events.js';
import type { ProgressOut, ProgressWriter } from './progress.js';

interface Active {
  id: string;
  stage: string;
  name: string;
  start: number;
  lines: string[];
}

const LOG_LINES = 6;
const REDRAW_MS = 100;

/**
 * BuildKit-style terminal view: finished steps are printed once and stay;
 * running steps sit in a live area at the bottom with their elapsed time and
 * last output lines, redrawn in place at most ten times a second.
 */
export function ttyProgress(out: ProgressOut, width = 100): ProgressWriter {
  const active = new Map<string, Active>();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const t0 = Date.now();
  const cut = (s: string, w: number): string => (s.length > w ? `${s.slice(0, w - 1)}…` : s);
  const secs = (ms: number): string => `${(ms / 1000).toFixed(1)}s`;

  const erase = (): string => (drawn > 0 ? `\x1b[${drawn}F\x1b[J` : '');
  const live = (): string[] => {
    const rows = [`\x1b[34m[+] Building ${secs(Date.now() - t0)} (${active.size} running)\x1b[0m`];
    for (const a of active.values()) {
      rows.push(cut(` => [${a.stage}] ${a.name.split('\n')[0]}`, width - 8) + ` ${secs(Date.now() - a.start)}`);
      for (const l of a.lines.slice(-LOG_LINES)) rows.push(`\x1b[2m${cut(`    ${l}`, width)}\x1b[0m`);
    }
    return rows;
  };
  const redraw = (permanent = ''): void => {
    const rows = active.size > 0 ? live() : [];
    out.write(erase() + permanent + rows.map((r) => `${r}\n`).join(''));
    drawn = rows.length;
  };
  const schedule = (): void => {
    if (timer === undefined) {
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
      if (e.type === 'log') {
        active.get(e.id)?.lines.push(e.line);
        schedule();
        return;
      }
      if (e.status === 'started') {
        active.set(e.id, { id: e.id, stage: e.stage, name: e.name, start: Date.now(), lines: [] });
        schedule();
        return;
      }
      const a = active.get(e.id);
      active.delete(e.id);
      const head = cut(`#${e.id} [${e.stage}] ${e.name.split('\n')[0]}`, width - 14);
      let line: string;
      if (e.status === 'cached') line = `\x1b[36m${head} CACHED\x1b[0m\n`;
      else if (e.status === 'error') {
        // a failed step keeps its last output on screen
        line = `\x1b[31m${head} ERROR\x1b[0m\n` + (a?.lines.slice(-LOG_LINES).map((l) => `    ${l}\n`).join('') ?? '');
      } else {
        const tail = ` ${secs(e.durationMs ?? 0)}`;
        const room = width - 1 - head.length - tail.length;
        const why = e.reason && room > 8 ? ` ${cut(`(${e.reason})`, room - 1)}` : '';
        line = `\x1b[32m${head}\x1b[0m${tail}\x1b[2m${why}\x1b[0m\n`;
      }
      redraw(line);
    },
    close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      active.clear();
      redraw();
    },
  };
}
