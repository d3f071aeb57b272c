/**
 * Byte sizes in and out. parseSize reads what `.dive-ci` files and CLI flags
 * contain with go-humanize's rules (dive uses humanize.ParseBytes), so a
 * threshold means the same number of bytes in dive and in tsbuild:
 * k/KB/M/MB… are powers of 1000, Ki/KiB/Mi/MiB… powers of 1024.
 */
import { InvalidSizeError } from './errors.js';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3, kb: 1e3, ki: 2 ** 10, kib: 2 ** 10,
  m: 1e6, mb: 1e6, mi: 2 ** 20, mib: 2 ** 20,
  g: 1e9, gb: 1e9, gi: 2 ** 30, gib: 2 ** 30,
  t: 1e12, tb: 1e12, ti: 2 ** 40, tib: 2 ** 40,
  p: 1e15, pb: 1e15, pi: 2 ** 50, pib: 2 ** 50,
};

/** `10MB` → 10000000, `1.5GiB` → 1610612736, `100k` → 100000, `512` → 512. */
export function parseSize(text: string): number {
  const m = /^\s*([0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) throw new InvalidSizeError(text, 'expected a number with an optional unit (B, k, KB, KiB, MB, MiB, GB, GiB, TB, TiB)');
  const num = Number(m[1]!.replace(/,/g, ''));
  const unit = UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) throw new InvalidSizeError(text, `unknown unit ${JSON.stringify(m[2])}`);
  if (!Number.isFinite(num)) throw new InvalidSizeError(text, 'not a number');
  const bytes = Math.floor(num * unit);
  if (!Number.isSafeInteger(bytes)) throw new InvalidSizeError(text, 'too large');
  return bytes;
}

/** 1536 → `1.5 KiB`; exact bytes below 1 KiB. IEC units so the numbers are unambiguous. */
export function formatSize(bytes: number): string {
  const neg = bytes < 0;
  let v = Math.abs(bytes);
  if (v < 1024) return `${neg ? '-' : ''}${v} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${neg ? '-' : ''}${v.toFixed(1)} ${units[u]}`;
}

/** A signed size change: `+1.0 MiB`, `-512 B`, `0 B`. */
export function formatDelta(bytes: number): string {
  return bytes > 0 ? `+${formatSize(bytes)}` : formatSize(bytes);
}

/** 0.1234 → `12.3%`. */
export function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}
