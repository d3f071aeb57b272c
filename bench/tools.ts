/**
 * The builders under comparison, behind one small interface: make the cache cold,
 * build a case (timed), and say why a failed build failed.
 *
 *   tsbuild   node bench/out/bin/main.js build -t bench-B:tsbuild --root bench/out/stores/B --progress=plain CTX
 *   tsbuild-exe  bench/out/tsbuild build -t bench-B:tsbuild-exe --root bench/out/stores/B-exe --progress=plain CTX
 *   buildkit  DOCKER_BUILDKIT=1 /usr/bin/docker build --network=host -q -t bench-B:buildkit CTX   (dockerd 20.10)
 *   buildah   shared/tools/buildah.sh bud --layers --isolation=oci --runtime=runc --network=host --tls-verify=false -q -t bench-B:buildah CTX
 *
 * The anchor command lines are the ones shared/research/anchors.md measured with.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchCase } from './cases.js';
import { BENCH_OUT, DOCKER, ensureDockerd, tool } from './env.js';
import { measure, runOrThrow, succeeds, type Measurement } from './measure.js';

export const TOOL_NAMES = ['tsbuild', 'tsbuild-exe', 'buildkit', 'buildah'] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** What a cell shows when it has no time: the build failed, or at a RUN step tsbuild cannot run yet. */
export type Failure = { kind: 'run-unsupported' | 'failed'; message: string };

export interface Builder {
  name: ToolName;
  label: string;
  /** Undefined when usable; otherwise why it is skipped (not installed, daemon does not start). */
  setup(): string | undefined;
  makeCold(c: BenchCase): void;
  build(c: BenchCase): Promise<Measurement>;
  /** Why a build with a non-zero exit failed. */
  classify(m: Measurement): Failure;
}

function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

/** Counts from tsbuild's --progress=plain output: steps and how many were cache hits. */
export function stepCounts(output: string): { steps: number; cached: number } {
  let steps = 0;
  let cached = 0;
  for (const m of output.matchAll(/^#\d+\/(\d+) /gm)) steps = Math.max(steps, Number(m[1]));
  for (const _ of output.matchAll(/^#\d+(?:\/\d+)? CACHED/gm)) cached++;
  return { steps, cached };
}

/**
 * A failed tsbuild build is "RUN unsupported" when the step that errored is a RUN
 * (runtime/ is not merged or cannot start a container here): the plain progress
 * prints `#N/M [stage] RUN ...` when a step starts and `#N/M ERROR: ...` when it fails.
 */
export function classifyTsbuild(output: string): Failure {
  const kinds = new Map<string, string>();
  let failedId: string | undefined;
  for (const line of output.split('\n')) {
    const start = /^#(\d+)\/\d+ \[[^\]]*\] (\w+)/.exec(line);
    if (start) kinds.set(start[1]!, start[2]!.toUpperCase());
    const err = /^#(\d+)\/\d+ ERROR/.exec(line);
    if (err) failedId = err[1];
  }
  const message = lastLines(output);
  if (failedId !== undefined && kinds.get(failedId) === 'RUN') return { kind: 'run-unsupported', message };
  return { kind: 'failed', message };
}

export function tsbuildBuilder(mainJs: string): Builder {
  const store = (c: BenchCase): string => join(BENCH_OUT, 'stores', c.name);
  return {
    name: 'tsbuild',
    label: 'tsbuild',
    setup: () => (existsSync(mainJs) ? undefined : `${mainJs} missing`),
    makeCold: (c) => rmSync(store(c), { recursive: true, force: true }),
    build: (c) =>
      measure(process.execPath, [mainJs, 'build', '-t', `bench-${c.name}:tsbuild`, '--root', store(c), '--progress=plain', c.dir]),
    classify: (m) => classifyTsbuild(m.output),
  };
}

/** The executable (`dist/tsbuild`, Bun) on the same cases, with a store of its own. */
export function tsbuildExeBuilder(exe: string | undefined, why: string | undefined): Builder {
  const store = (c: BenchCase): string => join(BENCH_OUT, 'stores', `${c.name}-exe`);
  return {
    name: 'tsbuild-exe',
    label: 'tsbuild executable',
    setup: () => why ?? (exe && existsSync(exe) ? undefined : `${exe} missing`),
    makeCold: (c) => rmSync(store(c), { recursive: true, force: true }),
    build: (c) => measure(exe!, ['build', '-t', `bench-${c.name}:tsbuild-exe`, '--root', store(c), '--progress=plain', c.dir]),
    classify: (m) => classifyTsbuild(m.output),
  };
}

export function buildkitBuilder(): Builder {
  const env = { ...process.env, DOCKER_BUILDKIT: '1' };
  return {
    name: 'buildkit',
    label: 'BuildKit',
    setup: ensureDockerd,
    makeCold: () => {
      runOrThrow(DOCKER, ['image', 'prune', '-af']);
      runOrThrow(DOCKER, ['builder', 'prune', '-af']);
    },
    // --network=host: dockerd runs without a bridge here, RUN fails without it (anchors.md gotcha 2)
    build: (c) => measure(DOCKER, ['build', '--network=host', '-q', '-t', `bench-${c.name}:buildkit`, c.dir], { env }),
    classify: (m) => ({ kind: 'failed', message: lastLines(m.output) }),
  };
}

export function buildahBuilder(): Builder {
  const sh = tool('buildah.sh');
  return {
    name: 'buildah',
    label: 'buildah',
    setup: () => (succeeds('buildah', ['--version']) ? undefined : 'buildah not installed'),
    makeCold: () => runOrThrow(sh, ['--wipe']),
    // --layers: buildah caches nothing without it; runc: crun fails on this cgroup-hybrid host (anchors.md)
    build: (c) =>
      measure(sh, ['bud', '--layers', '--isolation=oci', '--runtime=runc', '--network=host', '--tls-verify=false', '-q', '-t', `bench-${c.name}:buildah`, c.dir]),
    classify: (m) => ({ kind: 'failed', message: lastLines(m.output) }),
  };
}
