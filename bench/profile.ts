/**
 * `bench/profile BENCH [SCENARIO]`: where one tsbuild build of a bench case spends its time:
 * a V8 CPU profile and a syscall summary (strace -f -c), plus every call that changed the store
 * or started a process (strace -f -y). Prints a markdown summary; the raw files stay in
 * bench/out/profile/BENCH-SCENARIO/.
 *
 *   bench/profile small warm            # a no-op rebuild (the default scenario)
 *   bench/profile copyfrom onefile      # after one changed file
 *   EXE=dist/tsbuild bench/profile small warm   # the executable (syscalls only: Bun has no --cpu-prof)
 *
 * Scenarios as in bench/run.ts: cold (empty store before each run), warm (one warm-up, then no
 * change), onefile (one warm-up, then the case's change file edited before each run; restored
 * at the end). Each of the three measured runs is prepared the same way.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { CASES, SCENARIOS, type BenchCase, type Scenario } from './cases.js';
import { ChangeFile } from './change-file.js';
import { BenchConfigError, CommandFailedError } from './errors.js';
import { BENCH_OUT, compileTsbuild, ensureRegistryAndBase, generateContext, rel, stopStartedServices } from './env.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);

function parseArgs(): { bench: BenchCase; scenario: Scenario } {
  const [benchName, scenarioName = 'warm'] = process.argv.slice(2);
  const bench = CASES.find((c) => c.name === benchName);
  if (!bench) throw new BenchConfigError(`usage: bench/profile BENCH [SCENARIO]; BENCH is one of ${CASES.map((c) => c.name).join(', ')}`);
  if (!(SCENARIOS as readonly string[]).includes(scenarioName)) throw new BenchConfigError(`SCENARIO is one of ${SCENARIOS.join(', ')}`);
  return { bench, scenario: scenarioName as Scenario };
}

/** Runs `argv` once the scenario is prepared; returns its wall time. */
function run(argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  const t0 = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env, maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new CommandFailedError(argv.join(' '), r.status, (r.stdout ?? '') + (r.stderr ?? ''));
  return ms;
}

/** Self time by function (ms), and the totals of V8's pseudo-nodes. */
function summarizeCpu(profile: CpuProfile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    total += ms;
    const f = byId.get(id)!.callFrame;
    const file = f.url.replace(/^.*\//, '');
    const key = f.url ? `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}` : f.functionName;
    self.set(key, (self.get(key) ?? 0) + ms);
  });
  const pseudo = ['(idle)', '(program)', '(garbage collector)'].map((k) => `${k} ${(self.get(k) ?? 0).toFixed(0)} ms`).join(', ');
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `CPU profile: ${total.toFixed(0)} ms sampled; ${pseudo}`,
    '',
    '| self ms | % | function |',
    '|---:|---:|---|',
    ...rows.map(([k, ms]) => `| ${ms.toFixed(1)} | ${((100 * ms) / total).toFixed(1)} | \`${k}\` |`),
  ].join('\n');
}

/** strace -c's table: syscall → calls, errors. */
function parseStraceCounts(text: string): Array<{ name: string; calls: number; errors: number }> {
  const out: Array<{ name: string; calls: number; errors: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)?\s*(\w+)$/.exec(line);
    if (m && m[3] !== 'total') out.push({ name: m[3]!, calls: Number(m[1]), errors: Number(m[2] ?? 0) });
  }
  return out.sort((a, b) => b.calls - a.calls);
}

/** strace -f lines, a call that another thread interrupted (`<unfinished ...>` … `<... resumed>`) joined into one. */
function joinedCalls(text: string): string[] {
  const pending = new Map<string, string>();
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, call] = m as unknown as [string, string, string];
    if (call.endsWith('<unfinished ...>')) pending.set(pid, call.slice(0, -'<unfinished ...>'.length));
    else if (/^<\.\.\. \w+ resumed>/.test(call)) {
      out.push((pending.get(pid) ?? '') + call.replace(/^<\.\.\. \w+ resumed>/, ''));
      pending.delete(pid);
    } else out.push(call);
  }
  return out;
}

/** The successful calls of a `strace -f -y` log that changed something under `root`, or started a process. */
function storeChanges(text: string, root: string): string[] {
  const out: string[] = [];
  let execs = 0;
  for (const call of joinedCalls(text)) {
    if (/^execve\(/.test(call) && / = 0$/.test(call)) {
      if (execs++ > 0) out.push(call); // the first is tsbuild itself
      continue;
    }
    if (!call.includes(root) || / = -1 /.test(call)) continue;
    const writesFile = /^openat\(/.test(call) && /O_WRONLY|O_RDWR|O_CREAT/.test(call);
    if (writesFile || /^(mkdir|mkdirat|rename|renameat2?|unlink|unlinkat|rmdir|utimensat|fsync|fdatasync|link|linkat|symlink|symlinkat|fchmod|fchown|chmod|chown|ftruncate|setxattr|lsetxattr|fsetxattr)\(/.test(call)) out.push(call);
  }
  return out;
}

async function main(): Promise<void> {
  const { bench, scenario } = parseArgs();
  const exe = process.env.EXE ? resolve(process.env.EXE) : undefined;
  const outDir = join(BENCH_OUT, 'profile', `${bench.name}-${scenario}`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const store = join(outDir, 'store');
  const mainJs = exe ? undefined : compileTsbuild();
  ensureRegistryAndBase();
  if (bench.generated) generateContext(bench.dir);
  const tsbuild = exe ? [exe] : [process.execPath];
  const args = [...(mainJs ? [mainJs] : []), 'build', '-t', `bench-${bench.name}:profile`, '--root', store, '--progress=plain', bench.dir];
  const change = scenario === 'onefile' ? new ChangeFile(join(bench.dir, bench.changeFile)) : undefined;
  const prepare = (): void => {
    if (scenario === 'cold') rmSync(store, { recursive: true, force: true });
    change?.change();
    spawnSync('sync');
  };
  try {
    if (scenario !== 'cold') run([...tsbuild, ...args]);
    const la = loadavg().map((x) => x.toFixed(2)).join(' ');
    const lines = [`## bench/profile ${bench.name} ${scenario}: \`${exe ? rel(exe) : `node ${rel(mainJs!)}`} build …\` (load ${la})`, ''];

    prepare();
    const wall = run([...tsbuild, ...args]);
    lines.push(`wall: ${wall.toFixed(0)} ms (a plain run)`, '');

    if (!exe) {
      prepare();
      const cpuDir = join(outDir, 'cpu');
      run([process.execPath, '--cpu-prof', `--cpu-prof-dir=${cpuDir}`, ...args]);
      const file = readdirSync(cpuDir).find((f) => f.endsWith('.cpuprofile'))!;
      lines.push(summarizeCpu(JSON.parse(readFileSync(join(cpuDir, file), 'utf8')) as CpuProfile, 15), '');
    }

    if (spawnSync('strace', ['-V']).status !== 0) {
      lines.push('strace is not installed (apt-get install -y strace): no syscall summary');
    } else {
      prepare();
      const countsFile = join(outDir, 'strace-c.txt');
      run(['strace', '-f', '-c', '-o', countsFile, ...tsbuild, ...args]);
      const counts = parseStraceCounts(readFileSync(countsFile, 'utf8'));
      const of = (n: string): number => counts.filter((c) => c.name === n || c.name.startsWith(`${n}at`)).reduce((a, c) => a + c.calls - c.errors, 0);
      lines.push(
        `syscalls (strace -f -c): ${counts.reduce((a, c) => a + c.calls, 0)} calls; fsync ${of('fsync') + of('fdatasync')}, rename ${of('rename')}, ` +
          `unlink ${of('unlink')}, utimensat ${of('utimensat')}, successful mkdir ${of('mkdir')}, execve ${of('execve')}, clone ${of('clone') + of('clone3')} (threads included)`,
        '',
        `top: ${counts.slice(0, 12).map((c) => `${c.name} ${c.calls}`).join(', ')}`,
        '',
      );
      prepare();
      const traceFile = join(outDir, 'strace-y.txt');
      run(['strace', '-f', '-y', '-e', 'trace=%file,%desc,%process', '-o', traceFile, ...tsbuild, ...args]);
      const changes = storeChanges(readFileSync(traceFile, 'utf8'), resolve(store));
      lines.push(`calls that changed the store or started a process (strace -f -y): ${changes.length}`);
      if (changes.length > 0) lines.push('', '```', ...changes.slice(0, 40).map((c) => c.slice(0, 200)), ...(changes.length > 40 ? [`… ${changes.length - 40} more`] : []), '```');
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    log(`raw files: ${rel(outDir)}`);
  } finally {
    change?.restore();
    stopStartedServices();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/profile failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
