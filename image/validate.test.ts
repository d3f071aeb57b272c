import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { sha256, type Digest } from './digest.js';
import { ImageError } from './errors.js';
import type { Image, Layer } from './image.js';
import { imageFromCore, layerFromOpener } from './partial.js';
import { randomImage } from './random.js';
import type { ImageConfigFile, Manifest } from './types.js';
import { digestStream, ImageValidationError, validateImage } from './validate.js';

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

interface Tamper {
  /** Edit the manifest; the config descriptor is NOT fixed up afterwards. */
  manifest?: (m: Manifest) => void;
  /** Edit the config; the manifest's config descriptor is fixed up unless `manifest` breaks it again. */
  config?: (c: ImageConfigFile) => void;
  /** Replace a layer blob's bytes. */
  blob?: (b: Buffer, i: number) => Buffer;
  /** Wrap the finished image. */
  wrap?: (img: Image) => Image;
}

/** A random image rebuilt from its parts with one thing broken. */
async function tampered(t: Tamper): Promise<Image> {
  const base = await randomImage(500, 2, 42);
  const config = structuredClone(await base.configFile());
  t.config?.(config);
  const rawConfig = Buffer.from(JSON.stringify(config));
  const manifest = structuredClone(await base.manifest());
  manifest.config = { ...manifest.config, digest: sha256(rawConfig), size: rawConfig.length };
  t.manifest?.(manifest);
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  const blobs = new Map<Digest, Buffer>();
  for (const [i, l] of (await base.layers()).entries()) {
    const b = await collect(await l.compressed());
    blobs.set(await l.digest(), t.blob ? t.blob(b, i) : b);
  }
  const img = imageFromCore({
    rawManifest: async () => rawManifest,
    rawConfig: async () => rawConfig,
    layerByDigest: async (desc, diffID) =>
      layerFromOpener({ desc, diffID, open: async () => Readable.from([blobs.get(desc.digest) ?? Buffer.alloc(0)]) }),
  });
  return t.wrap ? t.wrap(img) : img;
}

async function problemsOf(img: Image): Promise<string[]> {
  try {
    await validateImage(img);
    return [];
  } catch (e) {
    assert.ok(e instanceof ImageValidationError, `unexpected ${String(e)}`);
    assert.ok(e instanceof ImageError);
    assert.equal(e.code, 'TSB_IMAGE_INVALID');
    assert.deepEqual(e.data['problems'], e.problems);
    return [...e.problems];
  }
}

describe('image/validate', () => {
  it('an untouched image is valid', async () => {
    assert.deepEqual(await problemsOf(await tampered({})), []);
  });

  const cases: Array<[string, Tamper, RegExp]> = [
    ['config digest in manifest', { manifest: (m) => void (m.config.digest = sha256('other')) }, /^config hashes to sha256:\w+ but the manifest names/],
    ['config size in manifest', { manifest: (m) => void (m.config.size += 1) }, /^config is \d+ bytes but the manifest says/],
    ['layer size in manifest', { manifest: (m) => void (m.layers[1]!.size -= 1) }, /^layer 1: reading compressed: .*size|^layer 1: reading compressed: .*more than/],
    ['layer bytes', { blob: (b, i) => (i === 0 ? Buffer.concat([b.subarray(0, 20), Buffer.from([b[20]! ^ 0xff]), b.subarray(21)]) : b) }, /^layer 0: reading compressed: content does not match/],
    ['diffID in config', { config: (c) => void (c.rootfs.diff_ids[0] = sha256('nope')) }, /^layer 0: uncompressed bytes hash to sha256:\w+, not diffID/],
    ['diff_ids count', { config: (c) => void c.rootfs.diff_ids.pop() }, /^config has 1 diff_ids but the manifest has 2 layers/],
    ['history count', { config: (c) => void c.history!.pop() }, /^history has 1 non-empty entries but there are 2 layers/],
    ['manifest media type', { manifest: (m) => void (m.mediaType = 'application/vnd.oci.image.index.v1+json') }, /is not an image manifest type/],
    [
      'digest() lies',
      { wrap: (img) => ({ ...img, digest: async () => sha256('lie') }) },
      /^digest\(\) is sha256:\w+ but the manifest hashes to/,
    ],
    [
      'a layer that is not the one the manifest names',
      {
        wrap: (img) => ({
          ...img,
          layers: async () => {
            const ls = await img.layers();
            const l = ls[1]!;
            const liar: Layer = { ...l, digest: async () => sha256('x'), size: async () => 7 };
            return [ls[0]!, liar];
          },
        }),
      },
      /^layer 1: digest\(\) sha256:\w+ but the manifest names/,
    ],
  ];
  for (const [what, t, re] of cases) {
    it(`finds a wrong ${what}`, async () => {
      const problems = await problemsOf(await tampered(t));
      assert.ok(problems.some((p) => re.test(p)), `no problem matching ${re} in:\n${problems.join('\n')}`);
    });
  }

  it('lists every problem, not just the first', async () => {
    const problems = await problemsOf(
      await tampered({
        config: (c) => {
          c.rootfs.diff_ids[1] = sha256('a');
          c.history!.pop();
        },
        blob: (b, i) => (i === 0 ? b.subarray(1) : b),
      }),
    );
    assert.ok(problems.length >= 3, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('layer 0:')));
    assert.ok(problems.some((p) => p.startsWith('layer 1:')));
    assert.ok(problems.some((p) => p.startsWith('history')));
  });

  it('digestStream hashes and counts without keeping the bytes', async () => {
    const data = Buffer.alloc(300_000, 7);
    assert.deepEqual(await digestStream(Readable.from([data.subarray(0, 1000), data.subarray(1000)])), {
      digest: sha256(data),
      size: data.length,
    });
  });
});
