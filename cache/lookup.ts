/**
 * Finding an image in the store the way `docker images`/`inspect` do: by name, by manifest
 * or config digest, or by an ID prefix of at least 12 hex digits.
 */
import { isDigest, type Digest } from '../image/digest.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from '../image/mediatypes.js';
import { formatPlatform, hostPlatform, indexPlatforms, selectManifest } from '../image/platform.js';
import type { Descriptor, Index, Manifest, Platform } from '../image/types.js';
import { storeRefName } from '../registry/reference.js';
import type { ContentStore } from './store.js';
import { NoStoredPlatformError } from './errors.js';

/**
 * The image manifest a stored ref points at; for an index the entry for `platform` (an error when
 * it has none), else the host's one that is in the store, else (listing) the first one that is.
 */
export async function storedManifestOf(store: ContentStore, desc: Descriptor, platform?: Platform): Promise<Descriptor> {
  if (!isIndexMediaType(desc.mediaType)) return desc;
  const idx = await store.readJSON<Index>(desc.digest);
  if (platform) {
    const pick = selectManifest(idx, platform);
    if (!pick || !(await store.has(pick.digest))) {
      throw new NoStoredPlatformError(`no image for ${formatPlatform(platform)} in the store under this name (has ${(await storedPlatforms(store, desc)).join(', ') || 'none'}; the index lists ${indexPlatforms(idx).join(', ')})`);
    }
    return pick;
  }
  const present = { manifests: await presentEntries(store, idx) };
  return selectManifest(present, hostPlatform()) ?? present.manifests[0] ?? idx.manifests[0]!;
}

/** The entries of an index whose manifests are in the store (a pull keeps only the platforms it was asked for). */
async function presentEntries(store: ContentStore, idx: Index): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  for (const d of idx.manifests) if (await store.has(d.digest)) out.push(d);
  return out;
}

/** The platforms a stored index has images for in the store (`os/arch[/variant]`); [] for a single image. */
export async function storedPlatforms(store: ContentStore, desc: Descriptor): Promise<string[]> {
  if (!isIndexMediaType(desc.mediaType)) return [];
  return indexPlatforms({ manifests: await presentEntries(store, await store.readJSON<Index>(desc.digest)) });
}

/** The entries of a stored index present in the store, with their platforms (for `images --tree`). */
export async function storedIndexEntries(store: ContentStore, desc: Descriptor): Promise<Descriptor[]> {
  return isIndexMediaType(desc.mediaType) ? presentEntries(store, await store.readJSON<Index>(desc.digest)) : [];
}

/** The manifest (not index) descriptor a name, digest or ID prefix names in the store; undefined when none. */
export async function findStoredImage(store: ContentStore, nameOrId: string, platform?: Platform): Promise<{ name?: string; desc: Descriptor } | undefined> {
  const id = nameOrId.startsWith('sha256:') ? nameOrId : /^[a-f0-9]{12,64}$/.test(nameOrId) ? `sha256:${nameOrId}` : undefined;
  if (id) {
    for (const r of await store.listRefs()) {
      const m = await storedManifestOf(store, r.desc);
      const cfg = (await store.readJSON<Manifest>(m.digest)).config.digest;
      if (m.digest.startsWith(id) || cfg.startsWith(id)) return { name: r.name, desc: m };
    }
    if (isDigest(id)) {
      const desc = await imageBlob(store, id);
      if (desc) return { desc: await storedManifestOf(store, desc, platform) };
    }
  }
  const name = storeRefName(nameOrId);
  const desc = await store.getRef(name);
  return desc ? { name, desc: await storedManifestOf(store, desc, platform) } : undefined;
}

/** Largest blob read to see whether it is a manifest: a layer is never parsed. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * The descriptor of a stored manifest or index with this digest; undefined for other blobs. A
 * config or layer digest names no image (docker's image ID is the config digest of a named image,
 * matched above), so it must not be read as a manifest.
 */
async function imageBlob(store: ContentStore, digest: Digest): Promise<Descriptor | undefined> {
  const st = await store.stat(digest);
  if (!st || st.size > MAX_MANIFEST_BYTES) return undefined;
  let doc: { mediaType?: unknown; schemaVersion?: unknown; config?: unknown; layers?: unknown; manifests?: unknown };
  try {
    doc = await store.readJSON(digest);
  } catch {
    return undefined;
  }
  if (typeof doc !== 'object' || doc === null || doc.schemaVersion !== 2) return undefined;
  const mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  if (Array.isArray(doc.manifests) && (mediaType === undefined || isIndexMediaType(mediaType))) return { mediaType: mediaType ?? MediaType.OciIndex, digest, size: st.size };
  if (typeof doc.config === 'object' && doc.config !== null && Array.isArray(doc.layers) && (mediaType === undefined || isManifestMediaType(mediaType))) {
    return { mediaType: mediaType ?? MediaType.OciManifest, digest, size: st.size };
  }
  return undefined;
}
