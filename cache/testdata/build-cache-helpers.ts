import { createTarStream } from '../../image/tar/writer.js';
import type { CacheRecord } from '../build-cache.js';
import type { ContentStore } from '../store.js';

/** A real gzip layer with one file, stored; the record a step producing it would have. */
export async function layerRecord(store: ContentStore, content: string, extra?: unknown): Promise<CacheRecord> {
  const body = Buffer.from(content);
  const tar = createTarStream([{ header: { path: 'file.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body }]);
  const { desc, diffID } = await store.ingestLayer(tar);
  const rec: CacheRecord = { layer: { desc, diffID }, emptyLayer: false, createdAt: '2024-01-01T00:00:00Z' };
  if (extra !== undefined) rec.extra = extra;
  return rec;
}
