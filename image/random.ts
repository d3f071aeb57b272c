/**
 * Images made up on the spot, for tests everywhere (ggcr's `random`): real
 * gzip'd tar layers, each holding one file of random bytes, all in memory.
 * Keep sizes small. With a seed, the same arguments give the same digests.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createParallelGzip } from './compress.js';
import { sha256, type Digest } from './digest.js';
import type { Image } from './image.js';
import { MediaType } from './mediatypes.js';
import { formatEpoch } from './mutate.js';
import { imageFromCore, layerFromOpener } from './partial.js';
import { hostPlatform } from './platform.js';
import type { Descriptor, ImageConfigFile, Manifest } from './types.js';
import { createTarStream } from './tar/writer.js';
import type { TarHeader } from './tar/header.js';

/** Deterministic bytes: an AES-CTR keystream keyed by the seed and a label. */
function seededBytes(n: number, seed: number, label: string): Buffer {
  const key = createHash('sha256').update(`tsbuild-random\0${seed}\0${label}`).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([c.update(Buffer.alloc(n)), c.final()]);
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of s) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/**
 * An image of `layers` layers, each a gzip'd tar holding `random_file_<i>` of
 * `byteSize` random bytes. Config for the host platform, OCI media types.
 */
export async function randomImage(byteSize: number, layers: number, seed?: number): Promise<Image> {
  const created = formatEpoch(0);
  const blobs = new Map<Digest, Buffer>();
  const descs: Descriptor[] = [];
  const diffIDs: Digest[] = [];
  for (let i = 0; i < layers; i++) {
    const content = seed === undefined ? randomBytes(byteSize) : seededBytes(byteSize, seed, `layer-${i}`);
    const header: TarHeader = { path: `random_file_${i}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: byteSize, mtime: 0 };
    const tar = await collect(createTarStream([{ header, body: content }]));
    const gz = await collect(Readable.from([tar]).pipe(createParallelGzip()));
    const digest = sha256(gz);
    blobs.set(digest, gz);
    descs.push({ mediaType: MediaType.OciLayerGzip, digest, size: gz.length });
    diffIDs.push(sha256(tar));
  }
  const p = hostPlatform();
  const config: ImageConfigFile = {
    created,
    architecture: p.architecture,
    os: p.os,
    ...(p.variant ? { variant: p.variant } : {}),
    config: {},
    rootfs: { type: 'layers', diff_ids: diffIDs },
    history: diffIDs.map((_, i) => ({ created, created_by: `randomImage layer ${i}` })),
  };
  const rawConfig = Buffer.from(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
    layers: descs,
  };
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  return imageFromCore({
    rawManifest: async () => rawManifest,
    rawConfig: async () => rawConfig,
    layerByDigest: async (desc, diffID) => {
      const buf = blobs.get(desc.digest);
      if (!buf) throw new Error(`randomImage: no blob ${desc.digest}`);
      return layerFromOpener({ desc, diffID, open: async () => Readable.from([buf]) });
    },
  });
}
