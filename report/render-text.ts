/**
 * The terminal view of a SizeReport: a summary, aligned tables with human
 * sizes, and the findings with their fixes. ANSI colour only when asked.
 */
import type { SizeReport } from './types.js';
import { formatPercent, formatSize } from './units.js';

export interface TextOptions {
  color: boolean;
  /** Line width the tables are fitted to (long commands and paths are cut). Default 100. */
  width?: number;
  /** Rows per table. Default 10. */
  rows?: number;
}

type Align = 'l' | 'r';

function paint(on: boolean, code: string, s: string): string {
  return on ? `\x1b[${code}m${s}\x1b[0m` : s;
}

/** Cut to n characters (by code point), marking the cut with `…`. */
function cut(s: string, n: number): string {
  const cps = [...s];
  if (cps.length <= n) return s;
  return n <= 1 ? cps.slice(0, n).join('') : cps.slice(0, n - 1).join('') + '…';
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/** Word-wraps prose to `width` columns; continuation lines get `indent`. ANSI codes count as zero width. */
function wrap(text: string, width: number, indent: string): string[] {
  const visible = (s: string) => [...s.replace(/\x1b\[[0-9;]*m/g, '')].length;
  const lead = /^ */.exec(text)![0];
  const lines: string[] = [];
  let line = lead;
  for (const word of text.slice(lead.length).split(' ')) {
    if (line && visible(line) + 1 + visible(word) > width) {
      lines.push(line);
      line = indent + word;
    } else line = line.trim() ? `${line} ${word}` : line + word;
  }
  if (line.trim()) lines.push(line);
  return lines;
}

/**
 * Columns sized to their content; the last column takes what is left of
 * `width` and is cut to fit.
 */
function table(head: string[], rows: string[][], align: Align[], width: number, color: boolean): string[] {
  const widths = head.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const last = head.length - 1;
  const fixed = widths.slice(0, last).reduce((s, w) => s + w + 2, 2);
  widths[last] = Math.max(10, Math.min(widths[last]!, width - fixed));
  const fmt = (cells: string[]) =>
    '  ' +
    cells
      .map((c, i) => {
        const w = widths[i]!;
        const v = i === last ? cut(c, w) : c;
        const pad = ' '.repeat(Math.max(0, w - [...v].length));
        return align[i] === 'r' ? pad + v : i === last ? v : v + pad;
      })
      .join('  ');
  return [paint(color, '1', fmt(head)), ...rows.map(fmt)];
}

export function renderText(sizeReport: SizeReport, options: TextOptions): string {
  const width = options.width ?? 100;
  const rows = options.rows ?? 10;
  const c = options.color;
  const out: string[] = [];
  const title = (s: string) => out.push('', paint(c, '1;4', s));
  const para = (s: string, indent: string) => out.push(...wrap(s, width, indent));

  para(`${paint(c, '1', 'Image')}  ${sizeReport.image.digest}  ${sizeReport.image.platform}${sizeReport.image.created ? `  created ${sizeReport.image.created}` : ''}`, '       ');
  para(
    `${paint(c, '1', 'Size')}   ${formatSize(sizeReport.totals.compressed)} compressed · ${formatSize(sizeReport.totals.uncompressed)} uncompressed · ` +
      `${sizeReport.totals.files} files (${formatSize(sizeReport.totals.finalBytes)}) in ${sizeReport.totals.layers} layers`,
    '       ',
  );
  para(
    `${paint(c, '1', 'Base')}   ${sizeReport.image.baseLayerCount} layer(s), ${formatSize(sizeReport.totals.baseBytes)}` +
      (sizeReport.image.baseLayerSource === 'default' ? ' (assumed: layer 0, as dive does)' : '') +
      ` · added on top: ${formatSize(sizeReport.totals.userBytes)}`,
    '       ',
  );
  const waste = sizeReport.wastedBytes > 0 ? paint(c, '33', formatSize(sizeReport.wastedBytes)) : formatSize(0);
  para(
    `${paint(c, '1', 'Waste')}  ${waste}` +
      (sizeReport.totals.userBytes > 0 ? ` (${formatPercent(sizeReport.wastedPercent)} of added bytes)` : '') +
      `: ${formatSize(sizeReport.cacheBytes)} package-manager caches + ${formatSize(sizeReport.reclaimableBytes)} reclaimable in ${sizeReport.wastedPaths} path(s) · ` +
      `dive's efficiency ${formatPercent(sizeReport.efficiency)} (counts no caches) · dive would report ${formatSize(sizeReport.diveWastedBytes)} wasted`,
    '       ',
  );

  title('Layers');
  out.push(
    ...table(
      ['#', 'COMPRESSED', 'SIZE', 'WASTED', 'FILES', 'CREATED BY'],
      sizeReport.layers.map((l) => [
        `${l.index}${l.base ? 'ᵇ' : ''}`,
        formatSize(l.compressedSize),
        formatSize(l.contentBytes),
        l.wastedBytes ? formatSize(l.wastedBytes) : '-',
        String(l.files),
        (l.source ? `${l.source.file}:${l.source.line} ` : '') + oneLine(l.createdBy || '(no history)'),
      ]),
      ['r', 'r', 'r', 'r', 'r', 'l'],
      width,
      c,
    ),
  );

  title('Largest files');
  out.push(
    ...table(
      ['SIZE', 'LAYER', 'PATH'],
      sizeReport.largestFiles.slice(0, rows).map((f) => [formatSize(f.size), String(f.layer), f.path]),
      ['r', 'r', 'l'],
      width,
      c,
    ),
  );

  title('Largest directories');
  out.push(
    ...table(
      ['SIZE', 'FILES', 'PATH'],
      sizeReport.largestDirs.slice(0, rows).map((d) => [formatSize(d.size), String(d.files), d.path]),
      ['r', 'r', 'l'],
      width,
      c,
    ),
  );

  if (sizeReport.wasted.length) {
    title(`Wasted space (${sizeReport.wastedPaths} path(s), ${formatSize(sizeReport.reclaimableBytes)} reclaimable)`);
    out.push(
      ...table(
        ['BYTES', 'KIND', 'LAYERS', 'PATH'],
        sizeReport.wasted.slice(0, rows).map((w) => [
          formatSize(w.bytes),
          w.kind,
          w.layers.join(',') + (w.deletedIn !== undefined ? `→rm@${w.deletedIn}` : ''),
          w.path,
        ]),
        ['r', 'l', 'l', 'l'],
        width,
        c,
      ),
    );
  }

  if (sizeReport.duplicates.length) {
    title('Same content at several paths');
    out.push(
      ...table(
        ['SAVABLE', 'COPIES', 'PATHS'],
        sizeReport.duplicates.slice(0, rows).map((d) => [formatSize(d.bytes), String(d.paths.length), d.paths.join(' ')]),
        ['r', 'r', 'l'],
        width,
        c,
      ),
    );
  }

  if (sizeReport.findings.length) {
    title('Findings');
    for (const f of sizeReport.findings) {
      const where = f.source ? ` (${f.source.file}:${f.source.line})` : '';
      para(`  ${paint(c, '31;1', f.rule)}  layer ${f.layer}${where}: ${f.message}`, '    ');
      if (f.createdBy) out.push(`    ${paint(c, '2', cut(oneLine(f.createdBy), width - 4))}`);
      para(`    fix: ${f.fix}`, '         ');
    }
  }
  return out.join('\n') + '\n';
}
