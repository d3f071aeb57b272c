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
  let size = 0;
  const tar = await layer.uncompressed();
  try {
    for await (const { header } of readTar(tar)) {
      if (header.type === 'file') size += header.size;
      else if (header.type === 'symlink') size += Buffer.byteLength(header.linkname ?? '');
    }
  } finally {
    tar.destroy();
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
