/**
 * "did you mean …?" hints for unknown instructions, flags and ARG names, in
 * the spirit of BuildKit's `util/suggest`: the closest candidate by edit
 * distance (case-insensitive), when it is close enough to be a typo.
 */

/** Edit distance where swapping two neighbouring letters ("bsae" for "base") is one typo, not two. */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/** The candidate closest to `word`, or undefined when none is plausibly meant. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  if (best === undefined) return undefined;
  // Allow roughly one typo per three characters, and never a full rewrite.
  const limit = Math.max(1, Math.floor(w.length / 3));
  return bestDist <= limit && bestDist < w.length ? best : undefined;
}

/** ` (did you mean X?)` or the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean ${c}?)`;
}

let rowA = new Int32Array(64);
let rowB = new Int32Array(64);

/** Levenshtein distance (insert, delete, substitute), or `limit` when it is at least that. */
function levenshteinWithin(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  if (rowA.length <= b.length) {
    rowA = new Int32Array(b.length + 1);
    rowB = new Int32Array(b.length + 1);
  }
  let prev = rowA;
  let row = rowB;
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1));
      row[j] = d;
      if (d < rowMin) rowMin = d;
    }
    // every later row is at least this row's minimum
    if (rowMin >= limit) return limit;
    [prev, row] = [row, prev];
  }
  return Math.min(prev[b.length]!, limit);
}

/**
 * BuildKit's `suggest.Search`, whose answers lint messages quote: the first
 * candidate at the smallest distance under 3; none when `word` itself is a candidate.
 */
export function levenshteinSuggest(word: string, candidates: Iterable<string>, caseSensitive: boolean): string | undefined {
  const w = caseSensitive ? word : word.toLowerCase();
  let match: string | undefined;
  let best = 3;
  for (const c of candidates) {
    const o = caseSensitive ? c : c.toLowerCase();
    if (o === w) return undefined;
    const d = levenshteinWithin(w, o, best);
    if (d < best) {
      best = d;
      match = c;
    }
  }
  return match;
}
