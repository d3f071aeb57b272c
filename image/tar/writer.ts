/**
 * Deterministic tar encoder: ustar headers, plus a PAX 'x' record in front of an entry when a
 * value does not fit ustar. Written here rather than taken from tar-stream because tar-stream
 * corrupts binary xattr values (security.capability) and silently clamps large uid/gid.
 * The same entries always give the same bytes: layer digests depend on it.
 */
import { Readable } from 'node:stream';
import type { TarEntryType, TarHeader } from './header.js';
import { ImageError } from '../errors.js';

/** An entry that cannot be written: bad header values, or a body whose length differs from header.size. */
export class TarWriteError extends ImageError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_IMAGE_TAR_WRITE', message, data);
  }
}

export interface TarSource {
  header: TarHeader;
  /** File content; a factory is called only when the entry is reached (one open file at a time). */
  body?: Buffer | (() => Readable | Promise<Readable>);
}

const BLOCK = 512;
const MAX_OCTAL_7 = 0o7777777; // 7 digits + NUL: mode, uid, gid, devmajor, devminor
const MAX_OCTAL_11 = 0o77777777777; // 11 digits + NUL: size, mtime
/** Small entries are gathered up to this many bytes before being pushed, to keep per-chunk overhead low. */
const BATCH = 64 * 1024;

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

function isAscii(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /^[\x01-\x7f]*$/.test(s);
}

/** PAX record `"<len> <key>=<value>\n"`, where len counts the whole record including its own digits. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // ' ', '=', '\n'
  let len = rest + 1;
  while (String(len).length + rest !== len) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

function writeString(buf: Buffer, s: string, off: number, size: number): void {
  buf.write(s, off, size, 'utf8');
}

function writeOctal(buf: Buffer, n: number, off: number, size: number): void {
  // size-1 digits, zero padded, then NUL (what GNU tar and Go write).
  buf.write(n.toString(8).padStart(size - 1, '0') + '\0', off, size, 'ascii');
}

/** A ustar-safe stand-in for a name whose real value travels in a PAX record. */
function fallbackName(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const ascii = s.replace(/[^\x01-\x7f]/g, '_');
  return ascii.length <= max ? ascii : ascii.slice(ascii.length - max);
}

/** Split a path into ustar prefix (<=155) and name (<=100) at a '/', if possible. */
function splitUstarPath(p: string): { prefix: string; name: string } | undefined {
  if (p.length <= 100) return { prefix: '', name: p };
  if (p.length > 256) return undefined;
  // Prefer the longest prefix so the name part stays short.
  let i = p.lastIndexOf('/', 155);
  while (i > 0) {
    const name = p.slice(i + 1);
    if (name.length > 100) return undefined;
    if (name.length > 0) return { prefix: p.slice(0, i), name };
    i = p.lastIndexOf('/', i - 1);
  }
  return undefined;
}

function checkHeader(h: TarHeader): void {
  const bad = (what: string): never => {
    throw new TarWriteError(`tar entry ${JSON.stringify(h.path)}: ${what}`, { path: h.path });
  };
  if (!h.path) bad('empty path');
  if (h.path.includes('\0') || h.linkname?.includes('\0')) bad('NUL in path or linkname');
  if (!(h.type in TYPEFLAG)) bad(`unknown type ${String(h.type)}`);
  for (const [k, v] of [['uid', h.uid], ['gid', h.gid], ['mode', h.mode], ['size', h.size]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) bad(`${k} must be a non-negative integer, got ${v}`);
  }
  if (h.mode > 0o7777) bad(`mode ${h.mode.toString(8)} has bits beyond 07777`);
  if (!Number.isFinite(h.mtime)) bad(`mtime ${h.mtime}`);
  if (h.type !== 'file' && h.size !== 0) bad(`size must be 0 for type ${h.type}`);
  if ((h.type === 'symlink' || h.type === 'hardlink') && !h.linkname) bad(`${h.type} without linkname`);
  for (const d of [h.devmajor, h.devminor]) {
    if (d !== undefined && (!Number.isSafeInteger(d) || d < 0 || d > MAX_OCTAL_7)) bad(`device number ${d}`);
  }
  if (h.xattrs) for (const k of Object.keys(h.xattrs)) if (!k || k.includes('=') || k.includes('\0')) bad(`xattr name ${JSON.stringify(k)}`);
}

/** PAX mtime: integer seconds, or a decimal with the fraction trimmed of trailing zeros. */
function formatPaxTime(t: number): string {
  if (Number.isInteger(t)) return String(t);
  const sign = t < 0 ? '-' : '';
  const abs = Math.abs(t);
  let sec = Math.floor(abs);
  let ns = Math.round((abs - sec) * 1e9);
  if (ns >= 1e9) {
    sec += 1;
    ns -= 1e9;
  }
  const frac = String(ns).padStart(9, '0').replace(/0+$/, '');
  return frac ? `${sign}${sec}.${frac}` : `${sign}${sec}`;
}

/**
 * The header block for one entry, preceded by a PAX header + records when needed.
 * Does not include the body or its padding.
 */
export function encodeHeader(header: TarHeader): Buffer {
  checkHeader(header);
  const pax = new Map<string, Buffer>();
  const isDir = header.type === 'dir';
  const tarPath = isDir ? header.path.replace(/\/+$/, '') + '/' : header.path;

  let name = tarPath;
  let prefix = '';
  const split = isAscii(tarPath) ? splitUstarPath(tarPath) : undefined;
  if (split) ({ name, prefix } = split);
  else {
    pax.set('path', Buffer.from(tarPath));
    name = fallbackName(tarPath, 100);
  }

  let linkname = header.linkname ?? '';
  if (linkname.length > 100 || !isAscii(linkname)) {
    pax.set('linkpath', Buffer.from(linkname));
    linkname = fallbackName(linkname, 100);
  }

  let uid = header.uid;
  if (uid > MAX_OCTAL_7) {
    pax.set('uid', Buffer.from(String(uid)));
    uid = 0;
  }
  let gid = header.gid;
  if (gid > MAX_OCTAL_7) {
    pax.set('gid', Buffer.from(String(gid)));
    gid = 0;
  }
  let size = header.size;
  if (size > MAX_OCTAL_11) {
    pax.set('size', Buffer.from(String(size)));
    size = 0;
  }
  let mtime = Math.floor(header.mtime);
  if (!Number.isInteger(header.mtime) || mtime < 0 || mtime > MAX_OCTAL_11) {
    pax.set('mtime', Buffer.from(formatPaxTime(header.mtime)));
    mtime = Math.min(Math.max(mtime, 0), MAX_OCTAL_11);
  }
  let uname = header.uname ?? '';
  if (Buffer.byteLength(uname) > 31 || !isAscii(uname)) {
    pax.set('uname', Buffer.from(uname));
    uname = '';
  }
  let gname = header.gname ?? '';
  if (Buffer.byteLength(gname) > 31 || !isAscii(gname)) {
    pax.set('gname', Buffer.from(gname));
    gname = '';
  }
  if (header.xattrs) {
    for (const [k, v] of Object.entries(header.xattrs)) pax.set(`SCHILY.xattr.${k}`, Buffer.from(v));
  }

  const block = Buffer.alloc(BLOCK);
  writeString(block, name, 0, 100);
  writeOctal(block, header.mode, 100, 8);
  writeOctal(block, uid, 108, 8);
  writeOctal(block, gid, 116, 8);
  writeOctal(block, size, 124, 12);
  writeOctal(block, mtime, 136, 12);
  block.write(TYPEFLAG[header.type], 156, 1, 'ascii');
  writeString(block, linkname, 157, 100);
  block.write('ustar\x0000', 257, 8, 'ascii');
  writeString(block, uname, 265, 32);
  writeString(block, gname, 297, 32);
  if (header.type === 'char' || header.type === 'block') {
    writeOctal(block, header.devmajor ?? 0, 329, 8);
    writeOctal(block, header.devminor ?? 0, 337, 8);
  }
  writeString(block, prefix, 345, 155);
  finishChecksum(block);

  if (pax.size === 0) return block;
  // Sorted keys: the record order must not depend on how the caller built the object.
  const records = Buffer.concat(
    [...pax.keys()].sort().map((k) => paxRecord(k, pax.get(k) as Buffer)),
  );
  const base = fallbackName(tarPath.replace(/\/$/, '').split('/').pop() ?? 'x', 100 - 'PaxHeaders/'.length);
  const paxHeader = Buffer.alloc(BLOCK);
  writeString(paxHeader, `PaxHeaders/${base}`, 0, 100);
  writeOctal(paxHeader, 0o644, 100, 8);
  writeOctal(paxHeader, 0, 108, 8);
  writeOctal(paxHeader, 0, 116, 8);
  if (records.length > MAX_OCTAL_11) throw new TarWriteError(`PAX records too large for ${header.path}`, { path: header.path });
  writeOctal(paxHeader, records.length, 124, 12);
  writeOctal(paxHeader, 0, 136, 12);
  paxHeader.write('x', 156, 1, 'ascii');
  paxHeader.write('ustar\x0000', 257, 8, 'ascii');
  finishChecksum(paxHeader);
  return Buffer.concat([paxHeader, records, padding(records.length), block]);
}

function finishChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i] as number;
  // 6 octal digits, NUL, space: the traditional layout GNU tar and Go write.
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
}

function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return Buffer.alloc(rem === 0 ? 0 : BLOCK - rem);
}

/** Zero bytes that follow a body of `size` bytes (for sync writers: encodeHeader, body, tarPadding, ..., tarTrailer). */
export function tarPadding(size: number): Buffer {
  return padding(size);
}

/** The end-of-archive marker: two zero blocks. */
export function tarTrailer(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

async function* generateTar(entries: AsyncIterable<TarSource> | Iterable<TarSource>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  const take = (): Buffer => {
    const out = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingLen);
    pending = [];
    pendingLen = 0;
    return out;
  };
  const add = (b: Buffer): boolean => {
    if (b.length) {
      pending.push(b);
      pendingLen += b.length;
    }
    return pendingLen >= BATCH;
  };

  for await (const { header: h, body } of entries) {
    if (add(encodeHeader(h))) yield take();
    if (h.type !== 'file') {
      if (body !== undefined) throw new TarWriteError(`tar entry ${JSON.stringify(h.path)}: type ${h.type} cannot have a body`, { path: h.path });
      continue;
    }
    if (body === undefined) {
      if (h.size !== 0) throw sizeError(h, 0);
      continue;
    }
    if (Buffer.isBuffer(body)) {
      if (body.length !== h.size) throw sizeError(h, body.length);
      if (body.length >= BATCH) {
        if (pendingLen) yield take();
        yield body;
      } else if (add(body)) yield take();
    } else {
      if (pendingLen) yield take();
      const stream = await body();
      let seen = 0;
      try {
        for await (const chunk of stream as AsyncIterable<Buffer | string>) {
          const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
          seen += buf.length;
          // Fail before emitting a byte past the declared size: the tar must never be corrupt.
          if (seen > h.size) throw sizeError(h, seen, 'more than');
          yield buf;
        }
      } finally {
        if (!stream.destroyed) stream.destroy();
      }
      if (seen !== h.size) throw sizeError(h, seen);
    }
    if (add(padding(h.size))) yield take();
  }
  add(Buffer.alloc(2 * BLOCK));
  yield take();
}

function sizeError(h: TarHeader, got: number, rel = 'only'): TarWriteError {
  return new TarWriteError(
    `tar entry ${JSON.stringify(h.path)}: header size ${h.size} but body has ${rel} ${got} bytes (file changed while read?)`,
    { path: h.path, size: h.size, got },
  );
}

/**
 * Writes the entries in the given order (callers sort) as a tar stream ending in two zero blocks.
 * Bodies are pulled only as fast as the consumer reads; a body whose length differs from
 * header.size fails the stream with a TarWriteError.
 */
export function createTarStream(entries: AsyncIterable<TarSource> | Iterable<TarSource>): Readable {
  return Readable.from(generateTar(entries), { objectMode: false, highWaterMark: BATCH });
}
