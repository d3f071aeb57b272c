import type { TarSource } from '../image/tar/writer.js';

/**
 * SOURCE_DATE_EPOCH for layer contents, as BuildKit's rewrite-timestamp=true: every mtime later
 * than the epoch becomes the epoch (older ones, say of context files, stay). Without it, a file
 * a RUN touched, or the directory a WORKDIR made and a RUN wrote into, would carry the build's
 * wall-clock time, and a rebuild at another time would give another layer digest.
 */
export function clampToEpoch(entry: TarSource, epoch: number | undefined): TarSource {
  if (epoch === undefined || !(entry.header.mtime > epoch)) return entry;
  return { ...entry, header: { ...entry.header, mtime: epoch } };
}
