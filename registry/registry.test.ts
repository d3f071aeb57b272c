/**
 * registry/ against REAL docker-registry processes (anonymous, htpasswd basic,
 * bearer token), checked with an independent client (skopeo).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256, type Digest } from '../image/digest.js';
import type { Image } from '../image/image.js';
import { MediaType } from '../image/mediatypes.js';
import { withConfig, withManifestMediaType } from '../image/mutate.js';
import { indexFromCore } from '../image/partial.js';
import { hostPlatform } from '../image/platform.js';
import { randomImage } from '../image/random.js';
import { validateImage } from '../image/validate.js';
import type { Index } from '../image/types.js';
import { requireTools, startRegistry, type TestRegistry } from '../test/registry-server.js';
import {
  AuthError,
  login,
  logout,
  parseReference,
  PlatformNotFoundError,
  RegistryClient,
  RegistryError,
  type RegistryEvent,
  type RegistryOptions,
} from './index.js';

function skopeo(args: string[]): string {
  const r = spawnSync('skopeo', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function withClient<T>(o: RegistryOptions, fn: (c: RegistryClient, events: RegistryEvent[]) => Promise<T>): Promise<T> {
  const events: RegistryEvent[] = [];
  const c = new RegistryClient({ ...o, onEvent: (e) => events.push(e) });
  try {
    return await fn(c, events);
  } finally {
    await c.close();
  }
}

async function configDirFor(reg: TestRegistry): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tsb-dockercfg-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.user}:${reg.password}`).toString('base64') } } }));
  return dir;
}

const count = (events: RegistryEvent[], type: RegistryEvent['type']): number => events.filter((e) => e.type === type).length;

describe('registry client against real docker-registry', function () {
  this.timeout(60_000);
  const regs: Partial<Record<'plain' | 'basic' | 'token', TestRegistry>> = {};
  const dirs: string[] = [];
  before(async function () {
    requireTools(this, ['docker-registry', 'htpasswd', 'openssl', 'skopeo']);
    const [plain, basic, token] = await Promise.all([startRegistry({ mode: 'plain' }), startRegistry({ mode: 'basic' }), startRegistry({ mode: 'token' })]);
    Object.assign(regs, { plain, basic, token });
  });
  after(async () => {
    await Promise.all(Object.values(regs).map((r) => r.stop()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  for (const mode of ['plain', 'basic', 'token'] as const) {
    describe(`${mode} registry`, () => {
      let reg: TestRegistry;
      let opts: RegistryOptions;
      let img: Image;
      before(async () => {
        reg = regs[mode]!;
        const cfgDir = await configDirFor(reg);
        dirs.push(cfgDir);
        // Small thresholds so the test exercises both monolithic and chunked uploads.
        opts = { dockerConfigDir: cfgDir, monolithicMax: 4096, chunkSize: 3000 };
        img = await randomImage(10_000, 3);
      });

      it('push then pull round trip: equal digests, verified content, several tags', async () => {
        await withClient(opts, async (c, events) => {
          const refs = [parseReference(`${reg.host}/rt/app:v1`), parseReference(`${reg.host}/rt/app:latest`)];
          const r = await c.push(img, refs);
          assert.equal(r.digest, await img.digest());
          assert.deepEqual({ uploaded: r.uploaded, mounted: r.mounted, skipped: r.skipped }, { uploaded: 4, mounted: 0, skipped: 0 });
          assert.equal(count(events, 'manifest-pushed'), 2);
          assert.ok(events.some((e) => e.type === 'blob-upload-start' && e.chunked), 'a chunked upload happened');
          for (const ref of refs) {
            const pulled = await c.getImage(ref);
            assert.equal(await pulled.digest(), r.digest);
            assert.deepEqual(await pulled.rawConfig(), await img.rawConfig());
            await validateImage(pulled);
          }
          const d = await c.head(refs[0]!);
          assert.deepEqual(d, { mediaType: MediaType.OciManifest, digest: r.digest, size: (await img.rawManifest()).length });
          assert.equal(await c.head(parseReference(`${reg.host}/rt/app:nope`)), undefined);
          if (mode === 'token') assert.ok(count(events, 'token') >= 1);
        });
      });

      it('a second push uploads no blob', async () => {
        await withClient(opts, async (c, events) => {
          const r = await c.push(img, [parseReference(`${reg.host}/rt/app:v1`)]);
          assert.deepEqual({ uploaded: r.uploaded, mounted: r.mounted, skipped: r.skipped }, { uploaded: 0, mounted: 0, skipped: 4 });
          assert.equal(count(events, 'blob-upload-start'), 0);
        });
      });

      it('cross-repo mount from mountFrom, and from the pulled image’s own repository', async () => {
        await withClient(opts, async (c, events) => {
          const r = await c.push(img, [parseReference(`${reg.host}/other/copy:v1`)], { mountFrom: [parseReference(`${reg.host}/rt/app:v1`)] });
          assert.equal(r.mounted, 4);
          assert.equal(count(events, 'blob-mounted'), 4);
          assert.equal(r.uploaded, 0);
          // An image pulled from this registry mounts from where it came from, with no option.
          const pulled = await c.getImage(parseReference(`${reg.host}/rt/app:v1`));
          const r2 = await c.push(pulled, [parseReference(`${reg.host}/third/copy:v1`)]);
          assert.deepEqual({ uploaded: r2.uploaded, mounted: r2.mounted }, { uploaded: 0, mounted: 4 });
        });
      });

      it('skopeo inspects the pushed image and copies it back to an OCI layout', async () => {
        const creds = mode === 'plain' ? [] : ['--creds', `${reg.user}:${reg.password}`];
        const info = JSON.parse(skopeo(['inspect', '--tls-verify=false', ...creds, `docker://${reg.host}/rt/app:v1`])) as { Digest: string; Layers: string[] };
        assert.equal(info.Digest, await img.digest());
        assert.deepEqual(info.Layers, (await img.manifest()).layers.map((l) => l.digest));
        if (mode !== 'plain') return;
        const out = await mkdtemp(join(tmpdir(), 'tsb-oci-'));
        dirs.push(out);
        skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/rt/app:v1`, `oci:${out}:v1`]);
        const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as Index;
        assert.equal(index.manifests[0]!.digest, await img.digest());
        for (const l of (await img.manifest()).layers) {
          const blob = await readFile(join(out, 'blobs', 'sha256', l.digest.slice(7)));
          assert.equal(sha256(blob), l.digest);
        }
      });
    });
  }

  describe('auth failures', () => {
    it('anonymous pull from the token registry fails with the registry’s code', async () => {
      await withClient({ dockerConfigDir: '/nonexistent-tsb' }, async (c) => {
        await assert.rejects(c.getImage(parseReference(`${regs.token!.host}/rt/app:v1`)), (e: unknown) => {
          assert.ok(e instanceof RegistryError);
          assert.equal(e.status, 401);
          assert.equal(e.registryCode, 'UNAUTHORIZED');
          assert.equal(e.code, 'TSB_REGISTRY_UNAUTHORIZED');
          return true;
        });
      });
    });
    it('a wrong password on the token registry is an AuthError without the password', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tsb-dockercfg-'));
      dirs.push(dir);
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [regs.token!.host]: { auth: Buffer.from('tsbuild:WRONG-pw-123').toString('base64') } } }));
      await withClient({ dockerConfigDir: dir }, async (c) => {
        await assert.rejects(c.getImage(parseReference(`${regs.token!.host}/rt/app:v1`)), (e: unknown) => {
          assert.ok(e instanceof AuthError);
          assert.doesNotMatch(`${e.message} ${JSON.stringify(e.data)} ${e.stack}`, /WRONG-pw-123/);
          return true;
        });
      });
    });
    it('basic registry without credentials asks for a login', async () => {
      await withClient({ dockerConfigDir: '/nonexistent-tsb' }, async (c) => {
        await assert.rejects(c.getImage(parseReference(`${regs.basic!.host}/rt/app:v1`)), (e: unknown) => e instanceof AuthError && /login/.test(e.message));
      });
    });
  });

  describe('multi-platform', () => {
    async function platformImage(arch: string, variant?: string): Promise<Image> {
      const base = await randomImage(1000, 1);
      return withConfig(base, (c) => {
        const { variant: _v, ...rest } = c;
        return { ...rest, architecture: arch, ...(variant ? { variant } : {}) };
      });
    }
    for (const kind of ['oci', 'docker'] as const) {
      it(`pulls from ${kind === 'oci' ? 'an OCI index' : 'a Docker manifest list'}: selects the platform`, async () => {
        const reg = regs.plain!;
        const host = hostPlatform();
        const other = host.architecture === 'arm64' ? { architecture: 'amd64' } : { architecture: 'arm64', variant: 'v8' };
        const imgs = await Promise.all([platformImage(other.architecture, other.variant), platformImage(host.architecture, host.variant)]).then((xs) =>
          xs.map((x) => withManifestMediaType(x, kind)),
        );
        const platforms = [other, host];
        const manifests = await Promise.all(
          imgs.map(async (im, i) => ({ mediaType: await im.mediaType(), digest: await im.digest(), size: (await im.rawManifest()).length, platform: { os: 'linux', ...platforms[i]! } })),
        );
        // An attestation manifest (unknown/unknown) that must never be chosen.
        manifests.push({ ...manifests[0]!, platform: { os: 'unknown', architecture: 'unknown' } });
        const index: Index = { schemaVersion: 2, mediaType: kind === 'oci' ? MediaType.OciIndex : MediaType.DockerManifestList, manifests };
        const raw = Buffer.from(JSON.stringify(index));
        const byDigest = new Map<Digest, Image>();
        for (const im of imgs) byDigest.set(await im.digest(), im);
        const idx = indexFromCore(async () => raw, async (d) => byDigest.get(d.digest)!);
        await withClient({}, async (c) => {
          const ref = parseReference(`${reg.host}/multi/${kind}:v1`);
          const r = await c.pushIndex(idx, [ref]);
          assert.equal(r.digest, sha256(raw));
          const got = await c.getImage(ref);
          assert.equal(await got.digest(), await imgs[1]!.digest());
          assert.equal((await got.configFile()).architecture, host.architecture);
          await validateImage(got);
          const ix = await c.getIndex(ref);
          assert.ok(ix);
          assert.equal((await ix.indexManifest()).manifests.length, 3);
          assert.equal(await c.getIndex(parseReference(`${reg.host}/rt/app:v1`)), undefined);
        });
        await withClient({ platform: { os: 'linux', ...other } }, async (c) => {
          const got = await c.getImage(parseReference(`${reg.host}/multi/${kind}:v1`));
          assert.equal(await got.digest(), await imgs[0]!.digest());
        });
        await withClient({ platform: { os: 'linux', architecture: 's390x' } }, async (c) => {
          await assert.rejects(c.getImage(parseReference(`${reg.host}/multi/${kind}:v1`)), (e: unknown) => e instanceof PlatformNotFoundError && /linux\/s390x/.test(e.message));
        });
      });
    }
  });

  it('a tampered blob on the registry’s disk is caught on pull (typed digest error)', async () => {
    const reg = regs.plain!;
    const img = await randomImage(5000, 1);
    const ref = parseReference(`${reg.host}/tamper/app:v1`);
    await withClient({}, async (c) => {
      await c.push(img, [ref]);
      const layerDigest = (await img.manifest()).layers[0]!.digest;
      const hex = layerDigest.slice(7);
      const file = join(reg.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
      const buf = await readFile(file);
      buf[buf.length >> 1]! ^= 0xff; // same size, different bytes
      await writeFile(file, buf);
      const pulled = await c.getImage(ref);
      const [layer] = await pulled.layers();
      const stream = await layer!.compressed();
      await assert.rejects(
        (async () => {
          for await (const _ of stream) {
            // drain
          }
        })(),
        (e: Error & { code?: string }) => e.code === 'TSB_IMAGE_DIGEST_MISMATCH',
      );
    });
  });

  describe('login / logout', () => {
    it('login verifies against /v2/ and writes config.json like docker; the client then uses it', async () => {
      for (const reg of [regs.basic!, regs.token!]) {
        const dir = await mkdtemp(join(tmpdir(), 'tsb-login-'));
        dirs.push(dir);
        await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: {}, psFormat: 'table {{.ID}}' }));
        await assert.rejects(login(reg.host, reg.user, 'bad-password-xyz', { dockerConfigDir: dir }), (e: unknown) => {
          assert.ok(e instanceof AuthError);
          assert.doesNotMatch(e.message, /bad-password-xyz/);
          return true;
        });
        assert.deepEqual(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).auths, {});
        await login(reg.host, reg.user, reg.password, { dockerConfigDir: dir });
        const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }>; psFormat: string };
        assert.equal(cfg.auths[reg.host]!.auth, Buffer.from(`${reg.user}:${reg.password}`).toString('base64'));
        assert.equal(cfg.psFormat, 'table {{.ID}}', 'other keys kept');
        assert.equal((await stat(join(dir, 'config.json'))).mode & 0o777, 0o600);
        assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), []);
        await withClient({ dockerConfigDir: dir }, async (c) => {
          const r = await c.push(await randomImage(100, 1), [parseReference(`${reg.host}/login/app:v1`)]);
          assert.equal(r.uploaded, 2);
        });
        await logout(reg.host, { dockerConfigDir: dir });
        assert.deepEqual(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).auths, {});
        await assert.rejects(logout(reg.host, { dockerConfigDir: dir }), AuthError);
      }
    });
  });
});
