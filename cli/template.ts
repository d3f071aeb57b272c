/**
 * The `--format` templates of `images` and `inspect`: a subset of Go's text/template, as docker
 * uses it. Fields (`.A.B`), `$` and `$var`, pipelines (`a | b`), parentheses, string and number
 * literals, `if`/`else if`/`else`/`range`/`with`/`end`, `{{- -}}` trimming, comments, and the
 * functions docker's users type (json, index, join, split, len, upper, lower, title, print,
 * println, printf with %s %d %v %q, eq, ne, not, and, or, truncate, pad). Anything else is a
 * clear error, never silently printed. A missing field is an error, as docker's is.
 *
 * Values are JSON data. Go prints them with %v: slices as `[a b]`, maps as `map[k:v]`, structs as
 * `{v1 v2}`; `mapKeys` and `sliceKeys` say which object keys hold maps and slices, so an object
 * prints as a map or a struct and a null as `map[]`, `[]` or `<nil>`, as docker's types do.
 */
import { UsageError } from './args.js';

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline; pos: number }
  | { kind: 'if' | 'with'; pipe: Pipeline; then: Node[]; else: Node[]; pos: number }
  | { kind: 'range'; pipe: Pipeline; vars: string[]; body: Node[]; else: Node[]; pos: number };

interface Pipeline {
  decl: string[];
  cmds: Operand[][];
}

type Operand =
  | { kind: 'field'; base: 'dot' | string; path: string[]; text: string }
  | { kind: 'literal'; value: unknown }
  | { kind: 'func'; name: string }
  | { kind: 'pipe'; pipe: Pipeline; path: string[] };

/** A value and the key it was read under (which says how Go would print it). */
interface Val {
  value: unknown;
  key?: string;
}

export interface TemplateOptions {
  /** Object keys whose values are Go maps (printed `map[k:v]`, null as `map[]`). */
  mapKeys?: ReadonlySet<string>;
  /** Object keys whose values are Go slices (null printed as `[]`). */
  sliceKeys?: ReadonlySet<string>;
  /** Name of the data's type in "can't evaluate field" errors; unset: the data is maps (docker inspect's), a missing key is "map has no entry". */
  typeName?: string;
}

const FUNCS = new Set(['json', 'index', 'join', 'split', 'len', 'upper', 'lower', 'title', 'print', 'println', 'printf', 'eq', 'ne', 'not', 'and', 'or', 'truncate', 'pad']);

function parseError(message: string): UsageError {
  return new UsageError(`template parsing error: ${message}`);
}

// ------------------------------------------------------------------ lexing and parsing

interface Action {
  body: string;
  pos: number;
}

/** Splits the source into text and `{{…}}` actions, applying `{{-`/`-}}` trimming. */
function split(source: string): Array<string | Action> {
  const out: Array<string | Action> = [];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open < 0) {
      out.push(source.slice(i));
      break;
    }
    let text = source.slice(i, open);
    let start = open + 2;
    if (source.startsWith('- ', start) || source.startsWith('-\t', start) || source.startsWith('-\n', start)) {
      text = text.trimEnd();
      start += 1;
    }
    if (text) out.push(text);
    const close = findClose(source, start);
    if (close < 0) throw parseError(`template: :${lineOf(source, open)}: unclosed action`);
    let end = close;
    let next = close + 2;
    if (/\s-$/.test(source.slice(start, close))) {
      end = close - 1;
      while (next < source.length && /\s/.test(source[next]!)) next++;
    }
    out.push({ body: source.slice(start, end).trim(), pos: open });
    i = next;
  }
  return out;
}

/** The `}}` closing an action, skipping quoted strings. */
function findClose(source: string, from: number): number {
  for (let i = from; i < source.length; i++) {
    const c = source[i]!;
    if (c === '"' || c === '`') {
      const q = c;
      for (i++; i < source.length && source[i] !== q; i++) if (q === '"' && source[i] === '\\') i++;
      continue;
    }
    if (c === '}' && source[i + 1] === '}') return i;
  }
  return -1;
}

function lineOf(source: string, pos: number): number {
  return source.slice(0, pos).split('\n').length;
}

/** Tokens of one action: words, strings, `(`, `)`, `|`, `:=`, `,`. */
function tokenize(body: string, where: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < body.length && body[j] !== c) j += c === '"' && body[j] === '\\' ? 2 : 1;
      if (j >= body.length) throw parseError(`template: ${where}: unterminated quoted string`);
      out.push(body.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    if (c === '(' || c === ')' || c === '|' || c === ',') {
      out.push(c);
      i++;
      continue;
    }
    if (body.startsWith(':=', i)) {
      out.push(':=');
      i += 2;
      continue;
    }
    let j = i;
    while (j < body.length && !/[\s()|,"`]/.test(body[j]!) && !body.startsWith(':=', j)) j++;
    out.push(body.slice(i, j));
    i = j;
  }
  return out;
}

class Parser {
  readonly #items: Array<string | Action>;
  #at = 0;

  constructor(readonly source: string) {
    this.#items = split(source);
  }

  parse(): Node[] {
    const { nodes, stop } = this.#list();
    if (stop) throw parseError(`template: :${lineOf(this.source, stop.pos)}: unexpected {{${stop.body}}}`);
    return nodes;
  }

  /** Nodes up to an `else`/`end` (returned as stop) or the end. */
  #list(): { nodes: Node[]; stop?: Action } {
    const nodes: Node[] = [];
    while (this.#at < this.#items.length) {
      const item = this.#items[this.#at++]!;
      if (typeof item === 'string') {
        nodes.push({ kind: 'text', text: item });
        continue;
      }
      if (item.body.startsWith('/*')) {
        if (!item.body.endsWith('*/')) throw parseError(`template: :${lineOf(this.source, item.pos)}: unclosed comment`);
        continue;
      }
      const word = /^(\w+)\b/.exec(item.body)?.[1];
      if (word === 'end' || word === 'else') return { nodes, stop: item };
      if (word === 'if' || word === 'with' || word === 'range') nodes.push(this.#block(word, item));
      else if (word === 'define' || word === 'template' || word === 'block' || word === 'break' || word === 'continue') {
        throw parseError(`template: :${lineOf(this.source, item.pos)}: {{${word}}} is not supported`);
      } else nodes.push({ kind: 'action', pipe: this.#pipeline(item.body, item.pos), pos: item.pos });
    }
    return { nodes };
  }

  #block(word: 'if' | 'with' | 'range', item: Action): Node {
    const where = `:${lineOf(this.source, item.pos)}`;
    const pipe = this.#pipeline(item.body.slice(word.length), item.pos);
    if (pipe.cmds.length === 0) throw parseError(`template: ${where}: missing value for ${word}`);
    const body = this.#list();
    let elseNodes: Node[] = [];
    let stop = body.stop;
    if (stop && /^else\b/.test(stop.body)) {
      const rest = stop.body.slice(4).trim();
      if (rest.startsWith('if ') && word === 'if') {
        // `else if X` is `else` holding one nested if, which consumes the shared `end`.
        elseNodes = [this.#block('if', { body: rest, pos: stop.pos })];
        return { kind: 'if', pipe, then: body.nodes, else: elseNodes, pos: item.pos };
      }
      if (rest) throw parseError(`template: ${where}: unexpected "${rest}" after else`);
      const tail = this.#list();
      elseNodes = tail.nodes;
      stop = tail.stop;
    }
    if (!stop || stop.body !== 'end') throw parseError(`template: ${where}: unexpected EOF (a {{${word}}} without {{end}})`);
    if (word === 'range') return { kind: 'range', pipe: { ...pipe, decl: [] }, vars: pipe.decl, body: body.nodes, else: elseNodes, pos: item.pos };
    return { kind: word, pipe, then: body.nodes, else: elseNodes, pos: item.pos };
  }

  #pipeline(body: string, pos: number): Pipeline {
    const where = `:${lineOf(this.source, pos)}`;
    const tokens = tokenize(body, where);
    const decl: string[] = [];
    const assign = tokens.indexOf(':=');
    if (assign >= 0) {
      const names = tokens.slice(0, assign).filter((t) => t !== ',');
      if (names.length === 0 || names.length > 2 || !names.every((n) => /^\$\w+$/.test(n))) throw parseError(`template: ${where}: bad variable declaration in {{${body}}}`);
      decl.push(...names);
      tokens.splice(0, assign + 1);
    }
    let at = 0;
    const pipeline = (): Pipeline => {
      const cmds: Operand[][] = [[]];
      while (at < tokens.length && tokens[at] !== ')') {
        const t = tokens[at++]!;
        if (t === '|') {
          if (cmds.at(-1)!.length === 0) throw parseError(`template: ${where}: missing command before |`);
          cmds.push([]);
          continue;
        }
        if (t === '(') {
          const inner = pipeline();
          if (tokens[at++] !== ')') throw parseError(`template: ${where}: unclosed left paren`);
          // `(pipeline).Field.Sub`
          const chain = /^(?:\.\w+)+$/.test(tokens[at] ?? '') ? tokens[at++]!.slice(1).split('.') : [];
          cmds.at(-1)!.push({ kind: 'pipe', pipe: inner, path: chain });
          continue;
        }
        cmds.at(-1)!.push(operand(t, where));
      }
      if (cmds.at(-1)!.length === 0) cmds.pop();
      return { decl: [], cmds };
    };
    const out = pipeline();
    if (at < tokens.length) throw parseError(`template: ${where}: unexpected ")" in {{${body}}}`);
    return { decl, cmds: out.cmds };
  }
}

function operand(token: string, where: string): Operand {
  if (token.startsWith('"')) {
    try {
      return { kind: 'literal', value: JSON.parse(token) };
    } catch {
      throw parseError(`template: ${where}: bad string ${token}`);
    }
  }
  if (token.startsWith('`')) return { kind: 'literal', value: token.slice(1, -1) };
  if (/^-?\d+$/.test(token)) return { kind: 'literal', value: Number(token) };
  if (token === 'true' || token === 'false') return { kind: 'literal', value: token === 'true' };
  if (token === 'nil') return { kind: 'literal', value: null };
  if (token === '.') return { kind: 'field', base: 'dot', path: [], text: token };
  const field = /^(\$\w*)?((?:\.\w+)+)$/.exec(token);
  if (field) return { kind: 'field', base: field[1] ?? 'dot', path: field[2]!.slice(1).split('.'), text: token };
  if (/^\$\w*$/.test(token)) return { kind: 'field', base: token, path: [], text: token };
  if (FUNCS.has(token)) return { kind: 'func', name: token };
  if (/^\w+$/.test(token)) throw parseError(`template: ${where}: function "${token}" not defined`);
  throw parseError(`template: ${where}: unexpected "${token}" in operand`);
}

// ------------------------------------------------------------------ execution

export class Template {
  readonly #nodes: Node[];

  constructor(
    readonly source: string,
    readonly opts: TemplateOptions = {},
  ) {
    this.#nodes = new Parser(source).parse();
  }

  /** The template applied to `data`. Errors are usage errors naming the failing action. */
  execute(data: unknown): string {
    const out: string[] = [];
    new Exec(this.source, this.opts, out).run(this.#nodes, { value: data }, new Map([['$', { value: data }]]));
    return out.join('');
  }
}

class Exec {
  constructor(
    readonly source: string,
    readonly opts: TemplateOptions,
    readonly out: string[],
  ) {}

  fail(pos: number, at: string, message: string): never {
    throw new UsageError(`template parsing error: template: :${lineOf(this.source, pos)}:${pos - this.source.lastIndexOf('\n', pos - 1)}: executing "" at <${at}>: ${message}`);
  }

  run(nodes: Node[], dot: Val, vars: Map<string, Val>): void {
    for (const n of nodes) {
      if (n.kind === 'text') this.out.push(n.text);
      else if (n.kind === 'action') {
        const v = this.pipeline(n.pipe, dot, vars, n.pos);
        if (n.pipe.decl.length === 0) this.out.push(this.print(v));
      } else if (n.kind === 'if' || n.kind === 'with') {
        const v = this.pipeline(n.pipe, dot, vars, n.pos);
        if (truthy(v.value)) this.run(n.then, n.kind === 'with' ? v : dot, new Map(vars));
        else this.run(n.else, dot, new Map(vars));
      } else if (n.kind === 'range') {
        const v = this.pipeline(n.pipe, dot, vars, n.pos);
        const entries = rangeEntries(v.value);
        if (entries === undefined) this.fail(n.pos, 'range', `range can't iterate over ${this.print(v)}`);
        if (entries.length === 0) this.run(n.else, dot, new Map(vars));
        for (const [k, item] of entries) {
          const scope = new Map(vars);
          if (n.vars.length === 1) scope.set(n.vars[0]!, { value: item });
          if (n.vars.length === 2) {
            scope.set(n.vars[0]!, { value: k });
            scope.set(n.vars[1]!, { value: item });
          }
          this.run(n.body, { value: item, key: v.key }, scope);
        }
      }
    }
  }

  pipeline(p: Pipeline, dot: Val, vars: Map<string, Val>, pos: number): Val {
    let last: Val | undefined;
    for (const cmd of p.cmds) last = this.command(cmd, dot, vars, pos, last);
    const v = last ?? { value: undefined };
    if (p.decl.length > 0) vars.set(p.decl[0]!, v);
    return v;
  }

  command(cmd: Operand[], dot: Val, vars: Map<string, Val>, pos: number, piped: Val | undefined): Val {
    const [head, ...rest] = cmd;
    if (head!.kind !== 'func') {
      if (rest.length > 0 || piped) this.fail(pos, opText(head!), `can't give argument to non-function ${opText(head!)}`);
      return this.operand(head!, dot, vars, pos);
    }
    const args = rest.map((o) => this.operand(o, dot, vars, pos));
    if (piped) args.push(piped);
    return this.call(head!.name, args, pos);
  }

  operand(o: Operand, dot: Val, vars: Map<string, Val>, pos: number): Val {
    if (o.kind === 'literal') return { value: o.value };
    if (o.kind === 'func') return this.call(o.name, [], pos);
    let v: Val;
    if (o.kind === 'pipe') v = this.pipeline(o.pipe, dot, vars, pos);
    else if (o.base === 'dot') v = dot;
    else {
      const found = vars.get(o.base);
      if (!found) this.fail(pos, o.text, `undefined variable: ${o.base}`);
      v = found;
    }
    const text = o.kind === 'pipe' ? `(…).${o.path.join('.')}` : o.text;
    for (const name of o.path) {
      const obj = v.value;
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) this.fail(pos, text, `can't evaluate field ${name} in type ${goType(v, this.opts)}`);
      if (!Object.hasOwn(obj, name)) {
        const isMap = this.opts.typeName === undefined || (v.key !== undefined && this.opts.mapKeys?.has(v.key));
        if (isMap) this.fail(pos, text, `map has no entry for key "${name}"`);
        this.fail(pos, text, `can't evaluate field ${name} in type ${v === dot && v.key === undefined ? (this.opts.typeName ?? 'object') : goType(v, this.opts)}`);
      }
      v = { value: (obj as Record<string, unknown>)[name], key: name };
    }
    return v;
  }

  call(name: string, args: Val[], pos: number): Val {
    const need = (n: number): void => {
      if (args.length < n) this.fail(pos, name, `wrong number of args for ${name}: want ${n} got ${args.length}`);
    };
    const s = (v: Val | undefined): string => (typeof v?.value === 'string' ? v.value : this.print(v ?? { value: undefined }));
    switch (name) {
      case 'json':
        need(1);
        return { value: goJson(args[0]!.value) };
      case 'index': {
        need(1);
        let v = args[0]!;
        for (const k of args.slice(1)) {
          const c = v.value;
          if (Array.isArray(c) && typeof k.value === 'number') {
            if (k.value < 0 || k.value >= c.length) this.fail(pos, 'index', `error calling index: index out of range: ${k.value}`);
            v = { value: c[k.value] };
          } else if (c !== null && typeof c === 'object' && !Array.isArray(c) && typeof k.value === 'string') {
            v = { value: Object.hasOwn(c, k.value) ? (c as Record<string, unknown>)[k.value] : undefined };
          } else if (c === null || c === undefined) v = { value: undefined };
          else this.fail(pos, 'index', `error calling index: cannot index ${this.print(v)} with ${this.print(k)}`);
        }
        return v;
      }
      case 'join':
        need(2);
        if (!Array.isArray(args[0]!.value)) this.fail(pos, 'join', 'error calling join: not a list');
        return { value: (args[0]!.value as unknown[]).map((x) => s({ value: x })).join(s(args[1])) };
      case 'split':
        need(2);
        return { value: s(args[0]).split(s(args[1])) };
      case 'len': {
        need(1);
        const c = args[0]!.value;
        if (typeof c === 'string' || Array.isArray(c)) return { value: c.length };
        if (c !== null && typeof c === 'object') return { value: Object.keys(c).length };
        if (c === null) return { value: 0 };
        return this.fail(pos, 'len', `error calling len: len of type ${typeof c}`);
      }
      case 'upper':
        need(1);
        return { value: s(args[0]).toUpperCase() };
      case 'lower':
        need(1);
        return { value: s(args[0]).toLowerCase() };
      case 'title':
        need(1);
        return { value: s(args[0]).replace(/(^|\s)(\S)/g, (_m, sp: string, ch: string) => sp + ch.toUpperCase()) };
      case 'truncate': {
        need(2);
        const text = s(args[0]);
        const n = Number(args[1]!.value);
        return { value: text.length > n ? text.slice(0, n) : text };
      }
      case 'pad':
        need(3);
        return { value: ' '.repeat(Number(args[1]!.value)) + s(args[0]) + ' '.repeat(Number(args[2]!.value)) };
      case 'print':
        return { value: goSprint(args.map((a) => this.print(a)), args.map((a) => typeof a.value === 'string')) };
      case 'println':
        return { value: args.map((a) => this.print(a)).join(' ') + '\n' };
      case 'printf':
        need(1);
        return { value: this.sprintf(s(args[0]), args.slice(1)) };
      case 'eq':
        need(2);
        return { value: args.slice(1).some((a) => a.value === args[0]!.value) };
      case 'ne':
        need(2);
        return { value: args[0]!.value !== args[1]!.value };
      case 'not':
        need(1);
        return { value: !truthy(args[0]!.value) };
      case 'and': {
        need(1);
        for (const a of args) if (!truthy(a.value)) return a;
        return args.at(-1)!;
      }
      case 'or': {
        need(1);
        for (const a of args) if (truthy(a.value)) return a;
        return args.at(-1)!;
      }
    }
    return this.fail(pos, name, `function "${name}" not defined`);
  }

  sprintf(format: string, args: Val[]): string {
    let i = 0;
    return format.replace(/%([-+ 0#]*\d*)([svdq%])/g, (_m, _flags: string, verb: string) => {
      if (verb === '%') return '%';
      const a = args[i++];
      if (!a) return `%!${verb}(MISSING)`;
      if (verb === 'q') return JSON.stringify(typeof a.value === 'string' ? a.value : this.print(a));
      return this.print(a);
    });
  }

  /** Go's %v of a value. */
  print(v: Val): string {
    return goPrint(v.value, v.key, this.opts);
  }
}

function opText(o: Operand): string {
  return o.kind === 'field' ? o.text : o.kind === 'func' ? o.name : o.kind === 'literal' ? String(o.value) : '(…)';
}

function goType(v: Val, opts: TemplateOptions): string {
  const x = v.value;
  if (Array.isArray(x)) return '[]interface {}';
  if (x === null || x === undefined) return 'interface {}';
  if (typeof x === 'object') return v.key !== undefined && opts.mapKeys?.has(v.key) ? 'map[string]interface {}' : `struct ${v.key ?? ''}`.trim();
  return typeof x === 'number' ? 'int' : typeof x;
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return v !== undefined && v !== null && v !== false && v !== 0 && v !== '';
}

function rangeEntries(v: unknown): Array<[unknown, unknown]> | undefined {
  if (v === null || v === undefined) return [];
  if (Array.isArray(v)) return v.map((x, i) => [i, x]);
  if (typeof v === 'object') return Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]);
  if (typeof v === 'number') return Array.from({ length: v }, (_x, i) => [i, i]);
  return undefined;
}

/** Go's fmt.Sprint: a space between operands when neither is a string. */
function goSprint(parts: string[], isString: boolean[]): string {
  let out = '';
  parts.forEach((p, i) => {
    if (i > 0 && !isString[i] && !isString[i - 1]) out += ' ';
    out += p;
  });
  return out;
}

function goPrint(v: unknown, key: string | undefined, opts: TemplateOptions): string {
  if (v === undefined) return '<no value>';
  if (v === null) return key !== undefined && opts.mapKeys?.has(key) ? 'map[]' : key !== undefined && opts.sliceKeys?.has(key) ? '[]' : '<nil>';
  if (Array.isArray(v)) return `[${v.map((x) => goPrint(x, undefined, opts)).join(' ')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (key !== undefined && opts.mapKeys?.has(key)) {
      return `map[${Object.keys(o).sort().map((k) => `${k}:${goPrint(o[k], undefined, opts)}`).join(' ')}]`;
    }
    return `{${Object.entries(o).map(([k, x]) => goPrint(x, k, opts)).join(' ')}}`;
  }
  return String(v);
}

/** Go's json.Marshal: no spaces, and <, > and & escaped as \u003c, \u003e, \u0026. */
export function goJson(value: unknown): string {
  return (JSON.stringify(value ?? null) ?? 'null').replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * docker's formatter rules for `--format` of list commands: `table ` prefix (a header row and
 * aligned columns), `\t` and `\n` typed literally become tab and newline, surrounding spaces go.
 */
export function listFormat(format: string): { table: boolean; template: string } {
  const table = format.startsWith('table');
  const body = (table ? format.slice('table'.length) : format).trim();
  return { table, template: body.replaceAll('\\t', '\t').replaceAll('\\n', '\n') };
}

/** Go's tabwriter as docker configures it (minwidth 10, padding 3): tab-separated cells to aligned columns. */
export function alignColumns(text: string): string {
  const lines = text.split('\n');
  const trailing = lines.at(-1) === '' ? lines.pop() : undefined;
  const cells = lines.map((l) => l.split('\t'));
  const out = cells.map(() => '');
  // Columns align within blocks of consecutive lines that have that column (tabwriter's rule).
  const alignFrom = (start: number, end: number, col: number): void => {
    let width = 0;
    for (let r = start; r < end; r++) width = Math.max(width, cells[r]![col]!.length + 3);
    width = Math.max(width, 10);
    for (let r = start; r < end; r++) out[r] += cells[r]![col]!.padEnd(width);
    let r = start;
    while (r < end) {
      if (cells[r]!.length - 1 <= col + 1) {
        r++;
        continue;
      }
      let e = r;
      while (e < end && cells[e]!.length - 1 > col + 1) e++;
      alignFrom(r, e, col + 1);
      r = e;
    }
  };
  let r = 0;
  while (r < cells.length) {
    if (cells[r]!.length === 1) {
      r++;
      continue;
    }
    let e = r;
    while (e < cells.length && cells[e]!.length > 1) e++;
    alignFrom(r, e, 0);
    r = e;
  }
  cells.forEach((c, i) => (out[i] += c.at(-1)!));
  return out.join('\n') + (trailing !== undefined ? '\n' : '');
}
