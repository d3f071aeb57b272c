/**
 * docker's SIZE of an image: the bytes its layers take unpacked, as dockerd's overlay2 driver
 * counts a layer (regular files' sizes plus symlink targets' lengths; directories, devices and
 * whiteouts count nothing, a hard link counts once). Computed by reading each layer's tar
 * headers once; the answer is kept in the store's meta by diffID, so `images` stays fast.
 */
import type { Digest } from '../image/digest.js';
import type { Layer } from '../image/image.js';
import { readTar } from '../image/tar/reader.js';
import { storeImage } from './store-image.js';
import type { ContentStore } from './store.js';

/** Meta namespace: `{ size }` of a layer unpacked, by diffID. */
export const LAYER_SIZE_NS = 'layer-size';

/** What overlay2 reports for one unpacked layer. */
export async function unpackedLayerSize(store: ContentStore, layer: Layer): Promise<number> {
  const diffID = await layer.diffID();
  const known = await store.readMeta<{ size?: unknown }>(LAYER_SIZE_NS, diffID).catch(() => undefined);
  if (typeof known?.size === 'number') return known.size;
  const tar = await layer.uncompressed();
  const headers = async function* (): AsyncGenerator<SizedHeader> {
    for await (const { header } of readTar(tar)) yield header;
  };
  try {
    return await rememberLayerSize(store, diffID, headers());
  } finally {
    tar.destroy();
  }
}

interface SizedHeader {
  type: string;
  size: number;
  linkname?: string;
}

/**
 * Keeps a layer's unpacked size, counted from its tar headers (the builder calls this with the
 * headers of a layer it just wrote, so `images` never gunzips a layer built here).
 */
export async function rememberLayerSize(store: ContentStore, diffID: Digest, headers: Iterable<SizedHeader> | AsyncIterable<SizedHeader>): Promise<number> {
  let size = 0;
  for await (const h of headers) {
    if (h.type === 'file') size += h.size;
    else if (h.type === 'symlink') size += Buffer.byteLength(h.linkname ?? '');
  }
  await store.writeMeta(LAYER_SIZE_NS, diffID, { size }).catch(() => {});
  return size;
}

/** docker's image Size: its layers unpacked, summed. */
export async function unpackedImageSize(store: ContentStore, manifestDigest: Digest): Promise<number> {
  let total = 0;
  for (const layer of await storeImage(store, manifestDigest).layers()) total += await unpackedLayerSize(store, layer);
  return total;
}
