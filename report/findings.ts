/**
 * Size findings: package-manager caches stored in a layer (hadolint's DL3009,
 * DL3019, DL3042, DL3060 seen from the bytes, not the Dockerfile text) and
 * compilers left in the final image. Each finding names the layer, the
 * instruction that made it and a fix.
 */
import type { FindingRule } from './types.js';

export interface CacheRule {
  rule: Exclude<FindingRule, 'compiler-in-final'>;
  /** Matched against paths without a leading `/`. */
  match: RegExp;
  what: string;
  fix: string;
}

const HOME = String.raw`(?:root|home/[^/]+)`;

export const CACHE_RULES: readonly CacheRule[] = [
  {
    rule: 'apt-lists',
    match: /^var\/lib\/apt\/lists\/(?!lock$)(?:partial\/)?[^/]+$/,
    what: 'apt package lists (/var/lib/apt/lists)',
    fix: 'add `&& rm -rf /var/lib/apt/lists/*` to the same RUN as `apt-get update` (hadolint DL3009), or use `RUN --mount=type=cache,target=/var/lib/apt/lists`',
  },
  {
    rule: 'apt-cache',
    match: /^var\/cache\/apt\/(?:archives\/(?:partial\/)?[^/]+\.deb|[^/]+\.bin)$/,
    what: 'downloaded .deb packages and apt caches (/var/cache/apt)',
    fix: 'run `apt-get clean` in the same RUN as `apt-get install`, or use `RUN --mount=type=cache,target=/var/cache/apt,sharing=locked`',
  },
  {
    rule: 'pip-cache',
    match: new RegExp(String.raw`^${HOME}/\.cache/pip/`),
    what: 'the pip download/wheel cache (~/.cache/pip)',
    fix: 'use `pip install --no-cache-dir` (hadolint DL3042), or `RUN --mount=type=cache,target=/root/.cache/pip`',
  },
  {
    rule: 'npm-cache',
    match: new RegExp(String.raw`^${HOME}/\.npm/(?:_cacache|_logs)/`),
    what: 'the npm cache (~/.npm/_cacache)',
    fix: 'run `npm cache clean --force` in the same RUN as `npm install`/`npm ci`, or use `RUN --mount=type=cache,target=/root/.npm`',
  },
  {
    rule: 'yarn-cache',
    match: new RegExp(String.raw`^(?:usr/local/share/\.cache/yarn/|${HOME}/\.cache/yarn/|${HOME}/\.yarn/berry/cache/)`),
    what: 'the yarn cache',
    fix: 'run `yarn cache clean` in the same RUN as `yarn install` (hadolint DL3060), or use `RUN --mount=type=cache,target=/usr/local/share/.cache/yarn`',
  },
  {
    rule: 'apk-cache',
    match: /^(?:var\/cache\/apk|etc\/apk\/cache)\/[^/]+$/,
    what: 'the apk package cache (/var/cache/apk)',
    fix: 'use `apk add --no-cache` (hadolint DL3019), or `RUN --mount=type=cache,target=/var/cache/apk`',
  },
  {
    rule: 'go-build-cache',
    match: new RegExp(String.raw`^${HOME}/\.cache/go-build/`),
    what: 'the go build cache (~/.cache/go-build)',
    fix: 'run `go clean -cache` in the same RUN as `go build`, or use `RUN --mount=type=cache,target=/root/.cache/go-build`',
  },
];

/** A compiler driver: its presence in the final filesystem is what triggers the finding. */
export const COMPILER_DRIVER =
  /^(?:usr\/(?:local\/)?bin\/(?:(?:[a-z0-9_]+-linux-gnu[a-z]*-)?(?:gcc|g\+\+|cc|c\+\+|clang|clang\+\+)(?:-[0-9.]+)?|rustc|javac)|usr\/lib\/gcc\/[^/]+\/[^/]+\/cc1(?:plus)?|usr\/libexec\/gcc\/[^/]+\/[^/]+\/cc1(?:plus)?|usr\/local\/go\/bin\/go|usr\/lib\/go-[^/]+\/bin\/go|(?:root|usr\/local)\/\.?cargo\/bin\/rustc|usr\/lib\/jvm\/[^/]+\/bin\/javac)$/;

/** Everything counted as toolchain bytes once a compiler is present. */
export const TOOLCHAIN_PATH =
  /^(?:usr\/lib\/gcc\/|usr\/libexec\/gcc\/|usr\/lib\/llvm-[^/]+\/|usr\/local\/go\/|usr\/lib\/go-[^/]+\/|usr\/local\/rustup\/|usr\/local\/cargo\/|root\/\.rustup\/|root\/\.cargo\/|usr\/include\/|usr\/(?:local\/)?bin\/(?:(?:[a-z0-9_]+-linux-gnu[a-z]*-)?(?:gcc|g\+\+|cc|c\+\+|cpp|clang|clang\+\+|ld|as|ar)(?:-[0-9.]+)?|rustc|cargo)$)/;

export const COMPILER_FIX_USER =
  'build in a separate stage (`FROM … AS build`) and `COPY --from=build` only the artefacts into a final stage without the toolchain';
export const COMPILER_FIX_BASE =
  'the base image carries a toolchain: start the final stage FROM a slim runtime image and `COPY --from=<build stage>` the artefacts';

export function cacheRuleFor(path: string): CacheRule | undefined {
  for (const r of CACHE_RULES) if (r.match.test(path)) return r;
  return undefined;
}

/** Bytes and the largest paths per (rule, layer), bounded: keeps only the top `keep` paths. */
export class FindingAccumulator {
  bytes = 0;
  fileCount = 0;
  readonly #top: Array<{ path: string; size: number }> = [];
  constructor(private readonly keep = 20) {}

  add(path: string, size: number): void {
    this.bytes += size;
    this.fileCount++;
    const top = this.#top;
    if (top.length < this.keep) {
      top.push({ path, size });
      top.sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1));
    } else if (size > top[top.length - 1]!.size) {
      top[top.length - 1] = { path, size };
      top.sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1));
    }
  }

  paths(): string[] {
    return this.#top.map((p) => p.path);
  }
}
