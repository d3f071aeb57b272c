/**
 * Shell-style word processing for Dockerfile instructions: quote removal,
 * escapes and `$VAR` / `${VAR...}` expansion, with the semantics of BuildKit's
 * `frontend/dockerfile/shell/lex.go` (not POSIX sh: e.g. `${#v}` is an error,
 * `${v/p/r}` exists, single quotes inside `${v:-...}` are still quotes).
 *
 * Pure: the environment comes in as a lookup function, nothing is read from
 * process.env.
 */
import { ParserBaseError } from './errors.js';

export type EnvLookup = (name: string) => string | undefined;

export interface ExpandOptions {
  /** The Dockerfile escape character: `\` (default) or `` ` ``. */
  escapeToken?: string;
  /** Leave references to unset variables in place (`$X`, `${X:-y}`) instead of expanding them. */
  skipUnsetEnv?: boolean;
}

export interface ExpandResult {
  value: string;
  /** Variable names referenced and set. */
  used: Set<string>;
  /** Variable names referenced but not set (feeds the undefined-variable lint). */
  unset: Set<string>;
}

export interface ExpandWordsResult {
  words: string[];
  used: Set<string>;
  unset: Set<string>;
}

/**
 * Limits of one expansion. BuildKit has none (Go's stack grows to 1 GB), so a
 * Dockerfile could exhaust memory or the JS stack: a doubling `ENV a=$a$a`
 * chain of 24 lines took 4 GB, 10,000 nested `${a:-…}` overflowed the stack.
 * 1 MiB is well above what a process can receive in one variable (Linux's
 * MAX_ARG_STRLEN is 128 KiB); 64 levels of `${…}` nesting is far beyond any
 * real Dockerfile.
 */
export const MAX_EXPANDED_LENGTH = 1 << 20;
export const MAX_EXPANSION_DEPTH = 64;

/** Expansion failed: bad syntax (`${}`, unterminated quote) or a `${v?msg}` / `${v:?msg}` check. */
export class ShellExpansionError extends ParserBaseError {
  constructor(
    readonly word: string,
    /** UTF-16 offset into `word` where processing stopped. */
    readonly offset: number,
    readonly reason: string,
    extra: Record<string, unknown> = {},
  ) {
    super('TSB_DOCKERFILE_SHELL_EXPANSION', `failed to process ${quoteShort(word)}: ${reason}`, {
      word,
      offset,
      reason,
      ...extra,
    });
  }
}

/** The word for a message: a hostile one can be megabytes long. */
function quoteShort(word: string): string {
  return word.length <= 200 ? JSON.stringify(word) : `${JSON.stringify(word.slice(0, 200))}… (${word.length} characters)`;
}

/** Expands one word, keeping whitespace as is (ENV values, WORKDIR, COPY sources...). */
export function expandWord(word: string, env: EnvLookup, opts: ExpandOptions = {}): ExpandResult {
  const sw = new ShellWord(word, env, opts);
  const { value } = sw.run();
  return { value, used: sw.used, unset: sw.unset };
}

/**
 * Expands and splits into words the way BuildKit does for exec-form-less
 * lists: whitespace from unquoted text *and from unquoted expansions* splits,
 * quoted text never does.
 */
export function expandWords(word: string, env: EnvLookup, opts: ExpandOptions = {}): ExpandWordsResult {
  const sw = new ShellWord(word, env, opts);
  const { words } = sw.run();
  return { words, used: sw.used, unset: sw.unset };
}

// ---------------------------------------------------------------------------

/** Raised inside the lexer; turned into a ShellExpansionError with position at the top. */
class LexFailure extends Error {
  constructor(
    readonly reason: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(reason);
  }
}

const WHITE_SPACE = /^\p{White_Space}$/u; // = Go unicode.IsSpace
const LETTER = /^\p{L}$/u; // = Go unicode.IsLetter
const DIGIT = /^\p{Nd}$/u; // = Go unicode.IsDigit

const isSpace = (ch: string): boolean => WHITE_SPACE.test(ch);
const isLetter = (ch: string): boolean => LETTER.test(ch);
const isDigit = (ch: string): boolean => DIGIT.test(ch);

/** POSIX special parameters; never set in a Dockerfile, so they expand to "". */
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

/** Word accumulator for expandWords (BuildKit's wordsStruct). */
class Words {
  private word = '';
  private inWord = false;
  private readonly words: string[] = [];

  /** Unquoted character: whitespace ends the current word. */
  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.word.length !== 0) {
        this.words.push(this.word);
        this.word = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.word += ch;
    this.inWord = true;
  }

  /** Result of an unquoted expansion: split like unquoted text. */
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  /** Result of a quoted section: kept whole. */
  addRawString(s: string): void {
    this.word += s;
    this.inWord = true;
  }

  get(): string[] {
    if (this.word.length > 0) {
      this.words.push(this.word);
      this.word = '';
      this.inWord = false;
    }
    return this.words;
  }
}

/** One pass over one word. Positions are code points, like Go's text/scanner. */
class ShellWord {
  readonly used = new Set<string>();
  readonly unset = new Set<string>();
  private readonly chars: string[];
  private pos = 0;
  private readonly escapeToken: string;
  private readonly skipUnsetEnv: boolean;
  /** Keep escape characters in the output (pattern operands of # % /, where `\*` must survive). */
  private rawEscapes = false;
  /** How many `${…}` the current position is inside. */
  private depth = 0;

  constructor(
    private readonly source: string,
    private readonly env: EnvLookup,
    opts: ExpandOptions,
  ) {
    this.chars = Array.from(source);
    // Go's text/scanner drops a byte-order mark at the very start.
    if (this.chars[0] === '\uFEFF') this.pos = 1;
    this.escapeToken = opts.escapeToken ?? '\\';
    this.skipUnsetEnv = opts.skipUnsetEnv ?? false;
  }

  run(): { value: string; words: string[] } {
    try {
      return this.processStopOn(undefined, false);
    } catch (e) {
      if (e instanceof LexFailure) {
        const offset = this.chars.slice(0, this.pos).join('').length;
        throw new ShellExpansionError(this.source, offset, e.reason, e.extra);
      }
      throw e;
    }
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  /** Processes up to `stop` (consumed) or the end of the word when `stop` is undefined. */
  private processStopOn(stop: string | undefined, rawEscapes: boolean): { value: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = new Words();
      for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
        if (stop !== undefined && ch === stop) {
          this.next();
          return { value: result, words: words.get() };
        }
        if (ch === '$') {
          const tmp = this.processDollar();
          result = capped(result, tmp);
          words.addString(tmp);
          continue;
        }
        if (ch === "'" || ch === '"') {
          const tmp = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          words.addRawString(tmp);
          continue;
        }
        let c = this.next()!;
        if (c === this.escapeToken) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          const escaped = this.next();
          // An escape at the very end of the word is dropped.
          if (escaped === undefined) break;
          c = escaped;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
      if (stop !== undefined) {
        throw new LexFailure(`unexpected end of statement while looking for matching ${stop}`);
      }
      return { value: result, words: words.get() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  /** '...' is literal; there is no way to escape a single quote inside. */
  private processSingleQuote(): string {
    this.next();
    let result = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new LexFailure('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return result;
      result += ch;
    }
  }

  /** "..." expands `$`; the escape only escapes `"`, `$` and itself, otherwise it stays. */
  private processDoubleQuote(): string {
    this.next();
    let result = '';
    for (;;) {
      const peek = this.peek();
      if (peek === undefined) throw new LexFailure('unexpected end of statement while looking for matching double-quote');
      if (peek === '"') {
        this.next();
        return result;
      }
      if (peek === '$') {
        result = capped(result, this.processDollar());
        continue;
      }
      let ch = this.next()!;
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += ch;
        const after = this.peek();
        if (after === undefined) continue; // the loop then reports the missing quote
        if (after === '"' || after === '$' || after === this.escapeToken) ch = this.next()!;
      }
      result += ch;
    }
  }

  private processDollar(): string {
    this.next(); // $
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const [value, set] = this.getEnv(name);
      if (!set && this.skipUnsetEnv) return '$' + name;
      return value;
    }
    this.next(); // {
    if (this.depth >= MAX_EXPANSION_DEPTH) throw new LexFailure(`\${…} nested more than ${MAX_EXPANSION_DEPTH} levels deep`);
    this.depth++;
    try {
      return this.processBraced();
    } finally {
      this.depth--;
    }
  }

  /** After `${`: a name, then `}` or a modifier and its operand. */
  private processBraced(): string {
    const first = this.peek();
    if (first === undefined) throw new LexFailure("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexFailure('syntax error: bad substitution');

    const name = this.processName();
    let ch = this.next();
    let chs = ch ?? '';

    if (ch === '}') {
      const [value, set] = this.getEnv(name);
      if (!set && this.skipUnsetEnv) return '${' + name + '}';
      return value;
    }

    if (ch === ':' || ch === '+' || ch === '-' || ch === '?' || ch === '#' || ch === '%') {
      let nullIsUnset = false;
      if (ch === ':') {
        nullIsUnset = true;
        ch = this.next();
        chs += ch ?? '';
      }
      const word = this.operand('}', ch === '#' || ch === '%', "syntax error: missing '}'");
      const [value, set] = this.getEnv(name);
      if (this.skipUnsetEnv && !set) return '${' + name + chs + word + '}';
      const empty = !set || (nullIsUnset && value === '');
      switch (ch) {
        case '-':
          return empty ? word : value;
        case '+':
          return empty ? '' : word;
        case '?': {
          if (!set || (nullIsUnset && value === '')) {
            const message = word !== '' ? word : !set ? 'is not allowed to be unset' : 'is not allowed to be empty';
            throw new LexFailure(`${name}: ${message}`, { variable: name, message });
          }
          return value;
        }
        case '#':
        case '%': {
          // one # or % = shortest match, two = longest
          let pattern = word;
          let greedy = false;
          if (pattern.startsWith(ch)) {
            greedy = true;
            pattern = pattern.slice(1);
          }
          return ch === '%' ? trimSuffix(pattern, value, greedy) : trimPrefix(pattern, value, greedy);
        }
        default:
          throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
      }
    }

    if (ch === '/') {
      const replaceAll = this.peek() === '/';
      if (replaceAll) this.next();
      const pattern = this.operand('/', true, "syntax error: missing '/' in ${}");
      const replacement = this.operand('}', true, "syntax error: missing '}'");
      const [value, set] = this.getEnv(name);
      // (BuildKit drops the second / of ${v//p/r} here; keeping it preserves the meaning)
      if (this.skipUnsetEnv && !set) return '${' + name + (replaceAll ? '//' : '/') + pattern + '/' + replacement + '}';
      const re = shellPatternToRegExp(pattern, true, false);
      if (replaceAll) return goReplaceAll(value, re, replacement);
      const m = re.exec(value);
      if (!m) return value;
      return value.slice(0, m.index) + replacement + value.slice(m.index + m[0].length);
    }

    throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
  }

  /** The operand of a modifier; running out of input reports `atEof` like BuildKit. */
  private operand(stop: string, rawEscapes: boolean, atEof: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).value;
    } catch (e) {
      if (e instanceof LexFailure && this.peek() === undefined) throw new LexFailure(atEof);
      throw e;
    }
  }

  /** A name: letters/digits/_; a leading digit run (positional) or one special char ends it. */
  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && isDigit(ch)) {
        while (this.peek() !== undefined && isDigit(this.peek()!)) name += this.next()!;
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) {
        this.next();
        return ch;
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next()!;
    }
    return name;
  }

  private getEnv(name: string): [string, boolean] {
    const v = this.env(name);
    if (v === undefined) {
      this.unset.add(name);
      return ['', false];
    }
    this.used.add(name);
    return [v, true];
  }
}

/** `a + b`, refused past MAX_EXPANDED_LENGTH (only expansions can grow a word past its source). */
function capped(a: string, b: string): string {
  if (a.length + b.length > MAX_EXPANDED_LENGTH) {
    throw new LexFailure(`the expanded value is longer than ${MAX_EXPANDED_LENGTH} characters`, { limit: MAX_EXPANDED_LENGTH });
  }
  return a + b;
}

// --- pattern operands of ${v#p} ${v%p} ${v/p/r} ------------------------------

/** Chars that are regex syntax but literal in a shell pattern. */
const REGEX_SPECIAL = new Set(['[', ']', '{', '}', '.', '+', '(', ')', '|', '^', '$']);

/**
 * Shell glob → RegExp: `*` any run (lazy unless greedy), `?` one char, `\*`
 * `\?` `\\` literal, `\}` `\/` are the escaped delimiters. Bracket
 * expressions are not supported (as in BuildKit: `[` is literal). `.` of
 * Go's regexp excludes only newline, so `[^\n]` is used instead of `.`.
 */
function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  return new RegExp(patternSource(pattern, greedy, anchored), 'u');
}

/** The RegExp source for a shell pattern (exported for tests and for lint rules). */
export function shellPatternToRegExpSource(pattern: string, greedy: boolean, anchored: boolean): string {
  try {
    return patternSource(pattern, greedy, anchored);
  } catch (e) {
    if (e instanceof LexFailure) throw new ShellExpansionError(pattern, 0, e.reason, e.extra);
    throw e;
  }
}

function patternSource(pattern: string, greedy: boolean, anchored: boolean): string {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i]!;
    if (tok === '*') {
      out += star;
      continue;
    }
    if (tok === '?') {
      out += '[^\\n]';
      continue;
    }
    if (tok === '\\') {
      const nx = chars[i + 1];
      // \} and \/ only protect the ${} delimiters; the backslash is not part of the pattern
      if (nx === '}' || nx === '/') continue;
      i++;
      if (nx !== '*' && nx !== '?' && nx !== '\\') {
        throw new LexFailure(`invalid pattern (${pattern}) in substitution: invalid escape '\\${nx ?? ''}'`);
      }
      out += '\\' + nx;
      continue;
    }
    out += REGEX_SPECIAL.has(tok) ? '\\' + tok : tok;
  }
  return out;
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/**
 * Shortest/longest *suffix* match: a regex finds leftmost matches only, so
 * match the reversed pattern against the reversed value (as BuildKit does).
 */
function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const reversed = trimPrefix(reversePattern(pattern), reverseString(value), greedy);
  return reverseString(reversed);
}

/** Reverses a pattern keeping escapes attached: `a\*c` → `c\*a`. */
export function reversePattern(pattern: string): string {
  const runes = Array.from(pattern);
  const out: string[] = new Array<string>(runes.length);
  const last = runes.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = runes[i]!;
    const o = last - i;
    if (tok === '\\' && i !== last) {
      out[o - 1] = tok;
      out[o] = runes[i + 1]!;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join('');
}

export function reverseString(text: string): string {
  return Array.from(text).reverse().join('');
}

/**
 * Go's Regexp.ReplaceAllString: successive non-overlapping matches, an empty
 * match right after a previous match is not replaced, and `$0`/`${0}`/`$$`
 * in the replacement are template references (the pattern has no groups, so
 * any other `$name` is empty).
 */
function goReplaceAll(src: string, re: RegExp, template: string): string {
  const g = new RegExp(re.source, 'gu');
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    g.lastIndex = searchPos;
    const m = g.exec(src);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    out += src.slice(lastMatchEnd, start);
    if (end > lastMatchEnd || start === 0) out += expandTemplate(template, m[0]);
    lastMatchEnd = end;
    const cp = src.codePointAt(searchPos);
    const width = cp === undefined ? 0 : cp > 0xffff ? 2 : 1;
    if (searchPos + width > end) searchPos += width;
    else if (searchPos + 1 > end) searchPos++;
    else searchPos = end;
  }
  return out + src.slice(lastMatchEnd);
}

const WORD_CHAR = /^[\p{L}\p{Nd}_]$/u;

function expandTemplate(template: string, match: string): string {
  let out = '';
  let t = template;
  for (;;) {
    const i = t.indexOf('$');
    if (i < 0) break;
    out += t.slice(0, i);
    t = t.slice(i + 1);
    if (t.startsWith('$')) {
      out += '$';
      t = t.slice(1);
      continue;
    }
    const ref = extractTemplateName(t);
    if (!ref) {
      out += '$'; // malformed: the $ is literal
      continue;
    }
    t = ref.rest;
    if (ref.num === 0) out += match; // group 0 = whole match; there are no other groups
  }
  return out + t;
}

function extractTemplateName(s: string): { num: number; rest: string } | undefined {
  let str = s;
  const brace = str.startsWith('{');
  if (brace) str = str.slice(1);
  let name = '';
  for (const ch of str) {
    if (!WORD_CHAR.test(ch)) break;
    name += ch;
  }
  if (name === '') return undefined;
  let i = name.length;
  if (brace) {
    if (str[i] !== '}') return undefined;
    i++;
  }
  let num = /^[0-9]+$/.test(name) && name.length < 9 ? Number(name) : -1;
  if (name.length > 1 && name.startsWith('0')) num = -1;
  return { num, rest: str.slice(i) };
}
