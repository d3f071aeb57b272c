import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { digestHex, sha256 } from './digest.js';
import { FormatError } from './errors.js';
import type { Image } from './image.js';
import { MediaType } from './mediatypes.js';
import { normalizeRepoTag, readDockerArchive, writeDockerArchive, type DockerArchiveEntry } from './docker-archive.js';
import { withManifestMediaType } from './mutate.js';
import { imageFromCore, layerFromOpener } from './partial.js';
import { CONTAINERD_IMAGE_NAME, readOciLayout, REF_NAME, writeOciLayout } from './oci-layout.js';
import { randomImage } from './random.js';
import type { Index } from './types.js';
import { validateImage } from './validate.js';
import { requireTools } from '../test/tools.js';

const run = promisify(execFile);

function needTool(ctx: Mocha.Context, tool: string): void {
  requireTools(ctx, [tool]);
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function layerDigests(img: Image): Promise<string[]> {
  return Promise.all((await img.layers()).map((l) => l.digest()));
}

async function tarList(file: string): Promise<string[]> {
  return (await run('tar', ['-tf', file])).stdout.trim().split('\n');
}

async function tarCat(file: string, member: string): Promise<string> {
  return (await run('tar', ['-xOf', file, member], { maxBuffer: 64 << 20 })).stdout;
}

describe('image/docker-archive', function () {
  this.timeout(60_000);
  let tmp: string;
  let img: Image;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tsb-da-'));
    img = await randomImage(2000, 2, 21);
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  const tagCases: Array<[string, string | RegExp]> = [
    ['busybox', 'busybox:latest'],
    ['busybox:1.36', 'busybox:1.36'],
    ['docker.io/library/busybox:1', 'busybox:1'],
    ['docker.io/me/app', 'me/app:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['localhost:5000/app:v2', 'localhost:5000/app:v2'],
    ['app@sha256:' + 'a'.repeat(64), /digest reference/],
    ['app:', /invalid tag/],
  ];
  for (const [input, want] of tagCases) {
    it(`normalizeRepoTag(${JSON.stringify(input.slice(0, 30))})`, () => {
      if (want instanceof RegExp) assert.throws(() => normalizeRepoTag(input), want);
      else assert.equal(normalizeRepoTag(input), want);
    });
  }

  it('writes docker save layout: manifest.json, repositories, blobs, and an OCI index', async () => {
    const file = join(tmp, 'a.tar');
    await writeDockerArchive(file, [{ image: img, tags: ['app:1', 'docker.io/library/app:2'] }]);
    const names = await tarList(file);
    const m = await img.manifest();
    const blobs = [...m.layers.map((l) => l.digest), m.config.digest, await img.digest()].map((d) => `blobs/sha256/${digestHex(d)}`);
    assert.deepEqual(names.sort(), ['blobs/', 'blobs/sha256/', ...blobs, 'index.json', 'manifest.json', 'oci-layout', 'repositories'].sort());

    const entries = JSON.parse(await tarCat(file, 'manifest.json')) as DockerArchiveEntry[];
    assert.deepEqual(entries, [
      {
        Config: `blobs/sha256/${digestHex(m.config.digest)}`,
        RepoTags: ['app:1', 'app:2'],
        Layers: m.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
      },
    ]);
    const top = digestHex(m.layers[1]!.digest);
    assert.deepEqual(JSON.parse(await tarCat(file, 'repositories')), { app: { '1': top, '2': top } });
    const ix = JSON.parse(await tarCat(file, 'index.json')) as Index;
    assert.deepEqual(
      ix.manifests.map((d) => [d.digest, d.annotations?.[CONTAINERD_IMAGE_NAME], d.annotations?.[REF_NAME]]),
      [
        [await img.digest(), 'docker.io/library/app:1', '1'],
        [await img.digest(), 'docker.io/library/app:2', '2'],
      ],
    );
    // layers stay gzip'd
    const layer = (await run('tar', ['-xOf', file, blobs[0]!], { encoding: 'buffer', maxBuffer: 64 << 20 })).stdout;
    assert.deepEqual([...layer.subarray(0, 2)], [0x1f, 0x8b]);
  });

  it('round trip keeps the manifest digest (the archive carries its own manifest)', async () => {
    const file = join(tmp, 'a.tar');
    const docker = withManifestMediaType(img, 'docker');
    await writeDockerArchive(file, [{ image: docker, tags: ['app:1'] }]);
    const back = await readDockerArchive(file);
    await validateImage(back);
    assert.equal(await back.digest(), await docker.digest());
    assert.equal(await (await readDockerArchive(file, 'app:1')).digest(), await docker.digest());
    // it is an OCI layout too, named by containerd's full name
    const asLayout = await readOciLayout(file, 'docker.io/library/app:1');
    assert.equal(await asLayout.digest(), await docker.digest());
  });

  it('several images: pick by tag in any spelling; no or unknown tag is an error', async () => {
    const file = join(tmp, 'a.tar');
    const other = await randomImage(500, 1, 22);
    await writeDockerArchive(file, [
      { image: img, tags: ['a:1', 'docker.io/library/b'] },
      { image: other, tags: ['localhost:5000/c/d:2'] },
    ]);
    const cases: Array<[string, Image]> = [
      ['a:1', img],
      ['docker.io/library/a:1', img],
      ['b', img],
      ['b:latest', img],
      ['localhost:5000/c/d:2', other],
    ];
    for (const [tag, want] of cases) {
      const got = await readDockerArchive(file, tag);
      assert.equal(await got.digest(), await want.digest(), tag);
    }
    await validateImage(await readDockerArchive(file, 'localhost:5000/c/d:2'));
    await assert.rejects(readDockerArchive(file), (e: unknown) => e instanceof FormatError && /holds 2 images/.test(e.message));
    await assert.rejects(readDockerArchive(file, 'a:2'), (e: unknown) => e instanceof FormatError && /no image a:2.*has: a:1, b:latest/.test(e.message));
  });

  it('reads Docker 25+ archives: uncompressed layers named by diffID, the manifest from index.json', async () => {
    // Rebuild the random image the way Docker 25 stores it: plain tar layers.
    const tars = await Promise.all((await img.layers()).map(async (l) => collect(await l.uncompressed())));
    const rawConfig = await img.rawConfig();
    const manifest = {
      schemaVersion: 2 as const,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: sha256(rawConfig), size: rawConfig.length },
      layers: tars.map((t) => ({ mediaType: MediaType.OciLayer, digest: sha256(t), size: t.length })),
    };
    const rawManifest = Buffer.from(JSON.stringify(manifest));
    const docker25 = imageFromCore({
      rawManifest: async () => rawManifest,
      rawConfig: async () => rawConfig,
      layerByDigest: async (desc, diffID) =>
        layerFromOpener({ desc, diffID, open: async () => Readable.from([tars.find((t) => sha256(t) === desc.digest)!]) }),
    });
    const file = join(tmp, 'd25.tar');
    await writeDockerArchive(file, [{ image: docker25, tags: ['app:25'] }]);
    const entries = JSON.parse(await tarCat(file, 'manifest.json')) as DockerArchiveEntry[];
    assert.deepEqual(entries[0]!.Layers, (await img.configFile()).rootfs.diff_ids.map((d) => `blobs/sha256/${digestHex(d)}`));
    const back = await readDockerArchive(file, 'app:25');
    await validateImage(back);
    assert.equal(await back.digest(), sha256(rawManifest));
    assert.equal(await (await back.layers())[0]!.mediaType(), MediaType.OciLayer);
  });

  it('an image without tags is still written and read', async () => {
    const file = join(tmp, 'a.tar');
    await writeDockerArchive(file, [{ image: img, tags: [] }]);
    assert.ok(!(await tarList(file)).includes('repositories'));
    assert.equal(await (await readDockerArchive(file)).digest(), await img.digest());
  });

  it('reads old-style archives: <id>/layer.tar uncompressed, <id>.json config, via a gzip view', async () => {
    const src = join(tmp, 'old');
    await mkdir(src);
    const config = await img.rawConfig();
    const layers: string[] = [];
    const tars: Buffer[] = [];
    for (const [i, l] of (await img.layers()).entries()) {
      const tar = await collect(await l.uncompressed());
      tars.push(tar);
      const id = digestHex(sha256(`layer${i}`));
      await mkdir(join(src, id));
      // the second layer gzip'd, as some tools write: its digest is hashed from the file
      await writeFile(join(src, id, 'layer.tar'), i === 1 ? gzipSync(tar) : tar);
      await writeFile(join(src, id, 'VERSION'), '1.0');
      layers.push(`${id}/layer.tar`);
    }
    await writeFile(join(src, `${digestHex(sha256(config))}.json`), config);
    const entries: DockerArchiveEntry[] = [{ Config: `${digestHex(sha256(config))}.json`, RepoTags: ['old:v1'], Layers: layers }];
    await writeFile(join(src, 'manifest.json'), JSON.stringify(entries));
    const file = join(tmp, 'old.tar');
    await run('tar', ['-C', src, '-cf', file, '.']);

    const back = await readDockerArchive(file, 'old:v1');
    await validateImage(back);
    assert.equal(await back.mediaType(), MediaType.DockerManifest);
    assert.deepEqual((await back.configFile()).rootfs, (await img.configFile()).rootfs);
    const [l0, l1] = await back.layers();
    assert.deepEqual(await collect(await l0!.uncompressed()), tars[0]);
    assert.deepEqual(await collect(await l1!.uncompressed()), tars[1]);
    assert.equal(await l1!.digest(), sha256(gzipSync(tars[1]!)));
    // the gzip view is the same bytes every time, so its digest holds
    const gz1 = await collect(await l0!.compressed());
    const gz2 = await collect(await l0!.compressed());
    assert.deepEqual(gz1, gz2);
    assert.equal(sha256(gz1), await l0!.digest());
    // a second read of the archive agrees on every digest
    assert.equal(await (await readDockerArchive(file)).digest(), await back.digest());
  });

  it('rejects what is not a docker-archive, and a config that is not what its name says', async () => {
    const lay = join(tmp, 'oci.tar');
    await writeOciLayout({ tarFile: lay }, [{ image: img, refName: 'x' }]);
    await assert.rejects(readDockerArchive(lay), (e: unknown) => e instanceof FormatError && /no manifest.json/.test(e.message));

    const src = join(tmp, 'bad');
    await mkdir(join(src, 'blobs', 'sha256'), { recursive: true });
    const wrongName = digestHex(sha256('something else'));
    await writeFile(join(src, 'blobs', 'sha256', wrongName), await img.rawConfig());
    await writeFile(join(src, 'manifest.json'), JSON.stringify([{ Config: `blobs/sha256/${wrongName}`, RepoTags: null, Layers: [] }]));
    const file = join(tmp, 'bad.tar');
    await run('tar', ['-C', src, '-cf', file, '.']);
    await assert.rejects(readDockerArchive(file), (e: unknown) => e instanceof FormatError && /hashes to/.test(e.message));
  });

  describe('other tools agree', () => {
    it('skopeo inspect docker-archive:FILE', async function () {
      needTool(this, 'skopeo');
      const file = join(tmp, 'a.tar');
      await writeDockerArchive(file, [{ image: img, tags: ['app:1'] }]);
      const info = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${file}`])).stdout) as {
        RepoTags: string[];
        Layers: string[];
        Architecture: string;
      };
      // skopeo serves docker-archive layers uncompressed, so it names them by diffID
      assert.deepEqual(info.Layers, (await img.configFile()).rootfs.diff_ids);
      assert.equal(info.Architecture, (await img.configFile()).architecture);
      const cfg = JSON.parse((await run('skopeo', ['inspect', '--config', `docker-archive:${file}`])).stdout) as { rootfs: unknown };
      assert.deepEqual(cfg.rootfs, (await img.configFile()).rootfs);
    });

    it('skopeo copy docker-archive:FILE oci:DIR:x gives the same layer contents', async function () {
      needTool(this, 'skopeo');
      const file = join(tmp, 'a.tar');
      await writeDockerArchive(file, [{ image: img, tags: ['app:1'] }]);
      const dir = join(tmp, 'oci');
      await run('skopeo', ['copy', '-q', `docker-archive:${file}`, `oci:${dir}:x`]);
      const copied = await readOciLayout(dir, 'x');
      await validateImage(copied);
      // skopeo recompresses with its own gzip, so compare what is inside
      assert.deepEqual((await copied.configFile()).rootfs, (await img.configFile()).rootfs);
      assert.equal((await copied.layers()).length, 2);
    });

    it('reads what skopeo writes as docker-archive', async function () {
      needTool(this, 'skopeo');
      const dir = join(tmp, 'oci');
      await writeOciLayout({ dir }, [{ image: img, refName: 'x' }]);
      const file = join(tmp, 'sk.tar');
      await run('skopeo', ['copy', '-q', `oci:${dir}:x`, `docker-archive:${file}:foo/bar:baz`]);
      const back = await readDockerArchive(file, 'foo/bar:baz');
      await validateImage(back);
      assert.deepEqual((await back.configFile()).rootfs, (await img.configFile()).rootfs);
      assert.deepEqual(await back.rawConfig(), await img.rawConfig());
      const manifest = JSON.parse(await tarCat(file, 'manifest.json')) as DockerArchiveEntry[];
      assert.deepEqual(manifest[0]!.RepoTags?.map(normalizeRepoTag), ['foo/bar:baz']);
      assert.ok(!(await tarList(file)).includes('index.json'), 'skopeo 1.9 writes the old style: our made-up manifest is in use');
      // and back out again: skopeo reads what we derived from its archive
      const again = join(tmp, 'again.tar');
      await writeDockerArchive(again, [{ image: back, tags: ['foo/bar:baz'] }]);
      const info = JSON.parse((await run('skopeo', ['inspect', `docker-archive:${again}`])).stdout) as { Layers: string[] };
      assert.deepEqual(info.Layers, (await back.configFile()).rootfs.diff_ids);
      assert.deepEqual(await layerDigests(await readDockerArchive(again)), await layerDigests(back));
    });
  });
});
