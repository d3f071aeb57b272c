/**
 * Word-level scanning shared by the line parsers: Go's notion of white space,
 * the keyword/flags split and BuildKit's quote-preserving word splitter.
 * These reproduce BuildKit's behaviour exactly, quirks included, because the
 * conformance corpus pins them.
 */

/** Go's `unicode.IsSpace`. It differs from JS `\s` (no U+FEFF, adds U+0085). */
export function isGoSpace(ch: string): boolean {
  const c = ch.codePointAt(0) ?? -1;
  if (c <= 0xff) {
    return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
  }
  return (
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** Go `strings.TrimSpace`. */
export function trimGoSpace(text: string): string {
  return trimGoSpaceRight(trimGoSpaceLeft(text));
}

export function trimGoSpaceLeft(text: string): string {
  let i = 0;
  while (i < text.length && isGoSpace(text[i]!)) i++;
  return text.slice(i);
}

export function trimGoSpaceRight(text: string): string {
  let j = text.length;
  while (j > 0 && isGoSpace(text[j - 1]!)) j--;
  return text.slice(0, j);
}

/** BuildKit's `reWhitespace`: the separators of whitespace-delimited arguments. */
const WHITESPACE_RUN = /[\t\v\f\r ]+/;

/** Go `reWhitespace.Split(s, -1)`. */
export function splitWhitespace(text: string): string[] {
  return text.split(WHITESPACE_RUN);
}

/** Go `reWhitespace.Split(s, 2)`: first field and the untouched rest. */
export function splitWhitespaceOnce(text: string): [string] | [string, string] {
  const m = WHITESPACE_RUN.exec(text);
  if (!m) return [text];
  return [text.slice(0, m.index), text.slice(m.index + m[0].length)];
}

export interface SplitCommand {
  /** The keyword as written. */
  keyword: string;
  flags: string[];
  /** The rest of the line after keyword and flags, trimmed. */
  rest: string;
}

/** BuildKit `splitCommand`: keyword, leading `--flags`, and the remaining text. */
export function splitCommand(line: string, escapeToken: string): SplitCommand {
  const parts = splitWhitespaceOnce(trimGoSpace(line));
  if (parts.length === 1) return { keyword: parts[0], flags: [], rest: '' };
  const { rest, flags } = extractBuilderFlags(parts[1], escapeToken);
  return { keyword: parts[0], flags, rest: trimGoSpace(rest) };
}

/**
 * BuildKit `extractBuilderFlags`: consumes words starting with `--` (quotes
 * removed, escapes applied) until the first word that does not, or a lone `--`.
 */
function extractBuilderFlags(line: string, escapeToken: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const atEnd = pos === line.length;
    let ch = atEnd ? '' : line[pos]!;
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      if (ch !== '-' || pos + 1 === line.length || line[pos + 1] !== '-') {
        return { rest: line.slice(pos), flags };
      }
      phase = 'word';
    }
    if (atEnd) {
      if (word !== '--' && (blankOK || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { rest: line.slice(pos), flags };
        if (blankOK || word.length > 0) flags.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
        continue;
      }
      if (ch === escapeToken) {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos]!;
      }
      word += ch;
      continue;
    }
    // inside quotes
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === escapeToken) {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      pos++;
      ch = line[pos]!;
    }
    word += ch;
  }
  return { rest: '', flags };
}

/**
 * BuildKit `parseWords`: split on white space, keeping quotes and escape
 * tokens in the words (expansion removes them later). An escape token before
 * any character keeps both, so `a\ b` stays one word.
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    const atEnd = pos === chars.length;
    let ch = atEnd ? '' : chars[pos]!;
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isGoSpace(ch)) continue;
      phase = 'word';
    }
    if (atEnd) {
      if (blankOK || word.length > 0) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        phase = 'spaces';
        if (blankOK || word.length > 0) words.push(word);
        word = '';
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = 'quote';
      }
      if (ch === escapeToken) {
        if (pos + 1 === chars.length) continue; // a trailing escape token is dropped
        word += ch;
        pos++;
        ch = chars[pos]!;
      }
      word += ch;
      continue;
    }
    // inside quotes: the closing quote is kept and ends the quote
    if (ch === quote) phase = 'word';
    if (ch === escapeToken && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      word += ch;
      ch = chars[pos]!;
    }
    word += ch;
  }
  return words;
}
