import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { requireTools } from '../test/tools.js';
import { createGunzip, createParallelGzip, gzipTarMembers, memberFormat, type GzipMember, type GzipOptions, type TarGzipOptions } from './compress.js';
import { ByteSource } from './tar/reader.js';
import { TarHeaderDecoder, tarPaddingSize } from './tar/decode.js';
import { createTarStream, type TarSource } from './tar/writer.js';

/** Deterministic, partly compressible test data: alternating text-like and random-like 256 KiB blocks. */
function testData(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed;
  const words = Buffer.from('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ');
  for (let i = 0; i < size; i++) {
    if ((i >> 18) % 2 === 0) out[i] = words[(i * 7 + (i >> 10)) % words.length]!;
    else {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      out[i] = x >>> 24;
    }
  }
  return out;
}

function chunked(buf: Buffer, size = 64 * 1024): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= buf.length) return void this.push(null);
      this.push(buf.subarray(off, off + size));
      off += size;
    },
  });
}

async function gz(input: Buffer, opts?: GzipOptions): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(chunked(input), createParallelGzip(opts), new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  return Buffer.concat(chunks);
}

/** Pseudo-random bytes (deterministic): what deflate cannot shrink. */
function randomish(n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let off = 0, i = 0; off < n; off += 64, i++) createHash('sha512').update(String(i)).digest().copy(out, off);
  return out;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('image/compress', () => {
  let work: string;
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-gz-'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  const cases: Array<[string, number, GzipOptions | undefined]> = [
    ['empty input', 0, undefined],
    ['1 byte', 1, undefined],
    ['exactly one member', 1024 * 1024, undefined],
    ['one member + 1 byte', 1024 * 1024 + 1, undefined],
    ['5 MiB + 3, defaults', 5 * 1024 * 1024 + 3, undefined],
    ['3 MiB, level 1, 64 KiB members, concurrency 1', 3 * 1024 * 1024, { level: 1, memberSize: 64 * 1024, concurrency: 1 }],
    ['2 MiB, level 9, 100000-byte members, concurrency 4', 2 * 1024 * 1024, { level: 9, memberSize: 100_000, concurrency: 4 }],
    ['300 KiB, level 0', 300 * 1024, { level: 0 }],
  ];
  for (const [name, size, opts] of cases) {
    it(`${name}: gzip -t passes and gunzip | cmp gives the input back`, async () => {
      const input = testData(size);
      const out = await gz(input, opts);
      const file = path.join(work, 'x.gz');
      fs.writeFileSync(file, out);
      execFileSync('gzip', ['-t', file]);
      const back = execFileSync('gunzip', ['-c', file], { maxBuffer: 64 * 1024 * 1024 });
      fs.writeFileSync(path.join(work, 'in'), input);
      fs.writeFileSync(path.join(work, 'out'), back);
      execFileSync('cmp', [path.join(work, 'in'), path.join(work, 'out')]);
      // And node's own gunzip (createGunzip) reads every member.
      const chunks: Buffer[] = [];
      await pipeline(Readable.from([out]), createGunzip(), new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
      assert.ok(Buffer.concat(chunks).equals(input));
      assert.ok(out.equals(await expectedMembers(input, opts)), 'one gzip member per memberSize slice, in order');
    });
  }

  const kinds: Array<[string, (n: number) => Buffer, boolean]> = [
    ['random bytes (already compressed data)', randomish, true],
    ['text', (n) => Buffer.alloc(n, 'lorem ipsum dolor sit amet '), false],
    ['zeros', (n) => Buffer.alloc(n), false],
  ];
  for (const [name, make, stored] of kinds) {
    it(`${name}: members are ${stored ? 'stored (level 0), not deflated' : 'deflated at the asked level'}`, async () => {
      const input = make(2 * 1024 * 1024);
      const out = await gz(input);
      if (stored) assert.ok(out.length > input.length, `stored: ${out.length} > ${input.length}`);
      else assert.ok(out.length < input.length / 10, `deflated: ${out.length}`);
      assert.ok(zlib.gunzipSync(out).equals(input));
    });
  }

  it('is deterministic: same input, level and member size → same bytes, whatever the concurrency and chunking', async () => {
    const input = testData(4 * 1024 * 1024 + 99, 7);
    const a = await gz(input, { concurrency: 1 });
    const b = await gz(input, { concurrency: 3 });
    const chunks: Buffer[] = [];
    await pipeline(chunked(input, 1000), createParallelGzip({ concurrency: 2 }), new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
    assert.equal(sha(a), sha(b));
    assert.equal(sha(a), sha(Buffer.concat(chunks)));
    assert.notEqual(sha(a), sha(await gz(input, { memberSize: 512 * 1024 })), 'member size is part of the output');
  });

  const badOpts: GzipOptions[] = [{ level: 10 }, { level: -1 }, { memberSize: 0 }, { concurrency: 0 }, { level: 1.5 }];
  for (const o of badOpts) {
    it(`rejects options ${JSON.stringify(o)}`, () => assert.throws(() => createParallelGzip(o), RangeError));
  }

  it('a source error fails the pipeline', async () => {
    const src = new Readable({
      read() {
        this.destroy(new Error('boom'));
      },
    });
    await assert.rejects(pipeline(src, createParallelGzip(), new Writable({ write: (_c, _e, cb) => cb() })), /boom/);
  });

  it('a 300 MB stream passes with flat memory (round trip through gunzip, sha256 compared)', async function () {
    this.timeout(120_000);
    const total = 300 * 1024 * 1024;
    const block = testData(4 * 1024 * 1024, 3);
    let produced = 0;
    const inHash = createHash('sha256');
    const src = new Readable({
      read() {
        if (produced >= total) return void this.push(null);
        const b = block.subarray(0, Math.min(block.length, total - produced));
        produced += b.length;
        inHash.update(b);
        this.push(b);
      },
    });
    const outHash = createHash('sha256');
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = process.hrtime.bigint();
    try {
      await pipeline(
        src,
        createParallelGzip(),
        createGunzip(),
        new Writable({
          write(c: Buffer, _e, cb) {
            outHash.update(c);
            cb();
          },
        }),
      );
    } finally {
      clearInterval(timer);
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const delta = (peak - rss0) / 1024 / 1024;
    console.log(`      300 MB gzip+gunzip: ${s.toFixed(1)} s, RSS delta ${delta.toFixed(1)} MiB (peak ${(peak / 1024 / 1024).toFixed(0)} MiB)`);
    assert.equal(outHash.digest('hex'), inHash.digest('hex'));
    assert.ok(delta < 100, `RSS grew by ${delta.toFixed(0)} MiB`);
  });

  it('measures: level 6 MB/s, parallel vs one zlib stream (32 MiB)', async () => {
    const input = testData(32 * 1024 * 1024, 5);
    const time = async (make: () => NodeJS.ReadWriteStream): Promise<[number, number]> => {
      let outLen = 0;
      const t0 = process.hrtime.bigint();
      await pipeline(chunked(input), make(), new Writable({ write: (c: Buffer, _e, cb) => ((outLen += c.length), cb()) }));
      return [input.length / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9), outLen];
    };
    const [par, parLen] = await time(() => createParallelGzip({ level: 6 }));
    const [one, oneLen] = await time(() => zlib.createGzip({ level: 6, chunkSize: 1024 * 1024 }));
    console.log(
      `      gzip L6: parallel ${par.toFixed(1)} MB/s (ratio ${((parLen / input.length) * 100).toFixed(2)}%), ` +
        `zlib stream ${one.toFixed(1)} MB/s (ratio ${((oneLen / input.length) * 100).toFixed(2)}%), ${os.availableParallelism()} cores`,
    );
    assert.ok(parLen > 0 && oneLen > 0);
  });

  it('Go-style readers: python gzip reads the multi-member output byte-exact', async function () {
    requireTools(this, ['python3']);
    const input = testData(3 * 1024 * 1024 + 5, 9);
    const out = await gz(input, { memberSize: 256 * 1024 });
    const back = await new Promise<Buffer>((resolve, reject) => {
      const p = spawn('python3', ['-c', 'import gzip,sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))']);
      const chunks: Buffer[] = [];
      p.stdout.on('data', (c: Buffer) => chunks.push(c));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`python3 exited ${code}`))));
      p.stdin.end(out);
    });
    assert.ok(back.equals(input));
  });
});

/** What the output must be: each memberSize slice gzipped on its own, concatenated. */
async function expectedMembers(input: Buffer, opts: GzipOptions = {}): Promise<Buffer> {
  const size = opts.memberSize ?? 1024 * 1024;
  const parts: Buffer[] = [];
  // zlib.gzip, not gzipSync: at level 0 the stored-block layout depends on how zlib is driven.
  const gzip = promisify(zlib.gzip) as (b: Buffer, o: zlib.ZlibOptions) => Promise<Buffer>;
  for (let off = 0; off < input.length || parts.length === 0; off += size) {
    const member = input.subarray(off, off + size);
    parts.push(await gzip(member, { level: incompressible(member) ? 0 : opts.level ?? 6, chunkSize: 1024 * 1024 }));
  }
  return Buffer.concat(parts);
}

/** The documented rule: 4 samples of 16 KiB, evenly spread, that level-1 deflate leaves above 98%. */
function incompressible(member: Buffer): boolean {
  const S = 16 * 1024;
  if (member.length < 4 * S) return false;
  const step = Math.floor((member.length - S) / 3);
  let packed = 0;
  for (let i = 0; i < 4; i++) packed += zlib.deflateRawSync(member.subarray(i * step, i * step + S), { level: 1 }).length;
  return packed > 4 * S * 0.98;
}

/** A layer-like tree: `n` files of varied sizes (some text, some random), some with long (PAX) names, and `big` large files. */
function tree(n: number, edit: (path: string, body: Buffer) => Buffer = (_p, b) => b, big: number[] = []): TarSource[] {
  const out: TarSource[] = [{ header: { path: 'files', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 } }];
  for (let i = 0; i < n; i++) {
    const deep = i % 97 === 0 ? `${'long-directory-name/'.repeat(14)}` : '';
    const path = `files/${deep}f${String(i).padStart(5, '0')}.txt`;
    const size = (i * 7919) % 6000;
    const body = edit(path, i % 5 === 0 ? randomish(size) : Buffer.from(`${path} line ${i}\n`.repeat(size / 20 + 1)).subarray(0, size));
    out.push({ header: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body });
    const b = big.indexOf(i);
    if (b !== -1) {
      const body = edit(`files/big${i}.bin`, Buffer.concat([testData(3 * 1024 * 1024 + 12345, i)]));
      out.push({ header: { path: `files/big${i}.bin`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body });
    }
  }
  return out;
}

async function tarOf(entries: TarSource[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of createTarStream(entries)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Where each entry starts (its first PAX/GNU record or header), by path; and the offset of the end-of-archive blocks. */
async function entryStarts(tar: Buffer): Promise<{ starts: Map<number, string>; end: number }> {
  const src = new ByteSource(Readable.from([tar]));
  const decoder = new TarHeaderDecoder(src);
  const starts = new Map<number, string>();
  for (let at = src.offset, e = await decoder.next(); e; at = src.offset, e = await decoder.next()) {
    starts.set(at, e.header.path);
    await src.skip(e.dataSize + tarPaddingSize(e.dataSize), 'data');
  }
  return { starts, end: src.offset - 512 };
}

async function tarGz(entries: TarSource[], opts: TarGzipOptions = {}): Promise<{ gz: Buffer; members: GzipMember[] }> {
  const members: GzipMember[] = [];
  const chunks: Buffer[] = [];
  await pipeline(createTarStream(entries), gzipTarMembers({ ...opts, onMember: (m) => members.push(m) }), new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  return { gz: Buffer.concat(chunks), members };
}

describe('image/compress gzipTarMembers (members on tar-entry boundaries)', () => {
  let work: string;
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-gzt-'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('gzip -t and tar -tz read it; every member starts at an entry (PAX records with their entry) or a piece of a big one', async function () {
    this.timeout(60_000);
    const entries = tree(3000, undefined, [1000, 2000]);
    const tar = await tarOf(entries);
    const { gz, members } = await tarGz(entries);
    const file = path.join(work, 'l.tar.gz');
    fs.writeFileSync(file, gz);
    execFileSync('gzip', ['-t', file]);
    const listed = execFileSync('tar', ['-tzf', file], { maxBuffer: 64 * 1024 * 1024 }).toString().trim().split('\n');
    assert.equal(listed.length, entries.length);
    assert.ok(zlib.gunzipSync(gz).equals(tar));
    assert.ok(members.length > 10, `${members.length} members`);
    const { starts, end } = await entryStarts(tar);
    const bigStarts = [...starts].filter(([, p]) => p.includes('big')).map(([at]) => at);
    let off = 0;
    for (const m of members.slice(0, -1)) {
      off += m.uncompressedSize;
      const inBig = bigStarts.some((at) => off > at && (off - at) % (1024 * 1024) === 0);
      assert.ok(starts.has(off) || off === end || inBig, `a member ends at ${off}, not an entry boundary`);
      assert.ok(m.uncompressedSize <= 4 * 1024 * 1024 + 8192, `member of ${m.uncompressedSize}`);
    }
    for (const at of bigStarts) {
      let o = 0;
      assert.ok(members.some((m) => (o += m.uncompressedSize) === at), 'a big entry starts its own member');
    }
    // The long (PAX) names never end a member between their record and their header.
    const paxStarts = [...starts].filter(([, p]) => p.length > 100).map(([at]) => at);
    assert.ok(paxStarts.length > 10);
    o: for (const at of paxStarts) {
      let o = 0;
      for (const m of members) {
        o += m.uncompressedSize;
        if (o > at && o < at + 1024) assert.fail(`a member ends inside the entry at ${at}`);
        if (o > at + 1024) continue o;
      }
    }
  });

  const edits: Array<[string, (path: string, body: Buffer) => Buffer, number]> = [
    ['one small file changes content, same size', (p, b) => (p === 'files/f01500.txt' ? Buffer.from(b.toString().replace(/line/g, 'LINE')) : b), 1],
    ['one small file grows by 3000 bytes', (p, b) => (p === 'files/f01500.txt' ? Buffer.concat([b, Buffer.alloc(3000, 'x')]) : b), 2],
    ['one small file shrinks to nothing', (p, b) => (p === 'files/f01501.txt' ? Buffer.alloc(0) : b), 2],
    ['one byte of a big file changes', (p, b) => (p === 'files/big1000.bin' ? Buffer.concat([b.subarray(0, 2 * 1024 * 1024), Buffer.from('!'), b.subarray(2 * 1024 * 1024 + 1)]) : b), 1],
  ];
  for (const [name, edit, most] of edits) {
    it(`re-synchronises: ${name} → at most ${most} member(s) differ, every other member is the same`, async function () {
      this.timeout(60_000);
      const before = await tarGz(tree(3000, undefined, [1000, 2000]));
      const after = await tarGz(tree(3000, edit, [1000, 2000]));
      const keysBefore = new Set(before.members.map((m) => m.key));
      const changed = after.members.filter((m) => !keysBefore.has(m.key));
      assert.ok(changed.length >= 1 && changed.length <= most, `${changed.length} of ${after.members.length} members changed`);
      assert.ok(Math.abs(after.members.length - before.members.length) <= 1);
    });
  }

  it('reuse: compressed members handed back by key give the same bytes as deflating them; bad bytes are not used', async function () {
    this.timeout(60_000);
    const old = await tarGz(tree(3000, undefined, [1000]));
    const byKey = new Map<string, Buffer>();
    let off = 0;
    for (const m of old.members) {
      if (m.key !== undefined) byKey.set(m.key, old.gz.subarray(off, off + m.compressedSize));
      off += m.compressedSize;
    }
    const edit = (p: string, b: Buffer): Buffer => (p === 'files/f02222.txt' ? Buffer.concat([b, Buffer.from('more')]) : b);
    const fresh = await tarGz(tree(3000, edit, [1000]));
    const again = await tarGz(tree(3000, edit, [1000]), { reuse: async (key) => byKey.get(key) });
    assert.ok(again.gz.equals(fresh.gz), 'byte-identical to a build from scratch');
    const reused = again.members.filter((m) => m.reused).length;
    assert.ok(reused >= again.members.length - 2 && reused > 0, `${reused} of ${again.members.length} reused`);
    // A wrong member (another member's bytes, or garbage) is deflated again, not copied.
    const wrong = await tarGz(tree(3000, edit, [1000]), { reuse: async () => old.gz.subarray(0, old.members[0]!.compressedSize) });
    assert.ok(wrong.gz.equals(fresh.gz));
    assert.equal(wrong.members.filter((m) => m.reused).length, 1, 'only the member that is really the first one');
  });

  it('is deterministic whatever the concurrency and chunking; empty input is a valid gzip', async () => {
    const a = await tarGz(tree(800, undefined, [400]), { concurrency: 1 });
    const b = await tarGz(tree(800, undefined, [400]), { concurrency: 3 });
    assert.ok(a.gz.equals(b.gz));
    const tar = await tarOf(tree(800, undefined, [400]));
    const chunks: Buffer[] = [];
    await pipeline(chunked(tar, 777), gzipTarMembers({ concurrency: 2 }), new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
    assert.ok(Buffer.concat(chunks).equals(a.gz));
    const empty: Buffer[] = [];
    await pipeline(Readable.from([]), gzipTarMembers(), new Writable({ write: (c: Buffer, _e, cb) => (empty.push(c), cb()) }));
    assert.equal(zlib.gunzipSync(Buffer.concat(empty)).length, 0);
    assert.match(memberFormat(6), /^tar-members-\d+\/level-6\/zlib-/);
  });

  it('input that is not a tar (or goes on after the end blocks) is still compressed, in members of at most 4 MiB', async () => {
    const junk = testData(9 * 1024 * 1024 + 7, 4);
    const tarThenJunk = Buffer.concat([await tarOf(tree(50)), junk]);
    for (const input of [junk, tarThenJunk]) {
      const members: GzipMember[] = [];
      const chunks: Buffer[] = [];
      await pipeline(chunked(input), gzipTarMembers({ onMember: (m) => members.push(m) }), new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
      assert.ok(zlib.gunzipSync(Buffer.concat(chunks)).equals(input));
      assert.ok(members.length >= 3 && members.every((m) => m.uncompressedSize <= 4 * 1024 * 1024));
    }
  });
});
