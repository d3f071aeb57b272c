import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Image, Layer } from '../image/image.js';
import { MediaType } from '../image/mediatypes.js';
import { readOciLayout, writeOciLayout } from '../image/oci-layout.js';
import { sha256, type Digest } from '../image/digest.js';
import { createTarStream } from '../image/tar/writer.js';
import type { ImageConfigFile, Manifest } from '../image/types.js';
import { analyzeImage } from './analyze.js';
import { LayerReadError } from './errors.js';
import { imageOf, MiB } from './test-util.js';

/** Zeros, produced on demand in fresh 1 MiB chunks: nothing of the size is ever held by the source. */
function zeros(n: number, onChunk?: () => void): Readable {
  let left = n;
  return new Readable({
    read() {
      onChunk?.();
      if (left <= 0) return void this.push(null);
      const k = Math.min(left, MiB);
      left -= k;
      this.push(Buffer.alloc(k));
    },
  });
}

/** An image whose single layer is a tar generated while it is read (uncompressed() only). */
function streamedImage(files: number, each: number, open?: () => Readable, onChunk?: () => void): Image {
  const fake = (s: string) => sha256(s) as Digest;
  const layer: Layer = {
    digest: async () => fake('blob'),
    diffID: async () => fake('diff'),
    size: async () => 1,
    mediaType: async () => MediaType.OciLayer,
    compressed: async () => {
      throw new Error('not used');
    },
    uncompressed: async () =>
      open?.() ??
      createTarStream(
        Array.from({ length: files }, (_, i) => ({
          header: { path: `data/f${i}.bin`, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, size: each, mtime: 0 },
          body: () => zeros(each, onChunk),
        })),
      ),
  };
  const config: ImageConfigFile = {
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: [fake('diff')] },
    history: [{ created_by: 'RUN generate' }],
  };
  const rawConfig = Buffer.from(JSON.stringify(config));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
    layers: [{ mediaType: MediaType.OciLayer, digest: fake('blob'), size: 1 }],
  };
  const rawManifest = Buffer.from(JSON.stringify(manifest));
  return {
    mediaType: async () => MediaType.OciManifest,
    rawManifest: async () => rawManifest,
    manifest: async () => manifest,
    digest: async () => sha256(rawManifest),
    rawConfig: async () => rawConfig,
    configFile: async () => config,
    layers: async () => [layer],
  };
}

describe('report/analyze (streaming, sources, failures)', function () {
  this.timeout(60_000);

  it('memory stays flat: a 512 MiB layer is analysed with a small, bounded RSS growth', async () => {
    const each = 128 * MiB;
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    let samples = 0;
    // sampled from inside the source: the analysis keeps the event loop busy, timers would not fire
    const sample = () => {
      if (samples++ % 8 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    };
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const t0 = Date.now();
    try {
      const r = await analyzeImage(streamedImage(4, each, undefined, sample));
      assert.equal(r.totals.finalBytes, 4 * each);
      assert.equal(r.layers[0]!.uncompressedSize, 4 * (each + 512) + 1024);
      assert.equal(r.duplicates[0]?.bytes, 3 * each, 'four identical files: content hashes compared');
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks >= 3, `timers ran during the analysis (${ticks} ticks): the event loop is not starved`);
    const grew = (peak - before) / MiB;
    console.log(`    512 MiB analysed in ${Date.now() - t0} ms, RSS growth ${grew.toFixed(1)} MiB (${samples} chunks)`);
    assert.ok(samples >= 512, 'RSS was sampled while the layer streamed');
    assert.ok(grew < 96, `RSS grew ${grew.toFixed(1)} MiB`);
  });

  it('a corrupt layer fails with a typed error naming the layer', async () => {
    const img = streamedImage(1, 10, () => Readable.from([Buffer.alloc(512, 0x41)]));
    await assert.rejects(analyzeImage(img), (e: unknown) => {
      assert.ok(e instanceof LayerReadError);
      assert.equal(e.code, 'TSB_REPORT_LAYER_READ');
      assert.equal(e.data.index, 0);
      return true;
    });
  });

  it('an image read back from an OCI layout gives the same report', async () => {
    const img = await imageOf([
      { createdBy: 'base', entries: [{ file: 'etc/hostname', size: 100 }] },
      { createdBy: 'RUN big', entries: [{ file: 'big', size: MiB }] },
      { createdBy: 'RUN rm big', entries: [{ whiteout: 'big' }] },
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'tsb-report-oci-'));
    try {
      await writeOciLayout({ dir }, [{ image: img, refName: 'x' }]);
      const back = await analyzeImage(await readOciLayout(dir, 'x'));
      assert.deepEqual(back, await analyzeImage(img));
      assert.equal(back.reclaimableBytes, MiB);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
