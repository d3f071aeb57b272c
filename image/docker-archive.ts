/**
 * docker-archive: what `docker save` writes and `docker load` reads.
 *
 * Written the Docker 25+ way: `manifest.json` and `repositories` for docker
 * load, blobs under `blobs/sha256/`, plus `oci-layout` and `index.json`, so the
 * same tar is also an OCI layout. Layers stay gzip'd (docker load detects it).
 *
 * Read: old archives (`<id>/layer.tar`, `<id>.json`) and new ones. When the
 * archive's index.json has the exact manifest (ours, Docker 25+), it is used
 * as is, so digests survive the round trip; otherwise a Docker schema 2
 * manifest is made up, and an uncompressed layer gets a gzip view whose digest
 * is computed once, by compressing it deterministically.
 */
import { open as openFile } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { createParallelGzip } from './compress.js';
import { HashingStream, isDigest, sha256, VerifyingStream, type Digest } from './digest.js';
import { FormatError } from './errors.js';
import type { Image, Layer } from './image.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from './mediatypes.js';
import {
  blobPath,
  blobsOf,
  CONTAINERD_IMAGE_NAME,
  dirHeader,
  fileHeader,
  imageFromFiles,
  indexTarFile,
  openTarRange,
  planImage,
  readJsonBlob,
  REF_NAME,
  tarFiles,
  writeTarFile,
  type ImagePlan,
  type LayoutFiles,
  type TarEntryRef,
} from './oci-layout.js';
import { normalizeTarPath } from './tar/reader.js';
import { imageFromCore, layerFromOpener, memoize, parseConfig, parseIndex, parseManifest } from './partial.js';
import type { Descriptor, Index, Manifest } from './types.js';

/** One entry of manifest.json. */
export interface DockerArchiveEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, Descriptor>;
}

const noop = (): void => {};

/** The gzip view of a plain-tar layer: the same bytes every time, so its digest can be memoised. */
const gzip = (): ReturnType<typeof createParallelGzip> => createParallelGzip();

// ---------------------------------------------------------------------------
// Names: `busybox` → `busybox:latest`, `docker.io/library/busybox:1` → `busybox:1`.

function splitTag(name: string): { repo: string; tag: string | undefined } {
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? { repo: name.slice(0, colon), tag: name.slice(colon + 1) } : { repo: name, tag: undefined };
}

/** Docker's short ("familiar") spelling of a repository. */
function familiarRepo(repo: string): string {
  for (const p of ['docker.io/library/', 'index.docker.io/library/', 'docker.io/', 'index.docker.io/']) {
    if (repo.startsWith(p)) return repo.slice(p.length);
  }
  return repo;
}

/** The `repo:tag` form docker puts in RepoTags. */
export function normalizeRepoTag(name: string): string {
  if (name.includes('@')) throw new FormatError(`a docker-archive tag cannot be a digest reference: ${name}`, { name });
  const { repo, tag } = splitTag(name.trim());
  if (repo === '' || tag === '') throw new FormatError(`invalid tag ${JSON.stringify(name)}`, { name });
  return `${familiarRepo(repo)}:${tag ?? 'latest'}`;
}

/** containerd's full name (`docker.io/library/busybox:latest`) for index.json. */
function fullName(repoTag: string): string {
  const { repo } = splitTag(repoTag);
  const first = repo.split('/')[0]!;
  const hasDomain = repo.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasDomain) return repoTag;
  return repo.includes('/') ? `docker.io/${repoTag}` : `docker.io/library/${repoTag}`;
}

// ---------------------------------------------------------------------------
// Writing.

export async function writeDockerArchive(tarFile: string, images: Array<{ image: Image; tags: string[] }>): Promise<void> {
  const plans: ImagePlan[] = await Promise.all(images.map(({ image }) => planImage(image)));
  const manifestJson: DockerArchiveEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const indexEntries: Descriptor[] = [];
  plans.forEach((p, i) => {
    const tags = images[i]!.tags.map(normalizeRepoTag);
    manifestJson.push({ Config: blobPath(p.configDesc.digest), RepoTags: tags, Layers: p.layers.map((l) => blobPath(l.desc.digest)) });
    // `repositories` is the legacy map to the top layer's id
    const top = p.layers.at(-1)?.desc.digest ?? p.configDesc.digest;
    for (const t of tags) {
      const { repo, tag } = splitTag(t);
      (repositories[repo] ??= {})[tag!] = top.slice('sha256:'.length);
      indexEntries.push({ ...p.manifestDesc, annotations: { [CONTAINERD_IMAGE_NAME]: fullName(t), [REF_NAME]: tag! } });
    }
    if (tags.length === 0) indexEntries.push({ ...p.manifestDesc });
  });
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  const index: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: indexEntries };
  const small: Array<[string, Buffer]> = [
    ['index.json', json(index)],
    ['manifest.json', json(manifestJson)],
    ['oci-layout', json({ imageLayoutVersion: '1.0.0' })],
  ];
  if (Object.keys(repositories).length > 0) small.push(['repositories', json(repositories)]);
  await writeTarFile(tarFile, [
    { header: dirHeader('blobs') },
    { header: dirHeader('blobs/sha256') },
    ...blobsOf(plans).map((b) => ({ header: fileHeader(blobPath(b.desc.digest), b.desc.size), body: b.open })),
    ...small.map(([name, body]) => ({ header: fileHeader(name, body.length), body })),
  ]);
}

// ---------------------------------------------------------------------------
// Reading.

async function readHead(file: string, ref: TarEntryRef, n: number): Promise<Buffer> {
  const fh = await openFile(file, 'r');
  try {
    const b = Buffer.alloc(Math.min(n, ref.size));
    const { bytesRead } = await fh.read(b, 0, b.length, ref.offset);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function drainDigest(s: Readable): Promise<{ digest: Digest; size: number }> {
  const h = new HashingStream();
  await new Promise<void>((resolve, reject) => {
    pipeline(s, h, (err) => (err ? reject(err) : resolve()));
    h.resume();
  });
  return { digest: h.digest(), size: h.size() };
}

/** The digest a `blobs/sha256/<hex>` path claims, if it is spelled that way. */
function claimedDigest(path: string): Digest | undefined {
  const m = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(path);
  const d = m ? `sha256:${m[1]}` : '';
  return isDigest(d) ? d : undefined;
}

/** A layer stored gzip'd: its digest is the file's (claimed by its name, or hashed once). */
function gzipLayer(file: string, path: string, ref: TarEntryRef, diffID: Digest): Layer {
  const digest = memoize(async () => claimedDigest(path) ?? (await drainDigest(openTarRange(file, ref))).digest);
  const inner = memoize(async () =>
    layerFromOpener({
      desc: { mediaType: MediaType.DockerLayerGzip, digest: await digest(), size: ref.size },
      diffID,
      open: async () => openTarRange(file, ref),
    }),
  );
  return {
    digest,
    diffID: async () => diffID,
    size: async () => ref.size,
    mediaType: async () => MediaType.DockerLayerGzip,
    compressed: async () => (await inner()).compressed(),
    uncompressed: async () => (await inner()).uncompressed(),
  } satisfies Layer;
}

/**
 * A layer stored as a plain tar, seen through gzip. The gzip is deterministic,
 * so the digest computed once (memoised) holds for every later compressed().
 */
function tarLayer(file: string, ref: TarEntryRef, diffID: Digest): Layer {
  const gz = memoize(() => drainDigest(pipeline(openTarRange(file, ref), gzip(), noop)));
  const uncompressed = async (): Promise<Readable> =>
    pipeline(openTarRange(file, ref), new VerifyingStream(diffID, ref.size), noop);
  return {
    digest: async () => (await gz()).digest,
    diffID: async () => diffID,
    size: async () => (await gz()).size,
    mediaType: async () => MediaType.DockerLayerGzip,
    compressed: async () => {
      const { digest, size } = await gz();
      return pipeline(openTarRange(file, ref), gzip(), new VerifyingStream(digest, size), noop);
    },
    uncompressed,
  } satisfies Layer;
}

function isGzipMagic(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}
function isZstdMagic(b: Buffer): boolean {
  return b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528;
}

/**
 * The archive's own manifest for this entry, when index.json has one whose
 * config and layer blobs are exactly the entry's (ours, Docker 25+).
 */
async function findOciManifest(files: LayoutFiles, entry: DockerArchiveEntry, configDigest: Digest): Promise<Descriptor | undefined> {
  const rawIndex = await files.readFile('index.json').catch(() => undefined);
  if (!rawIndex) return undefined;
  const layerDigests = entry.Layers.map((l) => claimedDigest(normalizeTarPath(l)));
  if (layerDigests.some((d) => d === undefined)) return undefined;
  const candidates: Descriptor[] = [];
  const collect = async (ix: Index, depth: number): Promise<void> => {
    for (const d of ix.manifests) {
      if (isManifestMediaType(d.mediaType)) candidates.push(d);
      else if (isIndexMediaType(d.mediaType) && depth < 2) {
        const raw = await readJsonBlob(files, d).catch(() => undefined);
        if (raw) await collect(parseIndex(raw), depth + 1);
      }
    }
  };
  try {
    await collect(parseIndex(rawIndex), 0);
  } catch {
    return undefined; // an index.json we cannot follow: fall back to manifest.json alone
  }
  for (const d of candidates) {
    const raw = await readJsonBlob(files, d).catch(() => undefined);
    if (!raw) continue;
    let m: Manifest;
    try {
      m = parseManifest(raw);
    } catch {
      continue;
    }
    if (m.config.digest === configDigest && m.layers.length === layerDigests.length && m.layers.every((l, i) => l.digest === layerDigests[i])) {
      return d;
    }
  }
  return undefined;
}

function chooseEntry(entries: DockerArchiveEntry[], tarFile: string, tag: string | undefined): DockerArchiveEntry {
  const all = entries.flatMap((e) => e.RepoTags ?? []);
  if (tag === undefined) {
    if (entries.length !== 1) {
      throw new FormatError(`${tarFile} holds ${entries.length} images; name one (${all.join(', ')})`, { tarFile, tags: all });
    }
    return entries[0]!;
  }
  const want = normalizeRepoTag(tag);
  const found = entries.find((e) => (e.RepoTags ?? []).some((t) => normalizeRepoTag(t) === want));
  if (!found) throw new FormatError(`no image ${want} in ${tarFile} (has: ${all.join(', ')})`, { tarFile, tag: want, tags: all });
  return found;
}

/** Opens an image from a `docker save` tarball (old or new style); `tag` picks one of several. */
export async function readDockerArchive(tarFile: string, tag?: string): Promise<Image> {
  const index = await indexTarFile(tarFile);
  const files = await tarFiles(tarFile, index);
  const rawList = await files.readFile('manifest.json');
  if (!rawList) throw new FormatError(`${tarFile} is not a docker-archive (no manifest.json)`, { tarFile });
  let entries: DockerArchiveEntry[];
  try {
    entries = JSON.parse(rawList.toString('utf8')) as DockerArchiveEntry[];
  } catch (e) {
    throw new FormatError(`manifest.json in ${tarFile} is not valid JSON: ${(e as Error).message}`, { tarFile });
  }
  if (!Array.isArray(entries) || entries.some((e) => typeof e?.Config !== 'string' || !Array.isArray(e.Layers))) {
    throw new FormatError(`manifest.json in ${tarFile} is not a list of {Config, Layers}`, { tarFile });
  }
  const entry = chooseEntry(entries, tarFile, tag);

  const configPath = normalizeTarPath(entry.Config);
  const rawConfig = await files.readFile(configPath);
  if (!rawConfig) throw new FormatError(`config ${entry.Config} missing from ${tarFile}`, { tarFile, path: entry.Config });
  const configDigest = sha256(rawConfig);
  const claimed = claimedDigest(configPath);
  if (claimed && claimed !== configDigest) {
    throw new FormatError(`config ${entry.Config} in ${tarFile} hashes to ${configDigest}`, { tarFile, path: entry.Config });
  }

  const own = await findOciManifest(files, entry, configDigest);
  if (own) return imageFromFiles(files, own);

  const diffIDs = parseConfig(rawConfig).rootfs?.diff_ids ?? [];
  if (diffIDs.length !== entry.Layers.length) {
    throw new FormatError(`${tarFile}: config has ${diffIDs.length} diff_ids but manifest.json lists ${entry.Layers.length} layers`, {
      tarFile,
    });
  }
  const layers = await Promise.all(
    entry.Layers.map(async (p, i) => {
      const path = normalizeTarPath(p);
      const ref = index.get(path);
      if (!ref) throw new FormatError(`layer ${p} missing from ${tarFile}`, { tarFile, path: p });
      const head = await readHead(tarFile, ref, 4);
      if (isZstdMagic(head)) throw new FormatError(`layer ${p} in ${tarFile} is zstd, which is not supported`, { tarFile, path: p });
      return isGzipMagic(head) ? gzipLayer(tarFile, path, ref, diffIDs[i]!) : tarLayer(tarFile, ref, diffIDs[i]!);
    }),
  );
  const rawManifest = memoize(async () => {
    const descs: Descriptor[] = [];
    for (const l of layers) {
      descs.push({ mediaType: await l.mediaType(), digest: await l.digest(), size: await l.size() });
    }
    const m: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: configDigest, size: rawConfig.length },
      layers: descs,
    };
    return Buffer.from(JSON.stringify(m));
  });
  return imageFromCore({
    rawManifest,
    rawConfig: async () => rawConfig,
    layerByDigest: async (desc) => {
      for (const l of layers) if ((await l.digest()) === desc.digest) return l;
      throw new FormatError(`no layer ${desc.digest} in ${tarFile}`, { tarFile });
    },
  });
}
