import assert from 'node:assert/strict';
import { analyzeImage } from './analyze.js';
import { imageOf, MiB, type Step } from './test-util.js';

const BASE: Step = { createdBy: 'ADD rootfs.tar /', entries: [{ dir: 'etc' }, { file: 'etc/hostname', size: 1000 }] };

describe('report/analyze', function () {
  this.timeout(30_000);

  it('(a) a 10 MiB file written then deleted: reclaimable is exactly 10 MiB, efficiency is dive’s', async () => {
    const img = await imageOf([
      BASE,
      { createdBy: 'RUN make big', entries: [{ file: 'big.bin', size: 10 * MiB }] },
      { createdBy: 'RUN rm big.bin', entries: [{ whiteout: 'big.bin' }] },
    ]);
    const r = await analyzeImage(img);
    assert.equal(r.reclaimableBytes, 10 * MiB);
    assert.deepEqual(r.wasted, [
      { path: '/big.bin', layers: [1], bytes: 10 * MiB, kind: 'deleted', copies: 1, deletedIn: 2 },
    ]);
    // dive: /big.bin seen twice (add, whiteout of a file counts 0) → cum 10 MiB, min 0
    assert.equal(r.efficiency, 1000 / (1000 + 10 * MiB));
    assert.equal(r.diveWastedBytes, 10 * MiB);
    assert.equal(r.diveUserWastedPercent, 1);
    assert.equal(r.totals.files, 1);
    assert.equal(r.totals.finalBytes, 1000);
    assert.equal(r.totals.contentBytes, 1000 + 10 * MiB);
    assert.deepEqual(
      r.layers.map((l) => [l.index, l.createdBy, l.base, l.contentBytes, l.files, l.whiteouts, l.wastedBytes, l.removedBytes]),
      [
        [0, 'ADD rootfs.tar /', true, 1000, 1, 0, 0, 0],
        [1, 'RUN make big', false, 10 * MiB, 1, 0, 10 * MiB, 0],
        [2, 'RUN rm big.bin', false, 0, 0, 1, 0, 10 * MiB],
      ],
    );
    for (const l of r.layers) {
      assert.ok(l.compressedSize > 0 && l.uncompressedSize >= l.contentBytes + 1024, `sizes of layer ${l.index}`);
      assert.match(l.digest, /^sha256:[0-9a-f]{64}$/);
      assert.match(l.diffID, /^sha256:[0-9a-f]{64}$/);
    }
    assert.ok(r.layers[1]!.compressedSize < MiB, 'a 10 MiB run of one byte compresses');
    assert.equal(r.layers[1]!.uncompressedSize % 512, 0);
    assert.equal(r.totals.uncompressed, r.layers.reduce((s, l) => s + l.uncompressedSize, 0));
  });

  it('(b) a file overwritten three times: every non-final copy is reclaimable, dive double counts', async () => {
    const img = await imageOf([
      BASE,
      { createdBy: 'COPY config v1', entries: [{ file: 'app/config.json', size: 100, fill: 0x31 }] },
      { createdBy: 'COPY config v2', entries: [{ file: 'app/config.json', size: 200, fill: 0x32 }] },
      { createdBy: 'COPY config v3', entries: [{ file: 'app/config.json', size: 300, fill: 0x33 }] },
      { createdBy: 'COPY config v4', entries: [{ file: 'app/config.json', size: 400, fill: 0x34 }] },
    ]);
    const r = await analyzeImage(img);
    assert.equal(r.reclaimableBytes, 100 + 200 + 300);
    assert.deepEqual(r.wasted, [
      { path: '/app/config.json', layers: [1, 2, 3, 4], bytes: 600, kind: 'overwritten', copies: 4, finalLayer: 4 },
    ]);
    assert.equal(r.diveWastedBytes, 1000, 'dive counts the surviving copy too (dive#684)');
    assert.equal(r.efficiency, (1000 + 100) / (1000 + 1000));
    assert.deepEqual(r.largestFiles, [
      { path: '/etc/hostname', size: 1000, layer: 0 },
      { path: '/app/config.json', size: 400, layer: 4 },
    ]);
    assert.deepEqual(
      r.layers.map((l) => [l.wastedBytes, l.removedBytes]),
      [[0, 0], [100, 0], [200, 100], [300, 200], [0, 300]],
    );
  });

  it('identical rewrites (chmod -R style) are duplicates; same content at two paths is listed', async () => {
    const img = await imageOf([
      BASE,
      { createdBy: 'COPY data', entries: [{ file: 'srv/data.bin', size: 5000, fill: 7 }, { file: 'srv/other.bin', size: 10, fill: 1 }] },
      { createdBy: 'RUN chmod -R g+w /srv', entries: [{ dir: 'srv' }, { file: 'srv/data.bin', size: 5000, fill: 7 }] },
      { createdBy: 'RUN cp /srv/data.bin /opt/', entries: [{ file: 'opt/data.bin', size: 5000, fill: 7 }] },
    ]);
    const r = await analyzeImage(img);
    assert.deepEqual(r.wasted, [
      { path: '/srv/data.bin', layers: [1, 2], bytes: 5000, kind: 'duplicate', copies: 2, finalLayer: 2 },
    ]);
    assert.equal(r.reclaimableBytes, 5000);
    assert.equal(r.duplicates.length, 1);
    assert.deepEqual(r.duplicates[0]!.paths, ['/opt/data.bin', '/srv/data.bin']);
    assert.deepEqual(r.duplicates[0]!.layers, [2, 3]);
    assert.equal(r.duplicates[0]!.bytes, 5000);
  });

  it('directory whiteouts and opaque dirs delete everything below them (only lower layers)', async () => {
    const img = await imageOf([
      BASE,
      {
        createdBy: 'COPY app',
        entries: [{ dir: 'opt' }, { dir: 'opt/app' }, { file: 'opt/app/a', size: 300 }, { file: 'opt/app/b', size: 700 },
          { dir: 'var' }, { file: 'var/x', size: 50 }],
      },
      { createdBy: 'RUN rm -rf /opt/app', entries: [{ dir: 'opt' }, { whiteout: 'opt/app' }] },
      // opaque var/: x goes, this layer's own var/y stays whatever the entry order
      { createdBy: 'RUN reset var', entries: [{ dir: 'var' }, { file: 'var/y', size: 20 }, { opaque: 'var' }] },
    ]);
    const r = await analyzeImage(img);
    assert.equal(r.reclaimableBytes, 300 + 700 + 50);
    assert.deepEqual(
      r.wasted.map((w) => [w.path, w.kind, w.bytes, w.deletedIn]),
      [['/opt/app/b', 'deleted', 700, 2], ['/opt/app/a', 'deleted', 300, 2], ['/var/x', 'deleted', 50, 3]],
    );
    assert.equal(r.totals.files, 2);
    assert.equal(r.totals.finalBytes, 1020);
    // dive: the dir whiteout counts the dir's stacked size (1000) once at /opt/app → no "waste";
    // opaque markers are ignored by dive → /var/x is not seen twice.
    assert.equal(r.efficiency, 1);
    assert.equal(r.diveWastedBytes, 0);
  });

  it('reproduces dive’s own efficiency test (implicit parent dirs, a dir whiteout counting 0) → 0.75', async () => {
    // dive/filetree/efficiency_test.go TestEfficency: trees without explicit directory entries
    const img = await imageOf([
      { createdBy: 'l0', entries: [{ file: 'etc/nginx/nginx.conf', size: 2000 }, { file: 'etc/nginx/public', size: 3000 }] },
      { createdBy: 'l1', entries: [{ file: 'etc/nginx/nginx.conf', size: 5000 }, { file: 'etc/athing', size: 10000 }] },
      { createdBy: 'l2', entries: [{ whiteout: 'etc/nginx' }] },
    ]);
    const r = await analyzeImage(img);
    assert.equal(r.efficiency, 0.75);
    assert.equal(r.diveWastedBytes, 7000);
    // correct accounting: both nginx copies and public are gone
    assert.equal(r.reclaimableBytes, 2000 + 5000 + 3000);
  });

  it('a file replacing a directory and a directory replacing a file', async () => {
    const img = await imageOf([
      { createdBy: 'l0', entries: [{ file: 'a/one', size: 10 }, { file: 'a/two', size: 20 }, { file: 'b', size: 40 }] },
      { createdBy: 'l1', entries: [{ file: 'a', size: 5 }, { file: 'b/inner', size: 8 }] },
    ]);
    const r = await analyzeImage(img);
    assert.deepEqual(r.wasted.map((w) => [w.path, w.kind, w.bytes]), [
      ['/b', 'deleted', 40],
      ['/a/two', 'deleted', 20],
      ['/a/one', 'deleted', 10],
    ]);
    assert.equal(r.totals.finalBytes, 13);
    assert.deepEqual(r.largestFiles.map((f) => f.path), ['/b/inner', '/a']);
  });

  it('(c) apt lists and .deb cache left behind → findings naming the layer, its instruction and a fix', async () => {
    const apt = 'RUN /bin/sh -c apt-get update && apt-get install -y curl';
    const img = await imageOf([
      BASE,
      { createdBy: 'ENV DEBIAN_FRONTEND=noninteractive' },
      {
        createdBy: apt,
        entries: [
          { dir: 'var/lib/apt/lists' },
          { file: 'var/lib/apt/lists/lock', size: 0 },
          { file: 'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease', size: 150_000 },
          { file: 'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4', size: 800_000 },
          { file: 'var/cache/apt/archives/curl_7.88.1-10_amd64.deb', size: 300_000 },
          { file: 'var/cache/apt/pkgcache.bin', size: 20_000 },
          { file: 'usr/bin/curl', size: 250_000 },
        ],
      },
      { createdBy: 'RUN apt-get install -y gcc', entries: [{ file: 'usr/bin/gcc-12', size: 1_000 }, { file: 'usr/lib/gcc/x86_64-linux-gnu/12/cc1', size: 30_000 }] },
    ]);
    const r = await analyzeImage(img, {
      baseLayerCount: 1,
      sourceMap: [undefined, { file: 'Dockerfile', line: 2 }, { file: 'Dockerfile', line: 3 }, { file: 'Dockerfile', line: 5 }],
    });
    assert.deepEqual(
      r.layers.map((l) => [l.createdBy, l.historyIndex, l.source?.line]),
      [['ADD rootfs.tar /', 0, undefined], [apt, 2, 3], ['RUN apt-get install -y gcc', 3, 5]],
    );
    const byRule = new Map(r.findings.map((f) => [f.rule, f]));
    const lists = byRule.get('apt-lists');
    assert.ok(lists, 'apt-lists finding');
    assert.equal(lists.layer, 1);
    assert.equal(lists.createdBy, apt);
    assert.deepEqual(lists.source, { file: 'Dockerfile', line: 3 });
    assert.equal(lists.bytes, 950_000);
    assert.equal(lists.fileCount, 2);
    assert.deepEqual(lists.paths, [
      '/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4',
      '/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease',
    ]);
    assert.match(lists.fix, /rm -rf \/var\/lib\/apt\/lists\/\*/);
    const cache = byRule.get('apt-cache');
    assert.ok(cache);
    assert.equal(cache.bytes, 320_000);
    assert.match(cache.fix, /apt-get clean/);
    const cc = byRule.get('compiler-in-final');
    assert.ok(cc);
    assert.equal(cc.layer, 2);
    assert.equal(cc.bytes, 31_000);
    assert.match(cc.fix, /COPY --from/);
    assert.deepEqual(r.findings.map((f) => f.rule), ['apt-lists', 'apt-cache', 'compiler-in-final']);
    assert.equal(r.image.baseLayerCount, 1);
    assert.equal(r.image.baseLayerSource, 'option');
    assert.equal(r.totals.baseBytes, 1000);
    assert.equal(r.totals.userBytes, 1_520_000 + 31_000);
  });

  it('no finding for a clean image; caches in other managers are each recognised', async () => {
    const table: Array<[string, string]> = [
      ['root/.cache/pip/http/a/b/c', 'pip-cache'],
      ['home/app/.npm/_cacache/content-v2/sha512/ab/cd', 'npm-cache'],
      ['usr/local/share/.cache/yarn/v6/npm-left-pad-1.3.0/package.json', 'yarn-cache'],
      ['var/cache/apk/APKINDEX.1234.tar.gz', 'apk-cache'],
      ['root/.cache/go-build/ab/abcdef-d', 'go-build-cache'],
      ['usr/lib/python3/dist-packages/x.py', ''],
      ['var/lib/apt/lists/lock', ''],
    ];
    const img = await imageOf([{ createdBy: 'RUN install', entries: table.map(([p]) => ({ file: p, size: 100 })) }]);
    const r = await analyzeImage(img);
    assert.deepEqual(r.findings.map((f) => [f.paths[0], f.rule]).sort(), table.filter(([, rule]) => rule).map(([p, rule]) => ['/' + p, rule]).sort());
    const clean = await analyzeImage(await imageOf([BASE]));
    assert.deepEqual(clean.findings, []);
    assert.equal(clean.reclaimableBytes, 0);
    assert.equal(clean.cacheBytes, 0);
    assert.equal(clean.wastedBytes, 0);
    assert.equal(clean.efficiency, 1);
    assert.equal(clean.diveUserWastedPercent, null);
  });

  it('directories: complete list down to dirDepth, largest first in largestDirs', async () => {
    const img = await imageOf([
      { createdBy: 'l0', entries: [{ file: 'usr/lib/x/a.so', size: 500 }, { file: 'usr/lib/b.so', size: 300 }, { file: 'usr/bin/sh', size: 100 }, { file: 'top', size: 1 }] },
    ]);
    const r = await analyzeImage(img, { dirDepth: 2, topN: 3 });
    assert.deepEqual(r.dirs, [
      { path: '/usr', size: 900, files: 3, depth: 1 },
      { path: '/usr/bin', size: 100, files: 1, depth: 2 },
      { path: '/usr/lib', size: 800, files: 2, depth: 2 },
    ]);
    assert.deepEqual(r.largestDirs.map((d) => d.path), ['/usr', '/usr/lib', '/usr/lib/x']);
    assert.equal(r.largestFiles.length, 3);
    assert.equal(r.image.baseLayerSource, 'default');
  });

  describe('package-manager caches count as waste, each byte once', () => {
    const APT = 'var/cache/apt/archives/curl_8.5.0_amd64.deb';
    const LISTS = 'var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease';
    const table: Array<{ name: string; steps: Step[]; reclaimable: number; cache: number }> = [
      {
        name: 'apt archive and lists left in the image: all cache, nothing reclaimable',
        steps: [BASE, { createdBy: 'RUN apt-get install curl', entries: [{ file: APT, size: 3 * MiB }, { file: LISTS, size: MiB }, { file: 'usr/bin/curl', size: 5000 }] }],
        reclaimable: 0,
        cache: 4 * MiB,
      },
      {
        name: 'cache deleted by a later layer: only the deleted copy, as reclaimable',
        steps: [BASE, { createdBy: 'RUN apt-get install curl', entries: [{ file: APT, size: 3 * MiB }] }, { createdBy: 'RUN apt-get clean', entries: [{ whiteout: 'var/cache/apt' }] }],
        reclaimable: 3 * MiB,
        cache: 0,
      },
      {
        name: 'cache dir emptied with an opaque directory: reclaimable, not cache',
        steps: [BASE, { createdBy: 'RUN pip install', entries: [{ file: 'root/.cache/pip/wheels/a.whl', size: 2 * MiB }] }, { createdBy: 'RUN rm -rf ~/.cache/pip/*', entries: [{ opaque: 'root/.cache/pip' }] }],
        reclaimable: 2 * MiB,
        cache: 0,
      },
      {
        name: 'cache file rewritten: the replaced copy is reclaimable, the surviving copy is cache',
        steps: [BASE, { createdBy: 'RUN apt-get update', entries: [{ file: LISTS, size: MiB, fill: 1 }] }, { createdBy: 'RUN apt-get update', entries: [{ file: LISTS, size: 2 * MiB, fill: 2 }] }],
        reclaimable: MiB,
        cache: 2 * MiB,
      },
      {
        name: 'go build cache and npm cache next to ordinary waste',
        steps: [
          BASE,
          { createdBy: 'RUN go build', entries: [{ file: 'root/.cache/go-build/ab/abcd-d', size: 700_000 }, { file: 'tmp/build.o', size: 50_000 }] },
          { createdBy: 'RUN npm ci && rm /tmp/build.o', entries: [{ file: 'root/.npm/_cacache/content-v2/sha512/ab/cd', size: 300_000 }, { whiteout: 'tmp/build.o' }] },
        ],
        reclaimable: 50_000,
        cache: 1_000_000,
      },
    ];
    for (const row of table) {
      it(row.name, async () => {
        const r = await analyzeImage(await imageOf(row.steps));
        assert.equal(r.reclaimableBytes, row.reclaimable);
        assert.equal(r.cacheBytes, row.cache);
        assert.equal(r.wastedBytes, row.reclaimable + row.cache);
        assert.equal(r.wastedPercent, (row.reclaimable + row.cache) / r.totals.userBytes);
        // dive's score stays dive's: a cache that reaches the final image is not waste to dive
        if (row.reclaimable === 0) assert.equal(r.efficiency, 1);
      });
    }
  });
});
