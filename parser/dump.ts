/**
 * BuildKit's AST dump: one s-expression per instruction, arguments quoted
 * with Go's `strconv.Quote`. The conformance corpus compares this byte for byte.
 */
import type { Node, ParseResult } from './ast.js';

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space. */
function isGoPrint(cp: number, ch: string): boolean {
  if (cp < 0x100) {
    return (cp >= 0x20 && cp < 0x7f) || (cp >= 0xa1 && cp <= 0xff && cp !== 0xad);
  }
  return PRINTABLE.test(ch);
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** Go `strconv.Quote`. */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') {
      out += '\\' + ch;
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      // A lone surrogate is not valid UTF-8; Go would see U+FFFD.
      out += '\\ufffd';
    } else if (isGoPrint(cp, ch)) {
      out += ch;
    } else if (SHORT_ESCAPES[ch] !== undefined) {
      out += SHORT_ESCAPES[ch];
    } else if (cp < 0x20 || cp === 0x7f) {
      out += '\\x' + hex(cp, 2);
    } else if (cp < 0x10000) {
      out += '\\u' + hex(cp, 4);
    } else {
      out += '\\U' + hex(cp, 8);
    }
  }
  return out + '"';
}

/** One instruction as BuildKit's `Node.Dump` prints it, without the outer parentheses. */
export function dumpNode(node: Node): string {
  let str = node.keyword;
  if (node.flags.length > 0) str += ' [' + node.flags.map(goQuote).join(' ') + ']';
  for (const arg of node.args) str += ' ' + goQuote(arg);
  if (node.sub) str += ' (' + dumpNode(node.sub) + ')';
  return str.trim();
}

/** The whole AST: one `(…)` line per instruction, no trailing newline (as BuildKit's root Dump). */
export function dump(result: Pick<ParseResult, 'root'>): string {
  return result.root.map((n) => '(' + dumpNode(n) + ')').join('\n');
}
