/** Result cells of a bench run and their text table (markdown, so it pastes into README.md). */
import type { Scenario } from './cases.js';
import { median } from './measure.js';
import type { Failure, ToolName } from './tools.js';

export interface RunRecord {
  wallMs: number;
  maxRssKb: number | undefined;
  /** tsbuild only: steps in the build and how many were cache hits. */
  steps?: number;
  cached?: number;
}

export interface Cell {
  bench: string;
  scenario: Scenario;
  tool: ToolName;
  runs: RunRecord[];
  failure?: Failure;
  /** The tool is not available in this run (why). */
  skipped?: string;
}

export interface CellSummary {
  medianMs: number;
  minMs: number;
  maxMs: number;
  peakRssKb: number | undefined;
}

export function summarize(cell: Cell): CellSummary | undefined {
  if (cell.runs.length === 0) return undefined;
  const ms = cell.runs.map((r) => r.wallMs);
  const rss = cell.runs.map((r) => r.maxRssKb).filter((x): x is number => x !== undefined);
  return { medianMs: median(ms), minMs: Math.min(...ms), maxMs: Math.max(...ms), peakRssKb: rss.length ? Math.max(...rss) : undefined };
}

function secs(ms: number): string {
  return (ms / 1000).toFixed(2);
}

/** "0.64 (0.51–0.72)", "RUN unsupported", "failed", "n/a". A cell with some runs but a later failure shows both. */
export function cellText(cell: Cell | undefined): string {
  if (!cell || cell.skipped) return 'n/a';
  const s = summarize(cell);
  const fail = cell.failure ? (cell.failure.kind === 'run-unsupported' ? 'RUN unsupported' : 'failed') : '';
  if (!s) return fail || 'n/a';
  const t = cell.runs.length > 1 ? `${secs(s.medianMs)} (${secs(s.minMs)}–${secs(s.maxMs)})` : secs(s.medianMs);
  return fail ? `${t} then ${fail}` : t;
}

function ratio(a: Cell | undefined, b: Cell | undefined): string {
  if (!a || !b || a.failure || b.failure) return '–';
  const sa = summarize(a);
  const sb = summarize(b);
  if (!sa || !sb || sb.medianMs <= 0) return '–';
  return `${(sa.medianMs / sb.medianMs).toFixed(2)}×`;
}

export function renderTable(cells: readonly Cell[], benches: readonly string[], scenarios: readonly Scenario[]): string {
  const find = (b: string, s: Scenario, t: ToolName): Cell | undefined => cells.find((c) => c.bench === b && c.scenario === s && c.tool === t);
  const head = ['bench', 'scenario', 'tsbuild s', 'exe s', 'tsbuild peak RSS', 'exe peak RSS', 'tsbuild cached', 'BuildKit s', 'buildah s', 'tsbuild/BuildKit', 'exe/BuildKit', 'tsbuild/buildah'];
  const rows: string[][] = [];
  for (const b of benches) {
    for (const s of scenarios) {
      const tsb = find(b, s, 'tsbuild');
      const bk = find(b, s, 'buildkit');
      const ba = find(b, s, 'buildah');
      const exe = find(b, s, 'tsbuild-exe');
      const sum = tsb ? summarize(tsb) : undefined;
      const exeSum = exe ? summarize(exe) : undefined;
      const last = tsb?.runs.at(-1);
      rows.push([
        b,
        s,
        cellText(tsb),
        cellText(exe),
        sum?.peakRssKb !== undefined ? `${(sum.peakRssKb / 1024).toFixed(0)} MiB` : 'n/a',
        exeSum?.peakRssKb !== undefined ? `${(exeSum.peakRssKb / 1024).toFixed(0)} MiB` : 'n/a',
        last?.steps ? `${last.cached ?? 0}/${last.steps}` : '–',
        cellText(bk),
        cellText(ba),
        ratio(tsb, bk),
        ratio(exe, bk),
        ratio(tsb, ba),
      ]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
