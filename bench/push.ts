/**
 * Push benchmark (not a test): time to push a ~50 MB random image to an empty
 * registry and to one that already has it, next to `skopeo copy` of the same
 * image (from an OCI layout) in the same run. Real docker-registry on loopback.
 *
 *   npx tsx bench/push.ts [MB=50] [layers=5]
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { randomImage } from '../image/random.js';
import type { Image } from '../image/image.js';
import { parseReference, RegistryClient } from '../registry/index.js';
import { missingTools, startRegistry } from '../test/registry-server.js';

async function writeOciLayout(img: Image, dir: string, tag: string): Promise<void> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const m = await img.manifest();
  const layers = await img.layers();
  for (const [i, l] of layers.entries()) await pipeline(await l.compressed(), createWriteStream(join(blobs, m.layers[i]!.digest.slice(7))));
  await writeFile(join(blobs, m.config.digest.slice(7)), await img.rawConfig());
  const raw = await img.rawManifest();
  const digest = await img.digest();
  await writeFile(join(blobs, digest.slice(7)), raw);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: await img.mediaType(), digest, size: raw.length, annotations: { 'org.opencontainers.image.ref.name': tag } }] }),
  );
}

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, r];
}

async function main(): Promise<void> {
  const mb = Number(process.argv[2] ?? 50);
  const nLayers = Number(process.argv[3] ?? 5);
  const missing = missingTools(['docker-registry', 'skopeo']);
  if (missing.length) throw new Error(`bench needs ${missing.join(', ')}`);
  const img = await randomImage(Math.floor((mb * 1e6) / nLayers), nLayers);
  const size = (await img.manifest()).layers.reduce((a, l) => a + l.size, 0);
  const work = await mkdtemp(join(tmpdir(), 'tsb-bench-push-'));
  const [regA, regB] = await Promise.all([startRegistry(), startRegistry()]);
  const rows: Array<[string, number, string]> = [];
  try {
    await writeOciLayout(img, join(work, 'oci'), 'v1');
    const client = new RegistryClient();
    try {
      const ref = parseReference(`${regA.host}/bench/app:v1`);
      const [cold, r1] = await time(() => client.push(img, [ref]));
      rows.push(['tsbuild push, empty registry', cold, `uploaded ${r1.uploaded}`]);
      const [warm, r2] = await time(() => client.push(img, [ref]));
      rows.push(['tsbuild push, already present', warm, `skipped ${r2.skipped}`]);
    } finally {
      await client.close();
    }
    const skopeo = (): void => {
      const r = spawnSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${join(work, 'oci')}:v1`, `docker://${regB.host}/bench/app:v1`], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`skopeo copy failed: ${r.stderr}`);
    };
    const [sCold] = await time(async () => skopeo());
    rows.push(['skopeo copy, empty registry', sCold, '']);
    const [sWarm] = await time(async () => skopeo());
    rows.push(['skopeo copy, already present', sWarm, '']);
  } finally {
    await Promise.all([regA.stop(), regB.stop()]);
    await rm(work, { recursive: true, force: true });
  }
  console.log(`image: ${nLayers} layers, ${(size / 1e6).toFixed(1)} MB compressed; registry docker-registry on 127.0.0.1`);
  for (const [what, ms, note] of rows) {
    console.log(`${what.padEnd(32)} ${ms.toFixed(0).padStart(7)} ms  ${((size / 1e6) / (ms / 1000)).toFixed(0).padStart(5)} MB/s  ${note}`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
