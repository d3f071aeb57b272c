/**
 * The records the builder keeps in the store's meta (cache/ does the writing; these name what),
 * and their garbage collection: each describes a blob, and goes when nothing needs it any more.
 */
import { LAYER_SIZE_NS } from '../cache/image-size.js';
import type { PruneDependent } from '../cache/prune.js';
import type { ContentStore } from '../cache/store.js';
import { RuntimeState } from '../runtime/state.js';
import type { Digest } from '../image/digest.js';
import type { BuildRecord } from './build.js';

/** A layer's tar headers by diffID, so a rebuild need not gunzip the layer to know its files. */
export const LAYER_INDEX_NS = 'layer-index';
/** Per-image build facts (base layer count, Dockerfile line of each layer) by manifest digest. */
export const IMAGES_NS = 'images';

/** What the build that made this manifest recorded about it (undefined: not built here). */
export function readBuildRecord(store: ContentStore, manifestDigest: Digest): Promise<BuildRecord | undefined> {
  return store.readMeta<BuildRecord>(IMAGES_NS, manifestDigest);
}

/**
 * Drops image records whose manifest is gone and layer indexes of layers that neither a tagged
 * image nor a build-cache record uses (`neededDiffIDs`). An index dropped too eagerly costs one
 * gunzip of its layer later, never a wrong answer.
 */
export async function pruneBuilderMeta(
  store: ContentStore,
  neededDiffIDs: ReadonlySet<Digest>,
  opts: { minAgeMs: number; dryRun?: boolean },
): Promise<{ removed: number; bytes: number }> {
  const images = await store.pruneMeta(IMAGES_NS, (key) => store.has(key as Digest), opts);
  const indexes = await store.pruneMeta(LAYER_INDEX_NS, (key) => neededDiffIDs.has(key as Digest), opts);
  const sizes = await store.pruneMeta(LAYER_SIZE_NS, (key) => neededDiffIDs.has(key as Digest), opts);
  return { removed: images.removed + indexes.removed + sizes.removed, bytes: images.bytes + indexes.bytes + sizes.bytes };
}

/**
 * What the builder keeps beside the store, for cache/'s pruneStore: the runtime's layer
 * snapshots and the builder's metadata records.
 */
export function builderPruneDependents(store: ContentStore): PruneDependent[] {
  return [
    { what: 'layer snapshots', prune: (needed, opts) => RuntimeState.ofStore(store.root).pruneSnapshots(needed, opts) },
    { what: 'metadata records', prune: (needed, opts) => pruneBuilderMeta(store, needed, opts) },
  ];
}
