/**
 * One self-contained HTML file: no network (a Content-Security-Policy forbids
 * it), inline CSS, inline SVG charts drawn here (a layer bar chart and a
 * squarified directory treemap) and a few lines of inline JS that make the
 * tables sortable. Every string from the image (paths, commands) is escaped:
 * an image is untrusted input.
 */
import type { DirEntry, SizeReport } from './types.js';
import { formatPercent, formatSize } from './units.js';

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
const clip = (s: string, n: number) => ([...s].length > n ? [...s].slice(0, n - 1).join('') + '…' : s);

// ---------------------------------------------------------------- tables

interface Col<T> {
  head: string;
  cell: (t: T) => string;
  /** Sort key (numbers sort numerically); default: the cell text. */
  sort?: (t: T) => number | string;
  num?: boolean;
}

function htmlTable<T>(id: string, cols: Array<Col<T>>, rows: T[]): string {
  if (rows.length === 0) return `<p class="none">None.</p>`;
  const head = cols
    .map((c, i) => `<th data-col="${i}"${c.num ? ' class="num"' : ''} title="click to sort">${esc(c.head)}</th>`)
    .join('');
  const body = rows
    .map(
      (r) =>
        '<tr>' +
        cols
          .map((c) => {
            const key = c.sort ? c.sort(r) : undefined;
            const attr = key === undefined ? '' : ` data-sort="${esc(String(key))}"`;
            return `<td${attr}${c.num ? ' class="num"' : ''}>${c.cell(r)}</td>`;
          })
          .join('') +
        '</tr>',
    )
    .join('\n');
  return `<table class="sortable" id="${id}"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

// ---------------------------------------------------------------- layer chart

function layerChart(r: SizeReport): string {
  const rowH = 26;
  const labelW = 60;
  const barW = 560;
  const max = Math.max(1, ...r.layers.map((l) => l.contentBytes));
  const h = rowH * r.layers.length + 10;
  const bars = r.layers
    .map((l, i) => {
      const y = 5 + i * rowH;
      const w = Math.max(l.contentBytes > 0 ? 1 : 0, (l.contentBytes / max) * barW);
      const ww = l.contentBytes > 0 ? (Math.min(l.wastedBytes, l.contentBytes) / max) * barW : 0;
      const tip = `layer ${l.index}: ${formatSize(l.contentBytes)} (${formatSize(l.compressedSize)} compressed), ` +
        `${formatSize(l.wastedBytes)} wasted — ${oneLine(l.createdBy)}`;
      return (
        `<g class="layer${l.base ? ' base' : ''}" data-layer="${l.index}"><title>${esc(tip)}</title>` +
        `<text x="0" y="${y + 16}">#${l.index}${l.base ? ' base' : ''}</text>` +
        `<rect class="bar" x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 6}"/>` +
        (ww > 0 ? `<rect class="waste" x="${(labelW + w - ww).toFixed(1)}" y="${y}" width="${ww.toFixed(1)}" height="${rowH - 6}"/>` : '') +
        `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + 16}">${esc(formatSize(l.contentBytes))}  ${esc(clip(oneLine(l.createdBy), 70))}</text></g>`
      );
    })
    .join('\n');
  return `<svg id="layer-chart" viewBox="0 0 1100 ${h}" width="100%" role="img" aria-label="bytes per layer">${bars}</svg>`;
}

// ---------------------------------------------------------------- treemap

interface TNode {
  name: string;
  path: string;
  size: number;
  children: TNode[];
}

/** The dirs list (complete to dirDepth) as a tree; bytes directly in a dir become a "(files)" leaf. */
function dirTree(r: SizeReport): TNode {
  const root: TNode = { name: '/', path: '/', size: r.totals.finalBytes, children: [] };
  const byPath = new Map<string, TNode>([['/', root]]);
  const sorted: DirEntry[] = [...r.dirs].sort((a, b) => a.depth - b.depth);
  for (const d of sorted) {
    const parentPath = d.path.slice(0, d.path.lastIndexOf('/')) || '/';
    const parent = byPath.get(parentPath);
    if (!parent) continue;
    const n: TNode = { name: d.path.slice(d.path.lastIndexOf('/') + 1), path: d.path, size: d.size, children: [] };
    parent.children.push(n);
    byPath.set(d.path, n);
  }
  const addRest = (n: TNode) => {
    if (n.children.length === 0) return;
    const inDirs = n.children.reduce((s, c) => s + c.size, 0);
    n.children.forEach(addRest);
    if (n.size - inDirs > 0) n.children.push({ name: '(files)', path: n.path, size: n.size - inDirs, children: [] });
    n.children.sort((a, b) => b.size - a.size);
  };
  addRest(root);
  return root;
}

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Squarified treemap (Bruls, Huizing, van Wijk): rows of rectangles with aspect ratios near 1. */
function squarify(values: number[], box: Rect): Rect[] {
  const total = values.reduce((s, v) => s + v, 0);
  const out: Rect[] = [];
  if (total <= 0 || box.w <= 0 || box.h <= 0) return values.map(() => ({ x: box.x, y: box.y, w: 0, h: 0 }));
  const scale = (box.w * box.h) / total;
  const areas = values.map((v) => v * scale);
  let { x, y, w, h } = box;
  let row: number[] = [];
  const worst = (rw: number[], side: number) => {
    const s = rw.reduce((a, b) => a + b, 0);
    const mx = Math.max(...rw);
    const mn = Math.min(...rw);
    return Math.max((side * side * mx) / (s * s), (s * s) / (side * side * mn));
  };
  const layout = (rw: number[]) => {
    const s = rw.reduce((a, b) => a + b, 0);
    if (w >= h) {
      const cw = s / h;
      let yy = y;
      for (const a of rw) {
        out.push({ x, y: yy, w: cw, h: a / cw });
        yy += a / cw;
      }
      x += cw;
      w -= cw;
    } else {
      const rh = s / w;
      let xx = x;
      for (const a of rw) {
        out.push({ x: xx, y, w: a / rh, h: rh });
        xx += a / rh;
      }
      y += rh;
      h -= rh;
    }
  };
  for (const a of areas) {
    if (a <= 0) continue;
    const side = Math.min(w, h);
    if (row.length === 0 || worst([...row, a], side) <= worst(row, side)) row.push(a);
    else {
      layout(row);
      row = [a];
    }
  }
  if (row.length) layout(row);
  // zero-sized values get empty rects so indices line up
  const res: Rect[] = [];
  let k = 0;
  for (const a of areas) res.push(a > 0 ? out[k++]! : { x: box.x, y: box.y, w: 0, h: 0 });
  return res;
}

function treemap(r: SizeReport): string {
  const W = 1100;
  const H = 520;
  const root = dirTree(r);
  const parts: string[] = [];
  const draw = (n: TNode, box: Rect, depth: number, hue: number) => {
    const rects = squarify(n.children.map((c) => c.size), box);
    n.children.forEach((c, i) => {
      const b = rects[i]!;
      if (b.w < 1 || b.h < 1) return;
      const h = depth === 1 ? (i * 47) % 360 : hue;
      const light = 88 - depth * 12;
      const tip = `${c.name === '(files)' ? `files directly in ${c.path}` : c.path}: ${formatSize(c.size)}`;
      parts.push(
        `<g class="tm d${depth}"><title>${esc(tip)}</title><rect x="${b.x.toFixed(1)}" y="${b.y.toFixed(1)}" ` +
          `width="${b.w.toFixed(1)}" height="${b.h.toFixed(1)}" fill="hsl(${h} 55% ${light}%)"/>` +
          (b.w > 50 && b.h > 14
            ? `<text x="${(b.x + 3).toFixed(1)}" y="${(b.y + 12).toFixed(1)}">${esc(clip(c.name, Math.floor(b.w / 7)))} ${b.w > 120 ? esc(formatSize(c.size)) : ''}</text>`
            : '') +
          '</g>',
      );
      if (c.children.length && b.w > 24 && b.h > 30) {
        draw(c, { x: b.x + 2, y: b.y + 16, w: b.w - 4, h: b.h - 18 }, depth + 1, h);
      }
    });
  };
  draw(root, { x: 0, y: 0, w: W, h: H }, 1, 0);
  return `<svg id="treemap" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="directory treemap">${parts.join('\n')}</svg>`;
}

// ---------------------------------------------------------------- page

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd}
code,.mono,td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:150px}
.card b{display:block;font-size:18px} .card span{color:#666;font-size:12px}
.warn b{color:#b45309}
table{border-collapse:collapse;width:100%} th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{cursor:pointer;user-select:none;background:#f6f6f6} th.asc::after{content:" ▲"} th.desc::after{content:" ▼"}
td.num,th.num{text-align:right;white-space:nowrap}
#layer-chart text{font:12px ui-monospace,monospace;fill:#333}
#layer-chart .bar{fill:#3b82f6} #layer-chart .base .bar{fill:#9ca3af} #layer-chart .waste{fill:#dc2626;opacity:.85}
#treemap rect{stroke:#fff;stroke-width:1} #treemap text{font:11px system-ui,sans-serif;fill:#111;pointer-events:none}
#treemap g.tm:hover>rect{stroke:#000;stroke-width:2}
.finding{border-left:4px solid #dc2626;padding:4px 10px;margin:8px 0;background:#fef2f2}
.finding .fix{color:#065f46} .none{color:#666}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
`;

/** Sorting: click a header; numbers (data-sort) numerically, the rest as text. */
const JS = `
(function(){
  function key(td){var v=td.getAttribute('data-sort');if(v===null)v=td.textContent;var n=Number(v);return v!==''&&!isNaN(n)?n:v.toLowerCase();}
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('th').forEach(function(th,i){
      th.addEventListener('click',function(){
        var asc=!th.classList.contains('asc');
        t.querySelectorAll('th').forEach(function(o){o.classList.remove('asc','desc');});
        th.classList.add(asc?'asc':'desc');
        var body=t.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);var c=x<y?-1:x>y?1:0;return asc?c:-c;});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
    t.classList.add('ready');
  });
  document.body.setAttribute('data-ready','1');
})();
`;

function card(label: string, value: string, figure: string, warn = false): string {
  return `<div class="card${warn ? ' warn' : ''}" data-figure="${figure}"><b>${esc(value)}</b><span>${esc(label)}</span></div>`;
}

export function renderHtml(sizeReport: SizeReport): string {
  const sz = (n: number) => esc(formatSize(n));
  const loc = (s?: { file: string; line: number }) => (s ? `${esc(s.file)}:${s.line}` : '');
  const sections: string[] = [];

  sections.push(`<h2>Layers</h2>
<p class="legend"><span style="background:#9ca3af"></span>base image<span style="background:#3b82f6"></span>added<span style="background:#dc2626"></span>wasted (not in the final filesystem)</p>
${layerChart(sizeReport)}
${htmlTable('layers', [
    { head: '#', cell: (l) => String(l.index) + (l.base ? ' (base)' : ''), sort: (l) => l.index, num: true },
    { head: 'compressed', cell: (l) => sz(l.compressedSize), sort: (l) => l.compressedSize, num: true },
    { head: 'size', cell: (l) => sz(l.contentBytes), sort: (l) => l.contentBytes, num: true },
    { head: 'wasted', cell: (l) => sz(l.wastedBytes), sort: (l) => l.wastedBytes, num: true },
    { head: 'files', cell: (l) => String(l.files), sort: (l) => l.files, num: true },
    { head: 'source', cell: (l) => loc(l.source) },
    { head: 'created by', cell: (l) => esc(oneLine(l.createdBy)) },
  ], sizeReport.layers)}`);

  sections.push(`<h2>Directories</h2>${treemap(sizeReport)}
${htmlTable('dirs', [
    { head: 'size', cell: (d) => sz(d.size), sort: (d) => d.size, num: true },
    { head: 'files', cell: (d) => String(d.files), sort: (d) => d.files, num: true },
    { head: 'path', cell: (d) => esc(d.path) },
  ], sizeReport.largestDirs)}`);

  sections.push(`<h2>Largest files</h2>${htmlTable('files', [
    { head: 'size', cell: (f) => sz(f.size), sort: (f) => f.size, num: true },
    { head: 'layer', cell: (f) => String(f.layer), sort: (f) => f.layer, num: true },
    { head: 'path', cell: (f) => esc(f.path) },
  ], sizeReport.largestFiles)}`);

  sections.push(`<h2>Wasted space</h2>
<p>${sizeReport.wastedPaths} path(s); ${sz(sizeReport.reclaimableBytes)} would disappear if each path were stored once${sizeReport.wasted.length < sizeReport.wastedPaths ? ` (largest ${sizeReport.wasted.length} shown)` : ''}.</p>
${htmlTable('wasted', [
    { head: 'bytes', cell: (w) => sz(w.bytes), sort: (w) => w.bytes, num: true },
    { head: 'kind', cell: (w) => w.kind },
    { head: 'layers', cell: (w) => w.layers.join(', ') + (w.deletedIn !== undefined ? ` → deleted in ${w.deletedIn}` : '') },
    { head: 'path', cell: (w) => esc(w.path) },
  ], sizeReport.wasted)}`);

  if (sizeReport.duplicates.length) {
    sections.push(`<h2>Same content at several paths</h2>${htmlTable('duplicates', [
      { head: 'savable', cell: (d) => sz(d.bytes), sort: (d) => d.bytes, num: true },
      { head: 'size', cell: (d) => sz(d.size), sort: (d) => d.size, num: true },
      { head: 'paths', cell: (d) => d.paths.map(esc).join('<br>') },
    ], sizeReport.duplicates)}`);
  }

  sections.push(
    `<h2>Findings</h2>` +
      (sizeReport.findings.length
        ? sizeReport.findings
            .map(
              (f) => `<div class="finding" data-rule="${esc(f.rule)}"><b>${esc(f.rule)}</b> — layer ${f.layer}${f.source ? ` (${loc(f.source)})` : ''}: ${esc(f.message)}
<div class="mono">${esc(clip(oneLine(f.createdBy), 300))}</div>
<div class="fix">fix: ${esc(f.fix)}</div>
<div class="mono">${f.paths.slice(0, 5).map(esc).join('<br>')}${f.fileCount > 5 ? `<br>… ${f.fileCount - 5} more` : ''}</div></div>`,
            )
            .join('\n')
        : '<p class="none">None.</p>'),
  );

  const cards = [
    card('compressed (pull) size', formatSize(sizeReport.totals.compressed), 'compressed'),
    card('uncompressed size', formatSize(sizeReport.totals.uncompressed), 'uncompressed'),
    card(`files in ${sizeReport.totals.layers} layers`, String(sizeReport.totals.files), 'files'),
    card(`wasted: ${formatSize(sizeReport.cacheBytes)} caches + reclaimable`, formatSize(sizeReport.wastedBytes), 'wasted', sizeReport.wastedBytes > 0),
    card('reclaimable', formatSize(sizeReport.reclaimableBytes), 'reclaimable', sizeReport.reclaimableBytes > 0),
    card("efficiency (dive's score, no caches)", formatPercent(sizeReport.efficiency), 'efficiency', sizeReport.efficiency < 0.9),
    card('dive would call wasted', formatSize(sizeReport.diveWastedBytes), 'dive-wasted'),
    card(`base: ${sizeReport.image.baseLayerCount} layer(s)`, formatSize(sizeReport.totals.baseBytes), 'base'),
  ].join('');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tsbuild size report ${esc(sizeReport.image.digest.slice(0, 19))}</title>
<style>${CSS}</style></head>
<body>
<h1>Image size report</h1>
<div class="mono">${esc(sizeReport.image.digest)} · ${esc(sizeReport.image.platform)}${sizeReport.image.created ? ` · created ${esc(sizeReport.image.created)}` : ''}</div>
<div class="cards">${cards}</div>
${sections.join('\n')}
<script>${JS}</script>
</body></html>
`;
}
