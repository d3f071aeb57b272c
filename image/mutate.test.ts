import assert from 'node:assert/strict';
import type { Image } from './image.js';
import { MediaType } from './mediatypes.js';
import {
  appendLayers,
  canonical,
  formatEpoch,
  layerMediaTypeFor,
  scratch,
  withConfig,
  withHistory,
  withManifestMediaType,
} from './mutate.js';
import { hostPlatform } from './platform.js';
import { randomImage } from './random.js';
import { validateImage } from './validate.js';

/** Everything observable about an image, to prove an edit left its input alone. */
async function snapshot(img: Image): Promise<string> {
  const layers = await img.layers();
  return JSON.stringify({
    m: (await img.rawManifest()).toString(),
    c: (await img.rawConfig()).toString(),
    parsed: [await img.manifest(), await img.configFile()],
    layers: await Promise.all(layers.map(async (l) => [await l.digest(), await l.mediaType()])),
  });
}

describe('image/mutate', () => {
  it('scratch: no layers, host platform, OCI, valid', async () => {
    await validateImage(scratch);
    const c = await scratch.configFile();
    const p = hostPlatform();
    assert.equal(c.architecture, p.architecture);
    assert.equal(c.os, p.os);
    assert.deepEqual(c.rootfs, { type: 'layers', diff_ids: [] });
    assert.equal(await scratch.mediaType(), MediaType.OciManifest);
    assert.deepEqual(await scratch.layers(), []);
  });

  it('appendLayers adds layers, diff_ids and history, and never changes its input', async () => {
    const base = await randomImage(300, 2, 1);
    const extra = await randomImage(200, 2, 2);
    const before = await snapshot(base);
    const adds = (await extra.layers()).map((layer, i) => ({ layer, history: { created_by: `RUN step ${i}`, empty_layer: true } }));
    const out = appendLayers(base, adds);
    await validateImage(out);
    const m = await out.manifest();
    const c = await out.configFile();
    assert.equal(m.layers.length, 4);
    assert.deepEqual(m.layers.slice(0, 2), (await base.manifest()).layers);
    assert.deepEqual(m.layers.slice(2), (await extra.manifest()).layers);
    assert.deepEqual(c.rootfs.diff_ids, [...(await base.configFile()).rootfs.diff_ids, ...(await extra.configFile()).rootfs.diff_ids]);
    assert.deepEqual(
      c.history?.slice(2).map((h) => [h.created_by, h.empty_layer]),
      [
        ['RUN step 0', undefined],
        ['RUN step 1', undefined],
      ],
    );
    assert.equal(await snapshot(base), before);
    assert.notEqual(await out.digest(), await base.digest());
  });

  it('appendLayers respells layer media types for a Docker base', async () => {
    const base = withManifestMediaType(await randomImage(100, 1, 3), 'docker');
    const [layer] = await (await randomImage(100, 1, 4)).layers();
    const out = appendLayers(base, [{ layer: layer! }]);
    await validateImage(out);
    const m = await out.manifest();
    assert.deepEqual(
      m.layers.map((l) => l.mediaType),
      [MediaType.DockerLayerGzip, MediaType.DockerLayerGzip],
    );
    const ls = await out.layers();
    assert.equal(await ls[1]!.mediaType(), MediaType.DockerLayerGzip);
    assert.equal(await layer!.mediaType(), MediaType.OciLayerGzip, 'the added layer itself is untouched');
  });

  it('appendLayers onto an image without history pads it so history still lines up', async () => {
    const base = withConfig(await randomImage(100, 2, 5), (c) => {
      delete c.history;
      return c;
    });
    const [layer] = await (await randomImage(100, 1, 6)).layers();
    const out = appendLayers(base, [{ layer: layer!, history: { created_by: 'COPY' } }]);
    await validateImage(out);
    const h = (await out.configFile()).history!;
    assert.equal(h.length, 3);
    assert.equal(h[2]!.created_by, 'COPY');
  });

  it('withConfig edits a copy: the callback cannot reach the input', async () => {
    const base = await randomImage(100, 1, 7);
    const before = await snapshot(base);
    const out = withConfig(base, (c) => {
      c.config.Env = ['A=1'];
      c.config.Labels = { k: 'v' };
      return c;
    });
    await validateImage(out);
    assert.deepEqual((await out.configFile()).config.Env, ['A=1']);
    assert.deepEqual((await out.manifest()).layers, (await base.manifest()).layers);
    assert.equal(await snapshot(base), before);
    assert.equal((await base.configFile()).config.Env, undefined);
  });

  it('withHistory appends an empty_layer entry', async () => {
    const base = await randomImage(100, 1, 8);
    const out = withHistory(base, { created_by: 'ENV A=1' });
    await validateImage(out);
    const h = (await out.configFile()).history!;
    assert.deepEqual(h.at(-1), { created_by: 'ENV A=1', empty_layer: true });
    assert.equal(h.length, (await base.configFile()).history!.length + 1);
  });

  it('canonical: two builds of the same content at different times get one digest', async () => {
    const build = async (at: string, host: string): Promise<Image> => {
      const layers = await (await randomImage(200, 2, 9)).layers();
      let img = appendLayers(scratch, layers.map((layer, i) => ({ layer, history: { created: at, created_by: `step ${i}` } })));
      img = withHistory(img, { created: at, created_by: 'CMD ["sh"]' });
      return withConfig(img, (c) => {
        c.created = at;
        (c as unknown as Record<string, unknown>)['docker_version'] = host;
        c.config = { ...c.config, Cmd: ['sh'] };
        (c.config as Record<string, unknown>)['Hostname'] = host;
        return c;
      });
    };
    const a = await build('2024-01-01T10:00:00Z', 'alpha');
    const b = await build('2025-06-30T23:59:59.123Z', 'beta');
    assert.notEqual(await a.digest(), await b.digest());
    const ca = canonical(a, 1700000000);
    const cb = canonical(b, 1700000000);
    await validateImage(ca);
    assert.equal(await ca.digest(), await cb.digest());
    const c = await ca.configFile();
    assert.equal(c.created, '2023-11-14T22:13:20Z');
    assert.ok(c.history!.every((h) => h.created === '2023-11-14T22:13:20Z'));
    assert.ok(!('docker_version' in c) && !('Hostname' in c.config));
    assert.notEqual(await canonical(a, 0).digest(), await ca.digest(), 'the epoch matters');
  });

  it('formatEpoch prints RFC 3339 without fractional zeros', () => {
    assert.equal(formatEpoch(0), '1970-01-01T00:00:00Z');
    assert.equal(formatEpoch(1.5), '1970-01-01T00:00:01.500Z');
  });

  it('withManifestMediaType docker and back keeps config bytes and restores the digest', async () => {
    const base = await randomImage(100, 2, 10);
    const docker = withManifestMediaType(base, 'docker');
    await validateImage(docker);
    const m = await docker.manifest();
    assert.equal(m.mediaType, MediaType.DockerManifest);
    assert.equal(m.config.mediaType, MediaType.DockerConfig);
    assert.ok(m.layers.every((l) => l.mediaType === MediaType.DockerLayerGzip));
    assert.deepEqual(await docker.rawConfig(), await base.rawConfig());
    const back = withManifestMediaType(docker, 'oci');
    assert.equal(await back.digest(), await base.digest());
  });

  const twins: Array<[string, 'oci' | 'docker', string | RegExp]> = [
    [MediaType.OciLayerGzip, 'docker', MediaType.DockerLayerGzip],
    [MediaType.DockerLayerGzip, 'oci', MediaType.OciLayerGzip],
    [MediaType.OciLayer, 'docker', 'application/vnd.docker.image.rootfs.diff.tar'],
    [MediaType.DockerForeignLayerGzip, 'oci', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'],
    [MediaType.OciLayerGzip, 'oci', MediaType.OciLayerGzip],
    [MediaType.OciLayerZstd, 'oci', MediaType.OciLayerZstd],
    [MediaType.OciLayerZstd, 'docker', /no Docker equivalent/],
  ];
  for (const [from, kind, want] of twins) {
    it(`layerMediaTypeFor(${from.split('/')[1]}, ${kind})`, () => {
      if (want instanceof RegExp) assert.throws(() => layerMediaTypeFor(from, kind), want);
      else assert.equal(layerMediaTypeFor(from, kind), want);
    });
  }
});
