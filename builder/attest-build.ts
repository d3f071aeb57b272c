/**
 * The attestation step of a build (`--provenance`, `--sbom`): after finalize, the image's
 * attestation manifest and, for a single-platform build, BuildKit's index around the image.
 * builder/platforms.ts puts each platform's attestation manifest into its own index.
 */
import { basename } from 'node:path';
import type { Descriptor, ImageConfigFile } from '../image/types.js';
import type { BuildOptions } from './build.js';
import { BuildUsageError } from './errors.js';
import type { FinalImage } from './finalize.js';
import type { LayerViews } from './layers.js';
import type { DockerfileSource } from './prepare.js';
import type { BuildSession, Solved } from './session.js';
import type { StageState } from './stage-state.js';

/** The attestation manifest of the image and, single-platform, the index that is the build's result. */
export async function attachAttestations(
  options: BuildOptions,
  solved: Solved,
  source: DockerfileSource,
  image: FinalImage,
  views: LayerViews,
  startedOn: Date,
): Promise<{ attestation?: Descriptor; index?: Descriptor }> {
  const attestation = await attestationManifest(options, solved.session, source, solved.final, image, views, startedOn);
  const index = options.perPlatform ? undefined : await singlePlatformIndex(options, image, attestation);
  return { ...(attestation ? { attestation } : {}), ...(index ? { index } : {}) };
}

/**
 * A single-platform result with attestations becomes BuildKit's index (the image, then its
 * attestation manifest); without them it stays one manifest, and index annotations are an error
 * (as BuildKit's single-platform export).
 */
async function singlePlatformIndex(o: BuildOptions, img: { manifest: Descriptor; configFile: ImageConfigFile }, attestation: Descriptor | undefined): Promise<Descriptor | undefined> {
  const annotations = o.annotations;
  if (!attestation) {
    if (annotations && Object.keys({ ...annotations.index, ...annotations.indexDescriptor }).length > 0) {
      throw new BuildUsageError('index annotations not supported for single platform export (they need an index: add --provenance or --sbom, or build several platforms)');
    }
    return undefined;
  }
  const { writeImageIndex } = await import('./attestations.js');
  const platform = { architecture: img.configFile.architecture, os: img.configFile.os, ...(img.configFile.variant ? { variant: img.configFile.variant } : {}) };
  return writeImageIndex(o.store, img.manifest, platform, [attestation], { index: annotations?.index ?? {}, indexDescriptor: annotations?.indexDescriptor ?? {} });
}

/** With `--provenance`/`--sbom`: the attestation manifest of the image (BuildKit's image exporter); undefined without. */
async function attestationManifest(
  o: BuildOptions,
  s: BuildSession,
  source: DockerfileSource,
  final: StageState,
  img: { manifest: Descriptor; configFile: ImageConfigFile },
  views: LayerViews,
  startedOn: Date,
): Promise<Descriptor | undefined> {
  const a = o.attest ?? {};
  if (!a.provenance && !a.sbom) return undefined;
  const { inTotoStatement, provenancePredicate, writeAttestationManifest, SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1, SPDX_PREDICATE } = await import('./attestations.js');
  const platform = { architecture: img.configFile.architecture, os: img.configFile.os, ...(img.configFile.variant ? { variant: img.configFile.variant } : {}) };
  const names = o.tags ?? [];
  const statements: Array<{ predicateType: string; statement: unknown }> = [];
  if (a.sbom) {
    const { scanPackages, spdxDocument } = await import('./sbom.js');
    const root = await views.unpacked(final.layers);
    const doc = spdxDocument(await scanPackages(root), { name: names[0] ?? 'sbom', created: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), tool: 'tsbuild-0.1.0' });
    statements.push({ predicateType: SPDX_PREDICATE, statement: inTotoStatement(SPDX_PREDICATE, doc, img.manifest, names, platform) });
  }
  if (a.provenance) {
    const type = a.provenance.version === 'v1' ? SLSA_PROVENANCE_V1 : SLSA_PROVENANCE_V02;
    const predicate = provenancePredicate(
      {
        materials: s.materials,
        buildArgs: o.buildArgs ?? {},
        labels: o.labels ?? {},
        ...(o.target ? { target: o.target } : {}),
        dockerfileName: basename(source.dockerfilePath || 'Dockerfile'),
        dockerfileText: source.text,
        secrets: (o.secrets ?? []).map((x) => x.id),
        ssh: Object.keys(o.ssh ?? {}),
        attrs: {
          ...(o.noCache ? { 'no-cache': '' } : {}),
          ...(o.run?.extraHosts?.length ? { 'add-hosts': o.run.extraHosts.map((h) => `${h.host}=${h.ip}`).join(',') } : {}),
          ...(o.run?.shmSize !== undefined ? { 'shm-size': String(o.run.shmSize) } : {}),
          ...(o.run?.ulimits?.length ? { ulimit: o.run.ulimits.map((u) => `${u.name}=${u.soft}:${u.hard}`).join(',') } : {}),
        },
        platform,
        startedOn,
        finishedOn: new Date(),
        networkAccess: o.network !== 'none',
      },
      a.provenance,
    );
    statements.push({ predicateType: type, statement: inTotoStatement(type, predicate, img.manifest, names, platform) });
  }
  return writeAttestationManifest(o.store, img.manifest, statements);
}
