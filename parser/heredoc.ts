/**
 * Here-document detection, following BuildKit: the instruction line is split
 * into shell words with quotes, escapes and `$vars` kept raw (`<<` swallows
 * the blanks after it), every word matching `N<<-WORD` names a heredoc, and
 * the terminator word is lexed twice — with and without quote removal — so a
 * difference in quote count tells that some part was quoted (no expansion).
 */
import type { Heredoc } from './ast.js';
import { isGoSpace } from './lexer.js';

export class HeredocSyntaxError extends Error {}

// Go RE2 `\s` is ASCII-only, so spell the class out.
const HEREDOC_WORD = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;

interface LexOptions {
  /** Keep quote characters in the words. */
  rawQuotes: boolean;
  /** Keep escape characters (and never treat the escaped char specially). */
  rawEscapes: boolean;
}

/**
 * Shell word splitting as BuildKit's `shell.Lex.ProcessWords` does it with
 * `SkipUnsetEnv` and an empty environment: variable references stay as
 * written. The escape character is always `\` here, as in BuildKit.
 */
function shellWords(src: string, opts: LexOptions): string[] {
  const chars = Array.from(src);
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const flush = (): void => {
    if (inWord) words.push(word);
    word = '';
    inWord = false;
  };
  while (i < chars.length) {
    const ch = chars[i]!;
    if (isGoSpace(ch)) {
      flush();
      i++;
      continue;
    }
    if (ch === "'") {
      inWord = true;
      const end = chars.indexOf("'", i + 1);
      if (end < 0) throw new HeredocSyntaxError('unexpected end of statement while looking for matching single-quote');
      const body = chars.slice(i + 1, end).join('');
      word += opts.rawQuotes ? "'" + body + "'" : body;
      i = end + 1;
      continue;
    }
    if (ch === '"') {
      inWord = true;
      if (opts.rawQuotes) word += '"';
      i++;
      let closed = false;
      while (i < chars.length) {
        const c = chars[i]!;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === '\\' && i + 1 < chars.length) {
          const n = chars[i + 1]!;
          if (opts.rawEscapes) {
            word += c + n;
            i += 2;
            continue;
          }
          if (n === '"' || n === '$' || n === '\\') {
            word += n;
            i += 2;
            continue;
          }
        }
        word += c;
        i++;
      }
      if (!closed) throw new HeredocSyntaxError('unexpected end of statement while looking for matching double-quote');
      if (opts.rawQuotes) word += '"';
      continue;
    }
    if (ch === '\\') {
      inWord = true;
      if (i + 1 >= chars.length) {
        i++; // a trailing escape is ignored
        continue;
      }
      word += opts.rawEscapes ? ch + chars[i + 1]! : chars[i + 1]!;
      i += 2;
      continue;
    }
    if (ch === '<' && chars[i + 1] === '<') {
      // BuildKit keeps the blanks after `<<` in the word so `<<  EOF` stays one word.
      inWord = true;
      word += '<<';
      i += 2;
      while (i < chars.length && isGoSpace(chars[i]!)) word += chars[i++]!;
      continue;
    }
    inWord = true;
    word += ch;
    i++;
  }
  flush();
  return words;
}

/**
 * BuildKit `ParseHeredoc`: the heredoc a single word like `<<EOF`, `3<<-'EOF'`
 * introduces, or null when the word is not one. Throws on a malformed
 * terminator such as `<<'EOF`.
 */
export function parseHeredocWord(src: string): Heredoc | null {
  const m = HEREDOC_WORD.exec(src);
  if (!m) return null;
  const [, fdText, dash, rest] = m as unknown as [string, string, string, string];
  if (rest.length === 0) return null;
  const words = shellWords(rest, { rawQuotes: false, rawEscapes: false });
  if (words.length !== 1) return null;
  const rawWords = shellWords(rest, { rawQuotes: true, rawEscapes: false });
  if (rawWords.length !== 1) {
    throw new HeredocSyntaxError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const name = words[0]!;
  const quoteCount = (s: string): number => (s.match(/['"]/g) ?? []).length;
  const heredoc: Heredoc = {
    name,
    content: '',
    expand: quoteCount(name) === quoteCount(rawWords[0]!),
    chomp: dash === '-',
  };
  if (fdText !== '') heredoc.fd = Number.parseInt(fdText, 10);
  return heredoc;
}

/** Every heredoc an instruction line introduces, in order (bodies still empty). */
export function heredocsFromLine(line: string): Heredoc[] {
  let words: string[];
  try {
    words = shellWords(line, { rawQuotes: true, rawEscapes: true });
  } catch {
    return []; // BuildKit ignores lexing errors of the whole line here
  }
  const out: Heredoc[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** `<<-` semantics: remove leading tabs from every line of the body. */
export function chompHeredocContent(src: string): string {
  return src.replace(/^\t+/gm, '');
}
