/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`): only in the
 * unbroken run of `#` lines at the very top of the file, keys case-insensitive,
 * each at most once. The first line that is not a directive ends the run, and
 * lookalikes after it are plain comments.
 */
import type { Directive } from './ast.js';
import { trimGoSpaceLeft } from './lexer.js';

export const DIRECTIVE_NAMES = ['syntax', 'escape', 'check'] as const;
export type DirectiveName = (typeof DIRECTIVE_NAMES)[number];

const isReSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\f' || c === '\r';
const isAlpha = (c: string | undefined): boolean => c !== undefined && /^[a-zA-Z]$/.test(c);
const isAlnum = (c: string | undefined): boolean => c !== undefined && /^[a-zA-Z0-9]$/.test(c);

/**
 * BuildKit matches `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`; this is the same
 * match written out by hand, so a hostile line cannot make a backtracking
 * regex engine go quadratic.
 */
function matchDirective(line: string): { key: string; value: string } | null {
  let i = 0;
  if (!isAlpha(line[0])) return null;
  while (isAlnum(line[i + 1])) i++;
  const key = line.slice(0, i + 1);
  i++;
  while (isReSpace(line[i])) i++;
  if (line[i] !== '=') return null;
  i++;
  const afterEq = i;
  while (isReSpace(line[i])) i++;
  let end = line.length;
  while (end > i && isReSpace(line[end - 1])) end--;
  if (end > i) return { key, value: line.slice(i, end) };
  // Only blanks after `=`: the lazy group still has to take one character, the last one.
  if (line.length > afterEq) return { key, value: line[line.length - 1]! };
  return null;
}

export class DirectiveError extends Error {}

/** Stateful scanner fed one physical line at a time, like BuildKit's DirectiveParser. */
export class DirectiveScanner {
  private line = 0;
  private done = false;
  private readonly seen = new Set<string>();

  constructor(private readonly commentPrefix = '#') {}

  /** True once a non-directive line has been seen. */
  get finished(): boolean {
    return this.done;
  }

  /**
   * `line` without its line ending and with leading white space removed.
   * Returns the directive it holds, or null (and stops looking) when it holds none.
   */
  next(line: string): Directive | null {
    this.line++;
    if (this.done) return null;
    if (!line.startsWith(this.commentPrefix)) {
      this.done = true;
      return null;
    }
    const body = trimGoSpaceLeft(line.slice(this.commentPrefix.length));
    const m = matchDirective(body);
    const name = m?.key.toLowerCase();
    if (!m || !isDirectiveName(name)) {
      this.done = true;
      return null;
    }
    if (this.seen.has(name)) throw new DirectiveError(`only one ${name} parser directive can be used`);
    this.seen.add(name);
    return { name, value: m.value, line: this.line };
  }
}

function isDirectiveName(s: string | undefined): s is DirectiveName {
  return s !== undefined && (DIRECTIVE_NAMES as readonly string[]).includes(s);
}

/** The escape token a directive value selects; only `\` and `` ` `` are allowed. */
export function escapeTokenOf(value: string): '\\' | '`' {
  if (value !== '`' && value !== '\\') {
    throw new DirectiveError(`invalid escape token '${value}' does not match \` or \\`);
  }
  return value;
}

export interface SyntaxDirective {
  /** The frontend image reference (first word of the value). */
  ref: string;
  /** The whole directive value. */
  cmdline: string;
  line: number;
}

/**
 * BuildKit `DetectSyntax`: the `syntax` directive, also accepting `//` comments
 * and a JSON object `{"syntax": "…"}`, skipping a leading `#!` shebang line.
 */
export function detectSyntax(text: string): SyntaxDirective | null {
  return findDirective('syntax', text, true);
}

/** BuildKit `ParseDirective`: a directive of the given name in `#` form only. */
export function findDirective(name: DirectiveName, text: string, anyFormat = false): SyntaxDirective | null {
  let dt = text.replace(/^\uFEFF/, '');
  let offset = 0;
  const firstEnd = dt.indexOf('\n');
  const first = firstEnd < 0 ? dt : dt.slice(0, firstEnd);
  if (first.startsWith('#!')) {
    dt = firstEnd < 0 ? '' : dt.slice(firstEnd + 1);
    offset = 1;
  }
  const prefixes = anyFormat ? ['#', '//'] : ['#'];
  for (const prefix of prefixes) {
    const scanner = new DirectiveScanner(prefix);
    for (const raw of dt.split('\n')) {
      if (scanner.finished) break;
      let d: Directive | null;
      try {
        d = scanner.next(raw.replace(/\r$/, ''));
      } catch {
        break;
      }
      if (d && d.name === name) {
        const sp = d.value.indexOf(' ');
        return { ref: sp < 0 ? d.value : d.value.slice(0, sp), cmdline: d.value, line: d.line + offset };
      }
    }
  }
  if (anyFormat) {
    try {
      const obj: unknown = JSON.parse(dt);
      if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
        const v = (obj as Record<string, unknown>)[name];
        if (typeof v === 'string') return { ref: v, cmdline: v, line: offset };
      }
    } catch {
      // not JSON: no directive
    }
  }
  return null;
}

/** What `# check=` asks for (BuildKit `ParseLintOptions`). */
export interface CheckOptions {
  skip: string[];
  skipAll: boolean;
  error: boolean;
  /** Experimental rules turned on by name (`experimental=A,B`); they run only when asked for. */
  experimental?: string[];
  experimentalAll?: boolean;
}

/** Parse a `check` directive value like `skip=A,B;error=true`. */
export function parseCheckOptions(value: string): CheckOptions {
  const out: CheckOptions = { skip: [], skipAll: false, error: false };
  const text = value.trim();
  if (text === '') return out;
  for (const p of splitN(text, ';', 3)) {
    const eq = p.indexOf('=');
    if (eq < 0) throw new DirectiveError(`invalid check option ${JSON.stringify(p)}`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    if (k === 'skip') {
      if (v === 'all') out.skipAll = true;
      else out.skip = v.split(',').map((r) => r.trim());
    } else if (k === 'experimental') {
      if (v === 'all') out.experimentalAll = true;
      else out.experimental = v.split(',').map((r) => r.trim());
    } else if (k === 'error') {
      const b = parseGoBool(v);
      if (b === undefined) throw new DirectiveError(`failed to parse check option ${JSON.stringify(p)}: invalid syntax`);
      out.error = b;
    } else {
      throw new DirectiveError(`invalid check option ${JSON.stringify(k)}`);
    }
  }
  return out;
}

/** Go `strings.SplitN`: at most `n` parts, the last one keeps the rest. */
function splitN(text: string, sep: string, n: number): string[] {
  const out: string[] = [];
  let rest = text;
  while (out.length < n - 1) {
    const at = rest.indexOf(sep);
    if (at < 0) break;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return out;
}

/** Go `strconv.ParseBool`. */
function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}
