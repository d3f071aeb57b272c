/**
 * `npx tsx bench/gzip-members.ts TAR [RUNS]` (or under bun): the cost of gzipping one layer tar
 * three ways — fixed 1 MiB members (createParallelGzip), members on entry boundaries
 * (gzipTarMembers), and the same reusing every member but one from an earlier blob — wall time,
 * process CPU (all threads) and output size.
 */
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createParallelGzip, gzipTarMembers, type GzipMember } from '../image/compress.js';

const file = process.argv[2];
if (!file) throw new Error('usage: bench/gzip-members.ts TAR [RUNS]');
const runs = Number(process.argv[3] ?? 3);
const tar = readFileSync(file);
const chunks = (): Readable => Readable.from((function* () {
  for (let o = 0; o < tar.length; o += 1 << 20) yield tar.subarray(o, o + (1 << 20));
})());

async function time(name: string, stage: () => NodeJS.ReadWriteStream | ((s: AsyncIterable<Buffer>) => AsyncGenerator<Buffer>)): Promise<Buffer> {
  let last = Buffer.alloc(0);
  for (let r = 0; r < runs; r++) {
    const out: Buffer[] = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await pipeline(chunks(), stage() as never, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    last = Buffer.concat(out);
    console.log(`${name.padEnd(34)} wall ${wall.toFixed(0).padStart(5)} ms  cpu ${((cpu.user + cpu.system) / 1000).toFixed(0).padStart(5)} ms  out ${last.length}`);
  }
  return last;
}

await time('fixed 1 MiB members', () => createParallelGzip());
const members: GzipMember[] = [];
const first = await time('entry-boundary members', () => gzipTarMembers({ onMember: (m) => members.push(m) }));
const byKey = new Map<string, Buffer>();
let off = 0;
for (const m of members.slice(0, members.length / runs)) {
  if (m.key !== undefined) byKey.set(m.key, first.subarray(off, off + m.compressedSize));
  off += m.compressedSize;
}
byKey.delete(members[members.length / runs - 1]!.key ?? ""); // the changed one
await time('entry-boundary, all but one reused', () => gzipTarMembers({ reuse: async (k) => byKey.get(k) }));
console.log(`members: ${members.length / runs}, tar ${tar.length} bytes`);
