/**
 * CI gates: thresholds a report must meet, and `.dive-ci` compatibility.
 *
 * `.dive-ci` rules and dive's defaults (runtime/ci/rules.go):
 *   lowestEfficiency          0.9       fails when efficiency < value
 *   highestWastedBytes        disabled  fails when wasted > value (humanized: 20MB, 1GiB)
 *   highestUserWastedPercent  0.1       fails when wasted / user bytes > value
 * `disabled` turns a rule off. tsbuild compares its *wasted* bytes by default:
 * reclaimable bytes plus package-manager caches in the final image (dive's own
 * figure counts the surviving copy too, dive#684, and no caches); set
 * `wastedMeasure: dive` (in the file or in Gates) to reproduce dive exactly.
 */
import { GateConfigError } from './errors.js';
import type { SizeReport } from './types.js';
import { formatPercent, formatSize, parseSize } from './units.js';

export interface Gates {
  /** Largest allowed image size in bytes (see sizeMeasure). */
  maxSize?: number;
  /** Lowest allowed efficiency score (0..1, dive's definition). */
  minEfficiency?: number;
  /** Most wasted bytes allowed (see wastedMeasure). */
  maxWasted?: number;
  /** Most wasted bytes allowed relative to the non-base bytes (0..1). */
  maxWastedPercent?: number;
  /** 'reclaimable' (default): SizeReport.wastedBytes (reclaimable + caches); 'dive': dive's double count. */
  wastedMeasure?: 'reclaimable' | 'dive';
  /** 'uncompressed' (default): Σ layer tar sizes, what `docker images` shows; 'compressed': what a pull moves. */
  sizeMeasure?: 'uncompressed' | 'compressed';
}

export interface GateResult {
  gate: 'maxSize' | 'minEfficiency' | 'maxWasted' | 'maxWastedPercent';
  limit: number;
  actual: number;
  passed: boolean;
  /** Set when a wasted gate measured dive's figure (`wastedMeasure: dive`). */
  measure?: 'dive';
}

const DIVE_DEFAULTS: Readonly<Record<string, string>> = {
  lowestEfficiency: '0.9',
  highestWastedBytes: 'disabled',
  highestUserWastedPercent: '0.1',
};

function ratio(key: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new GateConfigError(key, value, 'not a number');
  if (n < 0 || n > 1) throw new GateConfigError(key, value, 'must be a ratio between 0 and 1');
  return n;
}

function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && (t[0] === '"' || t[0] === "'") && t[t.length - 1] === t[0]) return t.slice(1, -1);
  return t;
}

/**
 * Reads a `.dive-ci` file (the small YAML dive reads: `rules:` with three keys).
 * Keys absent from the file take dive's defaults, as dive does.
 */
export function parseDiveCi(text: string): Gates {
  const values: Record<string, string> = { ...DIVE_DEFAULTS };
  let measure: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trimEnd();
    const m = /^\s*([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!;
    const value = unquote(m[2]!);
    if (key in DIVE_DEFAULTS) values[key] = value;
    else if (key === 'wastedMeasure') measure = value;
  }
  const g: Gates = {};
  const on = (k: string) => values[k]!.toLowerCase() !== 'disabled';
  if (on('lowestEfficiency')) g.minEfficiency = ratio('lowestEfficiency', values.lowestEfficiency!);
  if (on('highestWastedBytes')) {
    try {
      g.maxWasted = parseSize(values.highestWastedBytes!);
    } catch (e) {
      throw new GateConfigError('highestWastedBytes', values.highestWastedBytes!, (e as Error).message);
    }
  }
  if (on('highestUserWastedPercent')) {
    g.maxWastedPercent = ratio('highestUserWastedPercent', values.highestUserWastedPercent!);
  }
  if (measure !== undefined) {
    if (measure !== 'dive' && measure !== 'reclaimable') {
      throw new GateConfigError('wastedMeasure', measure, "must be 'dive' or 'reclaimable'");
    }
    g.wastedMeasure = measure;
  }
  return g;
}

/** Each configured gate with its limit, the report's value and whether it passed. */
export function checkGates(report: SizeReport, gates: Gates): GateResult[] {
  const out: GateResult[] = [];
  const dive = gates.wastedMeasure === 'dive';
  const wasted = dive ? report.diveWastedBytes : report.wastedBytes;
  const diveMark = dive ? { measure: 'dive' as const } : {};
  if (gates.maxSize !== undefined) {
    const actual = gates.sizeMeasure === 'compressed' ? report.totals.compressed : report.totals.uncompressed;
    out.push({ gate: 'maxSize', limit: gates.maxSize, actual, passed: actual <= gates.maxSize });
  }
  if (gates.minEfficiency !== undefined) {
    out.push({ gate: 'minEfficiency', limit: gates.minEfficiency, actual: report.efficiency, passed: report.efficiency >= gates.minEfficiency });
  }
  if (gates.maxWasted !== undefined) {
    out.push({ gate: 'maxWasted', limit: gates.maxWasted, actual: wasted, passed: wasted <= gates.maxWasted, ...diveMark });
  }
  if (gates.maxWastedPercent !== undefined) {
    // dive divides by every layer but layer 0; tsbuild by the bytes above the real base image
    const actual = dive
      ? (report.diveUserWastedPercent ?? (wasted > 0 ? Number.POSITIVE_INFINITY : 0))
      : report.wastedPercent;
    out.push({ gate: 'maxWastedPercent', limit: gates.maxWastedPercent, actual, passed: actual <= gates.maxWastedPercent, ...diveMark });
  }
  return out;
}

const GATE_WORDS: Record<GateResult['gate'], { what: string; format: (n: number) => string; over: string; under: string }> = {
  maxSize: { what: 'size', format: formatSize, over: 'exceeds', under: 'is within' },
  minEfficiency: { what: "dive's efficiency", format: formatPercent, over: 'is below', under: 'meets' },
  maxWasted: { what: 'wasted', format: formatSize, over: 'exceeds', under: 'is within' },
  maxWastedPercent: { what: 'wasted share of added bytes', format: formatPercent, over: 'exceeds', under: 'is within' },
};

/** One gate's outcome in human units: `wasted 96.9 MiB exceeds the limit 19.1 MiB`. */
export function describeGate(result: GateResult): string {
  const words = GATE_WORDS[result.gate];
  const actual = Number.isFinite(result.actual) ? words.format(result.actual) : 'unbounded (no added bytes)';
  return `${result.measure === 'dive' ? "dive's " : ''}${words.what} ${actual} ${result.passed ? words.under : words.over} the limit ${words.format(result.limit)}`;
}
