/** Errors of parser/, on the one root error type (errors/, the only module parser/ imports). */
import { TsbuildError, type ErrorCode } from '../errors/tsbuild-error.js';

export { ERROR_BRAND } from '../errors/tsbuild-error.js';

/**
 * The Dockerfile text an error points into, carried by the error itself, so a
 * printer shows the offending lines without re-reading a file by its label
 * (with `-f -` that label is "Dockerfile", and ./Dockerfile is another file).
 */
export const SOURCE_TEXT: unique symbol = Symbol.for('tsbuild.sourceText') as never;

/** Gives `e` the text of `file` when `e` points into that file (and has no text yet); returns `e`. */
export function attachSource<T>(error: T, file: string, text: string): T {
  if (typeof error !== 'object' || error === null || SOURCE_TEXT in error) return error;
  const at = error as { file?: unknown; loc?: { file?: unknown }; data?: { file?: unknown } };
  const errFile = at.file ?? at.loc?.file ?? at.data?.file ?? (error instanceof DockerfileLintError ? error.warnings[0]?.loc.file : undefined);
  if (errFile === file) Object.defineProperty(error, SOURCE_TEXT, { value: text, enumerable: false });
  return error;
}

/** The Dockerfile text attached to `e` by attachSource, if any. */
export function sourceTextOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const text = (error as { [SOURCE_TEXT]?: unknown })[SOURCE_TEXT];
  return typeof text === 'string' ? text : undefined;
}

export class ParserBaseError extends TsbuildError {
  constructor(code: ErrorCode, message: string, data: Readonly<Record<string, unknown>> = {}) {
    super(code, message, data);
  }
}

/** Where in which Dockerfile something went wrong (1-based line and column). */
export interface ErrorPosition {
  file: string;
  line: number;
  column: number;
  endLine?: number;
}

/**
 * A Dockerfile that cannot be parsed or is semantically invalid. `message`
 * starts with `file:line:column:` so a bare print already says where;
 * `reason` is the message without the position, `text` the offending
 * instruction text (when there is one).
 */
export class DockerfileParseError extends ParserBaseError {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly reason: string;
  readonly text: string | undefined;

  constructor(reason: string, pos: ErrorPosition, text?: string, code: ErrorCode = 'TSB_DOCKERFILE_PARSE') {
    super(code, `${pos.file}:${pos.line}:${pos.column}: ${reason}`, {
      file: pos.file,
      line: pos.line,
      column: pos.column,
      endLine: pos.endLine ?? pos.line,
      reason,
      text,
    });
    this.file = pos.file;
    this.line = pos.line;
    this.column = pos.column;
    this.endLine = pos.endLine ?? pos.line;
    this.reason = reason;
    this.text = text;
  }

  /**
   * The message followed, when the source is given, by the offending lines
   * with a caret under the column (like BuildKit's SourceError print).
   */
  format(source?: string): string {
    return this.message + formatSnippet(source, this.line, this.endLine, this.column);
  }
}

/** One lint finding, as carried by DockerfileLintError (mirrors lint.ts's LintWarning). */
export interface LintFinding {
  rule: string;
  message: string;
  loc: { file: string; line: number; column: number; endLine: number };
}

/** `# check=error=true` and at least one lint rule fired. */
export class DockerfileLintError extends ParserBaseError {
  readonly warnings: readonly LintFinding[];
  constructor(warnings: readonly LintFinding[]) {
    const rules = [...new Set(warnings.map((w) => w.rule))];
    const lines = warnings.map((w) => `  ${w.loc.file}:${w.loc.line}:${w.loc.column}: ${w.rule}: ${w.message}`);
    super('TSB_DOCKERFILE_LINT', `lint violation found for rules: ${rules.join(', ')}\n${lines.join('\n')}`, {
      rules,
      warnings: warnings.map((w) => ({ ...w })),
    });
    this.warnings = warnings;
  }

  format(source?: string): string {
    let out = this.message;
    if (source !== undefined) {
      for (const w of this.warnings) {
        out += `\n${w.loc.file}:${w.loc.line}:${w.loc.column}: ${w.rule}: ${w.message}`;
        out += formatSnippet(source, w.loc.line, w.loc.endLine, w.loc.column);
      }
    }
    return out;
  }
}

/** Go `time.ParseDuration` rejected a string. */
export class DurationError extends ParserBaseError {
  constructor(message: string, input: string) {
    super('TSB_DOCKERFILE_DURATION', message, { input });
  }
}

function formatSnippet(source: string | undefined, line: number, endLine: number, column: number): string {
  if (source === undefined) return '';
  const lines = source.replace(/^\uFEFF/, '').split(/\r?\n/);
  const last = Math.min(Math.max(endLine, line), line + 5, lines.length);
  if (line < 1 || line > lines.length) return '';
  const width = String(last).length;
  let out = '';
  for (let n = line; n <= last; n++) {
    const text = lines[n - 1] ?? '';
    // a hostile line can be megabytes long
    out += `\n ${String(n).padStart(width)} | ${text.length <= 200 ? text : `${text.slice(0, 200)}… (${text.length} characters)`}`;
    if (n === line) {
      // Keep tabs so the caret lines up under the same column as the text.
      const pad = (lines[n - 1] ?? '').slice(0, Math.max(0, column - 1)).replace(/[^\t]/g, ' ');
      out += `\n ${' '.repeat(width)} | ${pad}^`;
    }
  }
  return out;
}
