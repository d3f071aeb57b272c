/**
 * A base-image layer, taken apart while it downloads: its tar headers become the
 * store's `layer-index` (what FsView needs for WORKDIR, COPY and USER) and, when a
 * RUN step will need it, the runtime's snapshot is unpacked from the same bytes.
 * Without this, a cold build gunzips every base layer up to three times (pull,
 * index, snapshot). Both are keyed by the diffID computed here from the bytes
 * themselves, so a wrong diff_id in a config cannot mislabel them.
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContentStore } from '../cache/store.js';
import { createGunzip } from '../image/compress.js';
import { HashingStream } from '../image/digest.js';
import type { StepRuntime } from './solve.js';
import { LAYER_INDEX_NS } from './store-meta.js';
import { FsView } from './fsview.js';

export interface PulledLayerSinks {
  store: ContentStore;
  /** The runtime to seed a snapshot in, or undefined when no RUN step needs one. */
  runtime?: () => Promise<StepRuntime>;
}

export async function takePulledLayer(compressed: Readable, sinks: PulledLayerSinks): Promise<void> {
  const rt = sinks.runtime ? await sinks.runtime().catch(() => undefined) : undefined;
  const hashing = new HashingStream();
  const toIndex = new PassThrough({ highWaterMark: 1 << 20 });
  const toSnapshot = rt ? new PassThrough({ highWaterMark: 1 << 20 }) : undefined;
  if (toSnapshot) {
    hashing.pipe(toSnapshot);
    // Its consumer may have given up before the download fails (a tampered blob
    // fails at its last byte): the failure then has no one to reach, and an
    // 'error' event without a listener would crash the process.
    toSnapshot.on('error', () => {});
  }
  const unpacked = pipeline(compressed, createGunzip(), hashing, toIndex);
  unpacked.catch((e: Error) => toSnapshot?.destroy(e));
  const diffID = unpacked.then(() => hashing.digest());
  // Only the snapshot waits on it; when there is none, its failure is `unpacked`'s.
  diffID.catch(() => {});
  const [headers] = await Promise.all([
    FsView.empty().applyLayer(toIndex, 0),
    // a snapshot that cannot be made now is made by the RUN that needs it
    toSnapshot && rt
      ? rt.seedLayer(toSnapshot, diffID).catch(() => {
          hashing.unpipe(toSnapshot);
          toSnapshot.resume();
        })
      : undefined,
    unpacked,
  ]);
  await sinks.store.writeMeta(LAYER_INDEX_NS, await diffID, headers);
}
