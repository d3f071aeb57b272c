import type { Readable } from 'node:stream';
import type { ContentStore } from '../cache/store.js';
import { writeImage } from '../cache/store-image.js';
import type { Digest } from '../image/digest.js';
import type { Image } from '../image/image.js';
import { isIndexMediaType } from '../image/mediatypes.js';
import { openFileImage, parseImageSpec, type ImageSpec } from '../image/image-spec.js';
import { configPlatformMismatch, formatPlatform, hostPlatform, indexPlatforms, selectManifest } from '../image/platform.js';
import type { Descriptor, ImageConfigFile, Index, Manifest, Platform } from '../image/types.js';
import { parseReference, storeRefName } from '../registry/reference.js';
import type { StepRegistry } from './solve.js';
import { BaseImageError, type SourceLocation } from './errors.js';
import type { LayerRef } from './stage-state.js';

/** Docker's default PATH, which BuildKit puts into images that have none. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A base image, resolved to blobs in the local store. */
export interface ResolvedBase {
  /** Manifest digest, or 'scratch'. */
  digest: Digest | 'scratch';
  name: string;
  layers: LayerRef[];
  config: ImageConfigFile;
}

export function scratchConfig(platform: Platform): ImageConfigFile {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Env: [`PATH=${DEFAULT_PATH}`] },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

/** Loads an image whose manifest (or index) is in the store, picking `platform` from an index. */
export async function loadFromStore(
  store: ContentStore,
  desc: Descriptor,
  platform: Platform,
  name: string,
): Promise<ResolvedBase> {
  let mdesc = desc;
  if (isIndexMediaType(desc.mediaType)) {
    const index = await store.readJSON<Index>(desc.digest);
    const pick = selectManifest(index, platform);
    if (!pick) {
      const have = indexPlatforms(index).join(', ');
      throw new BaseImageError(`${name}: no image for platform ${formatPlatform(platform)} (has ${have})`);
    }
    mdesc = pick;
  }
  const manifest = await store.readJSON<Manifest>(mdesc.digest);
  const config = await store.readJSON<ImageConfigFile>(manifest.config.digest);
  const mismatch = configPlatformMismatch(config, platform);
  if (mismatch) throw new BaseImageError(`${name} is a single-platform image for ${mismatch}, not for ${formatPlatform(platform)}: use an image (index) that has ${formatPlatform(platform)}, or FROM --platform=${mismatch}`);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new BaseImageError(`${name}: config has ${config.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
  }
  const layers = manifest.layers.map((d, i) => ({ desc: d, diffID: config.rootfs.diff_ids[i]! }));
  return { digest: mdesc.digest, name, layers, config };
}

/**
 * The stored image a ref names, when it holds `platform`: an index whose entry for it is in the
 * store (a pull keeps only the platforms it needed), or a single image for it. Otherwise why not.
 */
async function storedForPlatform(store: ContentStore, desc: Descriptor, platform: Platform): Promise<'ok' | 'absent' | 'mismatch'> {
  if (!isIndexMediaType(desc.mediaType)) {
    const manifest = await store.readJSON<Manifest>(desc.digest);
    return configPlatformMismatch(await store.readJSON<ImageConfigFile>(manifest.config.digest), platform) ? 'mismatch' : 'ok';
  }
  const pick = selectManifest(await store.readJSON<Index>(desc.digest), platform);
  return pick && (await store.has(pick.digest)) ? 'ok' : 'absent';
}

export interface BaseResolver {
  store: ContentStore;
  platform: Platform;
  registry: () => Promise<StepRegistry>;
  pull: boolean;
  /** Gets each layer blob a pull downloads, as it arrives (see pulled-layer.ts). */
  tee?: (compressed: Readable) => Promise<void>;
  /** Resolutions of this build by name: stages FROM the same image pull it once. */
  memo?: Map<string, Promise<ResolvedBase>>;
}

/**
 * FROM / COPY --from an image: `oci-layout://PATH[:TAG]`, an image in the
 * local store, else a registry pull (kept in the store and tagged, so the next
 * build needs no network — docker's behaviour without --pull).
 */
export function resolveImage(resolver: BaseResolver, name: string, loc?: SourceLocation): Promise<ResolvedBase> {
  if (!resolver.memo) return resolveUncached(resolver, name, loc);
  // per platform: FROM --platform=$BUILDPLATFORM x and FROM x of a foreign target are two images
  const key = `${formatPlatform(resolver.platform)} ${name}`;
  let p = resolver.memo.get(key);
  if (!p) resolver.memo.set(key, (p = resolveUncached(resolver, name, loc)));
  // each stage gets its own copy: nothing one stage does to its config can reach another
  return p.then((b) => structuredClone(b));
}

async function resolveUncached(r: BaseResolver, name: string, loc?: SourceLocation): Promise<ResolvedBase> {
  let spec: ImageSpec;
  try {
    spec = parseImageSpec(name, 'dockerfile');
  } catch (e) {
    throw new BaseImageError(`invalid image source ${JSON.stringify(name)}: ${(e as Error).message}`, loc);
  }
  if (spec.kind === 'oci-layout') {
    let img: Image;
    try {
      // the digest of oci-layout://PATH@DIGEST is not a selector here (BuildKit checks it against the store)
      img = await openFileImage({ kind: spec.kind, path: spec.path, ...(spec.tag ? { tag: spec.tag } : {}) }, r.platform);
    } catch (e) {
      throw new BaseImageError(`cannot read OCI layout ${name.replace(/^oci-layout:\/\//, '')}: ${(e as Error).message}`, loc);
    }
    const desc = await writeImage(r.store, img);
    return loadFromStore(r.store, desc, r.platform, name);
  }
  const imageName = spec.kind === 'registry' ? spec.reference : spec.kind === 'name' ? spec.name : name;
  let refName: string;
  try {
    refName = storeRefName(imageName);
  } catch (e) {
    throw new BaseImageError(`invalid reference format: ${JSON.stringify(imageName)}: ${(e as Error).message}`, loc);
  }
  const ref = parseReference(imageName);
  let local: Descriptor | undefined;
  if (!r.pull) {
    local = ref.digest && (await r.store.has(ref.digest)) ? await digestDescriptor(r.store, ref.digest) : await r.store.getRef(refName);
    // an image built or loaded here for another platform only: the registry may have this one
    if (local && (await storedForPlatform(r.store, local, r.platform)) === 'ok') return loadFromStore(r.store, local, r.platform, imageName);
  }
  let pulled: Awaited<ReturnType<StepRegistry['getPlatformImage']>>;
  try {
    pulled = await (await r.registry()).getPlatformImage(ref, r.platform);
  } catch (e) {
    // a local single-platform image for another platform: that, not the registry's answer, is the problem
    if (local && !isIndexMediaType(local.mediaType)) return loadFromStore(r.store, local, r.platform, imageName);
    throw new BaseImageError(`failed to resolve source metadata for ${refName}: ${(e as Error).message}`, loc, {
      cause: (e as { code?: string }).code,
    });
  }
  const tee = r.tee;
  const desc = await writeImage(r.store, pulled.image, tee ? { tee: (_i, compressed) => tee(compressed) } : {});
  // Keep the index (with this platform's image in the store) so other platforms resolve through it too.
  const named = pulled.index ? await keepIndex(r.store, pulled.index) : desc;
  if (!ref.digest) await r.store.setRef(refName, named);
  return loadFromStore(r.store, named, r.platform, imageName);
}

async function keepIndex(store: ContentStore, index: { raw: Buffer; mediaType: string; digest: Digest }): Promise<Descriptor> {
  await store.putBytes(index.raw, { digest: index.digest, size: index.raw.length });
  return { mediaType: index.mediaType, digest: index.digest, size: index.raw.length };
}

async function digestDescriptor(store: ContentStore, digest: Digest): Promise<Descriptor> {
  const raw = await store.readJSON<{ mediaType?: string; manifests?: unknown }>(digest);
  const st = await store.stat(digest);
  const mediaType = raw.mediaType ?? (raw.manifests ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json');
  return { mediaType, digest, size: st?.size ?? 0 };
}

export { hostPlatform };
