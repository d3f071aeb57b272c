/**
 * Per-instruction argument splitting: BuildKit's dispatch table of line
 * parsers (`line_parsers.go`). Each takes the text after keyword and flags
 * and returns the `Next` chain as a string list. ONBUILD is handled by the
 * caller because it recurses into a whole instruction.
 */
import { goQuote } from './dump.js';
import { parseWords, splitWhitespace, splitWhitespaceOnce, trimGoSpaceLeft, isGoSpace } from './lexer.js';

export interface LineArgs {
  args: string[];
  /** Arguments came from a JSON array. */
  json: boolean;
}

/** A line-parser failure; parse.ts turns it into a located DockerfileParseError. */
export class LineSyntaxError extends Error {}

type LineParser = (rest: string, escapeToken: string) => LineArgs;

const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

const none: LineArgs = { args: [], json: false };

/** Unknown instructions: BuildKit still makes one empty argument node. */
const parseIgnore: LineParser = () => ({ args: [''], json: false });

/** `null` when `rest` is not a JSON array of any kind; throws when it is one but holds non-strings. */
function parseJSON(rest: string): LineArgs | null {
  const trimmed = trimGoSpaceLeft(rest);
  if (!trimmed.startsWith('[')) return null;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  const args: string[] = [];
  for (const v of value) {
    if (typeof v !== 'string') throw new LineSyntaxError(NOT_STRING_ARRAY);
    args.push(v);
  }
  return { args, json: true };
}

/** RUN, CMD, ENTRYPOINT, SHELL: a JSON array, or the whole text as one argument. */
const parseMaybeJSON: LineParser = (rest) => {
  if (rest === '') return none;
  return parseJSON(rest) ?? { args: [rest], json: false };
};

/** COPY, ADD, VOLUME: a JSON array, or whitespace-delimited words. */
const parseMaybeJSONToList: LineParser = (rest, esc) => parseJSON(rest) ?? parseStringsWhitespaceDelimited(rest, esc);

/** FROM, EXPOSE: whitespace-delimited words (quotes are not special). */
const parseStringsWhitespaceDelimited: LineParser = (rest) => {
  if (rest === '') return none;
  return { args: splitWhitespace(rest), json: false };
};

/** USER, WORKDIR, MAINTAINER, STOPSIGNAL: the whole text as one argument. */
const parseString: LineParser = (rest) => (rest === '' ? none : { args: [rest], json: false });

/** ARG: raw words, `k=v` kept whole. */
const parseNameOrNameVal: LineParser = (rest, esc) => ({ args: parseWords(rest, esc), json: false });

/**
 * ENV, LABEL: triples `name value sep`; sep is "=" for `k=v` words and ""
 * for the legacy `KEY name value` form, where the value is the raw rest.
 */
function parseNameVal(keyword: string): LineParser {
  return (rest, esc) => {
    const words = parseWords(rest, esc);
    if (words.length === 0) return none;
    if (!words[0]!.includes('=')) {
      const parts = splitWhitespaceOnce(rest);
      if (parts.length < 2) throw new LineSyntaxError(`${keyword} must have two arguments`);
      return { args: [parts[0], parts[1]!, ''], json: false };
    }
    const args: string[] = [];
    for (const word of words) {
      const eq = word.indexOf('=');
      if (eq < 0) {
        throw new LineSyntaxError(`Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
      }
      args.push(word.slice(0, eq), word.slice(eq + 1), '=');
    }
    return { args, json: false };
  };
}

/** HEALTHCHECK: a type word (`CMD`, `NONE`, …) then a maybe-JSON command. */
const parseHealthConfig: LineParser = (rest, esc) => {
  // BuildKit scans bytes here; only ASCII white space can end the type word in practice.
  let sep = 0;
  while (sep < rest.length && !isGoSpace(rest[sep]!)) sep++;
  let next = sep;
  while (next < rest.length && isGoSpace(rest[next]!)) next++;
  if (sep === 0) return none;
  const cmd = parseMaybeJSON(rest.slice(next), esc);
  return { args: [rest.slice(0, sep), ...cmd.args], json: cmd.json };
};

const DISPATCH: Readonly<Record<string, LineParser>> = {
  add: parseMaybeJSONToList,
  arg: parseNameOrNameVal,
  cmd: parseMaybeJSON,
  copy: parseMaybeJSONToList,
  entrypoint: parseMaybeJSON,
  env: parseNameVal('ENV'),
  expose: parseStringsWhitespaceDelimited,
  from: parseStringsWhitespaceDelimited,
  healthcheck: parseHealthConfig,
  label: parseNameVal('LABEL'),
  maintainer: parseString,
  run: parseMaybeJSON,
  shell: parseMaybeJSON,
  stopsignal: parseString,
  user: parseString,
  volume: parseMaybeJSONToList,
  workdir: parseString,
};

/** Split the arguments of `keyword` (lower-case, not `onbuild`) the way BuildKit does. */
export function parseLineArgs(keyword: string, rest: string, escapeToken: string): LineArgs {
  const fn = Object.hasOwn(DISPATCH, keyword) ? DISPATCH[keyword]! : parseIgnore;
  return fn(rest, escapeToken);
}
