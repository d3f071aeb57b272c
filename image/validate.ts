/**
 * Re-checks everything an image claims about itself (ggcr's validate.Image):
 * run it after every round trip in tests, and on anything read from outside.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { sha256, type Digest } from './digest.js';
import { ImageError } from './errors.js';
import type { Image, Layer } from './image.js';
import { isManifestMediaType } from './mediatypes.js';
import type { ImageConfigFile, Manifest } from './types.js';

/** An image that contradicts itself; `data.problems` lists every finding. */
export class ImageValidationError extends ImageError {
  constructor(readonly problems: readonly string[]) {
    super('TSB_IMAGE_INVALID', `image is invalid:\n  - ${problems.join('\n  - ')}`, { problems });
  }
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Reads a stream to the end, returning its digest and size (never holding the bytes). */
export async function digestStream(stream: Readable): Promise<{ digest: Digest; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    h.update(b);
    size += b.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

export async function validateImage(img: Image): Promise<void> {
  const problems: string[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (e) {
      problems.push(`${what}: ${message(e)}`);
      return undefined;
    }
  };

  const raw = await attempt('reading manifest', () => img.rawManifest());
  const manifest = await attempt('parsing manifest', () => img.manifest());
  if (raw) {
    const digest = await attempt('digest()', () => img.digest());
    if (digest && digest !== sha256(raw)) problems.push(`digest() is ${digest} but the manifest hashes to ${sha256(raw)}`);
  }
  const mediaType = await attempt('mediaType()', () => img.mediaType());
  if (mediaType !== undefined && !isManifestMediaType(mediaType)) problems.push(`mediaType() ${mediaType} is not an image manifest type`);
  if (manifest && mediaType && manifest.mediaType && manifest.mediaType !== mediaType) {
    problems.push(`mediaType() is ${mediaType} but the manifest says ${manifest.mediaType}`);
  }

  const rawConfig = await attempt('reading config', () => img.rawConfig());
  const config = await attempt('parsing config', () => img.configFile());
  if (manifest && rawConfig) {
    const d = sha256(rawConfig);
    if (d !== manifest.config.digest) problems.push(`config hashes to ${d} but the manifest names ${manifest.config.digest}`);
    if (rawConfig.length !== manifest.config.size) {
      problems.push(`config is ${rawConfig.length} bytes but the manifest says ${manifest.config.size}`);
    }
  }
  const diffIDs = config?.rootfs?.diff_ids;
  if (config && !Array.isArray(diffIDs)) problems.push('config has no rootfs.diff_ids');

  const layers = await attempt('layers()', () => img.layers());
  if (manifest && layers && layers.length !== manifest.layers.length) {
    problems.push(`layers() returned ${layers.length} layers but the manifest has ${manifest.layers.length}`);
  }
  if (manifest && Array.isArray(diffIDs) && diffIDs.length !== manifest.layers.length) {
    problems.push(`config has ${diffIDs.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
  }
  if (layers) {
    for (const [i, layer] of layers.entries()) {
      problems.push(...(await validateLayer(layer, i, manifest, config)));
    }
  }
  if (config?.history && config.history.length > 0 && manifest) {
    const nonEmpty = config.history.filter((h) => !h.empty_layer).length;
    if (nonEmpty !== manifest.layers.length) {
      problems.push(`history has ${nonEmpty} non-empty entries but there are ${manifest.layers.length} layers`);
    }
  }
  if (problems.length > 0) throw new ImageValidationError(problems);
}

async function validateLayer(
  layer: Layer,
  i: number,
  manifest: Manifest | undefined,
  config: ImageConfigFile | undefined,
): Promise<string[]> {
  const problems: string[] = [];
  const p = (s: string): void => void problems.push(`layer ${i}: ${s}`);
  const desc = manifest?.layers[i];
  const wantDiffID = config?.rootfs?.diff_ids?.[i];
  try {
    const [digest, size, diffID, mediaType] = await Promise.all([
      layer.digest(),
      layer.size(),
      layer.diffID(),
      layer.mediaType(),
    ]);
    if (desc) {
      if (digest !== desc.digest) p(`digest() ${digest} but the manifest names ${desc.digest}`);
      if (size !== desc.size) p(`size() ${size} but the manifest says ${desc.size}`);
      if (mediaType !== desc.mediaType) p(`mediaType() ${mediaType} but the manifest says ${desc.mediaType}`);
    }
    if (wantDiffID && diffID !== wantDiffID) p(`diffID() ${diffID} but the config names ${wantDiffID}`);

    try {
      const got = await digestStream(await layer.compressed());
      if (got.digest !== digest) p(`compressed bytes hash to ${got.digest}, not ${digest}`);
      if (got.size !== size) p(`compressed bytes are ${got.size} long, not ${size}`);
    } catch (e) {
      p(`reading compressed: ${message(e)}`);
    }
    try {
      const got = await digestStream(await layer.uncompressed());
      if (got.digest !== diffID) p(`uncompressed bytes hash to ${got.digest}, not diffID ${diffID}`);
    } catch (e) {
      p(`reading uncompressed: ${message(e)}`);
    }
  } catch (e) {
    p(message(e));
  }
  return problems;
}
