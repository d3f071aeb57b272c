/**
 * A POSIX shell parser for the lint rules that look inside RUN commands: it
 * finds every simple command (with its words unquoted), in pipelines, `&&`/`||`
 * lists, `;`/`&`/newline sequences, subshells `( … )`, groups `{ …; }`,
 * if/while/until/for/case bodies, function bodies, command substitutions
 * (`$( … )`, backquotes) and the script given to `sh -c` / `bash -c`.
 *
 * It never expands anything: a word that holds an expansion keeps it as
 * written (`$HOME/x`), so rules see what the author wrote. It never throws: an
 * unterminated quote ends at the end of the text, as hadolint (ShellCheck)
 * still reports the commands it could read.
 */

/** One word of a command, quotes removed (`"a b"` → `a b`), expansions kept as written. */
export interface ShellWord {
  value: string;
  /** Some part of the word was quoted. */
  quoted: boolean;
  /** The word holds `$…` or a backquote command substitution. */
  expands: boolean;
}

export interface SimpleCommand {
  /** The command name (first word after `NAME=value` assignments); '' for a bare assignment or redirection. */
  name: string;
  /** Words after the name. */
  args: string[];
  /** `NAME=value` words before the name. */
  assignments: string[];
  /** This command is one stage of a pipeline of two or more commands. */
  inPipeline: boolean;
  /** Nesting: 0 at top level, +1 inside each command substitution or `sh -c` script. */
  depth: number;
}

export interface ParsedShell {
  /** Every simple command, in source order (nested ones after the command that holds them). */
  commands: SimpleCommand[];
  /** A `|` (or `|&`) pipeline appears anywhere. */
  hasPipes: boolean;
}

/** Scripts nested deeper than this (`sh -c "sh -c …"`, `$( $( … ) )`) are not looked into. */
const MAX_DEPTH = 16;

const RESERVED_OPENERS = new Set(['if', 'then', 'elif', 'else', 'while', 'until', 'do', '!', '{', 'time']);
const RESERVED_CLOSERS = new Set(['fi', 'done', '}', 'esac']);
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh', 'busybox']);

type Token =
  | { kind: 'word'; word: ShellWord; raw: string }
  | { kind: 'op'; op: string };

const OPERATOR_START = new Set(['&', '|', ';', '(', ')', '<', '>']);
const OPERATORS = ['&&', '||', ';;', '|&', '<<-', '<<', '>>', '<&', '>&', '<>', '>|', '|', '&', ';', '(', ')', '<', '>'];

/** Splits shell text into words and operators, skipping comments and here-document bodies. */
class Lexer {
  private pos = 0;
  private readonly pendingHeredocs: { delimiter: string; stripTabs: boolean }[] = [];
  readonly substitutions: string[] = [];

  constructor(private readonly src: string) {}

  tokens(): Token[] {
    const out: Token[] = [];
    let expectHeredocWord: boolean | undefined;
    for (;;) {
      const tok = this.next();
      if (tok === undefined) break;
      if (expectHeredocWord !== undefined && tok.kind === 'word') {
        this.pendingHeredocs.push({ delimiter: tok.word.value, stripTabs: expectHeredocWord });
        expectHeredocWord = undefined;
        continue;
      }
      if (tok.kind === 'op' && (tok.op === '<<' || tok.op === '<<-')) expectHeredocWord = tok.op === '<<-';
      if (tok.kind === 'op' && tok.op === '\n') this.skipHeredocBodies();
      out.push(tok);
    }
    return out;
  }

  private skipHeredocBodies(): void {
    for (const h of this.pendingHeredocs.splice(0)) {
      while (this.pos < this.src.length) {
        let end = this.src.indexOf('\n', this.pos);
        if (end < 0) end = this.src.length;
        let line = this.src.slice(this.pos, end);
        this.pos = end + 1;
        if (h.stripTabs) line = line.replace(/^\t+/, '');
        if (line === h.delimiter) break;
      }
    }
  }

  private next(): Token | undefined {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === ' ' || c === '\t' || c === '\r') this.pos++;
      else if (c === '\\' && s[this.pos + 1] === '\n') this.pos += 2;
      else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else break;
    }
    if (this.pos >= s.length) return undefined;
    if (s[this.pos] === '\n') {
      this.pos++;
      return { kind: 'op', op: '\n' };
    }
    if (!OPERATOR_START.has(s[this.pos]!)) return this.word();
    for (const op of OPERATORS) {
      if (s.startsWith(op, this.pos)) {
        this.pos += op.length;
        return { kind: 'op', op };
      }
    }
    return this.word();
  }

  /** Reads one word up to an unquoted blank or operator character. */
  private word(): Token {
    const s = this.src;
    const start = this.pos;
    let value = '';
    let quoted = false;
    let expands = false;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === '(' && ASSIGNMENT.test(value) && value.endsWith('=')) {
        // a bash array `a=(x y)`: one word, not a subshell
        this.pos++;
        value += '(' + this.balanced(1) + ')';
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === ';' || c === '&' || c === '|' || c === '<' || c === '>' || c === '(' || c === ')') break;
      if (c === '\\') {
        if (s[this.pos + 1] === '\n') this.pos += 2;
        else {
          value += s[this.pos + 1] ?? '';
          quoted = true;
          this.pos += 2;
        }
      } else if (c === "'") {
        const end = s.indexOf("'", this.pos + 1);
        const stop = end < 0 ? s.length : end;
        value += s.slice(this.pos + 1, stop);
        quoted = true;
        this.pos = stop + 1;
      } else if (c === '"') {
        quoted = true;
        this.pos++;
        value += this.doubleQuoted();
      } else if (c === '$') {
        const text = this.dollar();
        value += text;
        expands = expands || text.length > 1;
      } else if (c === '`') {
        value += this.backquoted();
        expands = true;
      } else {
        value += c;
        this.pos++;
      }
    }
    return { kind: 'word', word: { value, quoted, expands }, raw: s.slice(start, this.pos) };
  }

  private doubleQuoted(): string {
    const s = this.src;
    let value = '';
    while (this.pos < s.length && s[this.pos] !== '"') {
      const c = s[this.pos]!;
      if (c === '\\' && '$`"\\\n'.includes(s[this.pos + 1] ?? '')) {
        if (s[this.pos + 1] !== '\n') value += s[this.pos + 1];
        this.pos += 2;
      } else if (c === '$') value += this.dollar();
      else if (c === '`') value += this.backquoted();
      else {
        value += c;
        this.pos++;
      }
    }
    this.pos++;
    return value;
  }

  /** `$NAME`, `${…}`, `$( … )`, `$(( … ))`, `$'…'`: the text as written (substitutions are parsed later). */
  private dollar(): string {
    const s = this.src;
    const start = this.pos;
    const nextChar = s[this.pos + 1];
    if (nextChar === '(') {
      const arithmetic = s[this.pos + 2] === '(';
      this.pos += arithmetic ? 3 : 2;
      const inner = this.balanced(arithmetic ? 2 : 1);
      if (!arithmetic) this.substitutions.push(inner);
      return s.slice(start, this.pos);
    }
    if (nextChar === '{') {
      this.pos += 2;
      let depth = 1;
      while (this.pos < s.length && depth > 0) {
        const c = s[this.pos]!;
        if (c === '\\') this.pos++;
        else if (c === '{') depth++;
        else if (c === '}') depth--;
        else if (c === "'") {
          const end = s.indexOf("'", this.pos + 1);
          this.pos = end < 0 ? s.length : end;
        }
        this.pos++;
      }
      return s.slice(start, this.pos);
    }
    if (nextChar === "'") {
      // ANSI-C quoting: the content, escapes left as written
      const end = s.indexOf("'", this.pos + 2);
      const stop = end < 0 ? s.length : end;
      const text = s.slice(this.pos + 2, stop);
      this.pos = stop + 1;
      return text;
    }
    const m = /^(?:[A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])/.exec(s.slice(this.pos + 1, this.pos + 256));
    this.pos += 1 + (m ? m[0].length : 0);
    return s.slice(start, this.pos);
  }

  /** Skips to the `)` that closes `opened` parentheses, minding quotes; returns the inner text. */
  private balanced(opened: number): string {
    const s = this.src;
    const start = this.pos;
    let depth = opened;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === '\\') this.pos += 2;
      else if (c === "'") {
        const end = s.indexOf("'", this.pos + 1);
        this.pos = end < 0 ? s.length : end + 1;
      } else if (c === '"') {
        this.pos++;
        this.doubleQuoted();
      } else if (c === '`') this.backquoted();
      else if (c === '(') {
        depth++;
        this.pos++;
      } else if (c === ')') {
        depth--;
        this.pos++;
        if (depth === 0) return s.slice(start, this.pos - opened);
      } else this.pos++;
    }
    return s.slice(start);
  }

  private backquoted(): string {
    const s = this.src;
    const start = this.pos;
    this.pos++;
    let inner = '';
    while (this.pos < s.length && s[this.pos] !== '`') {
      if (s[this.pos] === '\\' && this.pos + 1 < s.length) {
        inner += s[this.pos + 1];
        this.pos += 2;
      } else inner += s[this.pos++];
    }
    this.pos++;
    this.substitutions.push(inner);
    return s.slice(start, this.pos);
  }
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*\+?=/;

/** Groups tokens into simple commands and records pipelines; compound syntax only separates commands. */
class CommandCollector {
  readonly commands: SimpleCommand[] = [];
  hasPipes = false;

  constructor(private readonly depth: number) {}

  collect(tokens: Token[], lexer: Lexer): void {
    let current: Token[] = [];
    let pipelineStart = this.commands.length;
    let pipelineStages = 0;
    let caseState: 'none' | 'subject' | 'patterns' | 'body' = 'none';
    let forHeader = false;
    const finishCommand = (): void => {
      if (current.length > 0) {
        this.addCommand(current);
        pipelineStages++;
      }
      current = [];
    };
    const finishPipeline = (): void => {
      finishCommand();
      if (pipelineStages > 1) for (let i = pipelineStart; i < this.commands.length; i++) this.commands[i]!.inPipeline = true;
      pipelineStart = this.commands.length;
      pipelineStages = 0;
    };
    for (let i = 0; i < tokens.length; i++) {
      const tok = tokens[i]!;
      if (caseState === 'subject') {
        if (tok.kind === 'word' && tok.word.value === 'in') caseState = 'patterns';
        continue;
      }
      if (caseState === 'patterns') {
        // `(a|b)` patterns up to the `)` that starts the body
        if (tok.kind === 'op' && tok.op === ')') caseState = 'body';
        else if (tok.kind === 'word' && tok.word.value === 'esac' && !tok.word.quoted) caseState = 'none';
        continue;
      }
      if (tok.kind === 'op') {
        if (tok.op === '|' || tok.op === '|&') {
          this.hasPipes = true;
          finishCommand();
        } else if (tok.op === '<' || tok.op === '>' || tok.op === '>>' || tok.op === '<&' || tok.op === '>&' || tok.op === '<>' || tok.op === '>|' || tok.op === '<<' || tok.op === '<<-') {
          // a redirection's target word is not an argument
          if (tokens[i + 1]?.kind === 'word') i++;
          // a word that is only an fd number before the operator (`2>`) is not an argument either
          const prev = current[current.length - 1];
          if (prev?.kind === 'word' && /^[0-9]+$/.test(prev.raw)) current.pop();
        } else if (tok.op === ';;') {
          finishPipeline();
          if (caseState === 'body') caseState = 'patterns';
        } else {
          // ; & && || newline ( ) all end a pipeline stage sequence
          if (tok.op === '\n' && forHeader) forHeader = false;
          if (tok.op === ';' && forHeader) forHeader = false;
          finishPipeline();
        }
        continue;
      }
      const atStart = current.length === 0;
      const w = tok.word.value;
      if (atStart && !tok.word.quoted) {
        if (w === 'case') {
          caseState = 'subject';
          continue;
        }
        if (w === 'esac') {
          caseState = 'none';
          finishPipeline();
          continue;
        }
        if (w === 'for' || w === 'select') {
          forHeader = true;
          continue;
        }
        if (RESERVED_OPENERS.has(w)) continue;
        if (RESERVED_CLOSERS.has(w)) {
          finishPipeline();
          continue;
        }
        // `name() { … }`: a function definition, not a call
        if (tokens[i + 1]?.kind === 'op' && (tokens[i + 1] as { op: string }).op === '(' && tokens[i + 2]?.kind === 'op' && (tokens[i + 2] as { op: string }).op === ')') {
          i += 2;
          continue;
        }
      }
      if (forHeader) continue;
      current.push(tok);
    }
    finishPipeline();
    for (const sub of lexer.substitutions) this.nested(sub);
  }

  private addCommand(words: Token[]): void {
    const values = words.map((t) => (t.kind === 'word' ? t.word.value : ''));
    let k = 0;
    while (k < words.length && ASSIGNMENT.test((words[k] as { raw: string }).raw)) k++;
    const cmd: SimpleCommand = {
      name: values[k] ?? '',
      args: values.slice(k + 1),
      assignments: values.slice(0, k),
      inPipeline: false,
      depth: this.depth,
    };
    this.commands.push(cmd);
    const script = shellCScript(cmd);
    if (script !== undefined) this.nested(script);
  }

  private nested(script: string): void {
    if (this.depth + 1 > MAX_DEPTH) return;
    const inner = parseShellAt(script, this.depth + 1);
    this.commands.push(...inner.commands);
    this.hasPipes ||= inner.hasPipes;
  }
}

/** The script of `sh -c SCRIPT` (also `bash -ec`, `/bin/sh -c`, `busybox sh -c`), if this is one. */
export function shellCScript(cmd: SimpleCommand): string | undefined {
  let args = cmd.args;
  let name = basename(cmd.name);
  if (name === 'busybox' && args[0] !== undefined && SHELLS.has(args[0])) {
    name = args[0];
    args = args.slice(1);
  }
  if (!SHELLS.has(name) || name === 'busybox') return undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-o' || a === '+o') {
      i++;
      continue;
    }
    if (!a.startsWith('-') && !a.startsWith('+')) return undefined;
    if (a.startsWith('-') && !a.startsWith('--') && a.includes('c')) return args[i + 1];
  }
  return undefined;
}

export function basename(name: string): string {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? name : name.slice(slash + 1);
}

function parseShellAt(script: string, depth: number): ParsedShell {
  const lexer = new Lexer(script);
  const tokens = lexer.tokens();
  const collector = new CommandCollector(depth);
  collector.collect(tokens, lexer);
  return { commands: collector.commands, hasPipes: collector.hasPipes };
}

/** Parses a shell script (a RUN command) into its simple commands. */
export function parseShell(script: string): ParsedShell {
  return parseShellAt(script, 0);
}

// ---- what the rules ask about a command (hadolint's Shell helpers, in our words) ----

/** Flags of a command: `--name[=v]` gives `name`, `-abc` gives `a`,`b`,`c`; `-` and `--` are not flags. */
export function commandFlags(cmd: SimpleCommand): string[] {
  const out: string[] = [];
  for (const a of cmd.args) {
    if (a === '-' || a === '--') continue;
    if (a.startsWith('--')) out.push(a.slice(2).split('=')[0]!);
    else if (a.startsWith('-')) out.push(...a.slice(1));
  }
  return out;
}

export function hasFlag(cmd: SimpleCommand, ...names: string[]): boolean {
  return commandFlags(cmd).some((f) => names.includes(f));
}

export function countFlag(cmd: SimpleCommand, name: string): number {
  return commandFlags(cmd).filter((f) => f === name).length;
}

/**
 * The arguments that are not flags, after dropping the value that follows
 * each flag in `valueFlags` (`-t bookworm`) unless given inline (`--target=x`).
 */
export function argsWithoutFlags(cmd: SimpleCommand, valueFlags: readonly string[] = []): string[] {
  const out: string[] = [];
  const args = cmd.args;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('-') && a !== '-' && a !== '--') {
      const names = a.startsWith('--') ? [a.slice(2).split('=')[0]!] : [...a.slice(1)];
      if (!a.includes('=') && names.some((n) => valueFlags.includes(n))) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** `name` is the command and one of its arguments is one of `words` (hadolint's cmdHasArgs). */
export function commandHasArgs(cmd: SimpleCommand, name: string | readonly string[], words: readonly string[]): boolean {
  const names = typeof name === 'string' ? [name] : name;
  return names.includes(cmd.name) && cmd.args.some((a) => words.includes(a));
}
