/**
 * `npm run bench`: tsbuild next to BuildKit and buildah, in the SAME run, on the
 * bench/cases/ contexts (not a test).
 *
 *   BENCHES=small,multistage,bigctx,manylayers,copyfrom  RUNS=3  TOOLS=tsbuild,tsbuild-exe,buildkit,buildah
 *   SCENARIOS=cold,warm,onefile                 (defaults shown; all comma separated)
 *
 * cold    before each run the tool's cache is emptied (tsbuild: its store dir; BuildKit:
 *         image + builder prune; buildah: storage wiped); the base image is pulled again
 * warm    one untimed warm-up build, then RUNS rebuilds with nothing changed
 * onefile one warm-up, then before each run one line is appended to the case's change
 *         file (cases.ts) and every tool rebuilds; the file is restored (bytes + mtime)
 *
 * Tools take turns within a run (order rotated every run) so load drift hits all alike;
 * `sync` runs (untimed) before each build so one build's writeback does not bill the next.
 * Prints a table of medians (min–max), tsbuild's peak RSS (GNU time %M of the child) and
 * ratios, and writes bench/out/results.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CASES, SCENARIOS, type BenchCase, type Scenario } from './cases.js';
import { ChangeFile } from './change-file.js';
import { BenchConfigError } from './errors.js';
import { BENCH_OUT, compileTsbuild, compileTsbuildExe, DOCKER, ensureRegistryAndBase, generateContext, machineState, rel, stopStartedServices } from './env.js';
import { hasGnuTime } from './measure.js';
import { renderTable, summarize, type Cell } from './table.js';
import { buildahBuilder, buildkitBuilder, stepCounts, TOOL_NAMES, tsbuildBuilder, tsbuildExeBuilder, type Builder, type ToolName } from './tools.js';

function envList<T extends string>(name: string, allowed: readonly T[]): T[] {
  const raw = process.env[name];
  if (!raw) return [...allowed];
  const xs = raw.split(/[,\s]+/).filter(Boolean);
  for (const x of xs) if (!allowed.includes(x as T)) throw new BenchConfigError(`${name}: unknown ${JSON.stringify(x)} (known: ${allowed.join(', ')})`);
  return xs as T[];
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);

let pendingRestore: ChangeFile | undefined;

function cleanUp(): void {
  pendingRestore?.restore();
  pendingRestore = undefined;
  stopStartedServices();
}

async function timedBuild(b: Builder, c: BenchCase, cell: Cell, label: string): Promise<boolean> {
  spawnSync('sync');
  const m = await b.build(c);
  if (m.exitCode !== 0) {
    cell.failure = b.classify(m);
    log(`  ${label} ${b.name}: ${cell.failure.kind === 'run-unsupported' ? 'RUN unsupported' : 'FAILED'}: ${cell.failure.message}`);
    return false;
  }
  const rec = { wallMs: m.wallMs, maxRssKb: m.maxRssKb, ...(b.name.startsWith('tsbuild') ? stepCounts(m.output) : {}) };
  cell.runs.push(rec);
  const extra = rec.steps ? `, cached ${rec.cached}/${rec.steps}` : '';
  log(`  ${label} ${b.name.padEnd(8)} ${(m.wallMs / 1000).toFixed(2)} s  (peak RSS ${m.maxRssKb !== undefined ? `${(m.maxRssKb / 1024).toFixed(0)} MiB` : 'n/a'}${extra})`);
  return true;
}

async function runScenario(c: BenchCase, scenario: Scenario, builders: Builder[], runs: number, cells: Cell[]): Promise<void> {
  const cellOf = new Map<ToolName, Cell>();
  for (const b of builders) {
    const cell: Cell = { bench: c.name, scenario, tool: b.name, runs: [] };
    cells.push(cell);
    cellOf.set(b.name, cell);
  }
  const live = (): Builder[] => builders.filter((b) => !cellOf.get(b.name)!.failure);
  log(`${c.name} / ${scenario}`);
  const change = scenario === 'onefile' ? new ChangeFile(join(c.dir, c.changeFile)) : undefined;
  pendingRestore = change;
  try {
    if (scenario !== 'cold') {
      // warm-up: the cache must hold this exact context before no-op / one-file rebuilds
      for (const b of live()) {
        const m = await b.build(c);
        if (m.exitCode !== 0) {
          const cell = cellOf.get(b.name)!;
          cell.failure = b.classify(m);
          log(`  warm-up ${b.name}: ${cell.failure.kind === 'run-unsupported' ? 'RUN unsupported' : 'FAILED'}: ${cell.failure.message}`);
        }
      }
    }
    for (let i = 0; i < runs; i++) {
      change?.change();
      const order = live();
      const rotated = [...order.slice(i % Math.max(order.length, 1)), ...order.slice(0, i % Math.max(order.length, 1))];
      for (const b of rotated) {
        if (scenario === 'cold') b.makeCold(c);
        await timedBuild(b, c, cellOf.get(b.name)!, `run ${i + 1}/${runs}`);
      }
    }
  } finally {
    change?.restore();
    pendingRestore = undefined;
  }
}

async function main(): Promise<void> {
  const benches = envList('BENCHES', CASES.map((c) => c.name));
  const tools = envList('TOOLS', TOOL_NAMES);
  const scenarios = envList('SCENARIOS', SCENARIOS);
  const runs = Number(process.env.RUNS ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new BenchConfigError(`RUNS must be a positive integer, not ${process.env.RUNS}`);
  const before = machineState();
  log(`machine: ${before.cpus} cpus, ${before.memGiB} GiB, load ${before.loadavg.join(' ')}, kernel ${before.kernel}, node ${before.node}, tsbuild ${before.gitRev}`);
  if (!hasGnuTime()) log('note: GNU time (/usr/bin/time) missing: peak RSS not measured (apt-get install -y time)');

  log('bundling tsbuild into bench/out/bin ...');
  const mainJs = compileTsbuild();
  if (tools.includes('tsbuild-exe')) log('compiling the executable into bench/out/tsbuild ...');
  const exe = tools.includes('tsbuild-exe') ? compileTsbuildExe(dirname(mainJs)) : {};
  ensureRegistryAndBase();
  const cases = benches.map((n) => CASES.find((c) => c.name === n)!);
  for (const c of cases) if (c.generated) generateContext(c.dir);

  const all: Record<ToolName, () => Builder> = { tsbuild: () => tsbuildBuilder(mainJs), 'tsbuild-exe': () => tsbuildExeBuilder(exe.exe, exe.why), buildkit: buildkitBuilder, buildah: buildahBuilder };
  const builders: Builder[] = [];
  const skipped: Partial<Record<ToolName, string>> = {};
  for (const t of tools) {
    const b = all[t]();
    const why = b.setup();
    if (why) {
      skipped[t] = why;
      log(`skipping ${b.label}: ${why}`);
    } else builders.push(b);
  }
  const versions = toolVersions(builders);
  log(`tools: ${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join('; ')}`);

  const cells: Cell[] = [];
  for (const c of cases) for (const s of scenarios) await runScenario(c, s, builders, runs, cells);
  for (const [t, why] of Object.entries(skipped)) {
    for (const c of cases) for (const s of scenarios) cells.push({ bench: c.name, scenario: s, tool: t as ToolName, runs: [], skipped: why });
  }

  const after = machineState();
  const table = renderTable(cells, benches, scenarios);
  process.stdout.write(
    `\n${table}\n\nseconds: median of ${runs} (min–max); ratio > 1 = tsbuild slower; peak RSS = max over runs (GNU time %M);\n` +
      `cached = tsbuild steps reported CACHED / steps, last run.  load before ${before.loadavg.join(' ')}, after ${after.loadavg.join(' ')}\n`,
  );
  mkdirSync(BENCH_OUT, { recursive: true });
  const out = join(BENCH_OUT, 'results.json');
  const json = {
    config: { benches, tools, scenarios, runs },
    machine: { before, after },
    versions,
    skipped,
    cells: cells.map((c) => ({ ...c, summary: summarize(c) })),
  };
  writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
  log(`wrote ${rel(out)}`);
}

function toolVersions(builders: Builder[]): Record<string, string> {
  const v: Record<string, string> = {};
  const first = (cmd: string, args: string[]): string => (spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '').trim().split('\n')[0] ?? '';
  for (const b of builders) {
    if (b.name === 'tsbuild') v.tsbuild = machineState().gitRev;
    if (b.name === 'tsbuild-exe') v['tsbuild-exe'] = `${machineState().gitRev} (bun build --compile)`;
    if (b.name === 'buildkit') v.buildkit = `dockerd ${first(DOCKER, ['version', '--format', '{{.Server.Version}}'])}`;
    if (b.name === 'buildah') v.buildah = first('buildah', ['--version']);
  }
  return v;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`\n${sig}: restoring changed files, stopping services this run started`);
    cleanUp();
    process.exit(130);
  });
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(cleanUp);
