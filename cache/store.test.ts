import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, open as fsOpen, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { sha256, type Digest } from '../image/digest.js';
import { MediaType } from '../image/mediatypes.js';
import { processStartTime } from '../image/owner.js';
import { BlobCorruptError, BlobNotFoundError, InvalidNameError, StoreFormatError } from './errors.js';
import { ContentStore, defaultRoot } from './store.js';
import { content, contentDigest } from './testdata/content.js';
import { createTarStream } from '../image/tar/writer.js';
import { listDir, runWorker, tempRoot, WORKER } from './testdata/helpers.js';

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Every blob file hashes to its name, and no temp file is left. */
async function assertStoreValid(store: ContentStore): Promise<Digest[]> {
  const digests: Digest[] = [];
  for await (const b of store.blobs()) {
    assert.equal(sha256(await readFile(store.blobPath(b.digest))), b.digest);
    digests.push(b.digest);
  }
  assert.deepEqual(await listDir(join(store.root, 'ingest')), []);
  return digests.sort();
}

/** A stream that emits `chunks` chunks slowly, then fails or keeps going per `then`. */
function slowStream(chunks: number, then: 'error' | 'hang'): Readable {
  let i = 0;
  return new Readable({
    read() {
      if (i < chunks) {
        i++;
        setTimeout(() => this.push(Buffer.alloc(16 * 1024, i)), 2);
      } else if (then === 'error') {
        this.destroy(new Error('source failed'));
      } // 'hang': never push again
    },
  });
}

describe('cache/store', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let store: ContentStore;
  beforeEach(async () => {
    ({ root, cleanup } = await tempRoot());
    store = await ContentStore.open(root);
  });
  afterEach(async () => cleanup());

  describe('layout', () => {
    it('creates the directories and version file', async () => {
      assert.deepEqual(await listDir(root), ['blobs', 'ingest', 'locks', 'meta', 'version']);
      assert.deepEqual(JSON.parse(await readFile(join(root, 'version'), 'utf8')), { storeVersion: 1 });
      await ContentStore.open(root); // reopening is fine
    });

    it('the store root is private (0700): new, and an older 0755 one when opened again', async () => {
      const fresh = join(root, 'sub', 'store');
      await ContentStore.open(fresh);
      assert.equal((await stat(fresh)).mode & 0o777, 0o700);
      await chmod(fresh, 0o755);
      await ContentStore.open(fresh);
      assert.equal((await stat(fresh)).mode & 0o777, 0o700);
    });

    it('refuses a store of another version', async () => {
      await writeFile(join(root, 'version'), '{"storeVersion":99}');
      await assert.rejects(ContentStore.open(root), StoreFormatError);
    });

    const rootCases: Array<[NodeJS.ProcessEnv, string]> = [
      [{ TSBUILD_ROOT: '/x/y', HOME: '/h' }, '/x/y'],
      [{ XDG_DATA_HOME: '/d', HOME: '/h' }, '/d/tsbuild'],
      [{ HOME: '/h' }, '/h/.local/share/tsbuild'],
    ];
    for (const [env, want] of rootCases) {
      it(`defaultRoot(${JSON.stringify(env)}) = ${want}`, () => assert.equal(defaultRoot(env), want));
    }

    const badDigests = ['sha256:../../etc/passwd', 'sha256:ABC', `sha512:${'a'.repeat(64)}`, `sha256:${'a'.repeat(63)}`];
    for (const d of badDigests) {
      it(`blobPath rejects ${d}`, () => assert.throws(() => store.blobPath(d as Digest), InvalidNameError));
    }
  });

  describe('blobs', () => {
    it('putBytes, has, stat, readBytes, open', async () => {
      const b = Buffer.from('hello store');
      const got = await store.putBytes(b);
      assert.deepEqual(got, { digest: sha256(b), size: b.length });
      assert.equal(await store.has(got.digest), true);
      assert.deepEqual(await store.stat(got.digest), { size: b.length });
      assert.deepEqual(await store.readBytes(got.digest), b);
      assert.deepEqual(await collect(await store.open(got.digest)), b);
      assert.equal((await stat(store.blobPath(got.digest))).mode & 0o777, 0o444);
      await assertStoreValid(store);
    });

    it('putJSON keeps key order and returns a descriptor', async () => {
      const v = { z: 1, a: [true, null] };
      const desc = await store.putJSON(v, MediaType.OciConfig);
      const bytes = Buffer.from('{"z":1,"a":[true,null]}');
      assert.deepEqual(desc, { mediaType: MediaType.OciConfig, digest: sha256(bytes), size: bytes.length });
      assert.deepEqual(await store.readJSON(desc.digest), v);
    });

    it('missing blobs: has=false, stat=undefined, open/readBytes throw BlobNotFoundError', async () => {
      const d = sha256('absent');
      assert.equal(await store.has(d), false);
      assert.equal(await store.stat(d), undefined);
      await assert.rejects(store.open(d), (e: unknown) => e instanceof BlobNotFoundError && e.code === 'TSB_CACHE_BLOB_NOT_FOUND');
      await assert.rejects(store.readBytes(d), BlobNotFoundError);
    });

    it('ingest streams content and names it by digest', async () => {
      const want = await contentDigest('x', 300_000);
      const got = await store.ingest(Readable.from(content('x', 300_000)));
      assert.deepEqual(got, { digest: want, size: 300_000 });
      assert.deepEqual(await assertStoreValid(store), [want]);
    });

    it('ingest with the right expectation stores; with a wrong one stores nothing', async () => {
      const want = await contentDigest('y', 100_000);
      const cases: Array<{ expected: { digest: Digest; size?: number }; ok: boolean }> = [
        { expected: { digest: sha256('other') }, ok: false },
        { expected: { digest: want, size: 99_999 }, ok: false }, // too many bytes: fails early
        { expected: { digest: want, size: 100_001 }, ok: false },
        { expected: { digest: want, size: 100_000 }, ok: true },
      ];
      for (const { expected, ok } of cases) {
        const p = store.ingest(content('y', 100_000), expected);
        if (ok) assert.deepEqual(await p, { digest: want, size: 100_000 });
        else await assert.rejects(p, (e: unknown) => (e as { code?: string }).code === 'TSB_IMAGE_DIGEST_MISMATCH');
        assert.deepEqual(await assertStoreValid(store), ok ? [want] : []);
      }
    });

    it('a blob already present is not rewritten, and the source is drained', async () => {
      const { digest, size } = await store.putBytes(Buffer.from('same'));
      const before = await stat(store.blobPath(digest));
      let pulled = 0;
      const src = new Readable({
        read() {
          pulled++;
          this.push(pulled === 1 ? Buffer.from('same') : null);
        },
      });
      assert.deepEqual(await store.ingest(src, { digest, size }), { digest, size });
      assert.equal(src.readableEnded, true);
      assert.equal((await stat(store.blobPath(digest))).ino, before.ino);
      // Without an expectation it is written to a temp file, then found present and dropped.
      await store.ingest(Readable.from([Buffer.from('same')]));
      assert.equal((await stat(store.blobPath(digest))).ino, before.ino);
      await assertStoreValid(store);
    });

    it('a source that errors mid-stream leaves no blob and no temp file', async () => {
      await assert.rejects(store.ingest(slowStream(5, 'error')), /source failed/);
      assert.deepEqual(await assertStoreValid(store), []);
    });

    it('an abort mid-stream leaves no blob and no temp file', async () => {
      const ac = new AbortController();
      const src = slowStream(3, 'hang');
      src.once('data', () => setTimeout(() => ac.abort(), 20));
      await assert.rejects(store.ingest(src, undefined, { signal: ac.signal }), { name: 'AbortError' });
      assert.equal(src.destroyed, true);
      assert.deepEqual(await assertStoreValid(store), []);
      // An already aborted signal fails at once.
      await assert.rejects(store.ingest(Readable.from([Buffer.from('x')]), undefined, { signal: ac.signal }), { name: 'AbortError' });
    });

    for (const how of ['open', 'readBytes'] as const) {
      it(`a corrupted blob is detected by ${how}, deleted, and the error is typed`, async () => {
        const data = Buffer.alloc(200_000, 1);
        const { digest } = await store.putBytes(data);
        const path = store.blobPath(digest);
        await chmod(path, 0o644);
        const fh = await fsOpen(path, 'r+');
        await fh.write(Buffer.from([2]), 0, 1, 123_456); // flip one byte
        await fh.close();
        const read = how === 'open' ? async () => collect(await store.open(digest)) : () => store.readBytes(digest);
        await assert.rejects(read(), (e: unknown) => {
          assert.ok(e instanceof BlobCorruptError);
          assert.equal(e.code, 'TSB_CACHE_BLOB_CORRUPT');
          assert.equal(e.data.digest, digest);
          assert.equal(e.data.actual, sha256(Buffer.concat([data.subarray(0, 123_456), Buffer.from([2]), data.subarray(123_457)])));
          assert.equal((e as unknown as Record<symbol, unknown>)[Symbol.for('tsbuild.error')], true);
          return true;
        });
        assert.equal(await store.has(digest), false);
        // Storing it again heals the store.
        await store.putBytes(data);
        assert.deepEqual(await store.readBytes(digest), data);
      });
    }

    it('open({verify:false}) reads without checking', async () => {
      const { digest } = await store.putBytes(Buffer.from('abc'));
      await chmod(store.blobPath(digest), 0o644);
      await writeFile(store.blobPath(digest), 'abd');
      assert.equal((await collect(await store.open(digest, { verify: false }))).toString(), 'abd');
      assert.equal(await store.has(digest), true);
    });

    it('delete removes a blob and reports whether it was there', async () => {
      const { digest } = await store.putBytes(Buffer.from('gone'));
      assert.equal(await store.delete(digest), true);
      assert.equal(await store.delete(digest), false);
      assert.equal(await store.has(digest), false);
    });
  });

  describe('refs', () => {
    it('set, get, list (sorted), delete', async () => {
      const desc = await store.putJSON({ schemaVersion: 2 }, MediaType.OciManifest);
      await store.setRef('b:latest', desc);
      await store.setRef('a:1', desc);
      assert.deepEqual(await store.getRef('a:1'), desc);
      assert.deepEqual(
        (await store.listRefs()).map((r) => r.name),
        ['a:1', 'b:latest'],
      );
      assert.equal(await store.deleteRef('a:1'), true);
      assert.equal(await store.deleteRef('a:1'), false);
      assert.equal(await store.getRef('a:1'), undefined);
      assert.deepEqual(await store.listRefs(), [{ name: 'b:latest', desc }]);
      // refs.json is the documented format.
      assert.deepEqual(JSON.parse(await readFile(join(root, 'refs.json'), 'utf8')), { refs: { 'b:latest': desc } });
    });

    it('refuses a ref to a missing blob, bad names and bad descriptors', async () => {
      const desc = await store.putJSON({}, MediaType.OciManifest);
      await assert.rejects(store.setRef('x', { ...desc, digest: sha256('nope') }), BlobNotFoundError);
      await assert.rejects(store.setRef('', desc), InvalidNameError);
      await assert.rejects(store.setRef('a\nb', desc), InvalidNameError);
      await assert.rejects(store.setRef('x', { ...desc, size: -1 }), StoreFormatError);
      await assert.rejects(store.setRef('x', { ...desc, digest: 'sha256:zz' as Digest }), InvalidNameError);
      assert.deepEqual(await store.listRefs(), []);
    });

    it('50 concurrent setRef calls in one process lose nothing', async () => {
      const desc = await store.putJSON({ n: 1 }, MediaType.OciManifest);
      await Promise.all(Array.from({ length: 50 }, (_, i) => store.setRef(`r${i}`, desc)));
      assert.equal((await store.listRefs()).length, 50);
    });
  });

  describe('meta', () => {
    it('write, read, list, delete; missing is undefined', async () => {
      assert.equal(await store.readMeta('buildcache', 'k1'), undefined);
      await store.writeMeta('buildcache', 'k1', { a: 1 });
      await store.writeMeta('buildcache', 'sha256:abc', [1, 2]);
      await store.writeMeta('buildcache', 'k1', { a: 2 });
      assert.deepEqual(await store.readMeta('buildcache', 'k1'), { a: 2 });
      assert.deepEqual((await store.listMeta('buildcache')).sort(), ['k1', 'sha256:abc']);
      assert.deepEqual(await store.listMeta('nothing'), []);
      assert.equal(await store.deleteMeta('buildcache', 'k1'), true);
      assert.deepEqual(await store.listMeta('buildcache'), ['sha256:abc']);
      assert.deepEqual(await listDir(join(root, 'meta', 'buildcache')), ['sha256:abc.json']);
    });

    const badNames = ['', '../x', 'a/b', '.hidden', 'a b'];
    for (const n of badNames) {
      it(`rejects meta name ${JSON.stringify(n)}`, async () => {
        await assert.rejects(store.writeMeta(n, 'k', 1), InvalidNameError);
        await assert.rejects(store.writeMeta('ns', n, 1), InvalidNameError);
      });
    }
  });

  describe('writing what is already there writes nothing (a no-op rebuild)', () => {
    const blob = Buffer.from('{"a":"small blob"}');
    const blobDigest = sha256(blob);
    const fileState = async (path: string): Promise<string> => {
      const st = await stat(path, { bigint: true });
      return `${st.ino} m${st.mtimeNs} c${st.ctimeNs}`;
    };
    const rows: Array<{ what: string; path: () => string; again: () => Promise<unknown> }> = [
      { what: 'setRef of the same descriptor', path: () => join(root, 'refs.json'), again: () => store.setRef('a', { mediaType: MediaType.OciManifest, digest: blobDigest, size: blob.length }) },
      { what: 'writeMetaIfChanged of the same value', path: () => join(root, 'meta', 'ns', 'k.json'), again: () => store.writeMetaIfChanged('ns', 'k', { a: [1, 2] }) },
      { what: 'putBytes of a blob used less than a minute ago', path: () => store.blobPath(blobDigest), again: () => store.putBytes(blob) },
      { what: 'ingestLayer of a small layer already stored', path: () => join(root, 'blobs', 'sha256'), again: () => store.ingestLayer(smallTar()) },
    ];
    for (const r of rows) {
      it(r.what, async () => {
        await store.putBytes(blob);
        await store.setRef('a', { mediaType: MediaType.OciManifest, digest: blobDigest, size: blob.length });
        assert.equal(await store.writeMetaIfChanged('ns', 'k', { a: [1, 2] }), true);
        await store.ingestLayer(smallTar());
        const before = [await fileState(r.path()), await fileState(join(root, 'ingest')), await fileState(join(root, 'locks'))];
        await r.again();
        assert.deepEqual([await fileState(r.path()), await fileState(join(root, 'ingest')), await fileState(join(root, 'locks'))], before);
      });
    }

    it('a changed value, a changed ref and an old blob are still written or refreshed', async () => {
      await store.putBytes(blob);
      await store.setRef('a', { mediaType: MediaType.OciManifest, digest: blobDigest, size: blob.length });
      await store.setRef('a', { mediaType: MediaType.OciIndex, digest: blobDigest, size: blob.length });
      assert.equal((await store.getRef('a'))?.mediaType, MediaType.OciIndex);
      await store.writeMetaIfChanged('ns', 'k', 1);
      assert.equal(await store.writeMetaIfChanged('ns', 'k', 2), true);
      assert.equal(await store.readMeta('ns', 'k'), 2);
      const old = new Date(Date.now() - 3600_000);
      await utimes(store.blobPath(blobDigest), old, old);
      await store.putBytes(blob);
      assert.ok(Date.now() - (await stat(store.blobPath(blobDigest))).mtimeMs < 10_000, 'an hour-old blob used again is made young for gc');
    });
  });

  describe('several processes', function () {
    this.timeout(30_000);

    it('concurrent ingest of the same and of different blobs from 2 processes leaves a valid store', async () => {
      const size = 1_500_000;
      const outs = await Promise.all([
        runWorker(['ingest', root, 'same', '3', String(size)]),
        runWorker(['ingest', root, 'same', '3', String(size)]),
        runWorker(['ingest', root, 'only-a', '2', String(size)]),
        runWorker(['ingest', root, 'only-b', '2', String(size)]),
      ]);
      const want: Digest[] = [];
      for (const label of ['same-0', 'same-1', 'same-2', 'only-a-0', 'only-a-1', 'only-b-0', 'only-b-1']) {
        want.push(await contentDigest(label, size));
      }
      const [a, b] = outs.map((o) => JSON.parse(o) as Array<{ digest: Digest; size: number }>);
      assert.deepEqual(a, b); // both saw the same result for the shared blobs
      assert.deepEqual(await assertStoreValid(store), [...want].sort());
    });

    it('2 processes × 50 setRef each → 100 refs', async () => {
      const desc = await store.putJSON({ schemaVersion: 2 }, MediaType.OciManifest);
      await Promise.all([
        runWorker(['refs', root, 'a', '50', desc.digest]),
        runWorker(['refs', root, 'b', '50', desc.digest]),
      ]);
      const refs = await store.listRefs();
      assert.equal(refs.length, 100);
      assert.ok(refs.every((r) => r.desc.digest === desc.digest));
      assert.deepEqual(await listDir(join(root, 'locks')), []);
    });

    it('a writer SIGKILLed mid-ingest leaves no blob and a temp file that the next open removes', async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', WORKER, 'hang', root], { stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      const ingestDir = join(root, 'ingest');
      // Wait until the child has written into its temp file.
      for (let t = 0; ; t++) {
        assert.ok(t < 600, 'worker never started writing');
        const names = await listDir(ingestDir);
        const first = names[0];
        if (first !== undefined && (await stat(join(ingestDir, first))).size > 0) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      child.kill('SIGKILL');
      await exited;
      assert.deepEqual(await listDir(join(root, 'blobs', 'sha256')), []);
      const left = await listDir(ingestDir);
      assert.equal(left.length, 1);
      assert.match(left[0]!, new RegExp(`^${child.pid}-[0-9a-f]{12}\\.tmp$`));
      // A live writer's temp file is kept by the sweep; this one's writer is dead.
      await ContentStore.open(root);
      assert.deepEqual(await listDir(ingestDir), []);
    });

    it('scratch dirs: open() removes those of dead owners (a reused pid with another start time is not the owner) and keeps a live one\'s', async () => {
      const mine = await store.makeTempDir();
      await writeFile(join(mine, 'work'), 'in progress');
      const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
      await new Promise((r) => child.on('exit', r));
      const start = processStartTime(process.pid)!;
      const stale = [
        `${child.pid}-1-0123456789ab`, // the owner exited
        `${process.pid}-${Number(start) + 1}-0123456789ab`, // our pid, someone else's start time
        'not-an-owner-name',
      ];
      for (const name of stale) await mkdir(join(root, 'tmp', name, 'sub'), { recursive: true });
      await ContentStore.open(root);
      assert.deepEqual(await listDir(join(root, 'tmp')), [basename(mine)]);
      assert.match(basename(mine), new RegExp(`^${process.pid}-${start}-[0-9a-f]{12}$`));
    });

    it('open-time cleanup keeps the temp files of live writers', async () => {
      const mine = join(root, 'ingest', `${process.pid}-0123456789ab.tmp`);
      await writeFile(mine, 'in progress');
      await ContentStore.open(root);
      assert.deepEqual(await listDir(join(root, 'ingest')), [`${process.pid}-0123456789ab.tmp`]);
    });
  });
});

/** A one-file layer tar (ingestLayer takes tars: it cuts gzip members on entry boundaries). */
function smallTar(): Readable {
  const body = Buffer.alloc(1024, 7);
  return createTarStream([{ header: { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body }]);
}
