/**
 * Finding an image in the store the way `docker images`/`inspect` do: by name, by manifest
 * or config digest, or by an ID prefix of at least 12 hex digits.
 */
import { isDigest, type Digest } from '../image/digest.js';
import { isIndexMediaType, MediaType } from '../image/mediatypes.js';
import { hostPlatform, selectManifest } from '../image/platform.js';
import type { Descriptor, Index, Manifest } from '../image/types.js';
import { storeRefName } from '../registry/reference.js';
import type { ContentStore } from './store.js';

/** The image manifest a stored ref points at; for an index the host's image, else (listing) its first entry. */
export async function storedManifestOf(store: ContentStore, desc: Descriptor): Promise<Descriptor> {
  if (!isIndexMediaType(desc.mediaType)) return desc;
  const idx = await store.readJSON<Index>(desc.digest);
  return selectManifest(idx, hostPlatform()) ?? idx.manifests[0]!;
}

/** The manifest (not index) descriptor a name, digest or ID prefix names in the store; undefined when none. */
export async function findStoredImage(store: ContentStore, nameOrId: string): Promise<{ name?: string; desc: Descriptor } | undefined> {
  const id = nameOrId.startsWith('sha256:') ? nameOrId : /^[a-f0-9]{12,64}$/.test(nameOrId) ? `sha256:${nameOrId}` : undefined;
  if (id) {
    for (const r of await store.listRefs()) {
      const m = await storedManifestOf(store, r.desc);
      const cfg = (await store.readJSON<Manifest>(m.digest)).config.digest;
      if (m.digest.startsWith(id) || cfg.startsWith(id)) return { name: r.name, desc: m };
    }
    if (isDigest(id) && (await store.has(id as Digest))) {
      return { desc: { mediaType: MediaType.OciManifest, digest: id as Digest, size: (await store.stat(id as Digest))?.size ?? 0 } };
    }
  }
  const name = storeRefName(nameOrId);
  const desc = await store.getRef(name);
  return desc ? { name, desc: await storedManifestOf(store, desc) } : undefined;
}
