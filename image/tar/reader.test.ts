import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setAttributeSync } from '@napi-rs/xattr';
import * as tarStream from 'tar-stream';
import { requireRoot } from '../../test/tools.js';
import { FormatError } from '../errors.js';
import { normalizeTarPath, readTar, type TarReadEntry } from './reader.js';
import { createTarStream, encodeHeader, type TarSource } from './writer.js';
import type { TarHeader } from './header.js';

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);

async function toBuffer(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Read {
  header: TarHeader;
  body: string;
}
async function readAll(input: Readable | Buffer): Promise<Read[]> {
  const out: Read[] = [];
  const src = Buffer.isBuffer(input) ? Readable.from([input]) : input;
  for await (const e of readTar(src)) out.push({ header: e.header, body: (await toBuffer(e.body)).toString('latin1') });
  return out;
}

function hdr(p: Partial<TarHeader> & Pick<TarHeader, 'path' | 'type'>): TarHeader {
  return { mode: p.type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, ...p };
}

/** A raw header block, for inputs our writer would never produce. */
function rawBlock(f: { name: string; flag: string; size?: number; magic?: string; uidField?: Buffer; prefix?: string; mode?: number }): Buffer {
  const b = Buffer.alloc(512);
  b.write(f.name, 0, 100, 'utf8');
  b.write((f.mode ?? 0o644).toString(8).padStart(7, '0'), 100, 'ascii');
  if (f.uidField) f.uidField.copy(b, 108);
  else b.write('0000000', 108, 'ascii');
  b.write('0000000', 116, 'ascii');
  b.write((f.size ?? 0).toString(8).padStart(11, '0'), 124, 'ascii');
  b.write('14000000000', 136, 'ascii');
  b.write(f.flag, 156, 1, 'latin1');
  b.write(f.magic ?? 'ustar\x0000', 257, 'latin1');
  if (f.prefix) b.write(f.prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return b;
}
function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}
function paxRecords(records: Array<[string, Buffer | string]>): Buffer {
  return Buffer.concat(
    records.map(([k, v]) => {
      const val = Buffer.from(v);
      const rest = Buffer.byteLength(k) + val.length + 3;
      let len = rest + 1;
      while (String(len).length + rest !== len) len = rest + String(len).length;
      return Buffer.concat([Buffer.from(`${len} ${k}=`), val, Buffer.from('\n')]);
    }),
  );
}
function paxEntry(flag: 'x' | 'g', records: Array<[string, Buffer | string]>): Buffer {
  const data = paxRecords(records);
  return Buffer.concat([rawBlock({ name: 'PaxHeaders/x', flag, size: data.length }), padded(data)]);
}
const END = Buffer.alloc(1024);

describe('image/tar/reader', () => {
  let work: string;
  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsb-tarr-'));
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  describe('reads what GNU tar writes', () => {
    let tree: string;
    const long = `${'d'.repeat(120)}/${'f'.repeat(150)}`;
    before(function () {
      requireRoot(this, 'chown, mknod, security.* xattrs');
      tree = path.join(work, 'tree');
      fs.mkdirSync(path.join(tree, 'd'.repeat(120)), { recursive: true });
      fs.mkdirSync(path.join(tree, 'empty'));
      fs.writeFileSync(path.join(tree, long), 'long');
      fs.writeFileSync(path.join(tree, 'cap'), 'cap');
      setAttributeSync(path.join(tree, 'cap'), 'security.capability', CAP);
      setAttributeSync(path.join(tree, 'cap'), 'user.bin', Buffer.from([0, 0xff, 0x0a, 0x3d]));
      fs.writeFileSync(path.join(tree, 'big-ids'), 'ids');
      fs.chownSync(path.join(tree, 'big-ids'), 100_000, 2 ** 31);
      fs.writeFileSync(path.join(tree, 'sétuïd ✓'), 'u');
      fs.chmodSync(path.join(tree, 'sétuïd ✓'), 0o4755);
      fs.symlinkSync('t'.repeat(150), path.join(tree, 'sym150'));
      fs.linkSync(path.join(tree, 'cap'), path.join(tree, 'hard'));
      execFileSync('mkfifo', [path.join(tree, 'fifo')]);
      execFileSync('mknod', [path.join(tree, 'null'), 'c', '1', '3']);
      for (const f of ['cap', 'hard', 'big-ids', 'sétuïd ✓', long]) fs.utimesSync(path.join(tree, f), 1_600_000_000.5, 1_600_000_000.5);
    });

    async function checkTree(format: string, extra: string[]): Promise<void> {
      const file = path.join(work, `${format}.tar`);
      execFileSync('tar', [`--format=${format}`, ...extra, '--sort=name', '-cf', file, '-C', tree, '.']);
      const entries = await readAll(fs.createReadStream(file));
      const byPath = new Map(entries.map((e) => [e.header.path, e]));
      assert.deepEqual(
        entries.map((e) => e.header.path),
        ['.', 'big-ids', 'cap', 'd'.repeat(120), long, 'empty', 'fifo', 'hard', 'null', 'sym150', 'sétuïd ✓'],
      );
      for (const e of entries) {
        if (e.header.path === '.') continue;
        const st = fs.lstatSync(path.join(tree, e.header.path));
        const h = e.header;
        assert.equal(h.uid, st.uid, h.path);
        assert.equal(h.gid, st.gid, h.path);
        if (h.type !== 'symlink') assert.equal(h.mode, st.mode & 0o7777, h.path);
        if (h.type === 'file') assert.equal(e.body, fs.readFileSync(path.join(tree, h.path), 'latin1'), h.path);
      }
      const get = (p: string): TarHeader => byPath.get(p)!.header;
      assert.equal(get('empty').type, 'dir');
      assert.equal(get('fifo').type, 'fifo');
      assert.deepEqual([get('null').type, get('null').devmajor, get('null').devminor], ['char', 1, 3]);
      assert.deepEqual([get('sym150').type, get('sym150').linkname], ['symlink', 't'.repeat(150)]);
      assert.deepEqual([get('hard').type, get('hard').linkname, get('hard').size], ['hardlink', 'cap', 0]);
      assert.deepEqual([get('big-ids').uid, get('big-ids').gid], [100_000, 2 ** 31]);
      assert.equal(get('sétuïd ✓').mode, 0o4755);
      if (format === 'pax') {
        assert.deepEqual(get('cap').xattrs, { 'security.capability': CAP, 'user.bin': Buffer.from([0, 0xff, 0x0a, 0x3d]) });
        assert.equal(get('cap').mtime, 1_600_000_000.5);
      } else assert.equal(get('cap').mtime, 1_600_000_000);
    }

    it('--format=pax --xattrs: long names, unicode, binary xattrs, big ids, links, devices', () =>
      checkTree('pax', ['--xattrs', '--xattrs-include=*']));
    it('--format=gnu: L/K long names and base-256 ids', () => checkTree('gnu', []));
  });

  it('reads what tar-stream writes, including PAX from its pax option and LIBARCHIVE.xattr (base64)', async () => {
    const pack = tarStream.pack();
    pack.entry({ name: './a/', type: 'directory', mode: 0o755, mtime: new Date(1000) });
    pack.entry(
      { name: './a/f', mode: 0o600, mtime: new Date(2000), pax: { 'LIBARCHIVE.xattr.user.x%3Dy': Buffer.from([0xff, 0, 1]).toString('base64') } },
      'data',
    );
    pack.entry({ name: 'a/l', type: 'symlink', linkname: '/abs/target', mtime: new Date(0) });
    pack.finalize();
    const got = await readAll(pack as unknown as Readable);
    assert.deepEqual(
      got.map((e) => [e.header.path, e.header.type, e.header.mode, e.header.mtime, e.header.linkname, e.body]),
      [
        ['a', 'dir', 0o755, 1, undefined, ''],
        ['a/f', 'file', 0o600, 2, undefined, 'data'],
        ['a/l', 'symlink', 0o644, 0, '/abs/target', ''],
      ],
    );
    assert.deepEqual(got[1]!.header.xattrs, { 'user.x=y': Buffer.from([0xff, 0, 1]) });
  });

  it('round-trips our own writer exactly (headers and bodies)', async () => {
    const entries: TarSource[] = [
      { header: hdr({ path: 'd', type: 'dir', uname: 'root', gname: 'wheel' }) },
      { header: hdr({ path: `d/${'x'.repeat(300)}`, type: 'file', size: 3, uid: 2 ** 40, gid: 7, mtime: 12.125, xattrs: { 'security.capability': CAP } }), body: Buffer.from('abc') },
      { header: hdr({ path: 'd/l', type: 'symlink', linkname: '../' + 'é'.repeat(80) }) },
      { header: hdr({ path: 'd/h', type: 'hardlink', linkname: 'd/l' }) },
      { header: hdr({ path: 'blk', type: 'block', devmajor: 8, devminor: 1 }) },
    ];
    const got = await readAll(createTarStream(entries));
    assert.deepEqual(got.map((g) => g.header), entries.map((e) => e.header));
    assert.equal(got[1]!.body, 'abc');
  });

  const pathCases: Array<[string, string]> = [
    ['x', 'x'],
    ['/x', 'x'],
    ['./x', 'x'],
    ['//x//y/', 'x/y'],
    ['./a/./b', 'a/b'],
    ['./', '.'],
    ['/', '.'],
    ['a/../b', 'a/../b'], // kept: the extractor rejects it
  ];
  for (const [raw, want] of pathCases) {
    it(`normalizes ${JSON.stringify(raw)} → ${JSON.stringify(want)}`, async () => {
      assert.equal(normalizeTarPath(raw), want);
      const tar = Buffer.concat([rawBlock({ name: raw, flag: '0' }), END]);
      assert.equal((await readAll(tar))[0]!.header.path, want);
    });
  }

  it('hardlink targets are normalized like paths; symlink targets are kept as written', async () => {
    const tar = Buffer.concat([
      encodeHeader(hdr({ path: 'h', type: 'hardlink', linkname: '/abs/./t' })),
      encodeHeader(hdr({ path: 's', type: 'symlink', linkname: '/abs/./t/' })),
      END,
    ]);
    assert.deepEqual((await readAll(tar)).map((e) => e.header.linkname), ['abs/t', '/abs/./t/']);
  });

  it('applies global (g) PAX records to every later entry and local (x) ones to the next only', async () => {
    const tar = Buffer.concat([
      paxEntry('g', [['uname', 'glob'], ['SCHILY.xattr.user.g', Buffer.from([0xfe])]]),
      paxEntry('x', [['uname', 'local'], ['path', 'renamed'], ['mtime', '1.5']]),
      rawBlock({ name: 'a', flag: '0' }),
      rawBlock({ name: 'b', flag: '0' }),
      paxEntry('g', [['uname', '']]),
      rawBlock({ name: 'c', flag: '0' }),
      END,
    ]);
    const got = (await readAll(tar)).map((e) => [e.header.path, e.header.uname, e.header.mtime, e.header.xattrs?.['user.g']]);
    assert.deepEqual(got, [
      ['renamed', 'local', 1.5, Buffer.from([0xfe])],
      ['b', 'glob', 0o14000000000, Buffer.from([0xfe])],
      ['c', undefined, 0o14000000000, Buffer.from([0xfe])],
    ]);
  });

  it('reads GNU base-256 numbers (positive and negative) and the ustar prefix field', async () => {
    const big = Buffer.alloc(8);
    big[0] = 0x80;
    big.writeUIntBE(2 ** 40, 2, 6);
    const neg = Buffer.alloc(8, 0xff); // -1
    const tar = Buffer.concat([
      rawBlock({ name: 'big', flag: '0', uidField: big }),
      rawBlock({ name: 'name', flag: '0', prefix: 'pre/fix' }),
      rawBlock({ name: 'gnuprefix', flag: '0', prefix: 'ignored', magic: 'ustar  \0' }),
      END,
    ]);
    const got = await readAll(tar);
    assert.deepEqual(got.map((e) => [e.header.path, e.header.uid]), [['big', 2 ** 40], ['pre/fix/name', 0], ['gnuprefix', 0]]);
    const negTar = Buffer.concat([rawBlock({ name: 'neg', flag: '0', uidField: neg }), END]);
    assert.equal((await readAll(negTar))[0]!.header.uid, -1);
  });

  it('reads an old-style directory (type 0, trailing slash) and an unknown type as a file', async () => {
    const tar = Buffer.concat([rawBlock({ name: 'olddir/', flag: '0' }), rawBlock({ name: 'weird', flag: 'Z', size: 2 }), padded(Buffer.from('hi')), END]);
    assert.deepEqual((await readAll(tar)).map((e) => [e.header.path, e.header.type, e.body]), [['olddir', 'dir', ''], ['weird', 'file', 'hi']]);
  });

  it('skips an unread body when the next entry is asked for, also a half-read one', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0x61);
    const entries: TarSource[] = [
      { header: hdr({ path: 'a', type: 'file', size: big.length }), body: big },
      { header: hdr({ path: 'b', type: 'file', size: big.length }), body: big },
      { header: hdr({ path: 'c', type: 'file', size: 3 }), body: Buffer.from('end') },
    ];
    const names: string[] = [];
    let last = '';
    for await (const e of readTar(createTarStream(entries))) {
      names.push(e.header.path);
      if (e.header.path === 'b') {
        for await (const chunk of e.body) {
          assert.ok((chunk as Buffer).length > 0);
          break; // read a little, then move on (destroys the body stream)
        }
      }
      if (e.header.path === 'c') last = (await toBuffer(e.body)).toString();
    }
    assert.deepEqual(names, ['a', 'b', 'c']);
    assert.equal(last, 'end');
  });

  it('drains the input after the end-of-archive marker, so upstream streams finish', async () => {
    const input = new PassThrough();
    let ended = false;
    input.on('end', () => (ended = true));
    input.end(Buffer.concat([encodeHeader(hdr({ path: 'a', type: 'dir' })), END, Buffer.alloc(9000, 1)]));
    assert.equal((await readAll(input)).length, 1);
    assert.ok(ended);
  });

  it('accepts an archive that ends without the zero blocks (as GNU tar does)', async () => {
    assert.equal((await readAll(encodeHeader(hdr({ path: 'a', type: 'dir' })))).length, 1);
  });

  const corrupt: Array<[string, Buffer]> = [
    ['random bytes', Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7 + 3) % 256))],
    ['bad checksum', (() => { const b = encodeHeader(hdr({ path: 'a', type: 'file' })); b[0] = 0x62; return b; })()],
    ['a truncated header', encodeHeader(hdr({ path: 'a', type: 'file' })).subarray(0, 300)],
    ['a truncated body', Buffer.concat([encodeHeader(hdr({ path: 'a', type: 'file', size: 1000 })), Buffer.alloc(100)])],
    ['a malformed PAX record', Buffer.concat([rawBlock({ name: 'p', flag: 'x', size: 12 }), padded(Buffer.from('99 path=abc\n')), rawBlock({ name: 'a', flag: '0' }), END])],
    ['a PAX record without =', Buffer.concat([rawBlock({ name: 'p', flag: 'x', size: 9 }), padded(Buffer.from('9 pathab\n')), rawBlock({ name: 'a', flag: '0' }), END])],
    ['a bad PAX uid', Buffer.concat([paxEntry('x', [['uid', '12x']]), rawBlock({ name: 'a', flag: '0' }), END])],
    ['a bad octal field', (() => { const b = rawBlock({ name: 'a', flag: '0' }); b.write('9', 124, 'ascii'); b.fill(0x20, 148, 156); let s = 0; for (const c of b) s += c; b.write(s.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii'); return b; })()],
    ['a GNU sparse file', Buffer.concat([rawBlock({ name: 's', flag: 'S' }), END])],
    ['a 100 MB PAX header', rawBlock({ name: 'p', flag: 'x', size: 100_000_000 })],
    ['a truncated PAX header', Buffer.concat([rawBlock({ name: 'p', flag: 'x', size: 100 }), Buffer.from('10 a=b\n')])],
  ];
  for (const [name, input] of corrupt) {
    it(`rejects ${name} with FormatError`, async () => {
      const err = await readAll(input).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof FormatError, `got ${String(err)}`);
      assert.equal(err.code, 'TSB_IMAGE_FORMAT');
    });
  }

  it('a truncated body errors the body stream itself', async () => {
    const input = Readable.from([Buffer.concat([encodeHeader(hdr({ path: 'a', type: 'file', size: 1000 })), Buffer.alloc(100)])]);
    const it = readTar(input);
    const first = (await it.next()).value as TarReadEntry;
    await assert.rejects(toBuffer(first.body), FormatError);
    await assert.rejects(it.next(), FormatError);
  });

  it('reads binary xattrs that tar-stream would mangle (0x00, 0x80-0xff, newline, =)', async () => {
    const value = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const tar = Buffer.concat([paxEntry('x', [['SCHILY.xattr.user.all', value]]), rawBlock({ name: 'f', flag: '0' }), END]);
    assert.deepEqual((await readAll(tar))[0]!.header.xattrs, { 'user.all': value });
  });

  it('measures: reading 20,000 small entries', async () => {
    const body = Buffer.alloc(1000, 1);
    function* entries(): Generator<TarSource> {
      for (let i = 0; i < 20_000; i++) yield { header: hdr({ path: `d/f${i}`, type: 'file', size: body.length }), body };
    }
    const tar = await toBuffer(createTarStream(entries()));
    const t0 = process.hrtime.bigint();
    let n = 0;
    for await (const e of readTar(Readable.from([tar]))) {
      n++;
      e.body.resume();
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(`      tar read: ${n} entries, ${(tar.length / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms`);
    assert.equal(n, 20_000);
  });
});
