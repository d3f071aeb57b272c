/**
 * Images backed by the store (read side) and copying any Image into it
 * (write side). Both go through image/partial.ts so a store image behaves
 * exactly like a registry or layout image.
 */
import type { Readable } from 'node:stream';
import pLimit from 'p-limit';
import type { Digest } from '../image/digest.js';
import type { Image, ImageIndex, Layer } from '../image/image.js';
import { MediaType } from '../image/mediatypes.js';
import { imageFromCore, indexFromCore, layerFromOpener, memoize, parseManifest } from '../image/partial.js';
import { tee } from '../image/tee.js';
import type { Descriptor } from '../image/types.js';
import type { ContentStore } from './store.js';

/**
 * A lazy Image over a manifest in the store: nothing is read until asked.
 * Reading a missing blob fails with BlobNotFoundError, a corrupt one with
 * BlobCorruptError (and the blob is removed).
 */
export function storeImage(store: ContentStore, manifestDigest: Digest): Image {
  store.blobPath(manifestDigest); // validates the digest now rather than at first use
  const rawManifest = memoize(() => store.readBytes(manifestDigest));
  return imageFromCore({
    rawManifest,
    rawConfig: async () => store.readBytes(parseManifest(await rawManifest()).config.digest),
    layerByDigest: storeLayer(store),
  });
}

/** Opens the layers of an image from the store's blobs. */
export function storeLayer(store: ContentStore): (desc: Descriptor, diffID: Digest) => Promise<Layer> {
  return async (desc, diffID) => layerFromOpener({ desc, diffID, open: () => store.open(desc.digest) });
}

/** A lazy ImageIndex over an index in the store; its images are store images. */
export function storeIndex(store: ContentStore, indexDigest: Digest): ImageIndex {
  store.blobPath(indexDigest);
  return indexFromCore(
    () => store.readBytes(indexDigest),
    async (desc: Descriptor) => storeImage(store, desc.digest),
  );
}

export interface WriteImageOptions {
  /** Layers copied at once; default 3. */
  concurrency?: number;
  signal?: AbortSignal;
  /**
   * Also handed every layer blob that is actually downloaded (compressed bytes, as they arrive),
   * so a caller can index or unpack it in the same pass. It must consume the stream; if it
   * throws, the copy into the store still completes.
   */
  tee?: (layer: number, compressed: Readable) => Promise<void>;
}

/**
 * Copy an image into the store: missing layers first (in parallel), then
 * the config, then the manifest, so a manifest in the store always has all
 * its blobs. Every blob is verified against the manifest's descriptor.
 * Returns the manifest's descriptor.
 */
export async function writeImage(store: ContentStore, img: Image, opts: WriteImageOptions = {}): Promise<Descriptor> {
  const [manifest, layers, rawConfig, rawManifest, digest, mediaType] = await Promise.all([
    img.manifest(),
    img.layers(),
    img.rawConfig(),
    img.rawManifest(),
    img.digest(),
    img.mediaType(),
  ]);
  if (layers.length !== manifest.layers.length) {
    throw new TypeError(`image has ${layers.length} layers but its manifest lists ${manifest.layers.length}`);
  }
  const limit = pLimit(Math.max(1, opts.concurrency ?? 3));
  const ingestOpts = opts.signal ? { signal: opts.signal } : {};
  await Promise.all(
    manifest.layers.map((desc, i) =>
      limit(async () => {
        opts.signal?.throwIfAborted();
        const st = await store.stat(desc.digest);
        if (st?.size === desc.size) {
          await store.touch(desc.digest); // in use again: keep it out of gc's reach
          return;
        }
        const src = await layers[i]!.compressed();
        if (!opts.tee) {
          await store.ingest(src, { digest: desc.digest, size: desc.size }, ingestOpts);
          return;
        }
        const t = tee(src);
        // a failed side copy must not stall the store's
        const teed = opts.tee(i, t.side).catch(() => t.detachSide());
        await Promise.all([store.ingest(t.main, { digest: desc.digest, size: desc.size }, ingestOpts), teed]);
      }),
    ),
  );
  await store.putBytes(rawConfig, { digest: manifest.config.digest, size: manifest.config.size });
  await store.putBytes(rawManifest, { digest, size: rawManifest.length });
  return { mediaType: mediaType ?? manifest.mediaType ?? MediaType.OciManifest, digest, size: rawManifest.length };
}

/**
 * Copy an index into the store with the images of `entries` (some of its manifests: a pull keeps
 * the platforms it was asked for; `--all` every one): those images first, then the index itself.
 * Returns the index's descriptor.
 */
export async function writeIndex(store: ContentStore, index: ImageIndex, entries: readonly Descriptor[], opts: WriteImageOptions = {}): Promise<Descriptor> {
  for (const d of entries) await writeImage(store, await index.image(d), opts);
  const [raw, digest, mediaType] = await Promise.all([index.rawManifest(), index.digest(), index.mediaType()]);
  await store.putBytes(raw, { digest, size: raw.length });
  return { mediaType, digest, size: raw.length };
}
