import type { Delta, SizeDiff } from './diff.js';
import { formatDelta, formatSize } from './units.js';

/** `analyze --diff` for a terminal: totals, then layers, directories and files that changed, largest change first. */
export function renderDiffText(diff: SizeDiff, options: { rows?: number; width?: number } = {}): string {
  const rows = options.rows ?? 15;
  const width = options.width ?? 100;
  const cut = (s: string, w: number): string => (s.length > w ? `${s.slice(0, w - 1)}…` : s);
  const size = (n: number | null): string => (n === null ? '-' : formatSize(n));
  const out: string[] = [];
  out.push(`A ${diff.a.digest}`, `B ${diff.b.digest}`, '');
  const total = (name: string, x: Delta, fmt: (n: number) => string = formatSize): string =>
    `${name.padEnd(14)} ${fmt(x.a).padStart(11)} → ${fmt(x.b).padStart(11)}  ${x.delta === 0 ? '=' : x.delta > 0 ? `+${fmt(x.delta)}` : fmt(x.delta)}`;
  out.push(total('compressed', diff.totals.compressed));
  out.push(total('uncompressed', diff.totals.uncompressed));
  out.push(total('files', diff.totals.files, (n) => String(n)));
  out.push(total('wasted', diff.totals.wastedBytes));
  out.push(total('reclaimable', diff.totals.reclaimableBytes));
  out.push(total('efficiency', diff.totals.efficiency, (n) => `${(n * 100).toFixed(1)}%`), '');

  const changed = diff.layers.filter((l) => l.status !== 'same');
  out.push(`Layers (${changed.length} of ${diff.layers.length} differ)`);
  for (const l of changed) {
    const by = l.createdByB ?? l.createdByA ?? '';
    out.push(`  ${String(l.index).padStart(3)} ${l.status.padEnd(8)} ${formatDelta(l.content.delta).padStart(11)}  ${cut(by, width - 28)}`);
  }
  const paths = (title: string, list: SizeDiff['dirs']): void => {
    out.push('', `${title} (${list.length} changed)`);
    for (const p of list.slice(0, rows)) {
      out.push(`  ${formatDelta(p.delta).padStart(11)}  ${size(p.a).padStart(10)} → ${size(p.b).padEnd(10)} ${cut(p.path, width - 40)}`);
    }
    if (list.length > rows) out.push(`  … ${list.length - rows} more`);
  };
  paths('Directories', diff.dirs);
  paths('Files', diff.files);
  if (diff.findings.added.length || diff.findings.resolved.length) {
    out.push('', 'Findings');
    for (const f of diff.findings.added) out.push(`  + ${f.rule}: ${f.message ?? ''}`);
    for (const f of diff.findings.resolved) out.push(`  - ${f.rule} (resolved)`);
  }
  return out.join('\n') + '\n';
}
