import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ContentStore } from '../cache/store.js';
import { digestHex } from '../image/digest.js';
import { hostPlatform } from '../image/platform.js';
import { randomImage } from '../image/random.js';
import { parseReference } from '../registry/reference.js';
import { RegistryClient } from '../registry/client.js';
import { Runtime } from '../runtime/index.js';
import { busyboxLayout } from '../runtime/testing.js';
import { execFileP, removeAll, tempDir } from '../test/helpers.js';
import { startRegistry, type TestRegistry } from '../test/registry-server.js';
import { requireRoot, requireTools } from '../test/tools.js';
import { resolveImage } from './base.js';
import type { LayerIndexEntry } from './fsview.js';
import { takePulledLayer } from './pulled-layer.js';

/** A base image pulled from a real docker-registry is indexed (and unpacked for RUN) in the same pass. */
describe('builder/pulled-layer: a pull feeds the layer index and the RUN snapshot', function () {
  this.timeout(120_000);
  let reg: TestRegistry;
  let client: RegistryClient;
  let work: string;
  let name: string;

  before(async function () {
    requireTools(this, ['docker-registry', 'skopeo', 'umoci', 'busybox']);
    reg = await startRegistry({ mode: 'plain' });
    work = await tempDir('tsb-pulled-');
    name = `${reg.host}/library/busybox:pulled`;
    await execFileP('skopeo', ['copy', '--dest-tls-verify=false', `oci:${busyboxLayout()}:latest`, `docker://${name}`]);
    client = new RegistryClient({ insecureRegistries: [reg.host] });
  });
  after(async () => {
    await client?.close();
    await reg?.stop();
    if (work) await removeAll(work);
  });

  const cases: Array<{ name: string; withRuntime: boolean }> = [
    { name: 'no RUN in the build: only the index', withRuntime: false },
    { name: 'a RUN follows: the index and the overlay snapshot', withRuntime: true },
  ];
  for (const c of cases) {
    it(c.name, async function () {
      if (c.withRuntime) requireRoot(this, 'the overlay snapshot');
      const root = join(work, c.withRuntime ? 'run' : 'norun');
      const store = await ContentStore.open(root);
      const rt = c.withRuntime ? await Runtime.create({ root: join(root, 'runtime') }) : undefined;
      try {
        const base = await resolveImage(
          { store, platform: hostPlatform(), registry: async () => client, pull: true, tee: (s) => takePulledLayer(s, { store, ...(rt ? { runtime: async () => rt } : {}) }) },
          name,
        );
        assert.equal(base.layers.length, 1);
        const diffID = base.layers[0]!.diffID;
        const index = await store.readMeta<LayerIndexEntry[]>('layer-index', diffID);
        assert.ok(Array.isArray(index), 'the layer index was written during the pull');
        assert.ok(index.some(([path, type]) => path.replace(/^\.?\//, '') === 'bin/busybox' && type === 'file'), 'bin/busybox is in the index');
        const snapshot = join(root, 'runtime', 'snapshots', digestHex(diffID));
        if (rt) {
          assert.ok(rt.info.snapshotter === 'copy' || existsSync(join(snapshot, 'bin', 'busybox')), 'the overlay snapshot was unpacked during the pull');
        } else {
          assert.equal(existsSync(snapshot), false, 'nothing is unpacked when no RUN needs it');
        }
      } finally {
        await rt?.close();
      }
    });
  }

  describe('a tampered layer blob on the registry', () => {
    for (const withRuntime of [false, true]) {
      it(`fails the pull with the digest error and leaves no partial blob${withRuntime ? ' (a RUN follows)' : ''}`, async function () {
        if (withRuntime && process.getuid?.() !== 0) {
          if (process.env.CI === 'true') throw new Error('needs root under CI');
          this.skip();
        }
        // Its own image per case: blobs are shared by every repository of the registry.
        const img = await randomImage(300_000, 1, withRuntime ? 11 : 12);
        const tampered = `${reg.host}/tamper/app:${withRuntime ? 'run' : 'norun'}`;
        await client.push(img, [parseReference(tampered)]);
        const hex = (await img.manifest()).layers[0]!.digest.slice(7);
        const file = join(reg.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
        const buf = await readFile(file);
        buf[buf.length >> 1]! ^= 0xff; // same size, different bytes
        await writeFile(file, buf);

        const root = join(work, `tampered-${withRuntime}`);
        const store = await ContentStore.open(root);
        const rt = withRuntime ? await Runtime.create({ root: join(root, 'runtime') }) : undefined;
        try {
          await assert.rejects(
            resolveImage({ store, platform: hostPlatform(), registry: async () => client, pull: true, tee: (s) => takePulledLayer(s, { store, ...(rt ? { runtime: async () => rt } : {}) }) }, tampered),
            (e: Error & { code?: string }) => {
              assert.equal(e.code, 'TSB_IMAGE_DIGEST_MISMATCH', e.stack);
              return true;
            },
          );
          // Give a late 'error' event (the crash this guards against) the chance to fire.
          await new Promise((r) => setTimeout(r, 300));
          assert.deepEqual((await readdir(join(root, 'ingest')).catch(() => [])).filter((f) => f.endsWith('.tmp')), []);
        } finally {
          await rt?.close();
        }
      });
    }
  });
});
