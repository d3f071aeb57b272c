/**
 * The one typed flag set every instruction uses (BuildKit `BFlags`):
 * `--name=value` strings, `--name` / `--name=true|false` booleans, and
 * repeatable string lists (`--mount`, `--exclude`). Flags arrive with quotes
 * already removed by the low-level parser. Unknown flags are errors.
 */
import { didYouMean } from './suggest.js';

export type FlagKind = 'bool' | 'string' | 'strings';
export type FlagSpec = Readonly<Record<string, FlagKind>>;

export type FlagValues<S extends FlagSpec> = {
  [K in keyof S]: S[K] extends 'bool' ? boolean | undefined : S[K] extends 'string' ? string | undefined : string[];
};

export interface ParsedFlags<S extends FlagSpec> {
  /** Undefined (bool/string) or [] (strings) for flags not given. */
  values: FlagValues<S>;
  /** Names of the flags that were given, in first-use order. */
  used: string[];
}

/** A flag problem; instructions.ts adds the location. */
export class FlagError extends Error {}

/** Parse raw flag words (`--from=build`) against a spec. */
export function parseFlags<S extends FlagSpec>(args: readonly string[], spec: S): ParsedFlags<S> {
  const values: Record<string, boolean | string | string[] | undefined> = {};
  for (const [name, kind] of Object.entries(spec)) values[name] = kind === 'strings' ? [] : undefined;
  const used: string[] = [];
  for (const a of args) {
    if (a === '--') break; // POSIX: end of options
    if (!a.startsWith('--')) throw new FlagError(`arg should start with -- : ${a}`);
    const eq = a.indexOf('=');
    const flagName = eq < 0 ? a : a.slice(0, eq);
    const value = eq < 0 ? '' : a.slice(eq + 1);
    const hasValue = eq >= 0;
    const name = flagName.slice(2);
    const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (kind === undefined) {
      throw new FlagError(`unknown flag: ${flagName}${didYouMean(name, Object.keys(spec).map((k) => k))}`);
    }
    if (used.includes(name) && kind !== 'strings') throw new FlagError(`duplicate flag specified: ${flagName}`);
    if (!used.includes(name)) used.push(name);
    switch (kind) {
      case 'bool': {
        if (hasValue && value === '') throw new FlagError(`missing a value on flag: ${flagName}`);
        const v = value.toLowerCase();
        if (v === 'true' || v === '') values[name] = true;
        else if (v === 'false') values[name] = false;
        else throw new FlagError(`expecting boolean value for flag ${flagName}, not: ${value}`);
        break;
      }
      case 'string':
        if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}`);
        values[name] = value;
        break;
      case 'strings':
        if (!hasValue) throw new FlagError(`missing a value on flag: ${flagName}`);
        (values[name] as string[]).push(value);
        break;
    }
  }
  return { values: values as FlagValues<S>, used };
}
