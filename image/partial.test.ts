import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { sha256, type Digest } from './digest.js';
import { DigestMismatchError, FormatError } from './errors.js';
import { MediaType } from './mediatypes.js';
import { imageFromCore, indexFromCore, layerFromOpener, memoize } from './partial.js';
import type { Descriptor, Index, Manifest } from './types.js';
import { digestStream } from './validate.js';

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

const tarish = Buffer.from('pretend this is a tar '.repeat(100));
const gz = gzipSync(tarish);
const gzDesc: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: sha256(gz), size: gz.length };

describe('image/partial', () => {
  describe('memoize', () => {
    it('shares one call between concurrent callers', async () => {
      let calls = 0;
      const f = memoize(async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        return calls;
      });
      const got = await Promise.all([f(), f(), f()]);
      assert.deepEqual(got, [1, 1, 1]);
      assert.equal(await f(), 1);
      assert.equal(calls, 1);
    });

    it('does not cache a failure: the next call retries', async () => {
      let calls = 0;
      const f = memoize(async () => {
        calls++;
        if (calls === 1) throw new Error('transient');
        return 'ok';
      });
      await assert.rejects(f(), /transient/);
      assert.equal(await f(), 'ok');
      assert.equal(calls, 2);
    });

    it('turns a synchronous throw into a rejection', async () => {
      const f = memoize((() => {
        throw new Error('sync');
      }) as () => Promise<never>);
      await assert.rejects(f(), /sync/);
    });
  });

  describe('layerFromOpener', () => {
    const diffID = sha256(tarish);
    it('answers from the descriptor and streams verified bytes', async () => {
      const l = layerFromOpener({ desc: gzDesc, diffID, open: async () => Readable.from([gz]) });
      assert.equal(await l.digest(), gzDesc.digest);
      assert.equal(await l.size(), gz.length);
      assert.equal(await l.mediaType(), MediaType.OciLayerGzip);
      assert.equal(await l.diffID(), diffID);
      assert.deepEqual(await collect(await l.compressed()), gz);
      assert.deepEqual(await collect(await l.uncompressed()), tarish);
    });

    const corruptions: Array<[string, Buffer]> = [
      ['a flipped byte', Buffer.concat([gz.subarray(0, 10), Buffer.from([gz[10]! ^ 1]), gz.subarray(11)])],
      ['a truncated blob', gz.subarray(0, gz.length - 1)],
      ['an extra byte', Buffer.concat([gz, Buffer.from([0])])],
    ];
    for (const [what, bytes] of corruptions) {
      it(`compressed() fails with DigestMismatchError on ${what}`, async () => {
        const l = layerFromOpener({ desc: gzDesc, diffID, open: async () => Readable.from([bytes]) });
        await assert.rejects(collect(await l.compressed()), DigestMismatchError);
      });
    }

    it('uncompressed() of a plain tar media type is the bytes as they are', async () => {
      const desc: Descriptor = { mediaType: MediaType.OciLayer, digest: sha256(tarish), size: tarish.length };
      const l = layerFromOpener({ desc, diffID: desc.digest, open: async () => Readable.from([tarish]) });
      assert.deepEqual(await collect(await l.uncompressed()), tarish);
    });

    it('uncompressed() refuses zstd clearly', async () => {
      const desc: Descriptor = { ...gzDesc, mediaType: MediaType.OciLayerZstd };
      const l = layerFromOpener({ desc, diffID, open: async () => Readable.from([gz]) });
      await assert.rejects(l.uncompressed(), FormatError);
    });

    it('an error of the source reaches the reader', async () => {
      const src = new Readable({
        read() {
          this.destroy(new Error('disk on fire'));
        },
      });
      const l = layerFromOpener({ desc: gzDesc, diffID, open: async () => src });
      await assert.rejects(collect(await l.compressed()), /disk on fire/);
    });
  });

  describe('imageFromCore', () => {
    const layerDiffID = sha256(tarish);
    const rawConfig = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [layerDiffID] } }),
    );
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.DockerManifest,
      config: { mediaType: MediaType.DockerConfig, digest: sha256(rawConfig), size: rawConfig.length },
      layers: [gzDesc],
    };
    const rawManifest = Buffer.from(JSON.stringify(manifest));

    it('derives everything from the core, fetching each raw part once', async () => {
      const calls = { manifest: 0, config: 0, layer: 0 };
      const img = imageFromCore({
        rawManifest: async () => (calls.manifest++, rawManifest),
        rawConfig: async () => (calls.config++, rawConfig),
        layerByDigest: async (desc, diffID) => {
          calls.layer++;
          return layerFromOpener({ desc, diffID, open: async () => Readable.from([gz]) });
        },
      });
      await Promise.all([img.digest(), img.manifest(), img.mediaType(), img.configFile(), img.layers(), img.layers()]);
      assert.equal(await img.digest(), sha256(rawManifest));
      assert.equal(await img.mediaType(), MediaType.DockerManifest);
      assert.equal((await img.configFile()).architecture, 'amd64');
      const [layer] = await img.layers();
      assert.equal(await layer!.diffID(), layerDiffID);
      assert.deepEqual(await digestStream(await layer!.uncompressed()), { digest: layerDiffID, size: tarish.length });
      assert.deepEqual(calls, { manifest: 1, config: 1, layer: 1 });
    });

    it('a manifest without mediaType is taken as OCI', async () => {
      const { mediaType: _, ...rest } = manifest;
      const img = imageFromCore({
        rawManifest: async () => Buffer.from(JSON.stringify(rest)),
        rawConfig: async () => rawConfig,
        layerByDigest: async () => assert.fail('not needed'),
      });
      assert.equal(await img.mediaType(), MediaType.OciManifest);
    });

    const broken: Array<[string, Buffer, Buffer, RegExp]> = [
      ['manifest not JSON', Buffer.from('{'), rawConfig, /manifest is not valid JSON/],
      ['manifest without layers', Buffer.from('{"schemaVersion":2}'), rawConfig, /no config or layers/],
      [
        'diff_ids count differs from layers',
        rawManifest,
        Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } })),
        /1 layers but config has 0 diff_ids/,
      ],
      // found by test/fuzz: descriptors that are not descriptors used to surface as TypeErrors downstream
      ['a null layer descriptor', Buffer.from(JSON.stringify({ ...JSON.parse(rawManifest.toString()), layers: [null] })), rawConfig, /manifest layer 0 is not an object/],
      ['a layer with a string size', Buffer.from(JSON.stringify({ ...JSON.parse(rawManifest.toString()), layers: [{ ...gzDesc, size: '1' }] })), rawConfig, /manifest layer 0 has no valid size/],
      ['a config descriptor without digest', Buffer.from(JSON.stringify({ ...JSON.parse(rawManifest.toString()), config: { mediaType: MediaType.OciConfig, size: 2 } })), rawConfig, /config descriptor has no digest/],
    ];
    for (const [what, m, c, re] of broken) {
      it(`layers() fails with FormatError: ${what}`, async () => {
        const img = imageFromCore({ rawManifest: async () => m, rawConfig: async () => c, layerByDigest: async () => assert.fail('no') });
        await assert.rejects(img.layers(), (e: unknown) => e instanceof FormatError && re.test(e.message));
      });
    }
  });

  describe('indexFromCore', () => {
    it('parses the index and opens children through the callback', async () => {
      const child: Descriptor = { mediaType: MediaType.OciManifest, digest: sha256('x'), size: 1, platform: { os: 'linux', architecture: 'arm64' } };
      const ix: Index = { schemaVersion: 2, manifests: [child] };
      const raw = Buffer.from(JSON.stringify(ix));
      const opened: Digest[] = [];
      const index = indexFromCore(
        async () => raw,
        async (d) => {
          opened.push(d.digest);
          return imageFromCore({ rawManifest: async () => Buffer.from('{}'), rawConfig: async () => Buffer.from('{}'), layerByDigest: async () => assert.fail('no') });
        },
      );
      assert.equal(await index.mediaType(), MediaType.OciIndex);
      assert.equal(await index.digest(), sha256(raw));
      assert.deepEqual((await index.indexManifest()).manifests, [child]);
      await index.image(child);
      assert.deepEqual(opened, [child.digest]);
    });

    // found by test/fuzz (FUZZ_SEED=20240611): a null entry reached selectPlatform as a TypeError
    const child = { mediaType: MediaType.OciManifest, digest: sha256('x'), size: 1 };
    const brokenIndexes: Array<[string, unknown[], RegExp]> = [
      ['a null entry', [child, null], /index entry 1 is not an object/],
      ['a platform that is null', [{ ...child, platform: null }], /index entry 0 has an invalid platform/],
      ['a platform without architecture', [{ ...child, platform: { os: 'linux' } }], /index entry 0 has an invalid platform/],
      ['a variant that is no string (FUZZ_SEED=20240611: a TypeError in selectManifest)', [{ ...child, platform: { os: 'linux', architecture: 'arm', variant: [null] } }], /index entry 0 has an invalid platform/],
      ['os.features that are no string list', [{ ...child, platform: { os: 'linux', architecture: 'amd64', 'os.features': 'x' } }], /index entry 0 has an invalid platform/],
      ['a negative size', [{ ...child, size: -1 }], /index entry 0 has no valid size/],
    ];
    for (const [what, manifests, re] of brokenIndexes) {
      it(`indexManifest() fails with FormatError: ${what}`, async () => {
        const index = indexFromCore(async () => Buffer.from(JSON.stringify({ schemaVersion: 2, manifests })), async () => assert.fail('no'));
        await assert.rejects(index.indexManifest(), (e: unknown) => e instanceof FormatError && re.test(e.message));
      });
    }
  });
});
