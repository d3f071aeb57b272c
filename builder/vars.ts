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

/** ENV wins over ARG of the same name, as docker documents. */
export function lookupFrom(env: Map<string, string>, args: Map<string, string | undefined>): EnvLookup {
  return (name) => (env.has(name) ? env.get(name) : args.get(name));
}

export function expand(word: string, lookup: EnvLookup, escapeToken: string): string {
  return expandWord(word, lookup, { escapeToken }).value;
}

export function expandList(word: string, lookup: EnvLookup, escapeToken: string): string[] {
  return expandWords(word, lookup, { escapeToken }).words;
}
