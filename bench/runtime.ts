/**
 * Runtime benchmark (not a test): per-RUN overhead of `RUN true` and the time to diff a small
 * change, on a rootfs of busybox + 20,000 small files, for each runtime × snapshotter.
 *
 *   npx tsx bench/runtime.ts [runs=15]
 *
 * Needs root, runc (crun optional), umoci and busybox-static. Prints a table.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TarHeader } from '../image/tar/header.js';
import { createTarStream, type TarSource } from '../image/tar/writer.js';
import { Runtime, type RunRequest } from '../runtime/index.js';
import { busyboxLayout, layoutLayers, runtimeTestSkipReason, tarFileLayer } from '../runtime/testing.js';

const RUNS = Number(process.argv[2] ?? 15);
const FILES = 20_000;

function* manyFiles(): Generator<TarSource> {
  const dir = (path: string): TarHeader => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 });
  yield { header: dir('data') };
  for (let d = 0; d < 200; d++) {
    yield { header: dir(`data/d${d}`) };
    for (let f = 0; f < FILES / 200; f++) {
      const body = Buffer.from(`file ${d}/${f}\n`);
      yield {
        header: { path: `data/d${d}/f${f}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 1_700_000_000 },
        body,
      };
    }
  }
}

function stats(xs: number[]): { median: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { median: at(0.5), p90: at(0.9) };
}

const devNull = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

async function main(): Promise<void> {
  const skip = runtimeTestSkipReason();
  if (skip) {
    console.error(`bench/runtime: ${skip}`);
    process.exit(1);
  }
  const work = mkdtempSync(join(tmpdir(), 'tsb-bench-rt-'));
  try {
    const tar = join(work, 'many.tar');
    await pipeline(createTarStream(manyFiles()), createWriteStream(tar));
    const lowers = [...layoutLayers(busyboxLayout()), tarFileLayer(tar)];
    const runtimes: Array<'runc' | 'crun'> = ['runc'];
    try {
      execFileSync('sh', ['-c', 'command -v crun'], { stdio: 'ignore' });
      runtimes.unshift('crun');
    } catch {
      /* runc only */
    }
    const rows: string[][] = [];
    for (const runtime of runtimes) {
      for (const snapshotter of ['overlay', 'copy'] as const) {
        const rt = await Runtime.create({ root: join(work, 'state'), runtime, snapshotter });
        try {
          const req = (script: string): RunRequest => ({
            lowers,
            args: ['/bin/sh', '-c', script],
            env: [],
            cwd: '/',
            network: 'none',
            mounts: [],
          });
          let t = performance.now();
          await rt.runStep(req('true'), async () => undefined); // unpacks / flattens the layers once
          const firstMs = performance.now() - t;
          const trueMs: number[] = [];
          for (let i = 0; i < RUNS; i++) {
            t = performance.now();
            await rt.runStep(req('true'), async (diff) => {
              for await (const _ of diff) void _;
            });
            trueMs.push(performance.now() - t);
          }
          const diffMs: number[] = [];
          let entries = 0;
          for (let i = 0; i < Math.max(3, Math.floor(RUNS / 3)); i++) {
            await rt.runStep(req('echo x > /data/d7/f3 && rm /data/d9/f1 && mkdir -p /new && touch /new/a'), async (diff) => {
              const t0 = performance.now();
              const all: TarSource[] = [];
              for await (const e of diff) all.push(e);
              await pipeline(createTarStream(all), devNull());
              diffMs.push(performance.now() - t0);
              entries = all.length;
            });
          }
          const a = stats(trueMs);
          const d = stats(diffMs);
          rows.push([
            runtime,
            snapshotter,
            firstMs.toFixed(0),
            a.median.toFixed(0),
            a.p90.toFixed(0),
            d.median.toFixed(1),
            String(entries),
          ]);
        } finally {
          await rt.close();
        }
      }
    }
    const head = ['runtime', 'snapshotter', 'first RUN ms', 'RUN true median ms', 'p90 ms', 'diff+tar median ms', 'diff entries'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
    console.log(`rootfs: busybox + ${FILES} files; ${RUNS} runs each`);
    console.log(line(head));
    console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
    for (const r of rows) console.log(line(r));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
