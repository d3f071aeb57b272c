import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry, requireTools, type TestRegistry } from './registry-server.js';
import { cli, execFileP, makeTree, removeAll, storeWithBusybox } from './helpers.js';

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

/**
 * --provenance, --sbom and --annotation, pushed to a real docker-registry and read back with
 * skopeo inspect --raw: the index, the image manifest and the attestation manifest have the shape
 * BuildKit's image exporter gives them (exporter/containerimage/writer.go).
 */
describe('attestations and annotations: end to end', function () {
  this.timeout(300_000);
  let reg: TestRegistry;
  let root: string;
  let work: string;
  let ctx: string;

  before(async function () {
    requireTools(this, ['docker-registry', 'skopeo']);
    ({ root, work } = await storeWithBusybox(this));
    reg = await startRegistry({ mode: 'plain' });
    // an npm package and an apk database the SBOM must find; dpkg's status through a symlink that
    // points outside the root (it must resolve inside it, to the image's own file)
    ctx = await makeTree({
      Dockerfile:
        'FROM busybox:latest\nARG SECRET_ARG\n' +
        'RUN mkdir -p /app/node_modules/left-pad /lib/apk/db /var/lib/dpkg /real && ' +
        "printf '%s' '{\"name\":\"left-pad\",\"version\":\"1.3.0\",\"license\":\"WTFPL\"}' > /app/node_modules/left-pad/package.json && " +
        "printf 'P:musl\\nV:1.2.4-r2\\nA:x86_64\\nL:MIT\\no:musl\\n\\nP:zlib\\nV:1.3.1-r0\\nA:x86_64\\n\\n' > /lib/apk/db/installed && " +
        "printf 'Package: hello\\nStatus: install ok installed\\nArchitecture: amd64\\nVersion: 2.10-3\\nMaintainer: Someone <s@example.org>\\n\\nPackage: gone\\nStatus: deinstall ok config-files\\nVersion: 1.0\\n' > /real/status && " +
        'ln -s /real/status /var/lib/dpkg/status\n',
    });
  });
  after(async () => {
    await reg?.stop();
    await removeAll(root, work, ctx);
  });

  const raw = async (ref: string): Promise<Record<string, unknown>> =>
    JSON.parse((await execFileP('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`])).stdout) as Record<string, unknown>;
  const blob = async (repo: string, digest: string): Promise<Record<string, unknown>> => {
    const res = await fetch(`http://${reg.host}/v2/${repo}/blobs/${digest}`);
    return (await res.json()) as Record<string, unknown>;
  };

  it('pushes an index with the image and its attestation manifest (provenance max + SBOM), with annotations where asked', async () => {
    const name = `${reg.host}/att/app:1`;
    const meta = join(work, 'meta.json');
    const r = await cli([
      'build', '--root', root, '--progress=plain', '-t', name, '--push',
      '--provenance', 'mode=max,version=v0.2', '--sbom=true', '--build-arg', 'SECRET_ARG=visible-in-max',
      '--annotation', 'index:org.opencontainers.image.description=demo', '--annotation', 'manifest:org.example.m=1',
      '--annotation', 'manifest-descriptor:org.example.d=2', '--annotation', 'org.example.plain=3',
      '--metadata-file', meta, ctx,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const index = await raw(name);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.annotations, { 'org.opencontainers.image.description': 'demo' });
    const [image, attestation, ...rest] = index.manifests as Desc[];
    assert.equal(rest.length, 0);
    assert.deepEqual(image!.platform, { architecture: 'amd64', os: 'linux' });
    assert.deepEqual(image!.annotations, { 'org.example.d': '2' });
    assert.deepEqual(attestation!.platform, { architecture: 'unknown', os: 'unknown' });
    assert.deepEqual(attestation!.annotations, { 'vnd.docker.reference.digest': image!.digest, 'vnd.docker.reference.type': 'attestation-manifest' });
    assert.equal(JSON.parse(await readFile(meta, 'utf8'))['containerimage.digest'], r.stderr.match(/index (sha256:[a-f0-9]{64})/)?.[1]);

    const manifest = await raw(`${reg.host}/att/app@${image!.digest}`);
    assert.deepEqual(manifest.annotations, { 'org.example.m': '1', 'org.example.plain': '3' });

    const att = await raw(`${reg.host}/att/app@${attestation!.digest}`);
    const layers = att.layers as Desc[];
    assert.deepEqual(layers.map((l) => [l.mediaType, l.annotations?.['in-toto.io/predicate-type']]), [
      ['application/vnd.in-toto+json', 'https://spdx.dev/Document'],
      ['application/vnd.in-toto+json', 'https://slsa.dev/provenance/v0.2'],
    ]);
    const config = await blob('att/app', (att.config as Desc).digest);
    assert.deepEqual(config, { architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } });

    const sbom = await blob('att/app', layers[0]!.digest);
    assert.equal(sbom._type, 'https://in-toto.io/Statement/v0.1');
    assert.deepEqual(sbom.subject, [{ name: `pkg:docker/${reg.host}/att/app@1?platform=linux%2Famd64`, digest: { sha256: image!.digest.slice(7) } }]);
    const doc = sbom.predicate as { spdxVersion: string; packages: Array<{ name: string; versionInfo: string; externalRefs: Array<{ referenceLocator: string }> }> };
    assert.equal(doc.spdxVersion, 'SPDX-2.3');
    assert.deepEqual(doc.packages.map((p) => [p.name, p.versionInfo, p.externalRefs[0]!.referenceLocator]).sort(), [
      ['hello', '2.10-3', 'pkg:deb/debian/hello@2.10-3?arch=amd64'],
      ['left-pad', '1.3.0', 'pkg:npm/left-pad@1.3.0'],
      ['musl', '1.2.4-r2', 'pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&upstream=musl'],
      ['zlib', '1.3.1-r0', 'pkg:apk/alpine/zlib@1.3.1-r0?arch=x86_64'],
    ]);

    const prov = await blob('att/app', layers[1]!.digest);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document read back
    const predicate = prov.predicate as any;
    assert.equal(predicate.buildType, 'https://mobyproject.org/buildkit@v1');
    assert.deepEqual(predicate.materials, [{ uri: 'pkg:docker/busybox@latest?platform=linux%2Famd64', digest: { sha256: predicate.materials[0].digest.sha256 } }]);
    assert.match(predicate.materials[0].digest.sha256, /^[a-f0-9]{64}$/);
    assert.deepEqual(predicate.invocation.configSource, { entryPoint: 'Dockerfile' });
    assert.equal(predicate.invocation.parameters.frontend, 'dockerfile.v0');
    assert.equal(predicate.invocation.parameters.args['build-arg:SECRET_ARG'], 'visible-in-max');
    assert.deepEqual(predicate.invocation.environment, { platform: 'linux/amd64' });
    assert.equal(predicate.metadata.completeness.materials, false, 'a local context makes the materials incomplete');
    assert.ok(predicate.metadata['https://mobyproject.org/buildkit@v1#metadata'].source.infos[0].data, 'max carries the Dockerfile');

    // the store names the index; the image in it is what images/inspect show
    const insp = await cli(['inspect', '--root', root, name]);
    assert.equal(insp.code, 0, insp.stderr);
    assert.match(insp.stdout, new RegExp(image!.digest));
  });

  it('provenance min leaves build args out and says the request is incomplete', async () => {
    const name = `${reg.host}/att/min:1`;
    const r = await cli(['build', '--root', root, '--progress=quiet', '-t', name, '--push', '--provenance=true', '--build-arg', 'SECRET_ARG=hidden-in-min', ctx]);
    assert.equal(r.code, 0, r.stderr);
    const index = await raw(name);
    const att = await raw(`${reg.host}/att/min@${(index.manifests as Desc[])[1]!.digest}`);
    const layers = att.layers as Desc[];
    assert.deepEqual(layers.map((l) => l.annotations?.['in-toto.io/predicate-type']), ['https://slsa.dev/provenance/v1']);
    const prov = await blob('att/min', layers[0]!.digest);
    assert.doesNotMatch(JSON.stringify(prov), /hidden-in-min|SECRET_ARG/);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a JSON document read back
    const predicate = prov.predicate as any;
    assert.equal(predicate.runDetails.metadata.buildkit_completeness.request, false);
    assert.equal(predicate.buildDefinition.externalParameters.request.frontend, 'dockerfile.v0');
  });

  it('without attestations the result stays one manifest; index annotations then fail as in BuildKit; bad specs exit 2', async () => {
    const plain = await cli(['build', '--root', root, '--progress=quiet', '--annotation', 'manifest:k=v', ctx]);
    assert.equal(plain.code, 0, plain.stderr);
    const cases: Array<[string[], RegExp]> = [
      [['--annotation', 'index:k=v'], /index annotations not supported for single platform export/],
      [['--annotation', 'bogus:k=v'], /unknown annotation type "bogus"/],
      [['--annotation', 'novalue'], /invalid annotation "novalue", expected key=value/],
      [['--annotation', 'manifest[linux/arm64]:k=v'], /no platform linux\/arm64 found/],
      [['--provenance', 'mode=huge'], /invalid provenance mode "huge"/],
      [['--attest', 'type=vex'], /unknown attestation type "vex"/],
    ];
    for (const [args, message] of cases) {
      const bad = await cli(['build', '--root', root, '--progress=quiet', ...args, ctx]);
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, message);
    }
  });

  it('a multi-platform index holds every image, then each image attestation manifest, with the index annotations', async () => {
    const scratchCtx = await makeTree({ Dockerfile: 'FROM scratch\nCOPY f /f\n', f: 'x\n' });
    try {
      const name = `${reg.host}/att/multi:1`;
      const r = await cli(['build', '--root', root, '--progress=quiet', '--platform', 'linux/amd64,linux/arm64', '-t', name, '--push', '--provenance=true', '--annotation', 'index:org.example.i=1', '--annotation', 'manifest-descriptor:org.example.d=2', scratchCtx]);
      assert.equal(r.code, 0, r.stderr);
      const index = await raw(name);
      assert.deepEqual(index.annotations, { 'org.example.i': '1' });
      const m = index.manifests as Desc[];
      assert.deepEqual(m.map((d) => `${d.platform?.os}/${d.platform?.architecture}`), ['linux/amd64', 'linux/arm64', 'unknown/unknown', 'unknown/unknown']);
      assert.deepEqual(m.slice(0, 2).map((d) => d.annotations), [{ 'org.example.d': '2' }, { 'org.example.d': '2' }]);
      assert.deepEqual(m.slice(2).map((d) => d.annotations?.['vnd.docker.reference.digest']), [m[0]!.digest, m[1]!.digest]);
    } finally {
      await removeAll(scratchCtx);
    }
  });
});
