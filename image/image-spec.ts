/**
 * Image-source strings, parsed by one grammar with one tag rule, and the file-based kinds opened
 * here. What a user may write (as BuildKit, skopeo and docker spell them):
 *   oci-layout://PATH[:TAG][@DIGEST]  oci:PATH[:TAG]  oci-archive:PATH[:TAG]   an OCI layout dir or tar
 *   docker-archive:PATH[:TAG]                                                   a `docker save` tar
 *   docker://REF  docker-image://REF                                            a registry reference
 *   anything else                                                               a name (store, then registry)
 * Store and registry lookups live above image/, so openImageSpec takes them as functions.
 */
import { stat } from 'node:fs/promises';
import { readDockerArchive } from './docker-archive.js';
import { FormatError } from './errors.js';
import type { Image } from './image.js';
import { indexTarFile, readOciLayout, tarFiles } from './oci-layout.js';
import type { Platform } from './types.js';

export type ImageSpec =
  | { kind: 'oci-layout'; path: string; tag?: string; digest?: string }
  | { kind: 'docker-archive'; path: string; tag?: string }
  | { kind: 'registry'; reference: string }
  | { kind: 'name'; name: string };

/** Docker's tag rule, also used for an OCI layout's ref name: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. */
const PATH_TAG_DIGEST = /^(.*?)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/;

function pathWithTag(rest: string, allowDigest: boolean): { path: string; tag?: string; digest?: string } {
  const m = PATH_TAG_DIGEST.exec(rest);
  if (!m || !m[1] || (m[3] && !allowDigest)) throw new FormatError(`invalid image source path ${JSON.stringify(rest)}`, { spec: rest });
  return { path: m[1], ...(m[2] ? { tag: m[2] } : {}), ...(m[3] ? { digest: m[3] } : {}) };
}

/**
 * Where a string comes from decides which prefixes it may carry: in a Dockerfile (FROM, COPY --from,
 * named contexts) only BuildKit's `scheme://` forms, since `oci:1.0` there is the image `oci`, tag
 * 1.0; on the command line also skopeo's transports.
 */
export type ImageSpecSyntax = 'dockerfile' | 'cli';

interface Prefix {
  prefix: string;
  syntax: ImageSpecSyntax;
  kind: ImageSpec['kind'];
  parse: (rest: string) => ImageSpec;
}

const PREFIXES: readonly Prefix[] = [
  { prefix: 'oci-layout://', syntax: 'dockerfile', kind: 'oci-layout', parse: (rest) => ({ kind: 'oci-layout', ...pathWithTag(rest, true) }) },
  { prefix: 'docker-image://', syntax: 'dockerfile', kind: 'registry', parse: (rest) => ({ kind: 'registry', reference: rest }) },
  { prefix: 'oci-archive:', syntax: 'cli', kind: 'oci-layout', parse: (rest) => ({ kind: 'oci-layout', ...pathWithTag(rest, false) }) },
  { prefix: 'oci:', syntax: 'cli', kind: 'oci-layout', parse: (rest) => ({ kind: 'oci-layout', ...pathWithTag(rest, false) }) },
  { prefix: 'docker-archive:', syntax: 'cli', kind: 'docker-archive', parse: (rest) => ({ kind: 'docker-archive', ...pathWithTag(rest, false) }) },
  { prefix: 'docker://', syntax: 'cli', kind: 'registry', parse: (rest) => ({ kind: 'registry', reference: rest }) },
];

/** The prefix `spec` carries, among those `syntax` knows (the cli syntax includes the dockerfile one). */
function prefixOf(spec: string, syntax: ImageSpecSyntax): Prefix | undefined {
  return PREFIXES.find((p) => (p.syntax === 'dockerfile' || syntax === 'cli') && spec.startsWith(p.prefix));
}

/** Parses an image-source string (see the module comment). */
export function parseImageSpec(spec: string, syntax: ImageSpecSyntax): ImageSpec {
  const p = prefixOf(spec, syntax);
  return p ? p.parse(spec.slice(p.prefix.length)) : { kind: 'name', name: spec };
}

/** Whether `spec` carries an image prefix (a named context that is an image, not a directory). */
export function hasImagePrefix(spec: string, syntax: ImageSpecSyntax): boolean {
  return prefixOf(spec, syntax) !== undefined;
}

/** The registry name a spec stands for (a plain name, or without docker-image://), undefined for a file. */
export function registryNameOf(spec: string, syntax: ImageSpecSyntax): string | undefined {
  const p = prefixOf(spec, syntax);
  if (!p) return spec;
  return p.kind === 'registry' ? spec.slice(p.prefix.length) : undefined;
}

/** Opens an oci-layout or docker-archive spec (the kinds that are files). */
export async function openFileImage(spec: Extract<ImageSpec, { path: string }>, platform?: Platform): Promise<Image> {
  if (spec.kind === 'docker-archive') return readDockerArchive(spec.path, spec.tag);
  return readOciLayout(spec.path, spec.tag, platform ? { platform } : {});
}

export interface ImageSpecOpeners {
  /** A registry reference (docker://, docker-image://). */
  registry: (reference: string) => Promise<Image>;
  /** A plain name: the caller's store, registry, or both. */
  name: (name: string) => Promise<Image>;
  platform?: Platform;
}

/** Opens a command-line image-source string: files here, registry references and names through `openers`. */
export async function openImageSpec(spec: string, openers: ImageSpecOpeners): Promise<Image> {
  const parsed = parseImageSpec(spec, 'cli');
  if (parsed.kind === 'registry') return openers.registry(parsed.reference);
  if (parsed.kind === 'name') return openers.name(parsed.name);
  return openFileImage(parsed, openers.platform);
}

/** The container format of an image file: a directory or a tar with index.json is an OCI layout; a tar with manifest.json is a docker-archive. */
export type ArchiveFormat = 'oci-layout' | 'docker-archive';

/**
 * Which archive format `path` holds. A docker-archive written by docker ≥ 25 is also an OCI layout;
 * it reads as a docker-archive, whose manifest.json names its tags. Not a tar: an oci-layout, so the
 * layout reader names what is wrong with it.
 */
export async function detectArchiveFormat(path: string): Promise<ArchiveFormat> {
  if ((await stat(path)).isDirectory()) return 'oci-layout';
  try {
    return (await indexTarFile(path)).has('manifest.json') ? 'docker-archive' : 'oci-layout';
  } catch {
    return 'oci-layout';
  }
}

/** RepoTags of a docker-archive's first image ([] when it names none). */
export async function dockerArchiveTags(path: string): Promise<string[]> {
  const raw = await (await tarFiles(path)).readFile('manifest.json');
  if (!raw) throw new FormatError(`${path} is not a docker-archive (no manifest.json)`, { path });
  let manifest: unknown;
  try {
    manifest = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new FormatError(`manifest.json in ${path} is not valid JSON: ${(e as Error).message}`, { path });
  }
  const tags = Array.isArray(manifest) ? (manifest[0] as { RepoTags?: unknown } | undefined)?.RepoTags : undefined;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}
