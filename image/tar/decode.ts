/**
 * The one tar header decoder: ustar, GNU (L/K long names, base-256 numbers, V labels) and PAX
 * (x/g) with binary-safe xattrs, checksum checked. It reads from any sequential byte source, so
 * the streaming reader (readTar) and the seeking indexer (indexTarFile) decode headers alike.
 */
import type { TarEntryType, TarHeader } from './header.js';
import { FormatError } from '../errors.js';

export const TAR_BLOCK = 512;
/** PAX and GNU long-name payloads are held in memory; anything bigger is hostile, not a real header. */
const MAX_META = 16 * 1024 * 1024;

/** What the decoder needs from its input: sequential exact reads and skips. */
export interface TarByteSource {
  /** Bytes consumed so far (for offsets and error messages). */
  readonly offset: number;
  /** Exactly n bytes; null when the input ended cleanly before the first byte; FormatError when it ended midway. */
  readExact(n: number, what: string): Promise<Buffer | null>;
  skip(n: number, what: string): Promise<void>;
}

/** One real entry's header; its `dataSize` bytes of content follow at the source's offset. */
export interface DecodedEntry {
  header: TarHeader;
  /** Bytes of content in the archive (0 for types whose size field does not describe data). */
  dataSize: number;
  /** Offset of the entry's (first) header block, for error messages. */
  headerOffset: number;
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
  const fast = plainOctal(b, off, len);
  if (fast !== -1) return fast;
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

/**
 * The common case of a number field without strings or regular expressions (every header has
 * several): optional leading spaces/NULs, octal digits, then only spaces/NULs; -1 for anything
 * else (num's full parse decides, or throws).
 */
function plainOctal(b: Buffer, off: number, len: number): number {
  const end = off + len;
  let i = off;
  while (i < end && (b[i] === 0x20 || b[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++, digits++) {
    const c = b[i] as number;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  for (; i < end; i++) if (b[i] !== 0x20 && b[i] !== 0) return -1;
  return digits > 0 && digits <= 16 ? v : -1;
}

function checksumOk(b: Buffer): boolean {
  const stored = num(b, 148, 8, 'checksum');
  // The checksum field itself counts as eight spaces.
  let unsigned = 8 * 0x20;
  for (let i = 0; i < 148; i++) unsigned += b[i] as number;
  for (let i = 156; i < TAR_BLOCK; i++) unsigned += b[i] as number;
  if (stored === unsigned) return true;
  // Some old writers summed signed bytes.
  let signed = 8 * 0x20;
  for (let i = 0; i < TAR_BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    const c = b[i] as number;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === signed;
}

/**
 * Whether `block` starts with a tar header: a non-zero block whose checksum holds (what Go's
 * tar reader accepts, and so how BuildKit tells an uncompressed tar context from a Dockerfile).
 */
export function isTarHeaderBlock(block: Buffer): boolean {
  if (block.length < TAR_BLOCK) return false;
  const head = block.subarray(0, TAR_BLOCK);
  if (isZero(head)) return false;
  try {
    return checksumOk(head);
  } catch {
    return false; // a checksum field that is no number: not a header
  }
}

/**
 * Normalize an archive path: strip leading `/` and `./`, trailing `/`, `.` segments and
 * repeated slashes, so `/x`, `./x` and `x` read the same. The archive root reads as `.`.
 * `..` segments are kept: rejecting them is the extractor's job.
 */
export function normalizeTarPath(path: string): string {
  const parts = path.split('/').filter((s) => s !== '' && s !== '.');
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

export function tarPaddingSize(size: number): number {
  const r = size % TAR_BLOCK;
  return r === 0 ? 0 : TAR_BLOCK - r;
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

/** The header of one real entry from its block and the PAX/GNU records that preceded it. */
function entryHeader(block: Buffer, flag: string, pax: PaxMap, longName: string | undefined, longLink: string | undefined, at: number): DecodedEntry {
  for (const k of pax.keys()) {
    if (k.startsWith('GNU.sparse.')) throw new FormatError('tar: PAX sparse files are not supported', { offset: at });
  }
  const magic = block.toString('latin1', 257, 265);
  const isUstar = magic.startsWith('ustar'); // POSIX 'ustar\000' or GNU 'ustar  \0'
  // GNU headers keep atime/ctime where POSIX has the prefix.
  const prefix = magic.startsWith('ustar\0') ? str(block, 345, 155) : '';
  const plainName = prefix ? `${prefix}/${str(block, 0, 100)}` : str(block, 0, 100);
  const name = pax.get('path')?.toString('utf8') ?? longName ?? plainName;
  const linkname = pax.get('linkpath')?.toString('utf8') ?? longLink ?? str(block, 157, 100);

  let type: TarEntryType = TYPES[flag] ?? 'file'; // POSIX: unknown types read as regular files
  if (type === 'file' && (flag === '0' || flag === '\0') && name.endsWith('/')) type = 'dir'; // pre-POSIX dirs

  const paxSize = pax.get('size');
  const size = paxSize ? paxNumber(paxSize, 'size', false) : num(block, 124, 12, 'size');
  const dataSize = HEADER_ONLY.has(flag) ? 0 : size;
  const paxOr = (key: string, off: number, len: number, fraction: boolean): number => {
    const v = pax.get(key);
    return v ? paxNumber(v, key, fraction) : num(block, off, len, key);
  };
  const header: TarHeader = {
    path: normalizeTarPath(name),
    type,
    mode: num(block, 100, 8, 'mode') & 0o7777,
    uid: paxOr('uid', 108, 8, false),
    gid: paxOr('gid', 116, 8, false),
    size: type === 'file' ? dataSize : 0,
    mtime: paxOr('mtime', 136, 12, true),
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
  return { header, dataSize, headerOffset: at };
}

/** One header block as a scanner that needs only entry boundaries sees it (image/compress.ts). */
export type HeaderFrame =
  /** The end-of-archive zero block. */
  | { kind: 'end' }
  /** Not a header this decoder would accept (checksum, number fields, sparse files). */
  | { kind: 'invalid' }
  /** A PAX (x, g) or GNU (L, K, V) record: `size` bytes of payload, then padding; it belongs to the next real entry. */
  | { kind: 'meta'; flag: 'x' | 'g' | 'L' | 'K' | 'V'; size: number }
  /** A real entry: `dataSize` bytes of content follow (unless a PAX size overrides it), then padding. `name` as in the block. */
  | { kind: 'entry'; dataSize: number; name: string };

/**
 * The frame of one 512-byte header block, the way TarHeaderDecoder.next frames it, without
 * decoding the rest of the header: a scanner (tar-aware gzip members) walks entry boundaries
 * at a fraction of the cost of decoding every header.
 */
export function headerFrame(block: Buffer): HeaderFrame {
  try {
    // (a zero block fails the checksum: test for it only then)
    if (!checksumOk(block)) return isZero(block) ? { kind: 'end' } : { kind: 'invalid' };
    const flag = String.fromCharCode(block[156] as number);
    const size = num(block, 124, 12, 'size');
    if (size < 0 || flag === 'S') return { kind: 'invalid' };
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K' || flag === 'V') return { kind: 'meta', flag, size };
    const posix = block[257] === 0x75 && block[258] === 0x73 && block[259] === 0x74 && block[260] === 0x61 && block[261] === 0x72 && block[262] === 0; // 'ustar\0'
    const prefix = posix ? str(block, 345, 155) : '';
    const name = prefix ? `${prefix}/${str(block, 0, 100)}` : str(block, 0, 100);
    return { kind: 'entry', dataSize: HEADER_ONLY.has(flag) ? 0 : size, name };
  } catch {
    return { kind: 'invalid' };
  }
}

/** The `path` and `size` of a PAX 'x' payload (what a boundary scanner needs of it); undefined when malformed. */
export function paxPathAndSize(data: Buffer): { path?: string; size?: number } | undefined {
  try {
    const pax = parsePax(data, 0);
    const size = pax.get('size');
    return {
      ...(pax.has('path') ? { path: (pax.get('path') as Buffer).toString('utf8') } : {}),
      ...(size ? { size: paxNumber(size, 'size', false) } : {}),
    };
  } catch {
    return undefined;
  }
}

/**
 * Decodes headers from a byte source one real entry at a time. After next() returns an entry,
 * the caller consumes or skips its `dataSize` bytes plus tarPaddingSize(dataSize) before calling
 * next() again. next() returns null at the end-of-archive marker or a clean end of input.
 */
export class TarHeaderDecoder {
  readonly #src: TarByteSource;
  readonly #globalPax: PaxMap = new Map();
  /** True once the end-of-archive zero block was read (the input may still have bytes). */
  sawEndMarker = false;

  constructor(src: TarByteSource) {
    this.#src = src;
  }

  async next(): Promise<DecodedEntry | null> {
    let localPax: PaxMap | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const block = await this.#src.readExact(TAR_BLOCK, 'header');
      if (block === null) return null; // EOF without the zero blocks: accepted, as GNU tar and Go do
      const at = this.#src.offset - TAR_BLOCK;
      if (isZero(block)) {
        this.sawEndMarker = true;
        return null;
      }
      if (!checksumOk(block)) throw new FormatError('tar: header checksum mismatch (not a tar, or corrupt)', { offset: at });
      const flag = String.fromCharCode(block[156] as number);
      const size = num(block, 124, 12, 'size');
      if (size < 0) throw new FormatError('tar: negative size', { offset: at });
      if (flag === 'S') throw new FormatError('tar: GNU sparse files are not supported', { offset: at });
      if (flag === 'V') {
        // GNU volume label: not a file, and it ends whatever meta records came before it.
        await this.#src.skip(size + tarPaddingSize(size), 'volume label');
        localPax = longName = longLink = undefined;
        continue;
      }
      if (flag !== 'x' && flag !== 'g' && flag !== 'L' && flag !== 'K') {
        const pax: PaxMap = new Map(this.#globalPax);
        if (localPax) for (const [k, v] of localPax) pax.set(k, v);
        return entryHeader(block, flag, pax, longName, longLink, at);
      }
      // Meta entries: their payload describes the next real entry.
      const data = await this.#metaPayload(size, flag, at);
      if (flag === 'x') {
        localPax ??= new Map();
        for (const [k, v] of parsePax(data, at)) localPax.set(k, v);
      } else if (flag === 'g') {
        for (const [k, v] of parsePax(data, at)) {
          if (v.length === 0) this.#globalPax.delete(k);
          else this.#globalPax.set(k, v);
        }
      } else {
        const end = data.indexOf(0);
        const text = data.toString('utf8', 0, end === -1 ? data.length : end);
        if (flag === 'L') longName = text;
        else longLink = text;
      }
    }
  }

  async #metaPayload(size: number, flag: string, at: number): Promise<Buffer> {
    if (size > MAX_META) throw new FormatError(`tar: ${flag} header of ${size} bytes is too large`, { offset: at });
    const data = await this.#src.readExact(size, 'extended header');
    if (data === null) throw new FormatError('tar: unexpected end of input in extended header', { offset: at });
    await this.#src.skip(tarPaddingSize(size), 'padding');
    return data;
  }
}
