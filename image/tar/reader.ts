/**
 * Streaming tar decoder: ustar, GNU (L/K long names, base-256 numbers) and PAX (x/g), with
 * binary-safe xattrs. Our own because tar-stream turns xattr bytes >= 0x80 into U+FFFD.
 */
import { Readable } from 'node:stream';
import type { TarEntryType, TarHeader } from './header.js';
import { FormatError } from '../errors.js';

export interface TarReadEntry {
  header: TarHeader;
  /** The entry's content (empty for non-files). Read it before asking for the next entry, or it is skipped. */
  body: Readable;
}

const BLOCK = 512;
/** PAX and GNU long-name payloads are held in memory; anything bigger is hostile, not a real header. */
const MAX_META = 16 * 1024 * 1024;
/** Largest chunk handed to a body stream at once. */
const MAX_CHUNK = 1024 * 1024;

/** Pull-based byte source over a stream's async iterator: exact reads for headers, slices for bodies. */
class ByteSource {
  readonly #it: AsyncIterator<Buffer | string>;
  #bufs: Buffer[] = [];
  #avail = 0;
  #eof = false;
  /** Bytes consumed so far, for error messages. */
  offset = 0;

  constructor(input: Readable) {
    this.#it = input[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#eof = true;
      return false;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    if (b.length) {
      this.#bufs.push(b);
      this.#avail += b.length;
    }
    return true;
  }

  #take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.#avail -= n;
    this.offset += n;
    const first = this.#bufs[0] as Buffer;
    if (first.length === n) {
      this.#bufs.shift();
      return first;
    }
    if (first.length > n) {
      this.#bufs[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const b = this.#bufs[0] as Buffer;
      const k = Math.min(b.length, n - o);
      b.copy(out, o, 0, k);
      o += k;
      if (k === b.length) this.#bufs.shift();
      else this.#bufs[0] = b.subarray(k);
    }
    return out;
  }

  /** Exactly n bytes; null when the input ended cleanly before the first byte; FormatError when it ended midway. */
  async readExact(n: number, what: string): Promise<Buffer | null> {
    while (this.#avail < n) {
      if (!(await this.#fill())) {
        if (this.#avail === 0) return null;
        throw new FormatError(`tar: unexpected end of input in ${what}`, { offset: this.offset + this.#avail });
      }
    }
    return this.#take(n);
  }

  /** Up to max bytes (at least one); throws FormatError at end of input. */
  async readSome(max: number, what: string): Promise<Buffer> {
    while (this.#avail === 0) {
      if (!(await this.#fill())) throw new FormatError(`tar: unexpected end of input in ${what}`, { offset: this.offset });
    }
    return this.#take(Math.min(max, (this.#bufs[0] as Buffer).length));
  }

  async skip(n: number, what: string): Promise<void> {
    while (n > 0) n -= (await this.readSome(Math.min(n, MAX_CHUNK), what)).length;
  }

  /** Consume the rest of the input, so upstream transforms (gunzip, digest checks) run to completion. */
  async drain(): Promise<void> {
    this.#bufs = [];
    this.#avail = 0;
    while (await this.#fill()) {
      this.#bufs = [];
      this.#avail = 0;
    }
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** NUL-terminated string field. */
function str(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

/** Octal (space/NUL padded) or GNU base-256 number field. */
function num(b: Buffer, off: number, len: number, field: string): number {
  const first = b[off] as number;
  if (first & 0x80) {
    // GNU base-256: big-endian two's complement in the bits after the 0x80 marker (as Go reads it).
    let v = BigInt(first & 0x7f);
    for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(b[i] as number);
    v = BigInt.asIntN(len * 8 - 1, v);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FormatError(`tar: ${field} out of range`, { field });
    }
    return Number(v);
  }
  const s = b.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').replace(/^[ \0]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new FormatError(`tar: invalid octal ${field} ${JSON.stringify(s)}`, { field });
  return parseInt(s, 8);
}

function checksumOk(b: Buffer): boolean {
  const stored = num(b, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : (b[i] as number);
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

/**
 * Normalize an archive path: strip leading `/` and `./`, trailing `/`, `.` segments and
 * repeated slashes, so `/x`, `./x` and `x` read the same. The archive root reads as `.`.
 * `..` segments are kept: rejecting them is the extractor's job.
 */
export function normalizeTarPath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  return parts.length ? parts.join('/') : '.';
}

type PaxMap = Map<string, Buffer>;

function parsePax(data: Buffer, offset: number): PaxMap {
  const out: PaxMap = new Map();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break; // some writers pad records with NULs
    const sp = data.indexOf(0x20, i);
    const len = sp === -1 ? NaN : Number(data.toString('latin1', i, sp));
    if (!Number.isSafeInteger(len) || len <= sp - i + 1 || i + len > data.length || data[i + len - 1] !== 0x0a) {
      throw new FormatError('tar: malformed PAX record', { offset });
    }
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= i + len - 1) throw new FormatError('tar: malformed PAX record (no =)', { offset });
    const key = data.toString('utf8', sp + 1, eq);
    out.set(key, data.subarray(eq + 1, i + len - 1));
    i += len;
  }
  return out;
}

function paxNumber(v: Buffer, key: string, allowFraction: boolean): number {
  const s = v.toString('latin1');
  const re = allowFraction ? /^-?\d+(\.\d+)?$/ : /^\d+$/;
  const n = Number(s);
  if (!re.test(s) || !Number.isFinite(n) || (!allowFraction && !Number.isSafeInteger(n))) {
    throw new FormatError(`tar: invalid PAX ${key} ${JSON.stringify(s)}`, { key });
  }
  return n;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
  D: 'dir', // GNU dumpdir: a directory followed by a listing we do not need
};

/** Types whose size field does not describe data in the archive (as Go's archive/tar reads them). */
const HEADER_ONLY = new Set<string>(['1', '2', '3', '4', '5', '6']);

/**
 * Read a tar stream entry by entry. Each entry's body must be consumed (or is skipped) before
 * the next entry is produced. After the end-of-archive marker the rest of the input is drained.
 * Malformed input raises FormatError.
 */
export async function* readTar(input: Readable): AsyncGenerator<TarReadEntry> {
  const src = new ByteSource(input);
  const globalPax: PaxMap = new Map();
  let localPax: PaxMap | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let finished = false;
  try {
    for (;;) {
      const block = await src.readExact(BLOCK, 'header');
      if (block === null) break; // EOF without the zero blocks: accepted, as GNU tar and Go do
      const at = src.offset - BLOCK;
      if (isZero(block)) {
        await src.drain();
        break;
      }
      if (!checksumOk(block)) throw new FormatError('tar: header checksum mismatch (not a tar, or corrupt)', { offset: at });
      const magic = block.toString('latin1', 257, 265);
      const isUstar = magic.startsWith('ustar'); // POSIX 'ustar\000' or GNU 'ustar  \0'
      const flag = String.fromCharCode(block[156] as number);
      let size = num(block, 124, 12, 'size');
      if (size < 0) throw new FormatError('tar: negative size', { offset: at });

      // Meta entries: their payload describes the next real entry.
      if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
        if (size > MAX_META) throw new FormatError(`tar: ${flag} header of ${size} bytes is too large`, { offset: at });
        const data = await src.readExact(size, 'extended header');
        if (data === null) throw new FormatError('tar: unexpected end of input in extended header', { offset: at });
        await src.skip(pad(size), 'padding');
        if (flag === 'x') {
          localPax ??= new Map();
          for (const [k, v] of parsePax(data, at)) localPax.set(k, v);
        } else if (flag === 'g') {
          for (const [k, v] of parsePax(data, at)) {
            if (v.length === 0) globalPax.delete(k);
            else globalPax.set(k, v);
          }
        } else {
          const end = data.indexOf(0);
          const s = data.toString('utf8', 0, end === -1 ? data.length : end);
          if (flag === 'L') longName = s;
          else longLink = s;
        }
        continue;
      }

      if (flag === 'S') throw new FormatError('tar: GNU sparse files are not supported', { offset: at });
      if (flag === 'V') {
        // GNU volume label: not a file.
        await src.skip(size + pad(size), 'volume label');
        localPax = undefined;
        longName = longLink = undefined;
        continue;
      }

      const pax: PaxMap = new Map(globalPax);
      if (localPax) for (const [k, v] of localPax) pax.set(k, v);
      for (const k of pax.keys()) {
        if (k.startsWith('GNU.sparse.')) throw new FormatError('tar: PAX sparse files are not supported', { offset: at });
      }

      let name = str(block, 0, 100);
      // GNU headers keep atime/ctime where POSIX has the prefix.
      const prefix = magic.startsWith('ustar\0') ? str(block, 345, 155) : '';
      if (prefix) name = `${prefix}/${name}`;
      if (longName !== undefined) name = longName;
      const paxPath = pax.get('path');
      if (paxPath) name = paxPath.toString('utf8');

      let linkname = str(block, 157, 100);
      if (longLink !== undefined) linkname = longLink;
      const paxLink = pax.get('linkpath');
      if (paxLink) linkname = paxLink.toString('utf8');

      let type: TarEntryType = TYPES[flag] ?? 'file'; // POSIX: unknown types read as regular files
      if (type === 'file' && (flag === '0' || flag === '\0') && name.endsWith('/')) type = 'dir'; // pre-POSIX dirs

      const paxSize = pax.get('size');
      if (paxSize) size = paxNumber(paxSize, 'size', false);
      const dataSize = HEADER_ONLY.has(flag) ? 0 : size;

      const header: TarHeader = {
        path: normalizeTarPath(name),
        type,
        mode: num(block, 100, 8, 'mode') & 0o7777,
        uid: pax.has('uid') ? paxNumber(pax.get('uid') as Buffer, 'uid', false) : num(block, 108, 8, 'uid'),
        gid: pax.has('gid') ? paxNumber(pax.get('gid') as Buffer, 'gid', false) : num(block, 116, 8, 'gid'),
        size: type === 'file' ? dataSize : 0,
        mtime: pax.has('mtime') ? paxNumber(pax.get('mtime') as Buffer, 'mtime', true) : num(block, 136, 12, 'mtime'),
      };
      const uname = pax.get('uname')?.toString('utf8') ?? (isUstar ? str(block, 265, 32) : '');
      const gname = pax.get('gname')?.toString('utf8') ?? (isUstar ? str(block, 297, 32) : '');
      if (uname) header.uname = uname;
      if (gname) header.gname = gname;
      if (type === 'hardlink') header.linkname = normalizeTarPath(linkname);
      else if (type === 'symlink') header.linkname = linkname;
      if ((type === 'char' || type === 'block') && isUstar) {
        header.devmajor = num(block, 329, 8, 'devmajor');
        header.devminor = num(block, 337, 8, 'devminor');
      }
      const xattrs = collectXattrs(pax, at);
      if (xattrs) header.xattrs = xattrs;
      localPax = undefined;
      longName = longLink = undefined;

      const body = new BodyStream(src, dataSize);
      yield { header, body };
      await body.finish();
      await src.skip(pad(dataSize), 'padding');
    }
    finished = true;
  } finally {
    if (!finished) await src.close().catch(() => undefined);
  }
}

function pad(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

function collectXattrs(pax: PaxMap, offset: number): Record<string, Buffer> | undefined {
  let out: Record<string, Buffer> | undefined;
  for (const [k, v] of pax) {
    if (k.startsWith('SCHILY.xattr.')) {
      (out ??= {})[k.slice('SCHILY.xattr.'.length)] = Buffer.from(v);
    } else if (k.startsWith('LIBARCHIVE.xattr.')) {
      // libarchive: name is URL-encoded, value base64.
      let name: string;
      try {
        name = decodeURIComponent(k.slice('LIBARCHIVE.xattr.'.length));
      } catch {
        throw new FormatError(`tar: bad LIBARCHIVE.xattr name ${JSON.stringify(k)}`, { offset });
      }
      // SCHILY wins when both are present: it carries the raw bytes.
      if (!pax.has(`SCHILY.xattr.${name}`)) (out ??= {})[name] = Buffer.from(v.toString('latin1'), 'base64');
    }
  }
  return out;
}

/**
 * One entry's content, read from the shared source on demand. The generator calls finish()
 * before moving on: it waits for an in-flight read and skips whatever the consumer left.
 */
class BodyStream extends Readable {
  readonly #src: ByteSource;
  #remaining: number;
  #inflight: Promise<void> | undefined;
  #error: Error | undefined;

  constructor(src: ByteSource, size: number) {
    super({ highWaterMark: 64 * 1024 });
    this.#src = src;
    this.#remaining = size;
  }

  override _read(): void {
    if (this.#inflight) return;
    if (this.#remaining === 0) {
      this.push(null);
      return;
    }
    this.#inflight = this.#src.readSome(Math.min(this.#remaining, MAX_CHUNK), 'file content').then(
      (chunk) => {
        this.#inflight = undefined;
        this.#remaining -= chunk.length;
        this.push(chunk);
        if (this.#remaining === 0) this.push(null);
      },
      (err: Error) => {
        this.#inflight = undefined;
        this.#error = err;
        this.destroy(err);
      },
    );
  }

  async finish(): Promise<void> {
    while (this.#inflight) await this.#inflight;
    if (this.#error) throw this.#error;
    if (this.#remaining > 0) {
      const n = this.#remaining;
      this.#remaining = 0;
      await this.#src.skip(n, 'file content');
      // Skipped content never reaches the consumer; close the stream so nothing waits on it.
      if (!this.destroyed) this.destroy();
    }
  }
}
