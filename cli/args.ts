/**
 * A small docker-style flag parser: `-t a -t b`, `--tag=a`, `--build-arg K=V`,
 * boolean flags, `--` ending flags. Unknown flags are usage errors.
 */
import { TsbuildError } from '../image/errors.js';

export class UsageError extends TsbuildError {
  constructor(message: string) {
    super('TSB_CLI_USAGE', message);
  }
}

export interface FlagSpec {
  /** Long name without dashes. */
  name: string;
  short?: string;
  /** `optional`: `--flag` alone means 'true'; a value only as `--flag=VALUE`. */
  type: 'string' | 'bool' | 'list' | 'optional';
  /** For bool flags given as `--flag=false`. */
  description: string;
  valueName?: string;
  default?: string;
}

export interface Parsed {
  flags: Map<string, string[]>;
  positionals: string[];
}

export function parseArgs(argv: string[], specs: FlagSpec[]): Parsed {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const add = (s: FlagSpec, v: string): void => {
    const prev = flags.get(s.name) ?? [];
    flags.set(s.name, s.type === 'list' ? [...prev, v] : [v]);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`);
      if (spec.type === 'bool' || spec.type === 'optional') add(spec, eq < 0 ? 'true' : a.slice(eq + 1));
      else if (eq >= 0) add(spec, a.slice(eq + 1));
      else {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`flag needs an argument: --${name}`);
        add(spec, v);
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // -t NAME, -tNAME, -q, combined bools like -qa
      for (let j = 1; j < a.length; j++) {
        const spec = byShort.get(a[j]!);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${a[j]}' in ${a}`);
        if (spec.type === 'bool') {
          add(spec, 'true');
          continue;
        }
        const rest = a.slice(j + 1).replace(/^=/, '');
        if (rest) add(spec, rest);
        else {
          const v = argv[++i];
          if (v === undefined) throw new UsageError(`flag needs an argument: '${a[j]}' in ${a}`);
          add(spec, v);
        }
        break;
      }
      continue;
    }
    positionals.push(a);
  }
  return { flags, positionals };
}

export function str(parsed: Parsed, name: string): string | undefined {
  return parsed.flags.get(name)?.at(-1);
}

export function list(parsed: Parsed, name: string): string[] {
  return parsed.flags.get(name) ?? [];
}

export function bool(parsed: Parsed, name: string): boolean {
  const v = str(parsed, name);
  if (v === undefined) return false;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UsageError(`invalid boolean for --${name}: ${v}`);
}

/** `K=V` pairs (`--build-arg K` alone takes K from the environment, as docker does). */
export function kvList(values: string[], flag: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i === 0) throw new UsageError(`invalid --${flag} ${v}`);
    if (i < 0) {
      const e = env[v];
      if (e !== undefined) out[v] = e;
      continue;
    }
    out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

export const EXIT_CODES = 'Exit status: 0 ok, 1 the operation failed, 2 usage error (a bad flag or argument).';

/** A command's --help: usage, summary, every flag, and its exit codes. */
export function helpText(usage: string, summary: string, specs: FlagSpec[], exitCodes = EXIT_CODES): string {
  const rows = specs.map((s) => {
    const left = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.type === 'bool' ? '' : s.type === 'optional' ? `[=${s.valueName ?? 'string'}]` : ` ${s.valueName ?? 'string'}`}`;
    return `  ${left.padEnd(34)} ${s.description}${s.default ? ` (default ${s.default})` : ''}`;
  });
  return `Usage: ${usage}\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n\n${exitCodes}\n`;
}
