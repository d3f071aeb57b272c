import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { getAttributeSync } from '@napi-rs/xattr';
import * as tarStream from 'tar-stream';
import { requireRoot } from '../../test/tools.js';
import { createTarStream, encodeHeader, tarPadding, tarTrailer, TarWriteError, type TarSource } from './writer.js';
import type { TarHeader } from './header.js';

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);

function hdr(p: Partial<TarHeader> & Pick<TarHeader, 'path' | 'type'>): TarHeader {
  return { mode: p.type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, ...p };
}
function file(p: string, content: string | Buffer, extra: Partial<TarHeader> = {}): TarSource {
  const body = Buffer.from(content);
  return { header: hdr({ path: p, type: 'file', size: body.length, ...extra }), body };
}

const LONG_DIR = 'long/' + 'd'.repeat(120);
const LONG_300 = `${LONG_DIR}/${'n'.repeat(180)}`; // > 255: needs PAX path
const LONG_150_SPLIT = `${'p'.repeat(60)}/${'q'.repeat(89)}`; // 150 bytes: fits ustar prefix/name

/** The edge-case set every oracle reads. */
function edgeEntries(): TarSource[] {
  return [
    { header: hdr({ path: 'dir', type: 'dir', mode: 0o750 }) },
    { header: hdr({ path: 'empty', type: 'dir', mode: 0o700, mtime: 1_600_000_000 }) },
    file('dir/plain.txt', 'hello\n', { mode: 0o640, uid: 1000, gid: 1000, uname: 'app', gname: 'app' }),
    file('dir/setuid', '#!/bin/sh\n', { mode: 0o4755 }),
    file('dir/cap', 'capable', { mode: 0o755, xattrs: { 'security.capability': CAP, 'user.bin': Buffer.from([0x00, 0xff, 0x80, 0x0a]) } }),
    file('dir/uid100000', 'x', { uid: 100_000, gid: 100_000 }),
    file('dir/uid2p31', 'y', { uid: 2 ** 31, gid: 2 ** 31 }),
    file('dir/fraction', 'z', { mtime: 1_700_000_000.25 }),
    { header: hdr({ path: LONG_DIR, type: 'dir' }) },
    file(LONG_300, 'long name'),
    { header: hdr({ path: 'p', type: 'dir' }) },
    { header: hdr({ path: 'p/' + 'p'.repeat(58), type: 'dir' }) },
    { header: hdr({ path: LONG_150_SPLIT.replace(/^p{60}/, 'p/' + 'p'.repeat(58)), type: 'dir' }) },
    file(`${LONG_150_SPLIT.replace(/^p{60}/, 'p/' + 'p'.repeat(58))}/f`, 'split'),
    { header: hdr({ path: 'unicode', type: 'dir' }) },
    file('unicode/héllo wörld ✓.txt', 'unicode'),
    { header: hdr({ path: 'dir/link150', type: 'symlink', mode: 0o777, linkname: '../' + 't'.repeat(147) }) },
    { header: hdr({ path: 'dir/hard', type: 'hardlink', linkname: 'dir/plain.txt', mode: 0o640, uid: 1000, gid: 1000 }) },
    { header: hdr({ path: 'dir/fifo', type: 'fifo', mode: 0o600 }) },
    { header: hdr({ path: 'dir/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }) },
    { header: hdr({ path: 'dir/.wh..wh..opq', type: 'file' }), body: Buffer.alloc(0) },
    file('dir/streamed', 'streamed body', {}),
  ].map((e) => (e.header.path === 'dir/streamed' ? { header: e.header, body: () => Readable.from([Buffer.from('streamed '), Buffer.from('body')]) } : e));
}

async function toBuffer(r: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-tarw-'));
}

describe('image/tar/writer', () => {
  let work: string;
  let tarFile: string;
  before(async () => {
    work = tmpdir();
    tarFile = path.join(work, 'edge.tar');
    fs.writeFileSync(tarFile, await toBuffer(createTarStream(edgeEntries())));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  it('GNU tar -tvf lists every entry with its type, owner, size and name', () => {
    const out = execFileSync('tar', ['--numeric-owner', '-tvf', tarFile], { encoding: 'utf8' }).trim().split('\n');
    const expected = edgeEntries().map(({ header: h }) => {
      const t = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' }[h.type];
      const name = h.type === 'dir' ? `${h.path}/` : h.path;
      const tail = h.type === 'symlink' ? ` -> ${h.linkname}` : h.type === 'hardlink' ? ` link to ${h.linkname}` : '';
      return { t, owner: `${h.uid}/${h.gid}`, size: h.type === 'char' ? `${h.devmajor},${h.devminor}` : String(h.size), name: name + tail };
    });
    assert.equal(out.length, expected.length);
    out.forEach((line, i) => {
      const e = expected[i]!;
      const m = /^(\S)(\S{9})\s+(\S+)\s+(\S+)\s+\S+ \S+ (.*)$/.exec(line);
      assert.ok(m, line);
      assert.deepEqual([m[1], m[3], m[4], m[5]], [e.t, e.owner, e.size, e.name], line);
    });
  });

  it('GNU tar --xattrs -x restores modes, owners, times, links and binary xattrs', function () {
    requireRoot(this, 'restoring owners and xattrs');
    const dest = path.join(work, 'x');
    fs.mkdirSync(dest);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tarFile, '-C', dest]);
    for (const { header: h } of edgeEntries()) {
      const p = path.join(dest, h.path);
      const st = fs.lstatSync(p);
      const label = `${h.type} ${h.path}`;
      if (h.path.endsWith('.wh..wh..opq')) continue;
      if (h.type !== 'symlink') assert.equal(st.mode & 0o7777, h.mode, label);
      assert.equal(st.uid, h.uid, label);
      assert.equal(st.gid, h.gid, label);
      if (h.type === 'file') {
        assert.equal(st.size, h.size, label);
        assert.equal(st.mtimeMs / 1000, h.mtime, label);
      }
      if (h.type === 'symlink') assert.equal(fs.readlinkSync(p), h.linkname, label);
      if (h.type === 'hardlink') assert.equal(st.ino, fs.lstatSync(path.join(dest, h.linkname!)).ino, label);
      if (h.type === 'fifo') assert.ok(st.isFIFO(), label);
      if (h.type === 'char') assert.ok(st.isCharacterDevice() && st.rdev === 0x103, label);
      for (const [k, v] of Object.entries(h.xattrs ?? {})) assert.deepEqual(getAttributeSync(p, k), v, `${label} ${k}`);
    }
    assert.equal(fs.readFileSync(path.join(dest, LONG_300), 'utf8'), 'long name');
    assert.equal(fs.readFileSync(path.join(dest, 'dir/streamed'), 'utf8'), 'streamed body');
  });

  it('tar-stream reads the same names, types, link targets and bodies', async () => {
    const ex = tarStream.extract();
    const seen: Array<[string, string, string | null | undefined, string]> = [];
    ex.on('entry', (h, stream, next) => {
      toBuffer(stream).then((b) => {
        seen.push([h.name, h.type ?? '', h.linkname, b.toString()]);
        next();
      }, next);
    });
    await pipeline(fs.createReadStream(tarFile), ex);
    const tsType = { file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'link', char: 'character-device', block: 'block-device', fifo: 'fifo' };
    const expected = await Promise.all(
      edgeEntries().map(async ({ header: h, body }) => [
        h.type === 'dir' ? `${h.path}/` : h.path,
        tsType[h.type],
        h.linkname ?? null,
        body === undefined ? '' : Buffer.isBuffer(body) ? body.toString() : (await toBuffer(await body())).toString(),
      ]),
    );
    assert.deepEqual(seen, expected);
  });

  it('is deterministic: same entries, same bytes (also with xattr keys in another order)', async () => {
    const a = await toBuffer(createTarStream(edgeEntries()));
    const reordered = edgeEntries().map((e) =>
      e.header.xattrs ? { ...e, header: { ...e.header, xattrs: Object.fromEntries(Object.entries(e.header.xattrs).reverse()) } } : e,
    );
    const b = await toBuffer(createTarStream(reordered));
    const hash = (x: Buffer): string => createHash('sha256').update(x).digest('hex');
    assert.equal(hash(a), hash(b));
    assert.equal(hash(a), hash(fs.readFileSync(tarFile)));
    assert.equal(a.length % 512, 0);
    assert.ok(a.subarray(-1024).equals(Buffer.alloc(1024)), 'ends with two zero blocks');
  });

  it('a sync writer (encodeHeader + body + tarPadding ... tarTrailer) produces the same bytes', async () => {
    const parts: Buffer[] = [];
    for (const { header, body } of edgeEntries()) {
      parts.push(encodeHeader(header));
      const b = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : await toBuffer(await body());
      parts.push(b, tarPadding(b.length));
    }
    parts.push(tarTrailer());
    assert.ok(Buffer.concat(parts).equals(fs.readFileSync(tarFile)));
  });

  // encodeHeader: when is a PAX record needed, and which keys does it carry?
  const paxCases: Array<[string, TarHeader, string[]]> = [
    ['100-byte name fits ustar', hdr({ path: 'a'.repeat(100), type: 'file' }), []],
    ['150-byte name splits into prefix/name', hdr({ path: LONG_150_SPLIT, type: 'file' }), []],
    ['101-byte name without a usable slash', hdr({ path: 'a'.repeat(101), type: 'file' }), ['path']],
    ['300-byte name', hdr({ path: LONG_300, type: 'file' }), ['path']],
    ['non-ASCII name', hdr({ path: 'ü', type: 'file' }), ['path']],
    ['100-byte symlink target', hdr({ path: 'l', type: 'symlink', linkname: 't'.repeat(100) }), []],
    ['101-byte symlink target', hdr({ path: 'l', type: 'symlink', linkname: 't'.repeat(101) }), ['linkpath']],
    ['uid 0o7777777', hdr({ path: 'f', type: 'file', uid: 0o7777777 }), []],
    ['uid 0o7777777 + 1', hdr({ path: 'f', type: 'file', uid: 0o7777777 + 1 }), ['uid']],
    ['gid 2^31', hdr({ path: 'f', type: 'file', gid: 2 ** 31 }), ['gid']],
    ['size 8 GiB - 1', hdr({ path: 'f', type: 'file', size: 8 * 1024 ** 3 - 1 }), []],
    ['size 8 GiB', hdr({ path: 'f', type: 'file', size: 8 * 1024 ** 3 }), ['size']],
    ['fractional mtime', hdr({ path: 'f', type: 'file', mtime: 1.5 }), ['mtime']],
    ['negative mtime', hdr({ path: 'f', type: 'file', mtime: -1 }), ['mtime']],
    ['32-byte uname', hdr({ path: 'f', type: 'file', uname: 'u'.repeat(32) }), ['uname']],
    ['xattr', hdr({ path: 'f', type: 'file', xattrs: { 'user.b': Buffer.from([0]), 'user.a': Buffer.from([0xff]) } }), ['SCHILY.xattr.user.a', 'SCHILY.xattr.user.b']],
  ];
  for (const [name, h, keys] of paxCases) {
    it(`encodeHeader: ${name} → PAX keys [${keys.join(', ')}]`, () => {
      const buf = encodeHeader(h);
      assert.equal(buf.length % 512, 0);
      const hasPax = buf[156] === 0x78; // 'x'
      assert.equal(hasPax, keys.length > 0);
      if (!hasPax) {
        assert.equal(buf.length, 512);
        return;
      }
      const size = parseInt(buf.toString('latin1', 124, 135), 8);
      const records = buf.subarray(512, 512 + size);
      const got: string[] = [];
      for (let i = 0; i < records.length; ) {
        const sp = records.indexOf(0x20, i);
        const len = Number(records.toString('latin1', i, sp));
        assert.equal(records[i + len - 1], 0x0a, 'record ends with newline at its stated length');
        got.push(records.toString('latin1', sp + 1, records.indexOf(0x3d, sp)));
        i += len;
      }
      assert.deepEqual(got, keys);
    });
  }

  it('PAX record lengths are right across digit boundaries (GNU tar reads every one)', async () => {
    // "NN path=<p>\n": 9 + len(p) bytes for 2-digit lengths, 10 + len(p) for 3-digit ones.
    const lens = [85, 89, 90, 91, 92, 985, 989, 990, 991, 992];
    const entries = lens.map((n) => file('x'.repeat(n) + 'é', String(n)));
    const buf = await toBuffer(createTarStream(entries));
    const listed = execFileSync('tar', ['-tf', '-'], { input: buf, encoding: 'utf8' }).trim().split('\n');
    assert.deepEqual(listed, entries.map((e) => e.header.path));
  });

  const sizeErrors: Array<[string, TarSource]> = [
    ['buffer shorter than size', { header: hdr({ path: 'f', type: 'file', size: 10 }), body: Buffer.from('short') }],
    ['buffer longer than size', { header: hdr({ path: 'f', type: 'file', size: 1 }), body: Buffer.from('long') }],
    ['stream shorter than size', { header: hdr({ path: 'f', type: 'file', size: 10 }), body: () => Readable.from([Buffer.from('short')]) }],
    ['stream longer than size', { header: hdr({ path: 'f', type: 'file', size: 3 }), body: () => Readable.from([Buffer.from('ab'), Buffer.from('cd')]) }],
    ['missing body', { header: hdr({ path: 'f', type: 'file', size: 3 }) }],
    ['body on a directory', { header: hdr({ path: 'd', type: 'dir' }), body: Buffer.alloc(0) }],
    ['size on a symlink', { header: hdr({ path: 'l', type: 'symlink', linkname: 'x', size: 3 }) }],
    ['negative uid', { header: hdr({ path: 'f', type: 'file', uid: -1 }) }],
    ['mode with file-type bits', { header: hdr({ path: 'f', type: 'file', mode: 0o100644 }) }],
  ];
  for (const [name, entry] of sizeErrors) {
    it(`fails with TarWriteError: ${name}`, async () => {
      const out = await toBuffer(createTarStream([file('before', 'ok'), entry])).then(
        () => assert.fail('expected an error'),
        (e: unknown) => e,
      );
      assert.ok(out instanceof TarWriteError, String(out));
      assert.equal(out.code, 'TSB_IMAGE_TAR_WRITE');
    });
  }

  it('never emits bytes past the declared size of a growing file', async () => {
    const entry: TarSource = { header: hdr({ path: 'f', type: 'file', size: 4 }), body: () => Readable.from([Buffer.from('abcdef')]) };
    const got: Buffer[] = [];
    await assert.rejects(pipeline(createTarStream([entry]), new Writable({ write: (c: Buffer, _e, cb) => (got.push(c), cb()) })), TarWriteError);
    assert.ok(Buffer.concat(got).length <= 512, 'only the header was written');
  });

  it('respects backpressure: a 64 MiB body is pulled only as fast as it is read', async () => {
    let produced = 0;
    const size = 64 * 1024 * 1024;
    const body = (): Readable =>
      new Readable({
        read() {
          const n = Math.min(64 * 1024, size - produced);
          produced += n;
          this.push(n ? Buffer.alloc(n, 1) : null);
        },
      });
    const tar = createTarStream([{ header: hdr({ path: 'big', type: 'file', size }), body }]);
    let consumed = 0;
    for await (const c of tar) {
      consumed += (c as Buffer).length;
      if (consumed > 4 * 1024 * 1024) break;
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(produced - consumed < 2 * 1024 * 1024, `produced ${produced} vs consumed ${consumed}`);
  });

  it('measures: 20,000 small entries', async () => {
    const bodies = Array.from({ length: 200 }, (_, i) => Buffer.alloc(100 + ((i * 37) % 4000), i));
    function* entries(): Generator<TarSource> {
      for (let i = 0; i < 20_000; i++) {
        const body = bodies[i % bodies.length]!;
        yield { header: hdr({ path: `d${i % 200}/file-${i}.txt`, type: 'file', size: body.length }), body };
      }
    }
    const t0 = process.hrtime.bigint();
    let bytes = 0;
    for await (const c of createTarStream(entries())) bytes += (c as Buffer).length;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`      tar write: 20,000 entries, ${(bytes / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms (${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s)`);
    assert.ok(bytes > 20_000 * 512);
  });
});
