import type { Readable } from 'node:stream';
import type { Digest } from './digest.js';
import type { Descriptor, ImageConfigFile, Index, Manifest } from './types.js';

/**
 * A layer, read-only and lazy: a store blob, a registry blob, an entry of an
 * OCI layout or a docker-archive all look the same (ggcr's v1.Layer).
 */
export interface Layer {
  /** Digest of the compressed blob (what manifests name). */
  digest(): Promise<Digest>;
  /** Digest of the uncompressed tar (what the config's rootfs names). */
  diffID(): Promise<Digest>;
  /** Size of the compressed blob in bytes. */
  size(): Promise<number>;
  mediaType(): Promise<string>;
  /** The blob as stored (gzip for the layers tsbuild writes). Verified against digest(). */
  compressed(): Promise<Readable>;
  /** The tar stream. */
  uncompressed(): Promise<Readable>;
}

/** An image: manifest + config + layers, read-only and lazy (ggcr's v1.Image). */
export interface Image {
  mediaType(): Promise<string>;
  rawManifest(): Promise<Buffer>;
  manifest(): Promise<Manifest>;
  /** Digest of rawManifest(). */
  digest(): Promise<Digest>;
  rawConfig(): Promise<Buffer>;
  configFile(): Promise<ImageConfigFile>;
  /** Layers in manifest order (base first). */
  layers(): Promise<Layer[]>;
}

/** An image index (multi-platform), read-only and lazy. */
export interface ImageIndex {
  mediaType(): Promise<string>;
  rawManifest(): Promise<Buffer>;
  indexManifest(): Promise<Index>;
  digest(): Promise<Digest>;
  image(desc: Descriptor): Promise<Image>;
}
