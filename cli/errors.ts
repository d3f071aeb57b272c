import { readFileSync } from 'node:fs';

import { isTsbuildError as isBranded } from '../errors/tsbuild-error.js';

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

/** Exit codes: 0 ok, 1 build or operation failed, 2 usage error, 3 a report gate failed. */
export function exitCodeOf(e: unknown): number {
  if (!isTsbuildError(e)) return 1;
  const code = e.code ?? '';
  if (code === 'TSB_USAGE' || code === 'TSB_BUILD_USAGE') return 2;
  if (code === 'TSB_GATE_FAILED') return 3;
  return 1;
}

/** One readable message, with the Dockerfile lines around the failure when we know them. */
export function formatError(e: unknown): string {
  if (!isTsbuildError(e)) {
    const err = e as Error & { code?: unknown };
    if (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND' || err?.code === 'ERR_DLOPEN_FAILED') {
      return `ERROR: tsbuild installation is incomplete (${err.message.split('\n')[0]}); reinstall it (npm ci, or npm run build for dist/bin)\n`;
    }
    return `ERROR: ${err?.message ?? String(e)}\n${process.env.TSBUILD_DEBUG ? (err?.stack ?? '') + '\n' : ''}`;
  }
  if (typeof e.format === 'function') {
    return `ERROR: ${e.format(readSource(e as Branded & { file?: string }))}\n`;
  }
  let out = `ERROR: ${e.message}\n`;
  if (e.loc) out += snippet(e.loc.file, e.loc.line);
  return out;
}

function readSource(e: { file?: string; data?: Record<string, unknown> }): string | undefined {
  const file = e.file ?? (e.data?.file as string | undefined);
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function snippet(file: string, line: number): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = Math.max(1, line - 2); i <= Math.min(lines.length, line + 1); i++) {
    out.push(`${i === line ? '>>>' : '   '} ${String(i).padStart(4)} | ${lines[i - 1]}`);
  }
  return `--------------------\n${out.join('\n')}\n--------------------\n`;
}
