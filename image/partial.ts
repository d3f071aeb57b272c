/**
 * Small cores in, full lazy images out (ggcr's `partial`). A source supplies
 * the raw manifest, the raw config and a way to open a layer; everything else
 * (parsed forms, digests, the layer list) is derived here and memoised.
 */
import { pipeline, type Readable } from 'node:stream';
import { gunzipStream } from './compress.js';
import { sha256, VerifyingStream, type Digest } from './digest.js';
import { FormatError } from './errors.js';
import type { Image, ImageIndex, Layer } from './image.js';
import { isGzipLayer, MediaType } from './mediatypes.js';
import type { Descriptor, ImageConfigFile, Index, Manifest } from './types.js';

export interface ImageCore {
  rawManifest(): Promise<Buffer>;
  rawConfig(): Promise<Buffer>;
  /** The layer a manifest descriptor names; `diffID` is the config's matching rootfs entry. */
  layerByDigest(desc: Descriptor, diffID: Digest): Promise<Layer>;
}

/**
 * Caches the Promise (not the value) so concurrent callers share one fetch.
 * A rejection is not cached: the next call tries again.
 */
export function memoize<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    if (p === undefined) {
      const cur = (async () => fn())();
      p = cur;
      cur.catch(() => {
        if (p === cur) p = undefined;
      });
    }
    return p;
  };
}

function parseJson<T>(raw: Buffer, what: string): T {
  try {
    return JSON.parse(raw.toString('utf8')) as T;
  } catch (e) {
    throw new FormatError(`${what} is not valid JSON: ${(e as Error).message}`, { what });
  }
}

/** Why `d` is not a descriptor (mediaType, digest, size; a platform names os and architecture), or undefined. */
function descriptorProblem(d: unknown): string | undefined {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return 'is not an object';
  const x = d as Record<string, unknown>;
  if (typeof x['mediaType'] !== 'string') return 'has no mediaType';
  if (typeof x['digest'] !== 'string') return 'has no digest';
  if (!Number.isSafeInteger(x['size']) || (x['size'] as number) < 0) return 'has no valid size';
  return x['platform'] === undefined || isPlatform(x['platform']) ? undefined : 'has an invalid platform';
}

/** os and architecture strings; variant and os.version strings and os.features a string list where present. */
function isPlatform(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const p = value as Record<string, unknown>;
  const optionalString = (key: string): boolean => p[key] === undefined || typeof p[key] === 'string';
  const features = p['os.features'];
  return (
    typeof p['os'] === 'string' &&
    typeof p['architecture'] === 'string' &&
    optionalString('variant') &&
    optionalString('os.version') &&
    (features === undefined || (Array.isArray(features) && features.every((f) => typeof f === 'string')))
  );
}

function checkDescriptors(what: string, ds: readonly unknown[]): void {
  ds.forEach((d, i) => {
    const problem = descriptorProblem(d);
    if (problem) throw new FormatError(`${what} ${i} ${problem}`, { what, index: i });
  });
}

/** What a JSON document is, for an error: `null` must not surface as "Cannot read properties of null". */
function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function checkObject(v: unknown, what: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FormatError(`${what} is not a JSON object (got ${kindOf(v)})`);
}

export function parseManifest(raw: Buffer): Manifest {
  const m = parseJson<Manifest>(raw, 'manifest');
  checkObject(m, 'manifest');
  if (!m.config || !Array.isArray(m.layers)) {
    throw new FormatError('manifest has no config or layers', { mediaType: (m as Partial<Manifest> | null)?.mediaType });
  }
  const problem = descriptorProblem(m.config);
  if (problem) throw new FormatError(`manifest config descriptor ${problem}`);
  checkDescriptors('manifest layer', m.layers);
  return m;
}

export function parseConfig(raw: Buffer): ImageConfigFile {
  const c = parseJson<ImageConfigFile>(raw, 'image config');
  checkObject(c, 'image config');
  return c;
}

export function parseIndex(raw: Buffer): Index {
  const ix = parseJson<Index>(raw, 'index');
  checkObject(ix, 'index');
  if (!Array.isArray(ix.manifests)) {
    throw new FormatError('index has no manifests list');
  }
  checkDescriptors('index entry', ix.manifests);
  return ix;
}

export function imageFromCore(core: ImageCore): Image {
  const rawManifest = memoize(() => core.rawManifest());
  const manifest = memoize(async () => parseManifest(await rawManifest()));
  const rawConfig = memoize(() => core.rawConfig());
  const configFile = memoize(async () => parseConfig(await rawConfig()));
  const layers = memoize(async () => {
    const [m, c] = await Promise.all([manifest(), configFile()]);
    const diffIDs = c.rootfs?.diff_ids ?? [];
    if (diffIDs.length !== m.layers.length) {
      throw new FormatError(`manifest has ${m.layers.length} layers but config has ${diffIDs.length} diff_ids`, {
        layers: m.layers.length,
        diffIDs: diffIDs.length,
      });
    }
    return Promise.all(m.layers.map((d, i) => core.layerByDigest(d, diffIDs[i]!)));
  });
  const img = {
    mediaType: async () => (await manifest()).mediaType ?? MediaType.OciManifest,
    rawManifest,
    manifest,
    digest: memoize(async () => sha256(await rawManifest())),
    rawConfig,
    configFile,
    layers,
  } satisfies Image;
  return img;
}

const noop = (): void => {};


/** Whether a layer media type is zstd, which Node 20's zlib cannot read. */
function isZstdLayer(mt: string): boolean {
  return mt.endsWith('+zstd') || mt.endsWith('.zstd');
}

/**
 * A layer whose compressed bytes come from `open()`. compressed() checks digest
 * and size as the bytes stream by; uncompressed() decompresses that verified stream.
 */
export function layerFromOpener(source: { desc: Descriptor; diffID: Digest; open: () => Promise<Readable> }): Layer {
  const { desc } = source;
  const compressed = async (): Promise<Readable> => {
    const src = await source.open();
    // pipeline destroys both ends on error, so a consumer of the verifier sees the failure.
    return pipeline(src, new VerifyingStream(desc.digest, desc.size), noop);
  };
  const layer = {
    digest: async () => desc.digest,
    diffID: async () => source.diffID,
    size: async () => desc.size,
    mediaType: async () => desc.mediaType,
    compressed,
    uncompressed: async () => {
      if (isZstdLayer(desc.mediaType)) {
        throw new FormatError(`zstd layers are not supported: ${desc.digest}`, { mediaType: desc.mediaType });
      }
      const c = await compressed();
      if (!isGzipLayer(desc.mediaType)) return c; // already a plain tar
      return gunzipStream(c);
    },
  } satisfies Layer;
  return layer;
}

/** A full ImageIndex from its raw bytes and a way to open a child image. */
export function indexFromCore(raw: () => Promise<Buffer>, image: (d: Descriptor) => Promise<Image>): ImageIndex {
  const rawManifest = memoize(raw);
  const indexManifest = memoize(async () => parseIndex(await rawManifest()));
  const ix = {
    mediaType: async () => (await indexManifest()).mediaType ?? MediaType.OciIndex,
    rawManifest,
    indexManifest,
    digest: memoize(async () => sha256(await rawManifest())),
    image,
  } satisfies ImageIndex;
  return ix;
}
