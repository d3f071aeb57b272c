/**
 * `--provenance` and `--sbom`: in-toto statements about the built image, attached the way
 * BuildKit's image exporter attaches them (exporter/containerimage/writer.go): the result becomes
 * an OCI index holding the image manifest (with its platform) and one attestation manifest per
 * image, whose layers are the statements (`application/vnd.in-toto+json`, annotated with
 * `in-toto.io/predicate-type`), whose config lists them as diff_ids, whose platform is
 * unknown/unknown and whose descriptor says `vnd.docker.reference.type: attestation-manifest` and
 * `vnd.docker.reference.digest: <image manifest>`. Manifests and the index are indented JSON with
 * sorted annotation keys, as Go writes them.
 */
import { randomBytes } from 'node:crypto';
import type { ContentStore } from '../cache/store.js';
import { MediaType } from '../image/mediatypes.js';
import { formatPlatform } from '../image/platform.js';
import type { Descriptor, Platform } from '../image/types.js';
import { parseReference } from '../registry/reference.js';
import { sortedKeys } from './finalize.js';

export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';
export const SLSA_PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const SPDX_PREDICATE = 'https://spdx.dev/Document';
const IN_TOTO_STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';

/** `--provenance` / `--attest type=provenance,…`: SLSA version and how much of the request it records. */
export interface ProvenanceOptions {
  mode: 'min' | 'max';
  version: 'v0.2' | 'v1';
  builderId?: string;
}

export interface AttestOptions {
  provenance?: ProvenanceOptions;
  sbom?: boolean;
}

/** `--annotation` by where it goes (buildx's prefixes). */
export interface AnnotationSet {
  index: Record<string, string>;
  indexDescriptor: Record<string, string>;
  manifest: Record<string, string>;
  manifestDescriptor: Record<string, string>;
}

/** What provenance says about a build. */
export interface BuildFacts {
  /** Base images: the reference as written (expanded) and the manifest digest it resolved to. */
  materials: Array<{ ref: string; digest: string }>;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  target?: string;
  /** Dockerfile path relative to the context, as `filename` (configSource.entryPoint). */
  dockerfileName: string;
  dockerfileText: string;
  secrets: string[];
  ssh: string[];
  /** Other frontend attributes buildx would send (`no-cache`, `add-hosts`, …). */
  attrs: Record<string, string>;
  platform: Platform;
  startedOn: Date;
  finishedOn: Date;
  networkAccess: boolean;
}

/** Go's time.Time JSON: RFC 3339 with nanoseconds trimmed, UTC `Z`. */
function goTime(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, 'Z');
}

/** purl of an image reference, as BuildKit's util/purl RefToPURL writes it (`pkg:docker/busybox@latest?platform=linux%2Famd64`). */
export function imagePurl(ref: string, platform?: Platform): string {
  const r = parseReference(ref);
  let familiarName = r.repository;
  if (r.registry === 'docker.io') familiarName = familiarName.replace(/^library\//, '');
  else familiarName = `${r.registry}/${familiarName}`;
  const parts = familiarName.split('/');
  const name = parts.pop()!;
  const ns = parts.map((p) => encodeURIComponent(p).replace(/%3A/gi, ':')).join('/');
  const qualifiers: string[] = [];
  if (r.digest && !r.tag) qualifiers.push(`digest=${encodeURIComponent(r.digest)}`);
  if (platform) qualifiers.push(`platform=${encodeURIComponent(formatPlatform(platform))}`);
  const version = r.tag ?? (r.digest ? undefined : 'latest');
  return `pkg:docker/${ns ? `${ns}/` : ''}${encodeURIComponent(name)}${version ? `@${encodeURIComponent(version)}` : ''}${qualifiers.length ? `?${qualifiers.join('&')}` : ''}`;
}

/**
 * The SLSA predicate BuildKit writes (solver/llbsolver/provenance): v1 natively, v0.2 converted.
 * mode=min leaves out build args, labels, secrets and ssh ids (and says the request is then
 * incomplete); mode=max keeps them and adds the Dockerfile as source. BuildKit's max also holds
 * its LLB definition; tsbuild makes no LLB, so that field is left out.
 */
export function provenancePredicate(facts: BuildFacts, options: ProvenanceOptions): Record<string, unknown> {
  const args: Record<string, string> = { ...facts.attrs };
  for (const [k, v] of Object.entries(facts.buildArgs)) args[`build-arg:${k}`] = v;
  for (const [k, v] of Object.entries(facts.labels)) args[`label:${k}`] = v;
  if (facts.target) args['target'] = facts.target;
  let requestComplete = true;
  const request: Record<string, unknown> = { frontend: 'dockerfile.v0' };
  if (options.mode === 'min') {
    const kept = Object.fromEntries(Object.entries(args).filter(([k]) => !k.startsWith('build-arg:') && !k.startsWith('label:')));
    if (Object.keys(kept).length !== Object.keys(args).length) requestComplete = false;
    if (Object.keys(kept).length) request['args'] = sortedKeys(kept);
  } else {
    if (Object.keys(args).length) request['args'] = sortedKeys(args);
    if (facts.secrets.length) request['secrets'] = facts.secrets.map((id) => ({ id }));
    if (facts.ssh.length) request['ssh'] = facts.ssh.map((id) => ({ id }));
  }
  // local sources make the materials incomplete, and so not hermetic (BuildKit's NewPredicate)
  request['locals'] = [{ name: 'context' }, { name: 'dockerfile' }];
  const materials = facts.materials.map((m) => ({ uri: imagePurl(m.ref, facts.platform), digest: { sha256: m.digest.replace(/^sha256:/, '') } }));
  const invocationId = randomBytes(13).toString('base64url').toLowerCase().slice(0, 25);
  const buildkitMetadata: Record<string, unknown> =
    options.mode === 'max'
      ? { source: { infos: [{ filename: facts.dockerfileName, language: 'Dockerfile', data: Buffer.from(facts.dockerfileText).toString('base64') }] } }
      : {};
  if (options.version === 'v1') {
    return {
      buildDefinition: {
        buildType: 'https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md',
        externalParameters: { configSource: { path: facts.dockerfileName }, request },
        internalParameters: { builderPlatform: formatPlatform(facts.platform) },
        ...(materials.length ? { resolvedDependencies: materials } : {}),
      },
      runDetails: {
        builder: { id: options.builderId ?? '' },
        metadata: {
          invocationID: invocationId,
          startedOn: goTime(facts.startedOn),
          finishedOn: goTime(facts.finishedOn),
          buildkit_metadata: buildkitMetadata,
          buildkit_completeness: { request: requestComplete, resolvedDependencies: false },
        },
      },
    };
  }
  return {
    builder: { id: options.builderId ?? '' },
    buildType: 'https://mobyproject.org/buildkit@v1',
    ...(materials.length ? { materials } : {}),
    invocation: {
      configSource: { entryPoint: facts.dockerfileName },
      parameters: request,
      environment: { platform: formatPlatform(facts.platform) },
    },
    metadata: {
      buildInvocationID: invocationId,
      buildStartedOn: goTime(facts.startedOn),
      buildFinishedOn: goTime(facts.finishedOn),
      completeness: { parameters: requestComplete, environment: true, materials: false },
      reproducible: false,
      'https://mobyproject.org/buildkit@v1#metadata': buildkitMetadata,
    },
  };
}

/** An in-toto statement about the image manifest `subject`, named by each image name (BuildKit's default subjects). */
export function inTotoStatement(predicateType: string, predicate: unknown, subject: Descriptor, names: readonly string[], platform: Platform): Record<string, unknown> {
  return {
    _type: IN_TOTO_STATEMENT_V01,
    predicateType,
    subject: names.map((n) => ({ name: imagePurl(n, platform), digest: { sha256: subject.digest.replace(/^sha256:/, '') } })),
    predicate,
  };
}

/** Go's json.MarshalIndent(v, "", "  "): what BuildKit stores manifests and indexes as. */
async function putIndented(store: ContentStore, v: unknown, mediaType: string): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(v, null, 2), 'utf8');
  const { digest, size } = await store.putBytes(bytes);
  return { mediaType, digest, size };
}

/** The attestation manifest for `image`: its layers are the statements. Returns its index entry. */
export async function writeAttestationManifest(store: ContentStore, image: Descriptor, statements: ReadonlyArray<{ predicateType: string; statement: unknown }>): Promise<Descriptor> {
  const layers: Descriptor[] = [];
  for (const s of statements) {
    const bytes = Buffer.from(JSON.stringify(s.statement), 'utf8');
    const { digest, size } = await store.putBytes(bytes);
    layers.push({ mediaType: IN_TOTO_MEDIA_TYPE, digest, size, annotations: { 'in-toto.io/predicate-type': s.predicateType } });
  }
  // BuildKit's attestationsConfig: an image config for unknown/unknown whose diff_ids are the statements
  const config = { architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } };
  const configBytes = Buffer.from(JSON.stringify(config), 'utf8');
  const configBlob = await store.putBytes(configBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configBlob.digest, size: configBlob.size },
    layers,
  };
  const desc = await putIndented(store, manifest, MediaType.OciManifest);
  return {
    ...desc,
    annotations: { 'vnd.docker.reference.digest': image.digest, 'vnd.docker.reference.type': 'attestation-manifest' },
    platform: { architecture: 'unknown', os: 'unknown' },
  };
}

/** The index BuildKit exports: the image (with its platform and descriptor annotations), then attestation manifests. */
export async function writeImageIndex(
  store: ContentStore,
  image: Descriptor,
  platform: Platform,
  attestations: Descriptor[],
  annotations: Pick<AnnotationSet, 'index' | 'indexDescriptor'>,
): Promise<Descriptor> {
  const entry: Descriptor = { mediaType: image.mediaType, digest: image.digest, size: image.size };
  if (image.annotations && Object.keys(image.annotations).length) entry.annotations = image.annotations;
  entry.platform = { architecture: platform.architecture, os: platform.os, ...(platform.variant ? { variant: platform.variant } : {}) };
  const index = {
    schemaVersion: 2,
    mediaType: MediaType.OciIndex,
    manifests: [entry, ...attestations],
    ...(Object.keys(annotations.index).length ? { annotations: sortedKeys(annotations.index) } : {}),
  };
  const desc = await putIndented(store, index, MediaType.OciIndex);
  return Object.keys(annotations.indexDescriptor).length ? { ...desc, annotations: sortedKeys(annotations.indexDescriptor) } : desc;
}
