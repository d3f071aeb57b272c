/**
 * OCI image layouts (image-spec `image-layout.md`), as a directory or as a tar
 * of one. Writing puts blobs under blobs/sha256/ via temp file + rename (a blob
 * already present with the right size is skipped) and index.json last, so a
 * layout never names a missing blob. Reading a tar indexes entry offsets once
 * and then reads each blob in place: nothing is extracted.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, readFile, rename, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import { digestHex, isDigest, sha256, VerifyingStream, type Digest } from './digest.js';
import { FormatError } from './errors.js';
import type { Image, ImageIndex } from './image.js';
import { isIndexMediaType, MediaType } from './mediatypes.js';
import { imageFromCore, layerFromOpener, memoize, parseIndex, parseManifest } from './partial.js';
import { formatPlatform, hostPlatform, indexPlatforms, selectManifest } from './platform.js';
import type { TarHeader } from './tar/header.js';
import { normalizeTarPath, TarHeaderDecoder, tarPaddingSize, type TarByteSource } from './tar/decode.js';
import { createTarStream, type TarSource } from './tar/writer.js';
import type { Descriptor, Index, Platform } from './types.js';

export const REF_NAME = 'org.opencontainers.image.ref.name';
/** containerd / Docker 25+ put the full image name here. */
export const CONTAINERD_IMAGE_NAME = 'io.containerd.image.name';
const LAYOUT_FILE = 'oci-layout';
const LAYOUT_CONTENT = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
/** Manifests, indexes and configs are read into memory; nothing honest is this big. */
const MAX_JSON_BLOB = 64 << 20;

export function blobPath(digest: Digest): string {
  return `blobs/sha256/${digestHex(digest)}`;
}

// ---------------------------------------------------------------------------
// Reading blobs: from a directory or in place from a tar file.

/** Where a layout's files live; paths are layout-relative (`blobs/sha256/<hex>`). */
export interface LayoutFiles {
  readonly where: string;
  /** The file's bytes, or undefined when it does not exist. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** A stream of the file, or undefined when it does not exist. */
  open(path: string): Promise<Readable | undefined>;
}

function dirFiles(dir: string): LayoutFiles {
  const exists = async (p: string): Promise<boolean> => {
    try {
      return (await stat(join(dir, p))).isFile();
    } catch {
      return false;
    }
  };
  return {
    where: dir,
    async readFile(p) {
      try {
        return await readFile(join(dir, p));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
    },
    async open(p) {
      return (await exists(p)) ? createReadStream(join(dir, p)) : undefined;
    },
  };
}

/** Where an entry's bytes sit inside a tar file. */
export interface TarEntryRef {
  offset: number;
  size: number;
}

/** A tar file read at a moving position: header blocks are read, bodies are seeked over. */
class FileByteSource implements TarByteSource {
  offset = 0;
  constructor(
    private readonly fh: FileHandle,
    private readonly total: number,
    private readonly file: string,
  ) {}

  async readExact(n: number, what: string): Promise<Buffer | null> {
    if (this.offset >= this.total && n > 0) return null;
    const b = Buffer.alloc(n);
    const { bytesRead } = await this.fh.read(b, 0, n, this.offset);
    if (bytesRead !== n) throw new FormatError(`truncated tar file ${this.file} (in ${what})`, { offset: this.offset });
    this.offset += n;
    return b;
  }

  async skip(n: number, what: string): Promise<void> {
    if (this.offset + n > this.total) throw new FormatError(`truncated tar file ${this.file} (in ${what})`, { offset: this.offset });
    this.offset += n;
  }
}

/**
 * Reads only the headers of a tar file (seeking over the bodies) and maps each
 * regular file's cleaned path to its byte range. Hardlinks, and symlinks that
 * stay inside the archive, map to their target's range.
 */
export async function indexTarFile(file: string): Promise<Map<string, TarEntryRef>> {
  const entries = new Map<string, TarEntryRef>();
  const symlinks: Array<[string, string]> = [];
  const fh = await open(file, 'r');
  try {
    const src = new FileByteSource(fh, (await fh.stat()).size, file);
    const decoder = new TarHeaderDecoder(src);
    for (let entry = await decoder.next(); entry; entry = await decoder.next()) {
      const { header, dataSize } = entry;
      if (header.type === 'file') entries.set(header.path, { offset: src.offset, size: dataSize });
      else if (header.type === 'hardlink') {
        const target = entries.get(header.linkname!);
        if (target) entries.set(header.path, target);
      } else if (header.type === 'symlink') symlinks.push([header.path, header.linkname!]);
      await src.skip(dataSize + tarPaddingSize(dataSize), 'file content');
    }
  } finally {
    await fh.close();
  }
  resolveSymlinkEntries(entries, symlinks);
  return entries;
}

/**
 * Old docker-archives point duplicate layers at one file by symlink
 * (`<id>/layer.tar -> ../<other>/layer.tar`); resolve those within the archive.
 */
function resolveSymlinkEntries(entries: Map<string, TarEntryRef>, symlinks: Array<[string, string]>): void {
  for (let round = 0; round < 8 && symlinks.length > 0; round++) {
    for (let i = symlinks.length - 1; i >= 0; i--) {
      const [name, link] = symlinks[i]!;
      // absolute links point outside the archive
      const dir = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
      const resolved = link.startsWith('/') ? undefined : resolveWithin(dir, link);
      const target = resolved === undefined ? undefined : entries.get(resolved);
      if (target) entries.set(name, target);
      if (target || resolved === undefined) symlinks.splice(i, 1);
    }
  }
}

/** `dir/link` cleaned, or undefined when it climbs above the archive root. */
function resolveWithin(dir: string, link: string): string | undefined {
  const parts = dir === '' ? [] : dir.split('/');
  for (const seg of link.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(seg);
  }
  return parts.join('/');
}

export function openTarRange(file: string, ref: TarEntryRef): Readable {
  if (ref.size === 0) return Readable.from([]);
  return createReadStream(file, { start: ref.offset, end: ref.offset + ref.size - 1 });
}

/** A tar file's members, read in place. The index is built once. */
export async function tarFiles(file: string, prebuilt?: Map<string, TarEntryRef>): Promise<LayoutFiles> {
  const index = prebuilt ?? (await indexTarFile(file));
  return {
    where: file,
    async readFile(p) {
      const ref = index.get(normalizeTarPath(p));
      if (!ref) return undefined;
      if (ref.size > MAX_JSON_BLOB) throw new FormatError(`${p} in ${file} is too large to read whole`);
      const fh = await open(file, 'r');
      try {
        const b = Buffer.alloc(ref.size);
        const { bytesRead } = await fh.read(b, 0, ref.size, ref.offset);
        if (bytesRead !== ref.size) throw new FormatError(`truncated tar file ${file}`);
        return b;
      } finally {
        await fh.close();
      }
    },
    async open(p) {
      const ref = index.get(normalizeTarPath(p));
      return ref ? openTarRange(file, ref) : undefined;
    },
  };
}

export async function layoutFiles(path: string): Promise<LayoutFiles> {
  return (await stat(path)).isDirectory() ? dirFiles(path) : tarFiles(path);
}

/** A small blob (manifest, index, config), checked against its descriptor. */
export async function readJsonBlob(files: LayoutFiles, desc: Pick<Descriptor, 'digest' | 'size'>): Promise<Buffer> {
  if (!isDigest(desc.digest)) throw new FormatError(`unsupported digest ${String(desc.digest)}`);
  if (desc.size > MAX_JSON_BLOB) throw new FormatError(`blob ${desc.digest} is too large (${desc.size} bytes)`);
  const b = await files.readFile(blobPath(desc.digest));
  if (!b) throw new FormatError(`blob ${desc.digest} missing from ${files.where}`, { digest: desc.digest, where: files.where });
  const got = sha256(b);
  if (got !== desc.digest || b.length !== desc.size) {
    throw new FormatError(`blob ${desc.digest} in ${files.where} is corrupt (hashes to ${got}, ${b.length} bytes)`, {
      digest: desc.digest,
      got,
    });
  }
  return b;
}

/** An image whose manifest is `desc`, its blobs read lazily from `files`. */
export function imageFromFiles(files: LayoutFiles, desc: Descriptor): Image {
  const rawManifest = memoize(() => readJsonBlob(files, desc));
  return imageFromCore({
    rawManifest,
    rawConfig: async () => readJsonBlob(files, parseManifest(await rawManifest()).config),
    layerByDigest: async (d, diffID) =>
      layerFromOpener({
        desc: d,
        diffID,
        open: async () => {
          const s = await files.open(blobPath(d.digest));
          if (!s) throw new FormatError(`layer ${d.digest} missing from ${files.where}`, { digest: d.digest, where: files.where });
          return s;
        },
      }),
  });
}

// ---------------------------------------------------------------------------
// Picking an image out of an index.

function refNamesOf(ix: Index): string[] {
  return ix.manifests.map((d) => d.annotations?.[REF_NAME] ?? d.digest);
}

/** Follows `desc` (an image or a nested index) down to the image for `platform`. */
export async function resolveImage(files: LayoutFiles, desc: Descriptor, platform: Platform, depth = 0): Promise<Image> {
  if (!isIndexMediaType(desc.mediaType)) return imageFromFiles(files, desc);
  if (depth > 4) throw new FormatError(`indexes nested too deep in ${files.where}`);
  const ix = parseIndex(await readJsonBlob(files, desc));
  const chosen = selectManifest(ix, platform);
  if (!chosen) {
    const have = indexPlatforms(ix);
    throw new FormatError(`no image for ${formatPlatform(platform)} in index ${desc.digest} (has: ${have.join(', ')})`, {
      platform: formatPlatform(platform),
      have,
    });
  }
  return resolveImage(files, chosen, platform, depth + 1);
}

export interface ReadLayoutOptions {
  /** The platform to pick from a multi-platform index (default: the host's). */
  platform?: Platform;
}

/**
 * Opens an image in an OCI layout (directory or tar). `ref` is a ref-name
 * annotation (`org.opencontainers.image.ref.name`, or containerd's full image
 * name) or a manifest digest; without it the layout must hold exactly one entry.
 */
export async function readOciLayout(path: string, ref?: string, opts: ReadLayoutOptions = {}): Promise<Image> {
  const files = await layoutFiles(path);
  const layout = await files.readFile(LAYOUT_FILE);
  if (!layout) throw new FormatError(`${path} is not an OCI layout (no ${LAYOUT_FILE} file)`, { path });
  const rawIndex = await files.readFile('index.json');
  if (!rawIndex) throw new FormatError(`${path} is not an OCI layout (no index.json)`, { path });
  const ix = parseIndex(rawIndex);
  let chosen: Descriptor[];
  if (ref === undefined) {
    chosen = ix.manifests;
    if (chosen.length !== 1) {
      throw new FormatError(`${path} holds ${chosen.length} images; name one (${refNamesOf(ix).join(', ')})`, {
        path,
        refs: refNamesOf(ix),
      });
    }
  } else {
    chosen = ix.manifests.filter((d) =>
      isDigest(ref) ? d.digest === ref : d.annotations?.[REF_NAME] === ref || d.annotations?.[CONTAINERD_IMAGE_NAME] === ref,
    );
    if (chosen.length === 0) {
      throw new FormatError(`no image ${JSON.stringify(ref)} in ${path} (has: ${refNamesOf(ix).join(', ')})`, {
        path,
        ref,
        refs: refNamesOf(ix),
      });
    }
  }
  const platform = opts.platform ?? hostPlatform();
  // Several entries under one name: one image per platform, side by side.
  const pick = chosen.length === 1 ? chosen[0]! : (selectManifest({ manifests: chosen }, platform) ?? chosen[0]!);
  return resolveImage(files, pick, platform);
}

// ---------------------------------------------------------------------------
// Writing.

/** Everything a writer needs to know about one image, computed once. */
export interface ImagePlan {
  manifestDesc: Descriptor;
  rawManifest: Buffer;
  configDesc: Descriptor;
  rawConfig: Buffer;
  /** Layer descriptors paired with a way to read the blob (verified against the descriptor). */
  layers: Array<{ desc: Descriptor; open: () => Promise<Readable> }>;
}

const noopCatch = (): void => {};

export async function planImage(image: Image): Promise<ImagePlan> {
  const [rawManifest, manifest, mediaType, rawConfig, config, layers] = await Promise.all([
    image.rawManifest(),
    image.manifest(),
    image.mediaType(),
    image.rawConfig(),
    image.configFile(),
    image.layers(),
  ]);
  const manifestDesc: Descriptor = { mediaType, digest: sha256(rawManifest), size: rawManifest.length };
  if (config.os && config.architecture) {
    manifestDesc.platform = { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
  }
  if (layers.length !== manifest.layers.length) {
    throw new FormatError(`image has ${layers.length} layers but its manifest names ${manifest.layers.length}`);
  }
  return {
    manifestDesc,
    rawManifest,
    configDesc: manifest.config,
    rawConfig,
    layers: manifest.layers.map((desc, i) => ({
      desc,
      open: async () => {
        const src = await layers[i]!.compressed();
        const v = new VerifyingStream(desc.digest, desc.size);
        // Errors of either side surface on `v`, which the writer consumes.
        pipeline(src, v).catch(noopCatch);
        return v;
      },
    })),
  };
}

/** Every blob of the plans, once each: layers first, then configs, then manifests. */
export function blobsOf(plans: ImagePlan[]): Array<{ desc: Pick<Descriptor, 'digest' | 'size'>; open: () => Promise<Readable> }> {
  const seen = new Set<Digest>();
  const out: Array<{ desc: Pick<Descriptor, 'digest' | 'size'>; open: () => Promise<Readable> }> = [];
  const add = (desc: Pick<Descriptor, 'digest' | 'size'>, open: () => Promise<Readable>): void => {
    if (seen.has(desc.digest)) return;
    seen.add(desc.digest);
    out.push({ desc, open });
  };
  for (const p of plans) for (const l of p.layers) add(l.desc, l.open);
  for (const p of plans) add(p.configDesc, async () => Readable.from([checkedBuffer(p.configDesc, p.rawConfig)]));
  for (const p of plans) add(p.manifestDesc, async () => Readable.from([p.rawManifest]));
  return out;
}

function checkedBuffer(desc: Pick<Descriptor, 'digest' | 'size'>, b: Buffer): Buffer {
  if (sha256(b) !== desc.digest || b.length !== desc.size) throw new FormatError(`blob ${desc.digest} does not match its content`);
  return b;
}

async function writeFileAtomic(path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(noopCatch);
    throw e;
  }
}

/** Writes one blob unless it is already there with the right size. */
async function writeBlob(dir: string, desc: Pick<Descriptor, 'digest' | 'size'>, open: () => Promise<Readable>): Promise<void> {
  const final = join(dir, blobPath(desc.digest));
  try {
    if ((await stat(final)).size === desc.size) {
      // in use again: a concurrent pruneOciLayout must see it as young
      const now = new Date();
      await utimes(final, now, now).catch(noopCatch);
      return;
    }
  } catch {
    // absent: write it
  }
  const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await pipeline(await open(), createWriteStream(tmp, { mode: 0o644 }));
    await rename(tmp, final);
  } catch (e) {
    await unlink(tmp).catch(noopCatch);
    throw e;
  }
}

function indexEntry(p: ImagePlan, refName: string | undefined): Descriptor {
  const d: Descriptor = { ...p.manifestDesc };
  if (refName !== undefined) d.annotations = { [REF_NAME]: refName };
  return d;
}

function indexJson(manifests: Descriptor[]): Buffer {
  const ix: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests };
  return Buffer.from(JSON.stringify(ix));
}

/** A tar entry header for a layout file (fixed times and owners: same input, same bytes). */
export function fileHeader(path: string, size: number): TarHeader {
  return { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 0 };
}
export function dirHeader(path: string): TarHeader {
  return { path, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 };
}

/** Writes a tar (to a temp file renamed into place) from entries. */
export async function writeTarFile(tarFile: string, entries: TarSource[]): Promise<void> {
  const tmp = `${tarFile}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await pipeline(createTarStream(entries), createWriteStream(tmp));
    await rename(tmp, tarFile);
  } catch (e) {
    await unlink(tmp).catch(noopCatch);
    throw e;
  }
}

/**
 * Writes images as an OCI layout: a directory (merged into an existing layout:
 * an entry with the same ref name is replaced) or a new tar file.
 */
export async function writeOciLayout(
  dest: { dir: string } | { tarFile: string },
  images: Array<{ image: Image; refName?: string }>,
): Promise<void> {
  const plans = await Promise.all(images.map(async ({ image }) => planImage(image)));
  const entries = plans.map((p, i) => indexEntry(p, images[i]!.refName));
  await writeLayout(dest, entries, blobsOf(plans));
}

/**
 * Writes an image index as an OCI layout, as BuildKit's OCI exporter does for a multi-platform
 * build: index.json holds one descriptor, of the image index, whose blob (and every image's
 * blobs) are under blobs/.
 */
export async function writeOciIndexLayout(dest: { dir: string } | { tarFile: string }, index: ImageIndex, refName?: string): Promise<void> {
  const [raw, ix, digest, mediaType] = await Promise.all([index.rawManifest(), index.indexManifest(), index.digest(), index.mediaType()]);
  const plans = await Promise.all(ix.manifests.map(async (d) => planImage(await index.image(d))));
  const desc: Descriptor = { mediaType, digest, size: raw.length };
  const entry = refName !== undefined ? { ...desc, annotations: { [REF_NAME]: refName } } : desc;
  await writeLayout(dest, [entry], [...blobsOf(plans), { desc, open: async () => Readable.from([checkedBuffer(desc, raw)]) }]);
}

async function writeLayout(
  dest: { dir: string } | { tarFile: string },
  entries: Descriptor[],
  blobs: Array<{ desc: Pick<Descriptor, 'digest' | 'size'>; open: () => Promise<Readable> }>,
): Promise<void> {

  if ('tarFile' in dest) {
    // Small files first, so a streaming reader learns what it holds before the blobs.
    const ix = indexJson(entries);
    await writeTarFile(dest.tarFile, [
      { header: fileHeader(LAYOUT_FILE, LAYOUT_CONTENT.length), body: LAYOUT_CONTENT },
      { header: fileHeader('index.json', ix.length), body: ix },
      { header: dirHeader('blobs') },
      { header: dirHeader('blobs/sha256') },
      ...blobs.map((b) => ({ header: fileHeader(blobPath(b.desc.digest), b.desc.size), body: b.open })),
    ]);
    return;
  }

  const { dir } = dest;
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  const existingLayout = await readFile(join(dir, LAYOUT_FILE)).catch(() => undefined);
  if (!existingLayout) await writeFileAtomic(join(dir, LAYOUT_FILE), LAYOUT_CONTENT);
  const limit = pLimit({ concurrency: 3, rejectOnClear: true });
  let failure: { error: unknown } | undefined;
  await Promise.all(
    blobs.map((b) =>
      limit(() => writeBlob(dir, b.desc, b.open)).catch((error: unknown) => {
        // first failure: start nothing new, let what runs finish or clean up its temp file
        failure ??= { error };
        limit.clearQueue();
      }),
    ),
  );
  if (failure) throw failure.error;

  // Merge with what is there: same ref name → replaced; identical entries not repeated.
  let manifests: Descriptor[] = [];
  const rawIndex = await readFile(join(dir, 'index.json')).catch(() => undefined);
  if (rawIndex) manifests = parseIndex(rawIndex).manifests;
  for (const e of entries) {
    const name = e.annotations?.[REF_NAME];
    manifests = manifests.filter((m) =>
      name !== undefined ? m.annotations?.[REF_NAME] !== name : !(m.digest === e.digest && m.annotations?.[REF_NAME] === undefined),
    );
    manifests.push(e);
  }
  await writeFileAtomic(join(dir, 'index.json'), indexJson(manifests));
}

/**
 * Deletes the blobs of a layout directory that its index.json no longer reaches (through
 * indexes and manifests to configs, layers and subjects). A directory written again and again,
 * like a `--cache-to type=local` cache, otherwise keeps every blob it ever held (buildkit#1896).
 * Blobs modified less than `minAgeMs` ago are spared: another writer may be between writing its
 * blobs and its index.json (writeOciLayout refreshes the mtime of blobs it reuses).
 */
export async function pruneOciLayout(dir: string, opts: { minAgeMs: number }): Promise<{ removed: number; bytes: number }> {
  const blobs = join(dir, 'blobs', 'sha256');
  const live = new Set<string>();
  const queue: Array<{ digest: string; mediaType?: string }> = parseIndex(await readFile(join(dir, 'index.json'))).manifests.map((m) => ({ digest: m.digest, mediaType: m.mediaType }));
  for (let next = queue.pop(); next; next = queue.pop()) {
    if (!isDigest(next.digest) || live.has(next.digest)) continue;
    live.add(next.digest);
    const mt = next.mediaType;
    // configs and layers are leaves; a child without a media type may be a manifest: sniff it
    if (mt !== undefined && !isIndexMediaType(mt) && !/manifest/.test(mt)) continue;
    const path = join(dir, blobPath(next.digest));
    if (((await stat(path).catch(() => undefined))?.size ?? Infinity) > 4 * 1024 * 1024) continue;
    let doc: { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[]; subject?: Descriptor };
    try {
      doc = JSON.parse((await readFile(path)).toString('utf8')) as typeof doc;
    } catch {
      if (mt === undefined) continue;
      // a manifest we cannot read would make its blobs look unused: delete nothing
      throw new FormatError(`cannot read manifest ${next.digest} in ${dir}`);
    }
    if (typeof doc !== 'object' || doc === null) continue;
    for (const d of [...(doc.manifests ?? []), ...(doc.config ? [doc.config] : []), ...(doc.layers ?? []), ...(doc.subject ? [doc.subject] : [])]) {
      queue.push({ digest: d.digest, ...(d.mediaType ? { mediaType: d.mediaType } : {}) });
    }
  }
  const out = { removed: 0, bytes: 0 };
  const cutoff = Date.now() - opts.minAgeMs;
  for (const name of await readdir(blobs).catch(() => [] as string[])) {
    if (!/^[a-f0-9]{64}$/.test(name) || live.has(`sha256:${name}`)) continue;
    const st = await stat(join(blobs, name)).catch(() => undefined);
    if (!st?.isFile() || st.mtimeMs > cutoff) continue;
    await unlink(join(blobs, name)).catch(noopCatch);
    out.removed++;
    out.bytes += st.size;
  }
  return out;
}
