/**
 * Local archives: compression by magic bytes (as moby's DetectCompression), the decompressed tar
 * stream, and bounded extraction into a directory. ADD's local-archive unpacking and the tar build
 * contexts (stdin, a file, an http download) share these, so both read archives alike.
 * Extraction goes through image/extract.ts (image/safe-path.ts checks every entry path).
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { gunzipStream } from '../image/compress.js';
import { applyLayer } from '../image/extract.js';
import { isTarHeaderBlock } from '../image/tar/decode.js';
import { decompressWith } from '../runtime/decompress.js';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz';

/** By magic bytes, as moby's archive.DetectCompression (zstd is not supported). */
export function detectCompression(magic: Buffer): Compression {
  const starts = (bytes: number[]): boolean => bytes.every((b, i) => magic[i] === b);
  if (starts([0x1f, 0x8b, 0x08])) return 'gzip';
  if (starts([0x42, 0x5a, 0x68])) return 'bzip2'; // "BZh"
  if (starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  return 'none';
}

/**
 * Whether the first bytes of a build context are an archive rather than a Dockerfile, as
 * BuildKit decides it (dockerui isArchive): gzip, bzip2 or xz magic, or a valid tar header.
 */
export function isArchiveHead(head: Buffer): boolean {
  return detectCompression(head) !== 'none' || isTarHeaderBlock(head);
}

/** The first `length` bytes of a file (fewer when it is shorter). */
export async function readHead(abs: string, length = 512): Promise<Buffer> {
  const fh = await open(abs, 'r');
  try {
    const b = Buffer.alloc(length);
    const { bytesRead } = await fh.read(b, 0, length, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The archive's tar stream, decompressed (streamed) by its magic bytes. */
export async function openArchive(abs: string): Promise<Readable> {
  const compression = detectCompression(await readHead(abs));
  const s = createReadStream(abs);
  switch (compression) {
    case 'none':
      return s;
    case 'gzip':
      return gunzipStream(s);
    default:
      return decompressWith(compression, s);
  }
}

/** ADD's rule: a tar (ustar magic at 257), plain or gzip/bzip2/xz-compressed; anything else is copied as a file. */
export async function isTarArchive(abs: string): Promise<boolean> {
  const magic = await readHead(abs);
  const isUstar = (head: Buffer): boolean => head.length >= 263 && head.subarray(257, 262).toString('latin1') === 'ustar';
  if (detectCompression(magic) === 'none') return isUstar(magic);
  const stream = await openArchive(abs);
  const head = await new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    let len = 0;
    stream.on('data', (c: Buffer) => {
      chunks.push(c);
      len += c.length;
      if (len >= 263) stream.destroy();
    });
    stream.on('close', () => resolve(Buffer.concat(chunks)));
    stream.on('error', () => resolve(Buffer.alloc(0)));
  });
  return isUstar(head);
}

export interface ExtractLimits {
  /** Most bytes of (decompressed) tar stream: a small gzip can hold a huge tar. */
  maxBytes: number;
  /** Most entries (each one is an inode on disk). */
  maxFiles: number;
  /** Called when a limit is passed; what it returns is thrown. */
  tooLarge: (what: string) => Error;
}

/**
 * Unpacks a local archive (plain, gzip, bzip2 or xz tar) into `dir`, which must exist, with
 * image/'s extractor (no entry lands outside `dir`), stopping at the limits. Owners are not
 * applied: the files belong to whoever runs the build, as a context directory's would; `.wh.*`
 * entries are plain files (a context is no layer: BuildKit keeps them, checked against dockerd).
 */
export async function extractArchive(abs: string, dir: string, limits: ExtractLimits): Promise<void> {
  let entries = 0;
  const source = await openArchive(abs);
  const limited = byteLimit(limits);
  source.on('error', (e) => limited.destroy(e));
  limited.on('close', () => source.destroy());
  await applyLayer(source.pipe(limited), dir, {
    sameOwner: false,
    literalWhiteouts: true,
    include: () => {
      if (++entries > limits.maxFiles) throw limits.tooLarge(`more than ${limits.maxFiles} entries`);
      return true;
    },
  });
}

/** Passes bytes through until `maxBytes`, then fails the stream. */
function byteLimit(limits: ExtractLimits): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > limits.maxBytes) done(limits.tooLarge(`more than ${limits.maxBytes} bytes unpacked`));
      else done(null, chunk);
    },
  });
}
