/**
 * The low-level parse (BuildKit `parser.Parse`): physical lines → one node per
 * instruction. Handles directives, the escape token, line continuations
 * (comment and blank lines inside them), heredoc bodies, the 64 KiB line
 * limit, CRLF and a leading BOM. No semantic checks happen here.
 */
import type { Directive, Heredoc, Node, ParseResult, ParseWarning } from './ast.js';
import { DirectiveError, DirectiveScanner, escapeTokenOf } from './directives.js';
import { DockerfileParseError } from './errors.js';
import { HeredocSyntaxError, heredocsFromLine } from './heredoc.js';
import { parseLineArgs, LineSyntaxError } from './lexer-lines.js';
import { splitCommand, trimGoSpaceLeft } from './lexer.js';

export interface ParseOptions {
  /** Name used in positions and errors; default `Dockerfile`. */
  file?: string;
}

/** bufio.Scanner's default token limit, minus one for the newline. */
const MAX_LINE_BYTES = 65535;

const HEREDOC_KEYWORDS = new Set(['run', 'copy', 'add']);

const EMPTY_CONTINUATION_URL = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';

/** Physical lines with their endings kept (BuildKit's scanLines), checked against the size limit. */
class LineReader {
  private pos = 0;
  /** 1-based number of the last line returned. */
  lineNo = 0;

  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {}

  next(): string | undefined {
    if (this.pos >= this.text.length) return undefined;
    const nl = this.text.indexOf('\n', this.pos);
    const end = nl < 0 ? this.text.length : nl + 1;
    const line = this.text.slice(this.pos, end);
    this.pos = end;
    this.lineNo++;
    const content = nl < 0 ? line : line.slice(0, -1);
    if (content.length * 3 > MAX_LINE_BYTES && utf8Length(content) > MAX_LINE_BYTES) {
      throw new DockerfileParseError(
        `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES}`,
        { file: this.file, line: this.lineNo, column: 1 },
      );
    }
    return line;
  }
}

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/** Go `bytes.TrimRight(s, "\r\n")`. */
function trimNewline(s: string): string {
  let j = s.length;
  while (j > 0 && (s[j - 1] === '\n' || s[j - 1] === '\r')) j--;
  return s.slice(0, j);
}

function isComment(line: string): boolean {
  return trimGoSpaceLeft(line).startsWith('#');
}

function isEmptyContinuationLine(line: string): boolean {
  return trimGoSpaceLeft(trimNewline(line)).length === 0;
}

/**
 * The escape token ends a line as continuation when it is the last
 * non-blank character and not itself escaped (BuildKit's regular expression,
 * including its blind spot for `\\\`).
 */
function continuationRegex(escapeToken: string): RegExp {
  const e = '\\' + escapeToken;
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

function trimContinuation(line: string, re: RegExp): { text: string; ended: boolean } {
  if (re.test(line)) return { text: line.replace(re, '$1'), ended: false };
  return { text: line, ended: true };
}

interface NodeSeed {
  startLine: number;
  column: number;
}

/** BuildKit `newNodeFromLine`: keyword, flags and arguments of one joined instruction line. */
function nodeFromLine(line: string, escapeToken: string, seed: NodeSeed): Node {
  const { keyword: rawKeyword, flags, rest } = splitCommand(line, escapeToken);
  const keyword = rawKeyword.toLowerCase();
  const node: Node = {
    keyword,
    rawKeyword,
    flags,
    args: [],
    original: line,
    startLine: seed.startLine,
    endLine: seed.startLine,
    column: seed.column,
    heredocs: [],
    json: false,
  };
  if (keyword === 'onbuild') {
    if (rest !== '') node.sub = nodeFromLine(rest, escapeToken, seed);
    return node;
  }
  const parsed = parseLineArgs(keyword, rest, escapeToken);
  node.args = parsed.args;
  node.json = parsed.json;
  return node;
}

function canContainHeredoc(node: Node): boolean {
  const target = node.keyword === 'onbuild' && node.sub ? node.sub : node;
  return HEREDOC_KEYWORDS.has(target.keyword) && !target.json;
}

/**
 * The largest Dockerfile accepted, in bytes. BuildKit reads the Dockerfile in
 * one gRPC message (a few MB at most); without a cap `yes 'RUN true' | tsbuild
 * build -f -` grew to 13.7 GB. Readers stop at this size too (see
 * builder/dockerfile-source.ts), so a stream is never read whole first.
 */
export const MAX_DOCKERFILE_BYTES = 4 << 20;

/** Parse Dockerfile text into BuildKit's low-level AST. Throws DockerfileParseError. */
export function parse(text: string, opts: ParseOptions = {}): ParseResult {
  const file = opts.file ?? 'Dockerfile';
  if (text.length > MAX_DOCKERFILE_BYTES || Buffer.byteLength(text) > MAX_DOCKERFILE_BYTES) throw dockerfileTooLarge(file);
  const reader = new LineReader(text.startsWith('\uFEFF') ? text.slice(1) : text, file);
  const directives: Directive[] = [];
  const dirScanner = new DirectiveScanner();
  const warnings: ParseWarning[] = [];
  const root: Node[] = [];
  let escapeToken: '\\' | '`' = '\\';
  let contRe = continuationRegex(escapeToken);

  const fail = (reason: string, line: number, endLine: number, column: number, textOf?: string): never => {
    throw new DockerfileParseError(reason, { file, line, column, endLine }, textOf);
  };

  for (let raw = reader.next(); raw !== undefined; raw = reader.next()) {
    const lineNo = reader.lineNo;
    const untrimmed = trimNewline(raw);
    let first = trimGoSpaceLeft(untrimmed);
    const column = untrimmed.length - first.length + 1;
    try {
      const d = dirScanner.next(first);
      if (d) {
        if (d.name === 'escape') {
          escapeToken = escapeTokenOf(d.value);
          contRe = continuationRegex(escapeToken);
        }
        directives.push(d);
      }
    } catch (e) {
      if (e instanceof DirectiveError) fail(e.message, lineNo, lineNo, 1, untrimmed);
      throw e;
    }
    if (isComment(first)) first = '';

    const startLine = lineNo;
    let { text: buf, ended } = trimContinuation(first, contRe);
    if (ended && buf === '') continue;

    let hasEmptyContinuation = false;
    while (!ended) {
      const next = reader.next();
      if (next === undefined) break;
      if (isComment(next)) continue;
      const cont = trimNewline(next);
      if (isEmptyContinuationLine(cont)) {
        hasEmptyContinuation = true;
        continue;
      }
      const t = trimContinuation(cont, contRe);
      ended = t.ended;
      buf += t.text;
    }
    const line = buf;
    if (hasEmptyContinuation) {
      warnings.push({
        rule: 'NoEmptyContinuation',
        message: 'Empty continuation line found in: ' + line,
        url: EMPTY_CONTINUATION_URL,
        line: reader.lineNo,
      });
    }

    let node: Node;
    try {
      node = nodeFromLine(line, escapeToken, { startLine, column });
    } catch (e) {
      if (e instanceof LineSyntaxError) fail(e.message, startLine, reader.lineNo, column, line);
      throw e;
    }

    if (canContainHeredoc(node) && line.includes('<<')) {
      let heredocs: Heredoc[] = [];
      try {
        heredocs = heredocsFromLine(line);
      } catch (e) {
        if (e instanceof HeredocSyntaxError) fail(e.message, startLine, reader.lineNo, column, line);
        throw e;
      }
      for (const h of heredocs) {
        let terminated = false;
        let content = '';
        for (let body = reader.next(); body !== undefined; body = reader.next()) {
          let candidate = trimNewline(body);
          if (h.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += body;
        }
        if (!terminated) fail('unterminated heredoc', startLine, reader.lineNo, column, line);
        h.content = content;
        node.heredocs.push(h);
      }
    }

    setLines(node, startLine, reader.lineNo);
    root.push(node);
  }

  if (root.length === 0) fail('file with no instructions', Math.max(reader.lineNo, 1), Math.max(reader.lineNo, 1), 1);
  return { root, directives, escapeToken, warnings, file };
}

function setLines(node: Node, start: number, end: number): void {
  node.startLine = start;
  node.endLine = end;
  if (node.sub) setLines(node.sub, start, end);
}

/** The error for a Dockerfile over MAX_DOCKERFILE_BYTES (also raised by readers that stop early). */
export function dockerfileTooLarge(file: string): DockerfileParseError {
  return new DockerfileParseError(`the Dockerfile is larger than the ${MAX_DOCKERFILE_BYTES}-byte limit (${MAX_DOCKERFILE_BYTES >> 20} MiB)`, { file, line: 1, column: 1 }, undefined, 'TSB_DOCKERFILE_TOO_LARGE');
}
