import { TsbuildError } from '../../errors/tsbuild-error.js';

/** A variable lookup: undefined when unset (an empty string is set). */
export type Lookup = (name: string) => string | undefined;

/** The Compose Specification's interpolation errors: a bad template or a `${VAR:?message}` with VAR unset. */
export class InterpolationError extends TsbuildError {
  constructor(message: string, where: string) {
    super('TSB_BAKE_CONFIG', `${where}: ${message}`, { where });
  }
}

const NAME = /^[_a-zA-Z][_a-zA-Z0-9]*/;

/**
 * Interpolates one string the way Compose does: `$$` is a literal `$`; `$VAR` and `${VAR}`;
 * `${VAR:-default}` / `${VAR-default}` (unset or empty / unset); `${VAR:?err}` / `${VAR?err}`
 * (an error); `${VAR:+alt}` / `${VAR+alt}`. Defaults may hold further interpolations. An unset
 * variable with no default is "" and is reported through `onUnset` (Compose warns).
 */
export function interpolate(text: string, lookup: Lookup, where: string, onUnset: (name: string) => void = () => {}): string {
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    const dollar = text.indexOf('$', pos);
    if (dollar < 0) {
      out += text.slice(pos);
      break;
    }
    out += text.slice(pos, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      pos = dollar + 2;
    } else if (next === '{') {
      const end = closingBrace(text, dollar + 2);
      if (end < 0) throw new InterpolationError(`invalid interpolation format for "${text}": an unclosed \${`, where);
      out += expandBraced(text.slice(dollar + 2, end), lookup, where, onUnset);
      pos = end + 1;
    } else {
      const name = NAME.exec(text.slice(dollar + 1))?.[0];
      if (name === undefined) {
        // A lone `$` before something that is no name stays as it is, as in Compose.
        out += '$';
        pos = dollar + 1;
      } else {
        out += valueOrBlank(name, lookup, onUnset);
        pos = dollar + 1 + name.length;
      }
    }
  }
  return out;
}

/** The index of the `}` closing a `${` whose body starts at `from`, counting nested `${…}`. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') i++;
    else if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function expandBraced(body: string, lookup: Lookup, where: string, onUnset: (name: string) => void): string {
  const name = NAME.exec(body)?.[0];
  if (name === undefined) throw new InterpolationError(`invalid interpolation format for "\${${body}}": a variable name must start the braces`, where);
  const rest = body.slice(name.length);
  if (rest === '') return valueOrBlank(name, lookup, onUnset);
  const value = lookup(name);
  const operator = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[0];
  if (operator === undefined) throw new InterpolationError(`invalid interpolation format for "\${${body}}"`, where);
  const argument = (): string => interpolate(rest.slice(operator.length), lookup, where, onUnset);
  const emptyCounts = operator.startsWith(':');
  const isSet = value !== undefined && !(emptyCounts && value === '');
  switch (operator) {
    case ':-':
    case '-':
      return isSet ? value : argument();
    case ':?':
    case '?':
      if (isSet) return value;
      throw new InterpolationError(`required variable ${name} is missing a value${rest.length > operator.length ? `: ${argument()}` : ''}`, where);
    default: // :+ and +
      return isSet ? argument() : '';
  }
}

function valueOrBlank(name: string, lookup: Lookup, onUnset: (name: string) => void): string {
  const value = lookup(name);
  if (value === undefined) onUnset(name);
  return value ?? '';
}

/**
 * Interpolates every string in a parsed YAML/JSON tree (values, not keys), naming each value's
 * key path in errors (`services.api.build.args.VERSION`).
 */
export function interpolateTree(node: unknown, lookup: Lookup, path: string, onUnset: (name: string, path: string) => void): unknown {
  if (typeof node === 'string') return interpolate(node, lookup, path, (name) => onUnset(name, path));
  if (Array.isArray(node)) return node.map((item, i) => interpolateTree(item, lookup, `${path}[${i}]`, onUnset));
  if (node !== null && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, interpolateTree(value, lookup, path ? `${path}.${key}` : key, onUnset)]));
  }
  return node;
}

/**
 * Reads a `.env` file as Compose does: `KEY=VALUE` lines, optional `export `, `#` comments, single
 * quotes literal, double quotes with `\n` `\t` `\\` `\"` escapes; unquoted and double-quoted values
 * interpolate variables set earlier in the file or in the environment.
 */
export function parseDotenv(text: string, file: string, environment: Lookup): Map<string, string> {
  const vars = new Map<string, string>();
  const lookup: Lookup = (name) => environment(name) ?? vars.get(name);
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (!match) throw new InterpolationError(`unexpected line ${JSON.stringify(raw)}`, `${file}:${index + 1}`);
    const key = match[1]!;
    const value = match[2];
    if (value === undefined) return; // `KEY` alone: taken from the environment when used
    vars.set(key, dotenvValue(value, lookup, `${file}:${index + 1}`));
  });
  return vars;
}

function dotenvValue(value: string, lookup: Lookup, where: string): string {
  if (value.startsWith("'")) {
    const end = value.indexOf("'", 1);
    if (end < 0) throw new InterpolationError('unterminated single quote', where);
    return value.slice(1, end);
  }
  if (value.startsWith('"')) {
    let out = '';
    for (let i = 1; i < value.length; i++) {
      const ch = value[i]!;
      if (ch === '"') return interpolate(out, lookup, where);
      if (ch === '\\' && i + 1 < value.length) {
        const escaped = value[++i]!;
        out += escaped === 'n' ? '\n' : escaped === 't' ? '\t' : escaped === 'r' ? '\r' : escaped;
      } else out += ch;
    }
    throw new InterpolationError('unterminated double quote', where);
  }
  // Unquoted: an inline comment starts at " #".
  const comment = value.search(/\s#/);
  return interpolate((comment >= 0 ? value.slice(0, comment) : value).trim(), lookup, where);
}
