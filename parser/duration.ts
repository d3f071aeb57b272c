/**
 * Go's `time.ParseDuration`, which HEALTHCHECK flags use: a signed sequence
 * of decimal numbers with units (`1h30m`, `1.5s`, `300ms`, `-2us`), or `0`.
 * Returns nanoseconds.
 */
import { DurationError } from './errors.js';

const UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1000n,
  'µs': 1000n, // U+00B5 micro sign
  'μs': 1000n, // U+03BC Greek mu
  ms: 1000000n,
  s: 1000000000n,
  m: 60n * 1000000000n,
  h: 3600n * 1000000000n,
};

const LIMIT = 1n << 63n;

function goQuote(s: string): string {
  return JSON.stringify(s);
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Parse a Go duration string into nanoseconds; throws DurationError with Go's message. */
export function parseDuration(input: string): number {
  const invalid = (): DurationError => new DurationError(`time: invalid duration ${goQuote(input)}`, input);
  let s = input;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw invalid();
  let total = 0n;
  let i = 0;
  while (i < s.length) {
    if (!(s[i] === '.' || isDigit(s[i]))) throw invalid();
    const intStart = i;
    let whole = 0n;
    while (isDigit(s[i])) {
      whole = whole * 10n + BigInt(s.charCodeAt(i) - 48);
      if (whole >= LIMIT) throw invalid();
      i++;
    }
    const pre = i > intStart;
    let frac = 0n;
    let scale = 1n;
    let post = false;
    if (s[i] === '.') {
      i++;
      const fracStart = i;
      let overflow = false;
      while (isDigit(s[i])) {
        if (!overflow) {
          const next = frac * 10n + BigInt(s.charCodeAt(i) - 48);
          if (next >= LIMIT) overflow = true; // Go stops accumulating but keeps consuming
          else {
            frac = next;
            scale *= 10n;
          }
        }
        i++;
      }
      post = i > fracStart;
    }
    if (!pre && !post) throw invalid();
    const unitStart = i;
    while (i < s.length && !(s[i] === '.' || isDigit(s[i]))) i++;
    if (i === unitStart) throw new DurationError(`time: missing unit in duration ${goQuote(input)}`, input);
    const u = s.slice(unitStart, i);
    const unit = Object.hasOwn(UNITS, u) ? UNITS[u] : undefined;
    if (unit === undefined) {
      throw new DurationError(`time: unknown unit ${goQuote(u)} in duration ${goQuote(input)}`, input);
    }
    if (whole > LIMIT / unit) throw invalid();
    let v = whole * unit;
    if (frac > 0n) {
      // Go computes this in float64; the truncated exact value agrees for sane inputs.
      v += BigInt(Math.trunc(Number(frac) * (Number(unit) / Number(scale))));
      if (v > LIMIT) throw invalid();
    }
    total += v;
    if (total > LIMIT) throw invalid();
  }
  if (neg) return -Number(total);
  if (total > LIMIT - 1n) throw invalid();
  return Number(total);
}
