/**
 * Sharing the build cache through a registry or a directory (BuildKit's
 * `--cache-to/--cache-from type=registry|local`).
 *
 * The format is a plain OCI image manifest, so every registry that takes
 * OCI artifacts (Docker Hub, ECR, GCR/Artifact Registry, distribution)
 * stores it:
 *   config   mediaType application/vnd.tsbuild.cache.config.v1+json:
 *            { tsbuildCache: 1, records: [{ key, layer?: <index>, emptyLayer,
 *              createdAt, extra?, parent, inputs }], rootfs: { diff_ids } }
 *            (rootfs makes it a consistent image to generic tools)
 *   layers   the records' layer blobs, each once, as stored
 *   artifactType application/vnd.tsbuild.cache.v1
 * Locally it is an OCI layout directory whose index names it `cache`.
 *
 * Importing copies the layer blobs into the store (verified) and then adds
 * the records, so a record never names a blob the store lacks. Only
 * preimages stay local: they are for explanations, not for hits.
 */
import pLimit from 'p-limit';
import { isDigest, sha256, type Digest } from '../image/digest.js';
import type { Image } from '../image/image.js';
import { MediaType } from '../image/mediatypes.js';
import { pruneOciLayout, readOciLayout, writeOciLayout } from '../image/oci-layout.js';
import { DEFAULT_GC_GRACE_MS } from './gc.js';
import { imageFromCore, layerFromOpener } from '../image/partial.js';
import type { Descriptor, Manifest } from '../image/types.js';
import type { RegistryClient } from '../registry/client.js';
import { parseReference } from '../registry/reference.js';
import type { BuildCache, CacheEntry } from './build-cache.js';
import { RemoteCacheFormatError } from './errors.js';
import type { ContentStore } from './store.js';
import { writeImage } from './store-image.js';

export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.tsbuild.cache.config.v1+json';
export const CACHE_ARTIFACT_TYPE = 'application/vnd.tsbuild.cache.v1';
/** Ref name of the cache manifest inside a local OCI layout. */
export const LOCAL_CACHE_REF = 'cache';

export type CacheLocation = { type: 'local'; dir: string } | { type: 'registry'; ref: string; client: RegistryClient };

interface ConfigRecord {
  key: Digest;
  layer?: number;
  emptyLayer: boolean;
  createdAt: string;
  extra?: unknown;
  parent: Digest | null;
  inputs: Digest[];
}

interface CacheConfig {
  tsbuildCache: 1;
  records: ConfigRecord[];
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  /** Cache-mount contents (opt-in), each one layer of the artifact. */
  mounts?: Array<{ id: string; layer: number }>;
}

/**
 * The entries to export. `min`: the given keys and their parent chains (the
 * steps whose layers make up the images built). `max`: also, transitively,
 * every step named as an input (other stages: COPY --from, RUN
 * --mount=from), i.e. every intermediate result BuildKit's mode=max keeps.
 */
async function collect(cache: BuildCache, keys: Digest[], mode: 'min' | 'max'): Promise<CacheEntry[]> {
  const seen = new Set<Digest>();
  const out: CacheEntry[] = [];
  const queue = [...keys];
  for (let k = queue.pop(); k !== undefined; k = queue.pop()) {
    if (seen.has(k)) continue;
    seen.add(k);
    const e = await cache.entry(k);
    if (!e) continue; // an input that is content, not a step; or a record since pruned
    out.push(e);
    if (e.parent) queue.push(e.parent);
    if (mode === 'max') queue.push(...e.inputs);
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Write the records of `keys` (see collect for `mode`) and their layers to `dest`. Records whose layer is gone are left out. */
export async function exportCache(
  store: ContentStore,
  cache: BuildCache,
  keys: Digest[],
  dest: CacheLocation,
  mode: 'min' | 'max',
  extras: { mounts?: CacheMountExport[] } = {},
): Promise<{ records: number; layers: number }> {
  const layers: Descriptor[] = [];
  const diffIDs: Digest[] = [];
  const layerIndex = new Map<Digest, number>();
  const records: ConfigRecord[] = [];
  for (const e of await collect(cache, keys, mode)) {
    const r: ConfigRecord = { key: e.key, emptyLayer: e.rec.emptyLayer, createdAt: e.rec.createdAt, parent: e.parent, inputs: e.inputs };
    if (e.rec.extra !== undefined) r.extra = e.rec.extra;
    const l = e.rec.layer;
    if (l) {
      let i = layerIndex.get(l.desc.digest);
      if (i === undefined) {
        const st = await store.stat(l.desc.digest);
        if (st?.size !== l.desc.size) continue;
        i = layers.length;
        layers.push({ mediaType: l.desc.mediaType, digest: l.desc.digest, size: l.desc.size });
        diffIDs.push(l.diffID);
        layerIndex.set(l.desc.digest, i);
      }
      r.layer = i;
    }
    records.push(r);
  }
  // Cache-mount contents ride along as extra layers, named by mount id.
  const mounts: Array<{ id: string; layer: number }> = [];
  for (const m of extras.mounts ?? []) {
    mounts.push({ id: m.id, layer: layers.length });
    layers.push({ mediaType: m.layer.desc.mediaType, digest: m.layer.desc.digest, size: m.layer.desc.size });
    diffIDs.push(m.layer.diffID);
  }
  const config: CacheConfig = { tsbuildCache: 1, records, rootfs: { type: 'layers', diff_ids: diffIDs }, ...(mounts.length ? { mounts } : {}) };
  const rawConfig = Buffer.from(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256(rawConfig), size: rawConfig.length },
    layers,
  };
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  const img = imageFromCore({
    rawManifest: async () => rawManifest,
    rawConfig: async () => rawConfig,
    layerByDigest: async (desc, diffID) => layerFromOpener({ desc, diffID, open: () => store.open(desc.digest) }),
  });
  if (dest.type === 'local') {
    await writeOciLayout({ dir: dest.dir }, [{ image: img, refName: LOCAL_CACHE_REF }]);
    // what earlier exports left there and this one no longer names
    await pruneOciLayout(dest.dir, { minAgeMs: DEFAULT_GC_GRACE_MS });
  }
  else await dest.client.push(img, [parseReference(dest.ref)]);
  return { records: records.length, layers: layers.length };
}

/** A `RUN --mount=type=cache` directory exported with the cache (opt-in). */
export interface CacheMountExport {
  id: string;
  layer: { desc: Descriptor; diffID: Digest };
}

function parseMounts(raw: Buffer, layerCount: number): Array<{ id: string; layer: number }> {
  const c = JSON.parse(raw.toString('utf8')) as { mounts?: unknown };
  if (c.mounts === undefined) return [];
  if (!Array.isArray(c.mounts)) throw new RemoteCacheFormatError('cache config mounts is not a list');
  return c.mounts.map((m: { id?: unknown; layer?: unknown }) => {
    if (typeof m.id !== 'string' || typeof m.layer !== 'number' || !Number.isInteger(m.layer) || m.layer < 0 || m.layer >= layerCount) {
      throw new RemoteCacheFormatError('cache config has a malformed cache-mount entry');
    }
    return { id: m.id, layer: m.layer };
  });
}

function checkDigest(v: unknown, what: string): Digest {
  if (typeof v !== 'string' || !isDigest(v)) throw new RemoteCacheFormatError(`${what} is not a sha256 digest`, { what });
  return v;
}

function parseConfig(raw: Buffer, layerCount: number): ConfigRecord[] {
  let c: Partial<CacheConfig>;
  try {
    c = JSON.parse(raw.toString('utf8')) as Partial<CacheConfig>;
  } catch (e) {
    throw new RemoteCacheFormatError(`cache config is not JSON: ${(e as Error).message}`);
  }
  if (typeof c !== 'object' || c === null || c.tsbuildCache !== 1 || !Array.isArray(c.records)) {
    throw new RemoteCacheFormatError('not a tsbuild cache config (format 1)');
  }
  return c.records.map((r: Partial<ConfigRecord>, n) => {
    const at = `record ${n}`;
    if (typeof r !== 'object' || r === null) throw new RemoteCacheFormatError(`${at} is not an object`);
    const out: ConfigRecord = {
      key: checkDigest(r.key, `${at} key`),
      emptyLayer: r.emptyLayer === true,
      createdAt: typeof r.createdAt === 'string' ? r.createdAt : '',
      parent: r.parent === null || r.parent === undefined ? null : checkDigest(r.parent, `${at} parent`),
      inputs: Array.isArray(r.inputs) ? r.inputs.map((d, i) => checkDigest(d, `${at} input ${i}`)) : [],
    };
    if (r.extra !== undefined) out.extra = r.extra;
    if (r.layer !== undefined) {
      if (!Number.isInteger(r.layer) || r.layer < 0 || r.layer >= layerCount) {
        throw new RemoteCacheFormatError(`${at} names layer ${String(r.layer)}; the manifest has ${layerCount}`);
      }
      out.layer = r.layer;
    }
    return out;
  });
}

async function openSource(src: CacheLocation): Promise<Image> {
  if (src.type === 'local') return readOciLayout(src.dir, LOCAL_CACHE_REF);
  return src.client.getImage(parseReference(src.ref));
}

/**
 * Read a cache exported by exportCache: copy its layers into the store (each
 * verified against its descriptor; ones already present are not fetched),
 * then add its records. `records` counts the records now usable from it
 * (`added` of them are new here).
 */
export async function importCache(
  store: ContentStore,
  cache: BuildCache,
  src: CacheLocation,
): Promise<{ records: number; added: number; mounts: CacheMountExport[] }> {
  const img = await openSource(src);
  const manifest = await img.manifest();
  if (manifest.config?.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw new RemoteCacheFormatError(`not a tsbuild cache: config media type is ${String(manifest.config?.mediaType)}`, {
      mediaType: manifest.config?.mediaType,
    });
  }
  const records = parseConfig(await img.rawConfig(), manifest.layers.length);
  const layers = await img.layers();
  const diffIDs = await Promise.all(layers.map((l) => l.diffID()));
  const limit = pLimit(3);
  const needed = [...new Set(records.flatMap((r) => (r.layer === undefined ? [] : [r.layer])))];
  await Promise.all(
    needed.map((i) =>
      limit(async () => {
        const desc = manifest.layers[i]!;
        const st = await store.stat(desc.digest);
        if (st?.size === desc.size) return;
        await store.ingest(await layers[i]!.compressed(), { digest: desc.digest, size: desc.size });
      }),
    ),
  );
  let added = 0;
  for (const r of records) {
    const e: CacheEntry = {
      key: r.key,
      rec: { emptyLayer: r.emptyLayer, createdAt: r.createdAt },
      parent: r.parent,
      inputs: r.inputs,
    };
    if (r.extra !== undefined) e.rec.extra = r.extra;
    if (r.layer !== undefined) {
      const d = manifest.layers[r.layer]!;
      e.rec.layer = { desc: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffID: diffIDs[r.layer]! };
    }
    if (await cache.importEntry(e)) added++;
  }
  const mounts: CacheMountExport[] = [];
  for (const m of parseMounts(await img.rawConfig(), manifest.layers.length)) {
    const d = manifest.layers[m.layer]!;
    const st = await store.stat(d.digest);
    if (st?.size !== d.size) await store.ingest(await layers[m.layer]!.compressed(), { digest: d.digest, size: d.size });
    mounts.push({ id: m.id, layer: { desc: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffID: diffIDs[m.layer]! } });
  }
  return { records: records.length, added, mounts };
}

/** The image-config key that carries an inline cache (`--cache-to type=inline`). */
export const INLINE_CACHE_KEY = 'tsbuild.cache.v1';

/**
 * Inline cache: the records of the steps that made an image, written into that
 * image's own config (as BuildKit's inline cache does), each layer named by its
 * index in the image. Only records whose layer is one of the image's layers (or
 * that made no layer) can travel this way: mode=min by nature.
 */
export async function inlineCacheRecords(cache: BuildCache, keys: Digest[], imageLayers: readonly Descriptor[]): Promise<unknown[]> {
  const index = new Map(imageLayers.map((d, i) => [d.digest, i]));
  const out: ConfigRecord[] = [];
  for (const e of await collect(cache, keys, 'min')) {
    const r: ConfigRecord = { key: e.key, emptyLayer: e.rec.emptyLayer, createdAt: e.rec.createdAt, parent: e.parent, inputs: e.inputs };
    if (e.rec.layer) {
      const i = index.get(e.rec.layer.desc.digest);
      if (i === undefined) continue;
      r.layer = i;
    }
    out.push(r);
  }
  return out;
}

/** Reads an inline cache from an image (pulled or local): its layers go to the store, its records to the cache. */
export async function importInlineCache(store: ContentStore, cache: BuildCache, img: Image): Promise<{ records: number; added: number }> {
  const manifest = await img.manifest();
  const config = JSON.parse((await img.rawConfig()).toString('utf8')) as Record<string, unknown> & { rootfs?: { diff_ids?: Digest[] } };
  const raw = config[INLINE_CACHE_KEY];
  if (raw === undefined) throw new RemoteCacheFormatError('the image carries no inline cache', {});
  const records = parseConfig(Buffer.from(JSON.stringify({ tsbuildCache: 1, records: raw, rootfs: config.rootfs })), manifest.layers.length);
  await writeImage(store, img);
  let added = 0;
  for (const r of records) {
    const e: CacheEntry = { key: r.key, rec: { emptyLayer: r.emptyLayer, createdAt: r.createdAt }, parent: r.parent, inputs: r.inputs };
    if (r.layer !== undefined) {
      const d = manifest.layers[r.layer]!;
      e.rec.layer = { desc: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffID: config.rootfs!.diff_ids![r.layer]! };
    }
    if (await cache.importEntry(e)) added++;
  }
  return { records: records.length, added };
}
