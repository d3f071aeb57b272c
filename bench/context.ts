/**
 * Context-size bench (not a test): does tsbuild's memory stay flat as the build
 * context grows? Builds `FROM scratch` + `COPY files/ /data/files/` (+ `COPY big/
 * /data/big/`) with 2,000 and 20,000 small files (100–4,000 B each), each with and
 * without 3 x 50 MiB incompressible files, and prints wall time and peak RSS.
 *
 *   npx tsx bench/context.ts           RUNS=3 (default), FILES=2000,20000, BIG=0,3
 *
 * cold    = empty store before each run; rebuild = same build again, store kept.
 * Peak RSS is GNU time's %M of the tsbuild process. RSS includes whatever garbage V8
 * has not collected yet, so one more cold build per variant runs under `node --trace-gc`
 * and reports the largest heap left after a full (mark-compact) GC: the memory the
 * build really holds on to. Flat in the big files' size = file data is streamed. Contexts are generated (by
 * shared/tools/gen-context.sh, deterministic) under bench/out/ctx/, kept for re-runs.
 */
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchConfigError } from './errors.js';
import { BENCH_OUT, compileTsbuild, generateContext, machineState } from './env.js';
import { hasGnuTime, measure, median, type Measurement } from './measure.js';

interface Variant {
  files: number;
  big: number;
  dir: string;
  bytes: number;
}

interface Row {
  variant: Variant;
  cold: Measurement[];
  rebuild: Measurement[];
  /** Largest heap (MB) right after a mark-compact GC, from --trace-gc. */
  liveHeapMb?: number;
  error?: string;
}

/**
 * Cold build under `node --trace-gc`; returns the largest "after" size of a
 * Mark-Compact line ("Mark-Compact 50.7 (76.9) -> 30.5 (70.4) MB"). Lines are parsed
 * as they stream (a big build prints thousands of them).
 */
async function liveHeapMb(args: string[], store: string): Promise<number | undefined> {
  rmSync(store, { recursive: true, force: true });
  let max: number | undefined;
  let partial = '';
  const m = await measure(process.execPath, ['--trace-gc', ...args], {
    // --trace-gc prints to stdout; tsbuild's progress goes to stderr (kept apart: partial lines)
    onOutput: (chunk, stream) => {
      if (stream !== 'stdout') return;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const hit = /Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+)/.exec(line);
        if (hit) max = Math.max(max ?? 0, Number(hit[1]));
      }
    },
  });
  return m.exitCode === 0 ? max : undefined;
}

const log = (s: string): void => void process.stderr.write(`${s}\n`);

function numbers(name: string, dflt: number[]): number[] {
  const raw = process.env[name];
  if (!raw) return dflt;
  const xs = raw.split(',').map(Number);
  if (xs.some((x) => !Number.isInteger(x) || x < 0)) throw new BenchConfigError(`${name} must be comma-separated counts, not ${raw}`);
  return xs;
}

/** Bytes of regular files under dir (iterative walk: 20k entries, no recursion depth issue). */
function treeBytes(dir: string): number {
  let total = 0;
  const todo = [dir];
  for (let d = todo.pop(); d !== undefined; d = todo.pop()) {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) todo.push(p);
      else if (e.isFile()) total += statSync(p).size;
    }
  }
  return total;
}

function prepare(files: number, big: number): Variant {
  const dir = join(BENCH_OUT, 'ctx', `files${files}-big${big}`);
  mkdirSync(dir, { recursive: true });
  // 100 files a directory, like bench/cases/bigctx
  generateContext(dir, { files, dirs: Math.max(1, Math.round(files / 100)), big });
  const lines = ['FROM scratch', 'COPY files/ /data/files/', ...(big > 0 ? ['COPY big/ /data/big/'] : [])];
  writeFileSync(join(dir, 'Dockerfile'), lines.join('\n') + '\n');
  return { files, big, dir, bytes: treeBytes(join(dir, 'files')) + (big > 0 ? treeBytes(join(dir, 'big')) : 0) };
}

const mib = (kb: number | undefined): string => (kb === undefined ? 'n/a' : `${(kb / 1024).toFixed(0)} MiB`);
const secs = (ms: number): string => (ms / 1000).toFixed(2);

function stats(ms: Measurement[]): { wall: string; rss: string; rssKb: number | undefined } {
  if (ms.length === 0) return { wall: '–', rss: '–', rssKb: undefined };
  const rss = ms.map((m) => m.maxRssKb).filter((x): x is number => x !== undefined);
  const rssKb = rss.length ? Math.max(...rss) : undefined;
  return { wall: secs(median(ms.map((m) => m.wallMs))), rss: mib(rssKb), rssKb };
}

async function main(): Promise<void> {
  const runs = Number(process.env.RUNS ?? 3);
  const fileCounts = numbers('FILES', [2000, 20000]);
  const bigCounts = numbers('BIG', [0, 3]);
  const m0 = machineState();
  log(`machine: ${m0.cpus} cpus, load ${m0.loadavg.join(' ')}, node ${m0.node}, tsbuild ${m0.gitRev}`);
  if (!hasGnuTime()) log('note: GNU time missing, peak RSS not measured (apt-get install -y time)');
  const mainJs = compileTsbuild();
  const store = join(BENCH_OUT, 'stores', 'context');
  const rows: Row[] = [];
  for (const big of bigCounts) {
    for (const files of fileCounts) {
      const variant = prepare(files, big);
      const row: Row = { variant, cold: [], rebuild: [] };
      rows.push(row);
      const args = [mainJs, 'build', '-t', `bench-context:f${files}-b${big}`, '--root', store, '--progress=plain', variant.dir];
      for (const kind of ['cold', 'rebuild'] as const) {
        for (let i = 0; i < runs && !row.error; i++) {
          if (kind === 'cold') rmSync(store, { recursive: true, force: true });
          const m = await measure(process.execPath, args);
          if (m.exitCode !== 0) {
            row.error = m.output.trim().split('\n').slice(-2).join(' | ');
            log(`  ${files} files, big ${big}: FAILED: ${row.error}`);
            break;
          }
          row[kind].push(m);
          log(`  ${files} files + ${big}x50 MiB, ${kind} ${i + 1}/${runs}: ${secs(m.wallMs)} s, peak RSS ${mib(m.maxRssKb)}`);
        }
      }
      if (!row.error) {
        row.liveHeapMb = await liveHeapMb(args, store);
        log(`  ${files} files + ${big}x50 MiB, --trace-gc: live heap after full GC ${row.liveHeapMb ?? 'n/a'} MB`);
      }
    }
  }
  rmSync(store, { recursive: true, force: true });
  const m1 = machineState();
  const head = '| small files | big files | context | cold s | cold peak RSS | rebuild s | rebuild peak RSS | live heap after GC |';
  const lines = [head, '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const c = stats(r.cold);
    const w = stats(r.rebuild);
    const ctx = `${(r.variant.bytes / 2 ** 20).toFixed(0)} MiB`;
    lines.push(`| ${r.variant.files.toLocaleString('en')} | ${r.variant.big} x 50 MiB | ${ctx} | ${r.error ? 'failed' : c.wall} | ${c.rss} | ${w.wall} | ${w.rss} | ${r.liveHeapMb !== undefined ? `${r.liveHeapMb} MB` : 'n/a'} |`);
  }
  const peak = (files: number, big: number): number | undefined => {
    const r = rows.find((x) => x.variant.files === files && x.variant.big === big);
    return r ? stats([...r.cold, ...r.rebuild]).rssKb : undefined;
  };
  const notes: string[] = [];
  const [lo, hi] = [Math.min(...fileCounts), Math.max(...fileCounts)];
  for (const big of bigCounts) {
    const a = peak(lo, big);
    const b = peak(hi, big);
    if (a !== undefined && b !== undefined && lo !== hi) notes.push(`${lo} -> ${hi} files (big ${big}): peak RSS ${mib(a)} -> ${mib(b)} (${b >= a ? '+' : ''}${((b - a) / 1024).toFixed(0)} MiB)`);
  }
  const heap = (files: number, big: number): number | undefined => rows.find((x) => x.variant.files === files && x.variant.big === big)?.liveHeapMb;
  const [bLo, bHi] = [Math.min(...bigCounts), Math.max(...bigCounts)];
  for (const files of fileCounts) {
    const a = heap(files, bLo);
    const b = heap(files, bHi);
    if (a !== undefined && b !== undefined && bLo !== bHi) notes.push(`${files} files, big ${bLo} -> ${bHi} x 50 MiB: live heap ${a} -> ${b} MB`);
  }
  process.stdout.write(`\n${lines.join('\n')}\n\nmedian of ${runs} runs; peak RSS = max over runs (GNU time %M). load before ${m0.loadavg.join(' ')}, after ${m1.loadavg.join(' ')}\n${notes.join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
