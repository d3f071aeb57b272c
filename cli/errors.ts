import { sourceTextOf } from '../parser/index.js';

import { isModuleLoadFailure, isTsbuildError as isBranded } from '../errors/tsbuild-error.js';

interface Branded {
  code?: string;
  message: string;
  loc?: { file: string; line: number; column?: number };
  format?: (source?: string) => string;
  data?: Record<string, unknown>;
}

function isTsbuildError(e: unknown): e is Branded {
  return isBranded(e);
}

/** Errors in what the user typed or wrote: flags, the command line, the Dockerfile's syntax. */
const USAGE_CODES = new Set(['TSB_CLI_USAGE', 'TSB_BUILD_USAGE', 'TSB_DOCKERFILE_PARSE', 'TSB_DOCKERFILE_SHELL_EXPANSION', 'TSB_BAKE_CONFIG']);

/** Exit codes: 0 ok, 1 build or operation failed, 2 usage error (a bad flag or Dockerfile), 3 a report gate failed. */
export function exitCodeOf(error: unknown): number {
  if (!isTsbuildError(error)) return 1;
  const code = error.code ?? '';
  if (USAGE_CODES.has(code)) return 2;
  if (code === 'TSB_CLI_GATE_FAILED') return 3;
  return 1;
}

/** One readable message, with the Dockerfile lines around the failure when we know them. */
export function formatError(thrown: unknown): string {
  if (!isTsbuildError(thrown)) {
    if (isModuleLoadFailure(thrown)) {
      return `ERROR: tsbuild installation is incomplete (${thrown.message.split('\n')[0]}); reinstall it (npm ci, or npm run build for dist/bin)\n`;
    }
    const err = thrown as Error;
    return `ERROR: ${err?.message ?? String(thrown)}\n${process.env.TSBUILD_DEBUG ? (err?.stack ?? '') + '\n' : ''}`;
  }
  // The Dockerfile's text travels with the error: no file is re-read by its label.
  const source = sourceTextOf(thrown);
  if (typeof thrown.format === 'function') return `ERROR: ${thrown.format(source)}\n`;
  let out = `ERROR: ${thrown.message}\n`;
  if (thrown.loc && source !== undefined) out += snippet(source, thrown.loc.line);
  return out;
}

function snippet(text: string, line: number): string {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = Math.max(1, line - 2); i <= Math.min(lines.length, line + 1); i++) {
    out.push(`${i === line ? '>>>' : '   '} ${String(i).padStart(4)} | ${clip(lines[i - 1] ?? '')}`);
  }
  return `--------------------\n${out.join('\n')}\n--------------------\n`;
}

/** A line of the excerpt, cut short: a hostile line can be megabytes long. */
function clip(line: string): string {
  return line.length <= 200 ? line : `${line.slice(0, 200)}… (${line.length} characters)`;
}
