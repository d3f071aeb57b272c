import { expandWord, expandWords, type EnvLookup } from '../parser/shell.js';
import type { Platform } from '../image/types.js';
import { formatPlatform } from '../image/platform.js';

/** Build args docker passes to RUN without an ARG declaration, and keeps out of history. */
export const PREDEFINED_ARGS = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

/** The automatic platform ARGs (global scope; a stage sees them after `ARG NAME`). */
export function platformArgs(build: Platform, target: Platform): Map<string, string> {
  return new Map([
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
  ]);
}

/**
 * A stage's build environment as BuildKit keeps it: ENV and valued ARGs, the later declaration
 * winning (`argEnv` holds the ARGs no later ENV replaced), so `ENV X=a` then `ARG X=b` gives b.
 */
export function stepEnvironment(env: ReadonlyMap<string, string>, argEnv: ReadonlyMap<string, string> | undefined): Map<string, string> {
  const out = new Map(env);
  for (const [k, v] of argEnv ?? []) out.set(k, v);
  return out;
}

export function lookupFrom(env: ReadonlyMap<string, string>, argEnv: ReadonlyMap<string, string> | undefined): EnvLookup {
  const all = stepEnvironment(env, argEnv);
  return (name) => all.get(name);
}

export function expand(word: string, lookup: EnvLookup, escapeToken: string): string {
  return expandWord(word, lookup, { escapeToken }).value;
}

export function expandList(word: string, lookup: EnvLookup, escapeToken: string): string[] {
  return expandWords(word, lookup, { escapeToken }).words;
}
