/**
 * Reading from a registry: manifests (by tag or digest, verified), configs and
 * lazy layers whose blobs stream from the registry through a digest check.
 */
import type { Readable } from 'node:stream';
import { sha256, type Digest } from '../image/digest.js';
import { DigestMismatchError } from '../image/errors.js';
import type { Image, ImageIndex, Layer } from '../image/image.js';
import { isIndexMediaType, MediaType } from '../image/mediatypes.js';
import { imageFromCore, indexFromCore, layerFromOpener, parseIndex, parseManifest } from '../image/partial.js';
import { formatPlatform, indexPlatforms, selectManifest } from '../image/platform.js';
import type { Descriptor, Platform } from '../image/types.js';
import { PlatformNotFoundError, RegistryBaseError } from './errors.js';
import { errorFromResponse, header, readLimited, type HttpResponse } from './http.js';
import { repositoryScope, type Reference } from './reference.js';
import type { RegistrySession } from './session.js';

/** distribution refuses manifests over 4 MiB; so do we. */
const MAX_MANIFEST = 4 << 20;
const MAX_CONFIG = 64 << 20;

export const MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.DockerManifest].join(', ');
const IMAGE_ACCEPT = [MediaType.OciManifest, MediaType.DockerManifest].join(', ');

/** A layer that came from a registry: push can mount it instead of uploading it. */
export const REMOTE_SOURCE: unique symbol = Symbol.for('tsbuild.registry.source') as never;
export interface RemoteSource {
  registry: string;
  repository: string;
}
export function remoteSourceOf(layer: Layer): RemoteSource | undefined {
  return (layer as Layer & { [REMOTE_SOURCE]?: RemoteSource })[REMOTE_SOURCE];
}

export interface FetchedManifest {
  raw: Buffer;
  mediaType: string;
  digest: Digest;
}

export function pullScopes(repository: string): string[] {
  return [repositoryScope(repository, ['pull'])];
}

async function check(res: HttpResponse, method: string, url: string, ok: number[]): Promise<void> {
  if (!ok.includes(res.statusCode)) throw await errorFromResponse(res, method, url);
}

/** GET a manifest by tag or digest; digest-addressed content is verified. */
export async function fetchManifest(session: RegistrySession, repository: string, reference: string, accept = MANIFEST_ACCEPT): Promise<FetchedManifest> {
  const url = session.url(`/v2/${repository}/manifests/${reference}`);
  const res = await session.request({ method: 'GET', url, headers: { accept } }, pullScopes(repository));
  await check(res, 'GET', url, [200]);
  const raw = await readLimited(res.body, MAX_MANIFEST, 'manifest');
  const digest = sha256(raw);
  if (reference.startsWith('sha256:') && digest !== reference) throw new DigestMismatchError(reference, digest, `manifest of ${repository}`);
  const claimed = header(res, 'docker-content-digest');
  if (!reference.startsWith('sha256:') && claimed?.startsWith('sha256:') && claimed !== digest) {
    throw new DigestMismatchError(claimed, digest, `manifest of ${repository}:${reference}`);
  }
  let mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
  try {
    const mt = (JSON.parse(raw.toString('utf8')) as { mediaType?: string }).mediaType;
    if (mt) mediaType = mt;
  } catch {
    // parsed again, with a proper error, by image/partial
  }
  return { raw, mediaType, digest };
}

/** HEAD a manifest: its descriptor, or undefined when the registry has no such tag/digest. */
export async function headManifest(session: RegistrySession, repository: string, reference: string): Promise<Descriptor | undefined> {
  const url = session.url(`/v2/${repository}/manifests/${reference}`);
  const res = await session.request({ method: 'HEAD', url, headers: { accept: MANIFEST_ACCEPT } }, pullScopes(repository));
  res.body.resume();
  if (res.statusCode === 404) return undefined;
  await check(res, 'HEAD', url, [200]);
  const digest = header(res, 'docker-content-digest');
  const size = Number(header(res, 'content-length'));
  if (!digest?.startsWith('sha256:') || !Number.isFinite(size)) {
    // Some registries omit the digest on HEAD: fall back to GET.
    const m = await fetchManifest(session, repository, reference);
    return { mediaType: m.mediaType, digest: m.digest, size: m.raw.length };
  }
  return { mediaType: (header(res, 'content-type') ?? '').split(';')[0]!.trim(), digest: digest as Digest, size };
}

/** At most this many pages of `tags/list` (a hostile registry could send `next` links forever). */
const MAX_TAG_PAGES = 100;

/** Every tag of a repository (GET /v2/NAME/tags/list, following `Link: <…>; rel="next"` pages). */
export async function listTags(session: RegistrySession, repository: string): Promise<string[]> {
  const tags: string[] = [];
  let path: string | undefined = `/v2/${repository}/tags/list`;
  for (let page = 0; path !== undefined; page++) {
    if (page >= MAX_TAG_PAGES) throw new RegistryBaseError('TSB_REGISTRY_TAGS', `${repository}: more than ${MAX_TAG_PAGES} pages of tags`);
    const url = session.url(path);
    const res = await session.request({ method: 'GET', url }, pullScopes(repository));
    await check(res, 'GET', url, [200]);
    const doc = JSON.parse((await readLimited(res.body, MAX_MANIFEST, 'tag list')).toString('utf8')) as { tags?: unknown };
    if (doc.tags !== null && doc.tags !== undefined && !(Array.isArray(doc.tags) && doc.tags.every((t) => typeof t === 'string'))) {
      throw new RegistryBaseError('TSB_REGISTRY_TAGS', `${repository}: the registry's tag list is not a list of strings`);
    }
    tags.push(...((doc.tags as string[] | null | undefined) ?? []));
    const next = /<([^>]+)>\s*;\s*rel="?next"?/.exec(header(res, 'link') ?? '')?.[1];
    path = next === undefined ? undefined : next.startsWith('/') ? next : new URL(next).pathname + new URL(next).search;
  }
  return tags;
}

/** Opens a blob as a stream (unverified: callers wrap it in a VerifyingStream). */
export async function openBlob(session: RegistrySession, repository: string, digest: Digest): Promise<Readable> {
  const url = session.url(`/v2/${repository}/blobs/${digest}`);
  const res = await session.request({ method: 'GET', url }, pullScopes(repository));
  await check(res, 'GET', url, [200]);
  return res.body;
}

async function fetchSmallBlob(session: RegistrySession, repository: string, desc: Descriptor, what: string): Promise<Buffer> {
  const body = await openBlob(session, repository, desc.digest);
  const raw = await readLimited(body, Math.min(MAX_CONFIG, Math.max(desc.size, 0) + 1), what);
  const got = sha256(raw);
  if (got !== desc.digest || raw.length !== desc.size) throw new DigestMismatchError(desc.digest, got, `${what} of ${repository}`);
  return raw;
}

/** A lazy Image over a manifest already fetched. */
export function remoteImage(session: RegistrySession, repository: string, fetched: FetchedManifest): Image {
  return imageFromCore({
    rawManifest: async () => fetched.raw,
    rawConfig: async () => {
      return fetchSmallBlob(session, repository, parseManifest(fetched.raw).config, 'config');
    },
    layerByDigest: async (desc, diffID) => {
      const layer = layerFromOpener({ desc, diffID, open: () => openBlob(session, repository, desc.digest) });
      const source: RemoteSource = { registry: session.registry, repository };
      return Object.assign(layer, { [REMOTE_SOURCE]: source });
    },
  });
}


/** Resolves a reference to an image, choosing `platform` from an index. */
export async function getImage(session: RegistrySession, ref: Reference, platform: Platform): Promise<Image> {
  return (await getPlatformImage(session, ref, platform)).image;
}

/** getImage, plus the index the reference named (as fetched) when it named one, so a caller can keep it. */
export async function getPlatformImage(session: RegistrySession, ref: Reference, platform: Platform): Promise<{ image: Image; index?: FetchedManifest }> {
  const m = await fetchManifest(session, ref.repository, ref.digest ?? ref.tag ?? 'latest');
  if (!isIndexMediaType(m.mediaType)) return { image: remoteImage(session, ref.repository, m) };
  const ix = parseIndex(m.raw);
  const d = selectManifest(ix, platform);
  if (!d) throw new PlatformNotFoundError(ref.toString(), formatPlatform(platform), indexPlatforms(ix));
  const child = await fetchManifest(session, ref.repository, d.digest, IMAGE_ACCEPT);
  return { image: remoteImage(session, ref.repository, child), index: m };
}

export async function getIndex(session: RegistrySession, ref: Reference): Promise<ImageIndex | undefined> {
  const m = await fetchManifest(session, ref.repository, ref.digest ?? ref.tag ?? 'latest');
  if (!isIndexMediaType(m.mediaType)) return undefined;
  return indexFromCore(
    async () => m.raw,
    async (d) => remoteImage(session, ref.repository, await fetchManifest(session, ref.repository, d.digest, IMAGE_ACCEPT)),
  );
}
