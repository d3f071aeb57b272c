/**
 * .dockerignore reading and matching with BuildKit's semantics
 * (moby/patternmatcher + ignorefile; see /work/shared/research/dockerignore-cases.md):
 * patterns are anchored at the context root, the last matching pattern wins,
 * a pattern that matches a parent directory matches everything below it, and
 * `!pattern` re-includes.
 *
 * Upstream compiles each pattern to a Go regexp. To stay byte-for-byte
 * compatible on odd inputs (`[*]`, `a^b`, `\d`), this module builds the very
 * same Go regexp text and then translates Go regexp syntax to a JS RegExp.
 *
 * Pure: no file system access; the caller reads the file.
 */
import { ParserBaseError } from './errors.js';

/** A pattern is malformed (`[`, a lone `!`, a class Go's regexp rejects). */
export class IgnorePatternError extends ParserBaseError {
  constructor(
    readonly pattern: string,
    readonly reason: string,
  ) {
    super('TSB_DOCKERFILE_IGNORE_PATTERN', `invalid .dockerignore pattern ${JSON.stringify(pattern)}: ${reason}`, {
      pattern,
      reason,
    });
  }
}

// --- reading the file (ignorefile.ReadAll) ----------------------------------

export interface IgnoreLine {
  /** The normalized pattern, `!` prefix kept. */
  pattern: string;
  /** 1-based line number in the file, for explanations and lint. */
  line: number;
}

/** The patterns of a .dockerignore file, in order. */
export function parseIgnoreFile(text: string): string[] {
  return parseIgnoreFileWithLines(text).map((l) => l.pattern);
}

/** Like parseIgnoreFile, with the line each pattern came from. */
export function parseIgnoreFileWithLines(text: string): IgnoreLine[] {
  const out: IgnoreLine[] = [];
  const lines = text.split('\n');
  // a final newline does not start another line
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, i) => {
    let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (i === 0 && line.startsWith('\uFEFF')) line = line.slice(1);
    // Comments are recognised before trimming: "  # x" is the pattern "# x".
    if (line.startsWith('#')) return;
    let pattern = goTrimSpace(line);
    if (pattern === '') return;
    const invert = pattern.startsWith('!');
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      // patterns are relative to the context root: "/foo" is "foo"
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    out.push({ pattern: invert ? '!' + pattern : pattern, line: i + 1 });
  });
  return out;
}

// --- the matcher (patternmatcher.New and friends) ---------------------------

/** Per-pattern "this directory or one of its parents matched", carried down a walk. */
export interface MatchInfo {
  readonly parentMatched: readonly boolean[];
}

/** The zero MatchInfo: nothing known about parents, so they are checked one by one. */
export const NO_PARENT_INFO: MatchInfo = Object.freeze({ parentMatched: Object.freeze([]) as readonly boolean[] });

export type MatchKind = 'exact' | 'prefix' | 'suffix' | 'regexp';

export interface CompiledPattern {
  /** Cleaned pattern text without the `!`. */
  readonly text: string;
  /** `!pattern`: re-includes what earlier patterns excluded. */
  readonly exclusion: boolean;
  /** Index in the list given to the constructor. */
  readonly index: number;
  /** The original string given to the constructor. */
  readonly original: string;
  readonly kind: MatchKind | undefined;
  /** The Go regexp upstream would compile (for `regexp` kind). */
  readonly goRegexp: string | undefined;
}

interface Pattern extends CompiledPattern {
  readonly regexp: RegExp | undefined;
  /** Set when the pattern passed validation but its regexp does not compile: every match fails. */
  readonly compileError: string | undefined;
}

export interface Explanation {
  excluded: boolean;
  /** The pattern (with `!` when an exception) that decided, if any did. */
  pattern?: string;
  /** Its index in the list given to the matcher. */
  index?: number;
  /** The path or parent directory the deciding pattern matched. */
  matchedPath?: string;
}

export class PatternMatcher {
  private readonly list: Pattern[] = [];
  private hasExclusions = false;

  /** Validates every pattern; throws IgnorePatternError for `!` alone or bad glob syntax. */
  constructor(patterns: readonly string[]) {
    for (const [index, original] of patterns.entries()) {
      let p = goTrimSpace(original);
      if (p === '') continue;
      p = goClean(p);
      let exclusion = false;
      if (p.startsWith('!')) {
        if (p.length === 1) throw new IgnorePatternError(original, 'illegal exclusion pattern: "!"');
        exclusion = true;
        p = p.slice(1);
        this.hasExclusions = true;
      }
      const syntax = checkGlobSyntax(p);
      if (syntax) throw new IgnorePatternError(original, syntax);
      this.list.push({ ...compile(p), exclusion, index, original });
    }
  }

  /** True when some pattern is an exception (`!...`). */
  exclusions(): boolean {
    return this.hasExclusions;
  }

  /** The active patterns in order (empty ones dropped). */
  patterns(): readonly CompiledPattern[] {
    return this.list;
  }

  /**
   * Is `path` (relative to the context root, `/`-separated) excluded? A
   * pattern matching one of its parent directories counts. The root itself
   * (`.` or ``) is never excluded.
   */
  matches(path: string): boolean {
    return this.explain(path).excluded;
  }

  /**
   * Same answer as `matches`, but reuses the parent directory's result
   * (pass NO_PARENT_INFO at the top): what a walker calls for each entry.
   */
  matchesUsingParentResults(path: string, parent: MatchInfo): { excluded: boolean; info: MatchInfo } {
    const parentMatched = parent.parentMatched;
    if (parentMatched.length !== 0 && parentMatched.length !== this.list.length) {
      throw new Error('wrong number of values in parentMatched');
    }
    let matched = false;
    const info: boolean[] = new Array<boolean>(this.list.length).fill(false);
    this.list.forEach((pattern, i) => {
      let match = parentMatched.length !== 0 ? parentMatched[i]! : false;
      if (!match) {
        // Only a normal pattern can change a not-excluded path, only an exception an excluded one.
        if (pattern.exclusion !== matched) return;
        match = matchOne(pattern, path);
        if (!match && parentMatched.length === 0) match = matchParents(pattern, path) !== undefined;
      }
      info[i] = match;
      if (match) matched = !pattern.exclusion;
    });
    return { excluded: matched, info: { parentMatched: info } };
  }

  /** Which pattern decided whether `path` is excluded (for `tsbuild context --explain`). */
  explain(path: string): Explanation {
    if (goClean(path) === '.') return { excluded: false };
    let result: Explanation = { excluded: false };
    for (const pattern of this.list) {
      if (pattern.exclusion !== result.excluded) continue;
      let matchedPath: string | undefined = matchOne(pattern, path) ? path : undefined;
      if (matchedPath === undefined) matchedPath = matchParents(pattern, path);
      if (matchedPath !== undefined) {
        result = {
          excluded: !pattern.exclusion,
          pattern: (pattern.exclusion ? '!' : '') + pattern.text,
          index: pattern.index,
          matchedPath,
        };
      }
    }
    return result;
  }
}

/** Convenience: `new PatternMatcher(patterns).explain(path)`. */
export function explain(patterns: readonly string[], path: string): Explanation {
  return new PatternMatcher(patterns).explain(path);
}

/** The pattern with a trailing `/**` or `/*` removed (walkers use it to prune directories). */
export function patternWithoutTrailingGlob(pattern: CompiledPattern): string {
  let s = pattern.text;
  if (s.endsWith('/**')) s = s.slice(0, -3);
  if (s.endsWith('/*')) s = s.slice(0, -2);
  return s;
}

/** Characters that make a pattern more than a literal path, for walker pruning. */
export function hasGlobChars(text: string): boolean {
  return /[*[\]?^\\]/.test(text);
}

function matchOne(p: Pattern, path: string): boolean {
  if (p.compileError !== undefined) {
    throw new IgnorePatternError(p.original, `syntax error in pattern (${p.compileError})`);
  }
  switch (p.kind) {
    case 'exact':
      return path === p.text;
    case 'prefix':
      return path.startsWith(p.text.slice(0, -2));
    case 'suffix': {
      const suffix = p.text.slice(2);
      if (path.endsWith(suffix)) return true;
      // "**/foo" also matches "foo" at the root
      return suffix.startsWith('/') && path === suffix.slice(1);
    }
    case 'regexp':
      return p.regexp!.test(path);
    default:
      return false;
  }
}

/** The first parent directory of `path` the pattern matches, shortest first. */
function matchParents(p: Pattern, path: string): string | undefined {
  const parent = goDir(path);
  if (parent === '.') return undefined;
  const dirs = parent.split('/');
  for (let i = 1; i <= dirs.length; i++) {
    const prefix = dirs.slice(0, i).join('/');
    if (matchOne(p, prefix)) return prefix;
  }
  return undefined;
}

// --- compiling (Pattern.compile) --------------------------------------------

/** Regexp metacharacters that are plain characters in a glob. */
const GO_ESCAPE = new Set(['.', '+', '(', ')', '|', '{', '}', '$']);

function compile(text: string): Omit<Pattern, 'exclusion' | 'index' | 'original'> {
  const chars = Array.from(text);
  let re = '^';
  let kind: MatchKind = 'exact';
  let i = 0;
  for (let tok = 0; i < chars.length; tok++) {
    const ch = chars[i++]!;
    if (ch === '*') {
      if (chars[i] === '*') {
        i++;
        // "**/" is treated as "**"
        if (chars[i] === '/') i++;
        if (i >= chars.length) {
          // trailing "**": everything below
          if (kind === 'exact') kind = 'prefix';
          else {
            re += '.*';
            kind = 'regexp';
          }
        } else {
          // any number of directories, including none
          re += '(.*/)?';
          kind = 'regexp';
        }
        if (tok === 0) kind = 'suffix';
      } else {
        re += '[^/]*';
        kind = 'regexp';
      }
    } else if (ch === '?') {
      re += '[^/]';
      kind = 'regexp';
    } else if (GO_ESCAPE.has(ch)) {
      re += '\\' + ch;
    } else if (ch === '\\') {
      if (i < chars.length) {
        re += '\\' + chars[i++]!;
        kind = 'regexp';
      } else {
        re += '\\';
      }
    } else if (ch === '[' || ch === ']') {
      re += ch;
      kind = 'regexp';
    } else {
      re += ch;
    }
  }
  if (kind !== 'regexp') return { text, kind, goRegexp: undefined, regexp: undefined, compileError: undefined };
  re += '$';
  try {
    return { text, kind, goRegexp: re, regexp: new RegExp(goRegexpToJs(re), 'u'), compileError: undefined };
  } catch (e) {
    return { text, kind: undefined, goRegexp: re, regexp: undefined, compileError: (e as Error).message };
  }
}

// --- Go filepath.Match syntax check (Unix) ----------------------------------

/** Returns why `pattern` is not a valid filepath.Match pattern, or undefined. */
export function checkGlobSyntax(pattern: string): string | undefined {
  let rest = pattern;
  while (rest.length > 0) {
    while (rest.startsWith('*')) rest = rest.slice(1);
    const [chunk, after] = scanChunk(rest);
    rest = after;
    if (!chunkIsValid(chunk)) return 'syntax error in pattern';
  }
  return undefined;
}

/** Splits off the text up to the next `*` outside a class. */
function scanChunk(pattern: string): [string, string] {
  let inRange = false;
  let i = 0;
  for (; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      if (i + 1 < pattern.length) i++;
    } else if (c === '[') inRange = true;
    else if (c === ']') inRange = false;
    else if (c === '*' && !inRange) break;
  }
  return [pattern.slice(0, i), pattern.slice(i)];
}

function chunkIsValid(chunk: string): boolean {
  const c = Array.from(chunk);
  let i = 0;
  // one class end point: a char or \char, never a bare - or ], and something must follow it
  const esc = (): boolean => {
    if (i >= c.length || c[i] === '-' || c[i] === ']') return false;
    if (c[i] === '\\') {
      i++;
      if (i >= c.length) return false;
    }
    i++;
    return i < c.length;
  };
  while (i < c.length) {
    const ch = c[i]!;
    if (ch === '[') {
      i++;
      if (c[i] === '^') i++;
      let ranges = 0;
      for (;;) {
        if (c[i] === ']' && ranges > 0) {
          i++;
          break;
        }
        if (!esc()) return false;
        if (c[i] === '-') {
          i++;
          if (!esc()) return false;
        }
        ranges++;
      }
    } else if (ch === '\\') {
      i++;
      if (i >= c.length) return false;
      i++;
    } else {
      i++;
    }
  }
  return true;
}

// --- Go regexp syntax → JS RegExp (the subset the compiler can produce) ------

const POSIX_CLASSES: Readonly<Record<string, Array<[number, number]>>> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a], [0x5f, 0x5f]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

/** Go's ASCII Perl classes: \d \s \w (upper case = negated). */
const PERL_CLASSES: Readonly<Record<string, Array<[number, number]>>> = {
  d: [[0x30, 0x39]],
  s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]],
  w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
};

const CONTROL_ESCAPES: Readonly<Record<string, number>> = { a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 };

const cpEsc = (cp: number): string => `\\u{${cp.toString(16)}}`;
const rangesToClass = (ranges: Array<[number, number]>): string =>
  ranges.map(([lo, hi]) => (lo === hi ? cpEsc(lo) : `${cpEsc(lo)}-${cpEsc(hi)}`)).join('');

type Escape = { kind: 'char'; cp: number } | { kind: 'class'; ranges: Array<[number, number]>; negated: boolean } | { kind: 'assert'; js: string };

/**
 * Translates Go RE2 syntax to an equivalent JS (`u` flag) source. Throws on
 * what Go rejects and on the rare constructs not translated (\p, \Q, [:^x:]).
 */
export function goRegexpToJs(src: string): string {
  const c = Array.from(src);
  let i = 0;
  let out = '';

  const parseEscape = (inClass: boolean): Escape => {
    // c[i] is just after the backslash
    const ch = c[i++];
    if (ch === undefined) throw new Error('trailing backslash at end of expression');
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80 && !/[0-9A-Za-z]/.test(ch)) return { kind: 'char', cp };
    if (/[0-7]/.test(ch)) {
      // \0 and \1..\7 followed by an octal digit: octal; \1 alone would be a backreference
      if (ch !== '0' && !/[0-7]/.test(c[i] ?? '')) throw new Error(`invalid escape sequence: \\${ch}`);
      let v = Number(ch);
      for (let n = 0; n < 2 && /[0-7]/.test(c[i] ?? ''); n++) v = v * 8 + Number(c[i++]);
      return { kind: 'char', cp: v };
    }
    if (ch === 'x') {
      if (c[i] === '{') {
        const end = c.indexOf('}', i);
        const hex = end < 0 ? '' : c.slice(i + 1, end).join('');
        if (!/^[0-9A-Fa-f]+$/.test(hex) || parseInt(hex, 16) > 0x10ffff) throw new Error('invalid escape sequence: \\x');
        i = end + 1;
        return { kind: 'char', cp: parseInt(hex, 16) };
      }
      const hex = (c[i] ?? '') + (c[i + 1] ?? '');
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error('invalid escape sequence: \\x');
      i += 2;
      return { kind: 'char', cp: parseInt(hex, 16) };
    }
    if (ch in CONTROL_ESCAPES) return { kind: 'char', cp: CONTROL_ESCAPES[ch]! };
    const lower = ch.toLowerCase();
    if (lower in PERL_CLASSES) return { kind: 'class', ranges: PERL_CLASSES[lower]!, negated: ch !== lower };
    if (!inClass) {
      if (ch === 'b') return { kind: 'assert', js: '\\b' };
      if (ch === 'B') return { kind: 'assert', js: '\\B' };
      if (ch === 'A') return { kind: 'assert', js: '^' };
      if (ch === 'z') return { kind: 'assert', js: '$' };
    }
    throw new Error(`unsupported escape sequence: \\${ch}`);
  };

  const parseClass = (): string => {
    // c[i] is just after "["
    let negated = false;
    if (c[i] === '^') {
      negated = true;
      i++;
    }
    let body = '';
    let first = true;
    for (;;) {
      if (i >= c.length) throw new Error('missing closing ]');
      if (c[i] === ']' && !first) {
        i++;
        break;
      }
      first = false;
      if (c[i] === '[' && c[i + 1] === ':') {
        const close = c.indexOf(':', i + 2);
        if (close >= 0 && c[close + 1] === ']') {
          const name = c.slice(i + 2, close).join('');
          if (name.startsWith('^')) throw new Error(`unsupported negated class [:${name}:]`);
          const ranges = POSIX_CLASSES[name];
          if (!ranges) throw new Error(`invalid character class range: [:${name}:]`);
          body += rangesToClass(ranges);
          i = close + 2;
          continue;
        }
      }
      const lo = classChar();
      if (typeof lo !== 'number') {
        body += lo;
        continue;
      }
      let hi = lo;
      if (c[i] === '-' && i + 1 < c.length && c[i + 1] !== ']') {
        i++;
        const h = classChar();
        if (typeof h !== 'number') throw new Error('invalid character class range');
        hi = h;
        if (hi < lo) throw new Error('invalid character class range');
      }
      body += lo === hi ? cpEsc(lo) : `${cpEsc(lo)}-${cpEsc(hi)}`;
    }
    return `[${negated ? '^' : ''}${body}]`;
  };

  /** One class member: a code point, or the body of a Perl class. */
  const classChar = (): number | string => {
    const ch = c[i++]!;
    if (ch !== '\\') return ch.codePointAt(0)!;
    const e = parseEscape(true);
    if (e.kind === 'char') return e.cp;
    if (e.kind === 'class' && !e.negated) return rangesToClass(e.ranges);
    throw new Error('unsupported negated class inside a class');
  };

  while (i < c.length) {
    const ch = c[i++]!;
    switch (ch) {
      case '\\': {
        const e = parseEscape(false);
        if (e.kind === 'char') out += cpEsc(e.cp);
        else if (e.kind === 'class') out += `[${e.negated ? '^' : ''}${rangesToClass(e.ranges)}]`;
        else out += e.js;
        break;
      }
      case '[':
        out += parseClass();
        break;
      case ']':
        out += '\\]';
        break;
      case '.':
        out += '[^\\n]'; // Go's . excludes only newline
        break;
      case '(':
      case ')':
      case '|':
      case '*':
      case '?':
      case '^':
      case '$':
        out += ch;
        break;
      default:
        out += cpEsc(ch.codePointAt(0)!);
    }
  }
  return out;
}

// --- Go strings/path helpers --------------------------------------------------

const SPACE = /\p{White_Space}/u;

/** strings.TrimSpace: Unicode White_Space (which, unlike JS \s, excludes U+FEFF). */
export function goTrimSpace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && SPACE.test(text[start]!)) start++;
  while (end > start && SPACE.test(text[end - 1]!)) end--;
  return text.slice(start, end);
}

/** path.Clean: lexical, "" → ".", no trailing slash, ".." resolved where possible. */
export function goClean(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const parts: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!rooted) parts.push('..');
      continue;
    }
    parts.push(seg);
  }
  const joined = parts.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

/** path.Dir: everything but the last element, cleaned. */
export function goDir(path: string): string {
  const i = path.lastIndexOf('/');
  return goClean(path.slice(0, i + 1));
}
