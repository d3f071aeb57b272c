import type { ContentStore } from '../cache/store.js';
import { MediaType } from '../image/mediatypes.js';
import { imageFromConfig } from '../image/mutate.js';
import type { Descriptor, ImageConfigFile } from '../image/types.js';
import { storeLayer } from '../cache/store-image.js';
import type { EventSink } from './events.js';
import type { Clock } from './solve.js';
import type { StageState } from './stage-state.js';
import type { BuildOptions, BuildRecord } from './build.js';
import { inlineCache } from './cache-io.js';
import type { BuildResources } from './resources.js';
import type { Solved } from './session.js';
import { IMAGES_NS } from './store-meta.js';

export interface FinalImage {
  manifest: Descriptor;
  config: Descriptor;
  configFile: ImageConfigFile;
}

/** The finalize phase: the target stage's image in the store, with what report/ needs kept beside it. */
export async function finalizeBuild(options: BuildOptions, solved: Solved, res: BuildResources, emit: EventSink): Promise<FinalImage> {
  const { final, session } = solved;
  const extraConfig = await inlineCache(options.cacheTo ?? [], res.cacheIo(emit), solved.stepKeys('min'), final.layers.map((l) => l.desc));
  const img = await finalizeImage(options.store, final, { labels: options.labels ?? {}, epoch: options.sourceDateEpoch, clock: session.clock, extraConfig, ...(options.annotations ? { annotations: options.annotations } : {}) });
  // What report/ needs to attribute layers: kept beside the image, not inside it.
  await options.store.writeMetaIfChanged(IMAGES_NS, img.manifest.digest, {
    baseLayerCount: final.baseLayerCount,
    sourceMap: final.historySources ?? [],
  } satisfies BuildRecord);
  return img;
}

/**
 * Writes the config and manifest of a finished stage to the store (assembled by image/mutate's
 * imageFromConfig). Field order is fixed by construction, so equal inputs give equal digests.
 */
export async function finalizeImage(
  store: ContentStore,
  state: StageState,
  options: {
    labels: Record<string, string>;
    epoch: number | undefined;
    clock: Clock;
    extraConfig?: Record<string, unknown>;
    /** `--annotation manifest:K=V` (in the manifest) and `manifest-descriptor:K=V` (on the descriptor that names it). */
    annotations?: { manifest: Record<string, string>; manifestDescriptor: Record<string, string> };
  },
): Promise<FinalImage> {
  const c = state.config;
  // The newest step's date: a fully cached rebuild gives the same config and image ID.
  const newest = (c.history ?? []).map((h) => h.created ?? '').reduce((a, b) => (b > a ? b : a), '');
  const created = options.epoch !== undefined ? new Date(options.epoch * 1000).toISOString() : newest || new Date(options.clock.now()).toISOString();
  const labels = { ...(c.config.Labels ?? {}), ...options.labels };
  const history = (c.history ?? []).map((h) => (options.epoch !== undefined ? { ...h, created } : h));
  const configFile: ImageConfigFile = {
    ...(c.author !== undefined ? { author: c.author } : {}),
    architecture: c.architecture,
    os: c.os,
    ...(c.variant ? { variant: c.variant } : {}),
    created,
    config: compact({ ...c.config, Labels: Object.keys(labels).length ? labels : undefined }),
    rootfs: { type: 'layers', diff_ids: [...c.rootfs.diff_ids] },
    history,
    // e.g. an inline build cache: extra top-level keys, as BuildKit's moby.buildkit.cache.v0
    ...(options.extraConfig ?? {}),
  };
  // image/mutate assembles the manifest; the layers are already in the store
  const manifestAnnotations = nonEmpty(options.annotations?.manifest) ? sortedKeys(options.annotations.manifest) : undefined;
  const img = imageFromConfig(configFile, state.layers.map((l) => l.desc), storeLayer(store), manifestAnnotations);
  const [manifest, rawConfig, rawManifest, digest] = await Promise.all([img.manifest(), img.rawConfig(), img.rawManifest(), img.digest()]);
  await store.putBytes(rawConfig, { digest: manifest.config.digest, size: manifest.config.size });
  await store.putBytes(rawManifest, { digest, size: rawManifest.length });
  const mdesc: Descriptor = { mediaType: MediaType.OciManifest, digest, size: rawManifest.length };
  const descAnnotations = options.annotations?.manifestDescriptor;
  return { manifest: nonEmpty(descAnnotations) ? { ...mdesc, annotations: sortedKeys(descAnnotations) } : mdesc, config: manifest.config, configFile };
}

/** Drops undefined/null-valued keys so the JSON has no `"Cmd": null` noise unless docker would write it. */
function compact<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && !(v === null && k === 'OnBuild')) out[k] = v;
  return out as T;
}

function nonEmpty(m: Record<string, string> | undefined): m is Record<string, string> {
  return m !== undefined && Object.keys(m).length > 0;
}

/** Annotations with their keys sorted, as Go writes a map (BuildKit's manifests). */
export function sortedKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
