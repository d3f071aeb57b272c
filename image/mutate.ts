/**
 * Edits that return new images (ggcr's `mutate`). Nothing is edited in place:
 * every function reads its input lazily and derives a new manifest and config,
 * computed once on first use.
 */
import { sha256, type Digest } from './digest.js';
import { FormatError } from './errors.js';
import type { Image, Layer } from './image.js';
import { MediaType } from './mediatypes.js';
import { imageFromCore, memoize, type ImageCore } from './partial.js';
import { hostPlatform } from './platform.js';
import type { Descriptor, HistoryEntry, ImageConfigFile, Manifest } from './types.js';

export type ManifestKind = 'oci' | 'docker';

const DockerUncompressedLayer = 'application/vnd.docker.image.rootfs.diff.tar';
const OciNondistributableGzip = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';

/** Layer media types that have a twin in the other family: [oci, docker]. */
const LAYER_TWINS: ReadonlyArray<readonly [string, string]> = [
  [MediaType.OciLayerGzip, MediaType.DockerLayerGzip],
  [MediaType.OciLayer, DockerUncompressedLayer],
  [OciNondistributableGzip, MediaType.DockerForeignLayerGzip],
];

/** The spelling of a layer media type in the given manifest family. */
export function layerMediaTypeFor(mt: string, kind: ManifestKind): string {
  for (const [oci, docker] of LAYER_TWINS) {
    if (mt === oci || mt === docker) return kind === 'oci' ? oci : docker;
  }
  if (kind === 'docker' && mt.startsWith('application/vnd.oci.')) {
    throw new FormatError(`layer media type ${mt} has no Docker equivalent`, { mediaType: mt });
  }
  return mt;
}

export function manifestKindOf(mediaType: string): ManifestKind {
  return mediaType === MediaType.DockerManifest ? 'docker' : 'oci';
}

/** The same layer under another media type (the bytes, and how they decompress, do not change). */
function relabel(l: Layer, mediaType: string): Layer {
  return {
    digest: () => l.digest(),
    diffID: () => l.diffID(),
    size: () => l.size(),
    mediaType: async () => mediaType,
    compressed: () => l.compressed(),
    uncompressed: () => l.uncompressed(),
  } satisfies Layer;
}

function serialize(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v), 'utf8');
}

/**
 * The common core of every edit: `compute` gives the new manifest (its config
 * descriptor is filled in here) and raw config; `layers` the layers it names.
 */
function derived(
  compute: () => Promise<{ manifest: Manifest; rawConfig: Buffer }>,
  layers: () => Promise<Layer[]>,
): Image {
  const result = memoize(async () => {
    const { manifest, rawConfig } = await compute();
    const m: Manifest = {
      ...manifest,
      config: { ...manifest.config, digest: sha256(rawConfig), size: rawConfig.length },
    };
    return { rawManifest: serialize(m), rawConfig };
  });
  const byDigest = memoize(async () => {
    const ls = await layers();
    const map = new Map<Digest, Layer>();
    for (const l of ls) map.set(await l.digest(), l);
    return map;
  });
  return imageFromCore({
    rawManifest: async () => (await result()).rawManifest,
    rawConfig: async () => (await result()).rawConfig,
    layerByDigest: async (desc: Descriptor) => {
      const l = (await byDigest()).get(desc.digest);
      if (!l) throw new FormatError(`no layer ${desc.digest} in edited image`, { digest: desc.digest });
      return (await l.mediaType()) === desc.mediaType ? l : relabel(l, desc.mediaType);
    },
  });
}

/** Edits manifest and config together; the config is re-serialised. */
function edit(
  base: Image,
  fn: (m: Manifest, c: ImageConfigFile, kind: ManifestKind) => Promise<void> | void,
  layers: () => Promise<Layer[]> = () => base.layers(),
): Image {
  return derived(async () => {
    const [m, c, mt] = await Promise.all([base.manifest(), base.configFile(), base.mediaType()]);
    // Clones: the base's memoised values must never change under it.
    const manifest = structuredClone(m);
    const config = structuredClone(c);
    await fn(manifest, config, manifestKindOf(mt));
    return { manifest, rawConfig: serialize(config) };
  }, layers);
}

/**
 * Makes history line up with the layers when an image had none (or too little):
 * placeholders for the layers it already has, so new entries describe new layers.
 */
function alignedHistory(history: HistoryEntry[] | undefined, layerCount: number): HistoryEntry[] {
  const h = [...(history ?? [])];
  const missing = layerCount - h.filter((e) => !e.empty_layer).length;
  if (missing > 0) h.unshift(...Array.from({ length: missing }, () => ({}) as HistoryEntry));
  return h;
}

function platformConfig(): ImageConfigFile {
  const p = hostPlatform();
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: [] },
  };
}

/**
 * An OCI image from a config and the layers it names (bottom first): the one place a manifest is
 * assembled. Field order is fixed by construction, so equal inputs give equal digests.
 * `layer` opens a layer the manifest lists.
 */
export function imageFromConfig(config: ImageConfigFile, layers: readonly Descriptor[], layer: ImageCore['layerByDigest'], annotations?: Record<string, string>): Image {
  const rawConfig = serialize(config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(annotations ? { annotations } : {}),
  };
  const rawManifest = serialize(manifest);
  return imageFromCore({ rawManifest: async () => rawManifest, rawConfig: async () => rawConfig, layerByDigest: layer });
}

/** The empty image (`FROM scratch`): no layers, a config for the host platform, OCI media types. */
export const scratch: Image = imageFromConfig(platformConfig(), [], async (d) => {
  throw new FormatError(`scratch has no layer ${d.digest}`);
});

/**
 * Adds layers on top of `base`, each with a history entry (an empty one when
 * none is given). Layer media types are respelled to match the base's family.
 */
export function appendLayers(base: Image, adds: Array<{ layer: Layer; history?: HistoryEntry }>): Image {
  const added = [...adds];
  return edit(
    base,
    async (m, c, kind) => {
      const history = alignedHistory(c.history, m.layers.length);
      const diffIDs = [...(c.rootfs?.diff_ids ?? [])];
      for (const { layer, history: h } of added) {
        const [mediaType, digest, size, diffID] = await Promise.all([
          layer.mediaType(),
          layer.digest(),
          layer.size(),
          layer.diffID(),
        ]);
        m.layers.push({ mediaType: layerMediaTypeFor(mediaType, kind), digest, size });
        diffIDs.push(diffID);
        const entry: HistoryEntry = { ...(h ?? {}) };
        delete entry.empty_layer; // it describes a layer, whatever the caller said
        history.push(entry);
      }
      c.rootfs = { type: 'layers', diff_ids: diffIDs };
      c.history = history;
    },
    async () => [...(await base.layers()), ...added.map((a) => a.layer)],
  );
}

/** Replaces the config with `edit(copy of config)`; layers are unchanged. */
export function withConfig(img: Image, editFn: (c: ImageConfigFile) => ImageConfigFile): Image {
  return derived(
    async () => {
      const [m, c] = await Promise.all([img.manifest(), img.configFile()]);
      const config = editFn(structuredClone(c));
      return { manifest: structuredClone(m), rawConfig: serialize(config) };
    },
    () => img.layers(),
  );
}

/** Appends a history entry for a step that made no layer (ENV, CMD, ...). */
export function withHistory(img: Image, entry: HistoryEntry): Image {
  return edit(img, (m, c) => {
    c.history = [...alignedHistory(c.history, m.layers.length), { ...entry, empty_layer: true }];
  });
}

/** RFC 3339 the way Go and BuildKit print it (no fractional zeros). */
export function formatEpoch(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * Fixes every time in the config (created, history) to `epochSeconds` and drops
 * fields that vary between machines, so equal content gives equal digests
 * (ggcr's Canonical, SOURCE_DATE_EPOCH). Layer contents are not touched.
 */
export function canonical(img: Image, epochSeconds: number): Image {
  const ts = formatEpoch(epochSeconds);
  return edit(img, (_m, c) => {
    c.created = ts;
    if (c.history) c.history = c.history.map((h) => ({ ...h, created: ts }));
    const loose = c as unknown as Record<string, unknown>;
    delete loose['container'];
    delete loose['docker_version'];
    const cc = c.config as Record<string, unknown> | undefined;
    if (cc) delete cc['Hostname'];
    const container = loose['container_config'] as Record<string, unknown> | undefined;
    if (container && typeof container === 'object') delete container['Hostname'];
  });
}

/**
 * Respells manifest, config and layer media types as OCI or Docker schema 2.
 * The config bytes are kept as they are (only their descriptor's type changes).
 */
export function withManifestMediaType(img: Image, kind: ManifestKind): Image {
  return derived(
    async () => {
      const [m, rawConfig] = await Promise.all([img.manifest(), img.rawConfig()]);
      const { schemaVersion: _s, mediaType: _mt, config, layers, ...rest } = structuredClone(m);
      const manifest: Manifest = {
        schemaVersion: 2,
        mediaType: kind === 'oci' ? MediaType.OciManifest : MediaType.DockerManifest,
        config: { ...config, mediaType: kind === 'oci' ? MediaType.OciConfig : MediaType.DockerConfig },
        layers: layers.map((l) => ({ ...l, mediaType: layerMediaTypeFor(l.mediaType, kind) })),
        ...rest,
      };
      return { manifest, rawConfig };
    },
    () => img.layers(),
  );
}
