/**
 * The low-level Dockerfile AST: one node per instruction, words kept raw, as
 * BuildKit's `parser.Parse` produces it (before any semantic validation).
 */

/** A here-document attached to RUN/COPY/ADD (or an ONBUILD of those). */
export interface Heredoc {
  /** Terminator word with quotes removed (`<<"EOF"` → `EOF`). */
  name: string;
  /** Body lines exactly as written, each with its line ending (never chomped here). */
  content: string;
  /** False when any part of the terminator word was quoted: no variable expansion. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from the body (by the consumer). */
  chomp: boolean;
  /** `3<<EOF` → 3; absent when no descriptor was written. */
  fd?: number;
}

export interface Node {
  /** Instruction keyword, lower-cased (`run`). */
  keyword: string;
  /** The keyword as written (`Run`), for casing lints. */
  rawKeyword: string;
  /** `--name=value` words before the arguments, quotes removed, as BuildKit's Node.Flags. */
  flags: string[];
  /** BuildKit's `Next` chain: the instruction's arguments split by its line parser. */
  args: string[];
  /** The instruction text with continuations joined, as BuildKit's `Original`. */
  original: string;
  /** 1-based first and last physical line (heredoc bodies included). */
  startLine: number;
  endLine: number;
  /** 1-based column where the keyword starts on `startLine`. */
  column: number;
  heredocs: Heredoc[];
  /** ONBUILD's payload instruction. */
  sub?: Node;
  /** Arguments came from a JSON array (exec form). */
  json: boolean;
}

/** A parser directive from the top of the file (`# syntax=…`, `# escape=…`, `# check=…`). */
export interface Directive {
  /** Lower-cased name. */
  name: 'syntax' | 'escape' | 'check';
  value: string;
  line: number;
}

/** A non-fatal remark of the low-level parser. */
export interface ParseWarning {
  /** Stable short id, matching the lint rule that reports it. */
  rule: 'NoEmptyContinuation';
  message: string;
  url: string;
  line: number;
}

export interface ParseResult {
  root: Node[];
  directives: Directive[];
  /** `\` unless `# escape=` chose the backtick. */
  escapeToken: '\\' | '`';
  warnings: ParseWarning[];
  file: string;
}
