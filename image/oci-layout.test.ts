import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { digestHex, sha256 } from './digest.js';
import { DigestMismatchError, FormatError } from './errors.js';
import type { Image } from './image.js';
import { MediaType } from './mediatypes.js';
import { withConfig } from './mutate.js';
import { indexTarFile, openTarRange, pruneOciLayout, readOciLayout, REF_NAME, writeOciLayout } from './oci-layout.js';
import { hostPlatform } from './platform.js';
import { randomImage } from './random.js';
import { readTar } from './tar/reader.js';
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

async function filesInLayers(img: Image): Promise<string[]> {
  const out: string[] = [];
  for (const l of await img.layers()) {
    for await (const { header, body } of readTar(await l.uncompressed())) {
      out.push(header.path);
      body.resume();
    }
  }
  return out;
}

describe('image/oci-layout', function () {
  this.timeout(60_000);
  let tmp: string;
  let img: Image;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tsb-oci-'));
    img = await randomImage(3000, 3, 11);
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  describe('round trips', () => {
    for (const kind of ['dir', 'tar'] as const) {
      it(`${kind}: write → read → validate, same digests`, async () => {
        const path = join(tmp, kind === 'dir' ? 'layout' : 'layout.tar');
        await writeOciLayout(kind === 'dir' ? { dir: path } : { tarFile: path }, [{ image: img, refName: 'x' }]);
        const back = await readOciLayout(path, 'x');
        await validateImage(back);
        assert.equal(await back.digest(), await img.digest());
        assert.deepEqual(await back.rawConfig(), await img.rawConfig());
        assert.deepEqual(await layerDigests(back), await layerDigests(img));
        // Only one image: the ref may be left out; the manifest digest works as a ref too.
        assert.equal(await (await readOciLayout(path)).digest(), await img.digest());
        assert.equal(await (await readOciLayout(path, await img.digest())).digest(), await img.digest());
      });
    }

    it('dir: the layout has the spec files and nothing half-written', async () => {
      const dir = join(tmp, 'l');
      await writeOciLayout({ dir }, [{ image: img, refName: 'v1' }]);
      assert.deepEqual(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
      const ix = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Index;
      assert.equal(ix.schemaVersion, 2);
      assert.equal(ix.manifests.length, 1);
      assert.equal(ix.manifests[0]!.annotations?.[REF_NAME], 'v1');
      assert.deepEqual(ix.manifests[0]!.platform, hostPlatform());
      const blobs = (await readdir(join(dir, 'blobs', 'sha256'))).sort();
      const want = [await img.digest(), (await img.manifest()).config.digest, ...(await layerDigests(img))].map((d) => digestHex(d as never));
      assert.deepEqual(blobs, want.sort());
      for (const b of blobs) assert.equal(sha256(await readFile(join(dir, 'blobs', 'sha256', b))), `sha256:${b}`);
    });

    it('tar: entries are oci-layout, index.json, then blobs, with fixed times', async () => {
      const file = join(tmp, 'l.tar');
      await writeOciLayout({ tarFile: file }, [{ image: img, refName: 'x' }]);
      const { stdout } = await run('tar', ['-tvf', file]);
      const lines = stdout.trim().split('\n');
      const names = lines.map((l) => l.split(/\s+/).at(-1));
      assert.deepEqual(names.slice(0, 4), ['oci-layout', 'index.json', 'blobs/', 'blobs/sha256/']);
      assert.equal(names.length, 4 + 5);
      assert.ok(lines.every((l) => l.includes('1970-01-01')), stdout);
      const again = join(tmp, 'again.tar');
      await writeOciLayout({ tarFile: again }, [{ image: img, refName: 'x' }]);
      assert.deepEqual(await readFile(again), await readFile(file), 'same input, same tar bytes');
    });
  });

  describe('directory updates', () => {
    it('merges into an existing layout: same ref replaced, others kept, shared blobs written once', async () => {
      const dir = join(tmp, 'l');
      const other = await randomImage(100, 1, 12);
      await writeOciLayout({ dir }, [{ image: img, refName: 'a' }]);
      await writeOciLayout({ dir }, [{ image: other, refName: 'b' }]);
      const newer = withConfig(img, (c) => ({ ...c, config: { ...c.config, Env: ['X=1'] } }));
      await writeOciLayout({ dir }, [{ image: newer, refName: 'a' }]);
      const ix = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Index;
      assert.deepEqual(
        ix.manifests.map((m) => [m.annotations?.[REF_NAME], m.digest]),
        [
          ['b', await other.digest()],
          ['a', await newer.digest()],
        ],
      );
      assert.equal(await (await readOciLayout(dir, 'a')).digest(), await newer.digest());
      await assert.rejects(readOciLayout(dir), (e: unknown) => e instanceof FormatError && /holds 2 images.*\bb\b.*\ba\b/.test(e.message));
      await assert.rejects(readOciLayout(dir, 'c'), (e: unknown) => e instanceof FormatError && /no image "c".*has: b, a/.test(e.message));
    });

    it('pruneOciLayout: blobs the index no longer reaches go, once older than the grace period; reached ones stay', async () => {
      const dir = join(tmp, 'l');
      const other = await randomImage(100, 1, 12);
      await writeOciLayout({ dir }, [{ image: img, refName: 'a' }]);
      const blobsDir = join(dir, 'blobs', 'sha256');
      const before = new Set(await readdir(blobsDir));
      const old = new Date(Date.now() - 3_600_000);
      for (const b of before) await utimes(join(blobsDir, b), old, old);
      await writeOciLayout({ dir }, [{ image: other, refName: 'a' }]); // replaces ref a: img's blobs are unreferenced now
      const wanted = new Set([digestHex((await other.digest()) as never), digestHex((await other.manifest()).config.digest as never), ...(await layerDigests(other)).map((d) => digestHex(d as never))]);
      assert.deepEqual(await pruneOciLayout(dir, { minAgeMs: 7_200_000 }).then((r) => r.removed), 0, 'all younger than two hours');
      const r = await pruneOciLayout(dir, { minAgeMs: 60_000 });
      assert.equal(r.removed, [...before].filter((b) => !wanted.has(b)).length);
      assert.deepEqual(new Set(await readdir(blobsDir)), wanted);
      assert.equal(await (await readOciLayout(dir, 'a')).digest(), await other.digest());
      await validateImage(await readOciLayout(dir, 'a'));
    });

    it('pruneOciLayout deletes nothing when a manifest it must follow is unreadable', async () => {
      const dir = join(tmp, 'l');
      await writeOciLayout({ dir }, [{ image: img, refName: 'a' }]);
      await writeFile(join(dir, 'blobs', 'sha256', digestHex((await img.digest()) as never)), 'not json');
      const count = (await readdir(join(dir, 'blobs', 'sha256'))).length;
      await assert.rejects(pruneOciLayout(dir, { minAgeMs: 0 }), FormatError);
      assert.equal((await readdir(join(dir, 'blobs', 'sha256'))).length, count);
    });

    it('skips a blob present with the right size, rewrites one with the wrong size', async () => {
      const dir = join(tmp, 'l');
      await writeOciLayout({ dir }, [{ image: img, refName: 'x' }]);
      const [l0, l1] = await layerDigests(img);
      const p0 = join(dir, 'blobs', 'sha256', digestHex(l0 as never));
      const p1 = join(dir, 'blobs', 'sha256', digestHex(l1 as never));
      const size1 = (await stat(p1)).size;
      // Same size but different bytes: proves the blob is skipped, not rewritten.
      const bytes0 = await readFile(p0);
      await writeFile(p0, Buffer.alloc(bytes0.length, 0));
      await truncate(p1, 10);
      await writeOciLayout({ dir }, [{ image: img, refName: 'x' }]);
      assert.deepEqual(await readFile(p0), Buffer.alloc(bytes0.length, 0));
      assert.equal((await stat(p1)).size, size1);
      assert.equal(sha256(await readFile(p1)), l1);
      const entries = await readdir(join(dir, 'blobs', 'sha256'));
      assert.ok(entries.every((e) => !e.includes('.tmp-')), 'no temp files left');
    });

    it('a layer whose bytes do not match leaves no blob behind', async () => {
      const dir = join(tmp, 'l');
      const [good] = await img.layers();
      const liar: Image = {
        ...img,
        layers: async () => {
          const ls = await img.layers();
          return [{ ...good!, compressed: async () => (await ls[1]!.compressed()) }, ...ls.slice(1)];
        },
      };
      await assert.rejects(writeOciLayout({ dir }, [{ image: liar, refName: 'x' }]), DigestMismatchError);
      const entries = await readdir(join(dir, 'blobs', 'sha256'));
      assert.ok(!entries.includes(digestHex((await good!.digest()) as never)));
      assert.ok(entries.every((e) => !e.includes('.tmp-')), `temp files left: ${entries.join(' ')}`);
      assert.ok(!existsSync(join(dir, 'index.json')), 'index.json never names a missing blob');
    });
  });

  describe('reading', () => {
    it('detects corrupt blobs', async () => {
      const dir = join(tmp, 'l');
      await writeOciLayout({ dir }, [{ image: img, refName: 'x' }]);
      const [l0] = await layerDigests(img);
      const p0 = join(dir, 'blobs', 'sha256', digestHex(l0 as never));
      const b = await readFile(p0);
      b[b.length - 5]! ^= 0xff;
      await writeFile(p0, b);
      const back = await readOciLayout(dir, 'x');
      await assert.rejects(collect(await (await back.layers())[0]!.compressed()), DigestMismatchError);
      await assert.rejects(validateImage(back), /layer 0: reading compressed/);

      const pm = join(dir, 'blobs', 'sha256', digestHex(await img.digest()));
      await writeFile(pm, (await readFile(pm)).toString().replace('"schemaVersion":2', '"schemaVersion":2 '));
      await assert.rejects((await readOciLayout(dir, 'x')).manifest(), (e: unknown) => e instanceof FormatError && /corrupt/.test(e.message));
    });

    it('is not fooled by something that is not a layout', async () => {
      await mkdir(join(tmp, 'empty'));
      await assert.rejects(readOciLayout(join(tmp, 'empty')), (e: unknown) => e instanceof FormatError && /not an OCI layout/.test(e.message));
      await assert.rejects(readOciLayout(join(tmp, 'missing')), /ENOENT/);
    });

    it('follows a nested index to the requested platform', async () => {
      const dir = join(tmp, 'l');
      const host = hostPlatform();
      const otherPlatform = host.architecture === 's390x' ? { os: 'linux', architecture: 'ppc64le' } : { os: 'linux', architecture: 's390x' };
      const foreign = withConfig(await randomImage(100, 1, 13), (c) => ({ ...c, ...otherPlatform }));
      await writeOciLayout({ dir }, [{ image: img }, { image: foreign }]);
      // Turn the two top-level entries into one multi-platform index named "multi".
      const top = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Index;
      const attestation = { ...top.manifests[0]!, platform: { os: 'unknown', architecture: 'unknown' } };
      const nested: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [attestation, top.manifests[1]!, top.manifests[0]!] };
      const raw = Buffer.from(JSON.stringify(nested));
      await writeFile(join(dir, 'blobs', 'sha256', digestHex(sha256(raw))), raw);
      const topNew: Index = {
        schemaVersion: 2,
        manifests: [{ mediaType: MediaType.OciIndex, digest: sha256(raw), size: raw.length, annotations: { [REF_NAME]: 'multi' } }],
      };
      await writeFile(join(dir, 'index.json'), JSON.stringify(topNew));

      assert.equal(await (await readOciLayout(dir, 'multi')).digest(), await img.digest());
      assert.equal(await (await readOciLayout(dir)).digest(), await img.digest());
      const picked = await readOciLayout(dir, 'multi', { platform: otherPlatform });
      assert.equal(await picked.digest(), await foreign.digest());
      await validateImage(picked);
      await assert.rejects(
        readOciLayout(dir, 'multi', { platform: { os: 'windows', architecture: 'arm64' } }),
        (e: unknown) => e instanceof FormatError && /no image for windows\/arm64/.test(e.message),
      );
    });

    const tarFormats = ['gnu', 'pax', 'ustar', 'v7'] as const;
    for (const format of tarFormats) {
      it(`indexTarFile reads GNU tar --format=${format} (long names, ./ prefixes, links)`, async () => {
        const src = join(tmp, 'src');
        const deep = format === 'v7' ? 'd' : 'd'.repeat(60) + '/' + 'e'.repeat(60);
        await mkdir(join(src, deep), { recursive: true });
        const longName = format === 'v7' ? 'short.bin' : `${deep}/${'f'.repeat(40)}.bin`;
        const content = Buffer.from('0123456789'.repeat(123));
        await writeFile(join(src, longName), content);
        await writeFile(join(src, 'empty'), '');
        await run('ln', [join(src, 'empty'), join(src, 'hard')]);
        await mkdir(join(src, 'sub'));
        await run('ln', ['-s', '../hard', join(src, 'sub', 'soft')]);
        await run('ln', ['-s', '../../etc/passwd', join(src, 'sub', 'escape')]);
        await run('ln', ['-s', '/etc/passwd', join(src, 'abs')]);
        const file = join(tmp, `${format}.tar`);
        await run('tar', ['-C', src, `--format=${format}`, '-cf', file, '.']);
        const index = await indexTarFile(file);
        const ref = index.get(longName);
        assert.ok(ref, `no ${longName} in ${[...index.keys()].join(', ')}`);
        assert.deepEqual(await collect(openTarRange(file, ref)), content);
        assert.deepEqual(await collect(openTarRange(file, index.get('empty')!)), Buffer.alloc(0));
        assert.ok(index.has('hard'));
        assert.deepEqual(index.get('sub/soft'), index.get('empty'), 'a symlink inside the archive reads as its target');
        assert.ok(!index.has('sub/escape') && !index.has('abs'), 'symlinks out of the archive are not followed');
        assert.ok(!index.has(deep), 'directories are not files');
      });
    }

    it('indexTarFile rejects what readTar rejects (one header decoder): bad checksum, bad PAX, truncation', async () => {
      const src = join(tmp, 'bad-src');
      await mkdir(src, { recursive: true });
      await writeFile(join(src, 'f'), 'x'.repeat(1000));
      const good = join(tmp, 'good-pax.tar');
      await run('tar', ['-C', src, '--format=pax', '--pax-option=comment=hello', '-cf', good, 'f']);
      const bytes = await readFile(good);
      const cases: Array<{ name: string; edit: (b: Buffer) => Buffer; message: RegExp }> = [
        { name: 'checksum', edit: (b) => (b.write('Z', 2, 'latin1'), b), message: /checksum mismatch/ },
        { name: 'pax', edit: (b) => (b.write('99', 512, 'latin1'), b), message: /malformed PAX record/ },
        { name: 'truncated', edit: (b) => b.subarray(0, 3000), message: /truncated tar file/ },
      ];
      for (const c of cases) {
        const file = join(tmp, `bad-${c.name}.tar`);
        await writeFile(file, c.edit(Buffer.from(bytes)));
        await assert.rejects(indexTarFile(file), (e: unknown) => e instanceof FormatError && c.message.test(e.message), c.name);
      }
    });

    it('reads a layout tar whose paths start with ./ (tar -C dir -cf x .)', async () => {
      const dir = join(tmp, 'l');
      await writeOciLayout({ dir }, [{ image: img, refName: 'x' }]);
      const file = join(tmp, 'dotted.tar');
      await run('tar', ['-C', dir, '-cf', file, '.']);
      assert.match((await run('tar', ['-tf', file])).stdout, /^\.\/blobs\/sha256\//m);
      const back = await readOciLayout(file, 'x');
      await validateImage(back);
      assert.equal(await back.digest(), await img.digest());
    });
  });

  describe('other tools agree', () => {
    it('skopeo inspect oci:DIR:REF', async function () {
      needTool(this, 'skopeo');
      const dir = join(tmp, 'l');
      await writeOciLayout({ dir }, [{ image: img, refName: 'x' }]);
      const { stdout } = await run('skopeo', ['inspect', `oci:${dir}:x`]);
      const info = JSON.parse(stdout) as { Digest: string; Layers: string[]; Architecture: string; Os: string };
      assert.equal(info.Digest, await img.digest());
      assert.deepEqual(info.Layers, await layerDigests(img));
      assert.equal(info.Architecture, hostPlatform().architecture);
      const raw = await run('skopeo', ['inspect', '--raw', `oci:${dir}:x`]);
      assert.equal(raw.stdout, (await img.rawManifest()).toString());
    });

    it('skopeo inspect oci-archive:FILE:REF', async function () {
      needTool(this, 'skopeo');
      const file = join(tmp, 'l.tar');
      await writeOciLayout({ tarFile: file }, [{ image: img, refName: 'x' }]);
      const { stdout } = await run('skopeo', ['inspect', `oci-archive:${file}:x`]);
      const info = JSON.parse(stdout) as { Digest: string; Layers: string[] };
      assert.equal(info.Digest, await img.digest());
      assert.deepEqual(info.Layers, await layerDigests(img));
    });

    it('umoci unpack puts the layer files in rootfs', async function () {
      needTool(this, 'umoci');
      const dir = join(tmp, 'l');
      await writeOciLayout({ dir }, [{ image: img, refName: 'x' }]);
      const bundle = join(tmp, 'bundle');
      await run('umoci', ['unpack', '--image', `${dir}:x`, bundle]);
      for (const i of [0, 1, 2]) assert.equal((await stat(join(bundle, 'rootfs', `random_file_${i}`))).size, 3000);
    });

    it('reads what skopeo copy writes (oci: and oci-archive:)', async function () {
      needTool(this, 'skopeo');
      const a = join(tmp, 'a');
      await writeOciLayout({ dir: a }, [{ image: img, refName: 'x' }]);
      const b = join(tmp, 'b');
      await run('skopeo', ['copy', '-q', `oci:${a}:x`, `oci:${b}:y`]);
      const fromDir = await readOciLayout(b, 'y');
      await validateImage(fromDir);
      assert.deepEqual(await layerDigests(fromDir), await layerDigests(img));
      const archive = join(tmp, 'c.tar');
      await run('skopeo', ['copy', '-q', `oci:${a}:x`, `oci-archive:${archive}:z`]);
      const fromTar = await readOciLayout(archive, 'z');
      await validateImage(fromTar);
      assert.deepEqual(await layerDigests(fromTar), await layerDigests(img));
    });

    it('reads a layout umoci made (init, new, unpack, repack)', async function () {
      needTool(this, 'umoci');
      const dir = join(tmp, 'u');
      const bundle = join(tmp, 'ubundle');
      await run('umoci', ['init', '--layout', dir]);
      await run('umoci', ['new', '--image', `${dir}:t`]);
      await run('umoci', ['unpack', '--image', `${dir}:t`, bundle]);
      await writeFile(join(bundle, 'rootfs', 'hello.txt'), 'hi\n');
      await run('umoci', ['repack', '--image', `${dir}:t`, bundle]);
      const u = await readOciLayout(dir, 't');
      await validateImage(u);
      assert.ok((await filesInLayers(u)).includes('hello.txt'));
      // and back: what we write from it, umoci reads
      const out = join(tmp, 'out');
      await writeOciLayout({ dir: out }, [{ image: u, refName: 'again' }]);
      await run('umoci', ['unpack', '--image', `${out}:again`, join(tmp, 'b2')]);
      assert.equal(await readFile(join(tmp, 'b2', 'rootfs', 'hello.txt'), 'utf8'), 'hi\n');
    });
  });
});
