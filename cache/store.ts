/**
 * The content-addressed store: every blob lives at `blobs/sha256/<hex>` and is
 * only ever created by renaming a fully written, fsynced, verified temp file
 * from `ingest/` (same file system, so the rename is atomic). Readers
 * therefore see a whole blob or none, and a crash leaves at most a temp file,
 * which open() and gc() sweep once its owner process is gone.
 *
 * Layout under the root:
 *   version              store format version
 *   blobs/sha256/<hex>   blobs, read-only files
 *   ingest/              temp files being written (`<pid>-<random>.tmp`)
 *   tmp/<pid>-<start>-<random>/  scratch dirs of a process (builds), removed once it is gone
 *   refs.json            image names → descriptor (manifest or index)
 *   meta/<ns>/<key>.json other modules' small JSON records (build cache…)
 *   locks/<name>.lock    cross-process locks
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { addAbortSignal, pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { memberFormat } from '../image/compress.js';
import { digestHex, isDigest, sha256, type Digest } from '../image/digest.js';
import { DigestMismatchError } from '../image/errors.js';
import { encodeLayer } from '../image/layer-encode.js';
import { MediaType } from '../image/mediatypes.js';
import { ownerAlive, ownerTag } from '../image/owner.js';
import type { Descriptor } from '../image/types.js';
import { BlobCorruptError, BlobNotFoundError, InvalidNameError, StoreFormatError } from './errors.js';
import {
  fsyncDir,
  isErrno,
  pidAlive,
  removeIfExists,
  tempName,
  tempOwner,
  touch,
  writeFileAtomic,
} from './fsutil.js';
import { earlierMembers, recordLayerMembers, type MemberEntry } from './layer-members.js';
import { withFileLock, type LockOptions } from './lock.js';

export { defaultRoot } from './root.js';

export const STORE_VERSION = 1;
/** A temp file untouched this long is abandoned even if a process with its pid exists (pid reuse, a hung writer). */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;
/** Layers up to this size (compressed) are hashed in memory before anything is written. */
const SMALL_BLOB_BYTES = 256 * 1024;

export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** What the caller claims the content is; checked before the blob becomes visible. */
export interface ExpectedBlob {
  digest: Digest;
  size?: number;
}

export interface IngestOptions {
  /** Aborting stops the ingest, removes its temp file and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface LayerIngestOptions extends IngestOptions {
  /** zlib level 0–9, default 6. */
  level?: number;
  /** Members compressed at once, default: number of cores. */
  concurrency?: number;
  /** Earlier layer blobs whose compressed members may be copied instead of deflated again (same bytes either way). */
  reuseFrom?: readonly Digest[];
}

export interface LayerIngestResult {
  desc: Descriptor;
  diffID: Digest;
  uncompressedSize: number;
  /** Gzip members written, and how many of them were copied from `reuseFrom` blobs. */
  members: { count: number; reused: number };
}

export interface StoredBlob extends BlobInfo {
  mtimeMs: number;
}

export interface SweepResult {
  removed: number;
  bytes: number;
}

const noop = (): void => {};

const LOCK_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const META_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,254}$/;
const HEX_RE = /^[a-f0-9]{64}$/;

/**
 * The store root is private (0700): snapshots under it hold setuid files and device nodes from
 * images, which other local users must not reach. An older store made 0755 is tightened.
 */
async function privateDir(dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  await mkdir(dir, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  const st = await stat(dir);
  if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) await chmod(dir, st.mode & 0o7700);
}

export class ContentStore {
  readonly root: string;
  readonly #blobsDir: string;
  readonly #ingestDir: string;
  readonly #tmpDir: string;
  readonly #metaDir: string;
  readonly #locksDir: string;
  readonly #refsPath: string;

  private constructor(root: string) {
    this.root = root;
    this.#blobsDir = join(root, 'blobs', 'sha256');
    this.#ingestDir = join(root, 'ingest');
    this.#tmpDir = join(root, 'tmp');
    this.#metaDir = join(root, 'meta');
    this.#locksDir = join(root, 'locks');
    this.#refsPath = join(root, 'refs.json');
  }

  /** Open (creating if needed) the store at `root`, and sweep temp files left by dead processes. */
  static async open(root: string): Promise<ContentStore> {
    const s = new ContentStore(resolve(root));
    await privateDir(s.root);
    for (const d of [s.#blobsDir, s.#ingestDir, s.#metaDir, s.#locksDir]) await mkdir(d, { recursive: true });
    await s.#checkVersion();
    // Best effort: a store that cannot be tidied is still usable.
    await s.cleanupTemp().catch(noop);
    return s;
  }

  async #checkVersion(): Promise<void> {
    const path = join(this.root, 'version');
    let raw: string;
    try {
      raw = await readFile(path, 'utf8');
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      // Two processes creating a fresh store write identical bytes; the rename makes either win.
      await writeFileAtomic(path, `${JSON.stringify({ storeVersion: STORE_VERSION })}\n`);
      return;
    }
    let v: unknown;
    try {
      v = (JSON.parse(raw) as { storeVersion?: unknown }).storeVersion;
    } catch {
      v = undefined;
    }
    if (v !== STORE_VERSION) {
      throw new StoreFormatError(`store at ${this.root} has format version ${String(v)}, this tsbuild uses ${STORE_VERSION}`, {
        root: this.root,
        version: v,
      });
    }
  }

  // ---------------------------------------------------------------- blobs

  /** The file of a blob. Throws on anything but `sha256:<64 hex>`, so a digest from a manifest cannot name another path. */
  blobPath(blobDigest: Digest): string {
    if (!isDigest(blobDigest)) throw new InvalidNameError('digest', String(blobDigest), 'not sha256:<64 lowercase hex>');
    return join(this.#blobsDir, digestHex(blobDigest));
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    try {
      const st = await stat(this.blobPath(digest));
      return { size: st.size };
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    }
  }

  /**
   * Store a stream. With `expected`, the content is verified before it becomes
   * visible (DigestMismatchError otherwise, and nothing is stored); if that
   * blob is already present the source is drained unread and nothing is
   * written. Safe to run concurrently with itself, in this or other processes.
   */
  async ingest(
    src: Readable | AsyncIterable<Uint8Array>,
    expected?: ExpectedBlob,
    opts: IngestOptions = {},
  ): Promise<BlobInfo> {
    const { signal } = opts;
    if (expected) this.blobPath(expected.digest);
    try {
      signal?.throwIfAborted();
    } catch (e) {
      if (src instanceof Readable) src.destroy();
      throw e;
    }
    if (signal && src instanceof Readable) addAbortSignal(signal, src);
    if (expected) {
      const st = await this.stat(expected.digest);
      if (st && (expected.size === undefined || st.size === expected.size)) {
        // Drain rather than destroy, so the producer (an encoder, a download) finishes normally.
        for await (const _ of src) signal?.throwIfAborted();
        await touch(this.blobPath(expected.digest));
        return { digest: expected.digest, size: st.size };
      }
    }
    return this.#write(src, expected, signal);
  }

  async #write(src: AsyncIterable<unknown> | Iterable<unknown>, expected: ExpectedBlob | undefined, signal?: AbortSignal): Promise<BlobInfo> {
    const tmp = join(this.#ingestDir, tempName());
    let fh: FileHandle | undefined;
    try {
      // Read-only from birth: the fd keeps write access, nothing else gets it.
      fh = await open(tmp, 'wx', 0o444);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of src) {
        signal?.throwIfAborted();
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
        size += buf.length;
        if (expected?.size !== undefined && size > expected.size) {
          throw new DigestMismatchError(expected.digest, undefined, `more than ${expected.size} bytes`);
        }
        hash.update(buf);
        await writeAll(fh, buf);
      }
      const digest: Digest = `sha256:${hash.digest('hex')}`;
      if (expected) {
        if (expected.size !== undefined && size !== expected.size) {
          throw new DigestMismatchError(expected.digest, digest, `size ${size} != ${expected.size}`);
        }
        if (digest !== expected.digest) throw new DigestMismatchError(expected.digest, digest);
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      const final = this.blobPath(digest);
      const present = await stat(final).catch(() => undefined);
      if (present?.size === size) {
        // Someone else stored it meanwhile: keep theirs, it is the same bytes.
        await removeIfExists(tmp);
        await touch(final);
      } else {
        // Absent (or a wrong-size, hence corrupt, copy): the rename replaces it atomically.
        await rename(tmp, final);
        await fsyncDir(this.#blobsDir);
      }
      return { digest, size };
    } catch (e) {
      await fh?.close().catch(noop);
      await removeIfExists(tmp).catch(noop);
      throw e;
    }
  }

  /** Store a buffer (small things: configs, manifests). */
  async putBytes(bytes: Buffer, expected?: ExpectedBlob): Promise<BlobInfo> {
    const digest = sha256(bytes);
    if (expected) {
      this.blobPath(expected.digest);
      if (expected.size !== undefined && expected.size !== bytes.length) {
        throw new DigestMismatchError(expected.digest, digest, `size ${bytes.length} != ${expected.size}`);
      }
      if (expected.digest !== digest) throw new DigestMismatchError(expected.digest, digest);
    }
    const st = await this.stat(digest);
    if (st?.size === bytes.length) {
      await touch(this.blobPath(digest));
      return { digest, size: bytes.length };
    }
    return this.#write([bytes], { digest, size: bytes.length });
  }

  /** Store `JSON.stringify(v)` (no whitespace, keys in the order given) and describe it. */
  async putJSON(value: unknown, mediaType: string): Promise<Descriptor> {
    const { digest, size } = await this.putBytes(Buffer.from(JSON.stringify(value), 'utf8'));
    return { mediaType, digest, size };
  }

  /**
   * A stream of the blob. With verify (the default) the bytes are hashed as
   * they flow; on a mismatch the blob is deleted and the stream fails with
   * BlobCorruptError. Throws BlobNotFoundError for a missing blob.
   */
  async open(digest: Digest, opts: { verify?: boolean } = {}): Promise<Readable> {
    const path = this.blobPath(digest);
    const fh = await this.#openBlob(digest, path);
    let ino: number;
    let dev: number;
    try {
      ({ ino, dev } = await fh.stat());
    } catch (e) {
      await fh.close().catch(noop);
      throw e;
    }
    const rs = fh.createReadStream(); // closes fh at end or on destroy
    if (opts.verify === false) return rs;
    const verifier = new BlobVerifier(digest, async (actual) => {
      await this.#removeCorrupt(path, ino, dev);
      return new BlobCorruptError(digest, actual, path);
    });
    // pipeline destroys both ends on error, so consumers of the verifier see it.
    return pipeline(rs, verifier, noop);
  }

  async #openBlob(d: Digest, path: string): Promise<FileHandle> {
    try {
      return await open(path, 'r');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) throw new BlobNotFoundError(d);
      throw e;
    }
  }

  /**
   * Delete a blob found corrupt, unless a good copy was renamed over it since
   * we opened it (then the inode differs and the good one stays).
   */
  async #removeCorrupt(path: string, ino: number, dev: number): Promise<void> {
    const now = await stat(path).catch(() => undefined);
    if (now && now.ino === ino && now.dev === dev) await removeIfExists(path);
  }

  /** The whole blob in memory, verified. For small blobs only (manifests, configs). */
  async readBytes(digest: Digest): Promise<Buffer> {
    const path = this.blobPath(digest);
    const fh = await this.#openBlob(digest, path);
    let buf: Buffer;
    let ino: number;
    let dev: number;
    try {
      ({ ino, dev } = await fh.stat());
      buf = await fh.readFile();
    } finally {
      await fh.close().catch(noop);
    }
    const actual = sha256(buf);
    if (actual !== digest) {
      await this.#removeCorrupt(path, ino, dev);
      throw new BlobCorruptError(digest, actual, path);
    }
    return buf;
  }

  async readJSON<T>(blobDigest: Digest): Promise<T> {
    const buf = await this.readBytes(blobDigest);
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch (e) {
      throw new StoreFormatError(`blob ${blobDigest} is not JSON: ${(e as Error).message}`, { digest: blobDigest });
    }
  }

  /** Remove a blob; false if it was not there. Refs to it are not checked (gc is the safe way). */
  async delete(digest: Digest): Promise<boolean> {
    return removeIfExists(this.blobPath(digest));
  }

  /** Refresh a blob's mtime so gc's grace period spares it; false if absent. */
  async touch(digest: Digest): Promise<boolean> {
    return touch(this.blobPath(digest));
  }

  /** Every blob in the store (unordered). */
  async *blobs(): AsyncGenerator<StoredBlob> {
    for (const name of await readdir(this.#blobsDir)) {
      if (!HEX_RE.test(name)) continue;
      try {
        const st = await stat(join(this.#blobsDir, name));
        yield { digest: `sha256:${name}`, size: st.size, mtimeMs: st.mtimeMs };
      } catch (e) {
        if (!isErrno(e, 'ENOENT')) throw e; // deleted under us: fine
      }
    }
  }

  /**
   * Compress a layer tar with image/'s encoder and store the gzip blob.
   * The OCI gzip layer descriptor, the tar's diffID and its size come back.
   * `reuseFrom` names earlier layer blobs (say, the last build of the same step): members of the
   * new layer found in their member index are copied from them instead of deflated again, with
   * the same resulting bytes. The new blob's member index is recorded for later ingests.
   */
  async ingestLayer(tar: Readable, opts: LayerIngestOptions = {}): Promise<LayerIngestResult> {
    const { signal, reuseFrom = [], ...gzip } = opts;
    const format = memberFormat(gzip.level);
    const earlier = reuseFrom.length ? await earlierMembers(this, reuseFrom, format) : undefined;
    const members: MemberEntry[] = [];
    let offset = 0;
    let reused = 0;
    let count = 0;
    const enc = encodeLayer(tar, {
      ...gzip,
      ...(earlier?.size ? { reuse: (key: string) => earlier.reuse(key) } : {}),
      onMember: (m) => {
        count++;
        if (m.key !== undefined) members.push([m.key, offset, m.compressedSize]);
        offset += m.compressedSize;
        if (m.reused) reused++;
      },
    });
    // An encoder failure must also fail the stream being stored, so the ingest removes its temp file.
    enc.result.catch((e: unknown) => enc.stream.destroy(e instanceof Error ? e : new Error(String(e))));
    let blob: BlobInfo;
    try {
      blob = await this.#ingestMaybeSmall(enc.stream, signal);
    } catch (e) {
      enc.stream.destroy();
      tar.destroy();
      throw e;
    } finally {
      await earlier?.close();
    }
    const { diffID, uncompressedSize } = await enc.result;
    // Only an optimisation for the next ingest: a failure to record it costs that one deflate.
    await recordLayerMembers(this, blob.digest, format, members).catch(noop);
    return { desc: { mediaType: MediaType.OciLayerGzip, digest: blob.digest, size: blob.size }, diffID, uncompressedSize, members: { count, reused } };
  }

  /**
   * A stream that ends within SMALL_BLOB_BYTES is hashed in memory and stored only if absent
   * (a rebuilt WORKDIR or one-file COPY layer already in the store writes nothing); a longer
   * one streams through ingest.
   */
  async #ingestMaybeSmall(src: Readable, signal: AbortSignal | undefined): Promise<BlobInfo> {
    const it = src[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let size = 0;
    while (size <= SMALL_BLOB_BYTES) {
      signal?.throwIfAborted();
      const r = await it.next();
      if (r.done) return this.putBytes(Buffer.concat(head, size));
      const chunk = r.value as Buffer;
      head.push(chunk);
      size += chunk.length;
    }
    const rest = (async function* () {
      yield* head;
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value as Buffer;
    })();
    return this.ingest(rest, undefined, signal ? { signal } : {});
  }

  // ---------------------------------------------------------------- refs

  /** Point `name` at a manifest or index. The blob must already be in the store. */
  async setRef(name: string, desc: Descriptor): Promise<void> {
    checkRefName(name);
    checkDescriptor(desc);
    if (!(await this.has(desc.digest))) throw new BlobNotFoundError(desc.digest);
    const clean = JSON.parse(JSON.stringify(desc)) as Descriptor;
    // Already so (a rebuild): no lock, no write. Reads need no lock (refs.json is replaced by rename).
    if (JSON.stringify((await this.#readRefs()).get(name)) === JSON.stringify(clean)) return;
    await this.#updateRefs((refs) => {
      refs.set(name, clean);
      return true;
    });
  }

  async getRef(name: string): Promise<Descriptor | undefined> {
    return (await this.#readRefs()).get(name);
  }

  async deleteRef(name: string): Promise<boolean> {
    return this.#updateRefs((refs) => refs.delete(name));
  }

  /** All refs, sorted by name. */
  async listRefs(): Promise<Array<{ name: string; desc: Descriptor }>> {
    const refs = await this.#readRefs();
    return [...refs.keys()].sort().map((name) => ({ name, desc: refs.get(name)! }));
  }

  /** Reads need no lock: refs.json is only ever replaced by rename. */
  async #readRefs(): Promise<Map<string, Descriptor>> {
    let raw: string;
    try {
      raw = await readFile(this.#refsPath, 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return new Map();
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      throw new StoreFormatError(`${this.#refsPath} is not JSON: ${(e as Error).message}`, { path: this.#refsPath });
    }
    const refs = (parsed as { refs?: unknown } | null)?.refs;
    if (typeof refs !== 'object' || refs === null || Array.isArray(refs)) {
      throw new StoreFormatError(`${this.#refsPath} has no "refs" object`, { path: this.#refsPath });
    }
    return new Map(Object.entries(refs as Record<string, Descriptor>));
  }

  /** Read-modify-write under the refs lock; `edit` returns whether it changed anything. */
  async #updateRefs(edit: (refs: Map<string, Descriptor>) => boolean): Promise<boolean> {
    return this.withLock('refs', async () => {
      const refs = await this.#readRefs();
      if (!edit(refs)) return false;
      const sorted: Record<string, Descriptor> = {};
      for (const k of [...refs.keys()].sort()) sorted[k] = refs.get(k)!;
      await writeFileAtomic(this.#refsPath, `${JSON.stringify({ refs: sorted }, null, 2)}\n`);
      return true;
    });
  }

  // ---------------------------------------------------------------- locks and meta

  /**
   * Run `fn` holding the cross-process lock `name` (`[A-Za-z0-9._-]`). Not
   * reentrant. The refs lock is named "refs"; gc holds it while it runs.
   */
  async withLock<T>(name: string, fn: () => Promise<T>, opts?: LockOptions): Promise<T> {
    if (!LOCK_NAME_RE.test(name)) throw new InvalidNameError('lock', name, 'use [A-Za-z0-9._-], at most 128 characters');
    return withFileLock(join(this.#locksDir, `${name}.lock`), fn, opts);
  }

  #metaPath(ns: string, key?: string): string {
    if (!META_NAME_RE.test(ns)) throw new InvalidNameError('meta namespace', ns, 'use [A-Za-z0-9._:@+=-]');
    if (key === undefined) return join(this.#metaDir, ns);
    if (!META_NAME_RE.test(key)) throw new InvalidNameError('meta key', key, 'use [A-Za-z0-9._:@+=-]');
    return join(this.#metaDir, ns, `${key}.json`);
  }

  /** Atomically replace the JSON record `ns/key`. */
  async writeMeta(ns: string, key: string, value: unknown): Promise<void> {
    const path = this.#metaPath(ns, key);
    await mkdir(this.#metaPath(ns), { recursive: true });
    await writeFileAtomic(path, JSON.stringify(value));
  }

  /** writeMeta unless the record already holds exactly this value (a rebuild writes nothing); whether it wrote. */
  async writeMetaIfChanged(ns: string, key: string, value: unknown): Promise<boolean> {
    const current = await this.readMeta<unknown>(ns, key).catch(() => undefined);
    if (current !== undefined && JSON.stringify(current) === JSON.stringify(value)) return false;
    await this.writeMeta(ns, key, value);
    return true;
  }

  async readMeta<T>(ns: string, key: string): Promise<T | undefined> {
    const path = this.#metaPath(ns, key);
    let raw: string;
    try {
      raw = await readFile(path, 'utf8');
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    }
    try {
      return JSON.parse(raw) as T;
    } catch (e) {
      throw new StoreFormatError(`${path} is not JSON: ${(e as Error).message}`, { path });
    }
  }

  async deleteMeta(ns: string, key: string): Promise<boolean> {
    return removeIfExists(this.#metaPath(ns, key));
  }

  /**
   * Removes the records of `ns` that `keep` refuses, sparing those written less than `minAgeMs`
   * ago (a running build writes records before anything references what they describe).
   */
  async pruneMeta(
    ns: string,
    keep: (key: string) => boolean | Promise<boolean>,
    opts: { minAgeMs: number; dryRun?: boolean },
  ): Promise<{ removed: number; bytes: number }> {
    const out = { removed: 0, bytes: 0 };
    const cutoff = Date.now() - opts.minAgeMs;
    for (const key of await this.listMeta(ns)) {
      const st = await stat(this.#metaPath(ns, key)).catch(() => undefined);
      if (!st || (opts.minAgeMs > 0 && st.mtimeMs > cutoff) || (await keep(key))) continue;
      if (!opts.dryRun && !(await this.deleteMeta(ns, key))) continue;
      out.removed++;
      out.bytes += st.size;
    }
    return out;
  }

  /**
   * pruneMeta for records that remember something about a directory (their `dir` field: a build
   * context's hash table, its COPY stamps): kept while that directory exists.
   */
  pruneMetaOfGoneDirs(ns: string, opts: { minAgeMs: number; dryRun?: boolean }): Promise<{ removed: number; bytes: number }> {
    return this.pruneMeta(
      ns,
      async (key) => {
        const record = await this.readMeta<{ dir?: unknown }>(ns, key).catch(() => undefined);
        return typeof record?.dir === 'string' && existsSync(record.dir);
      },
      opts,
    );
  }

  /** Keys of a namespace (unordered); empty if the namespace does not exist. */
  async listMeta(ns: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.#metaPath(ns));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return [];
      throw e;
    }
    return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).map((n) => n.slice(0, -'.json'.length));
  }

  /** Where the store keeps what, for `du`: blob files, metadata records, scratch space. */
  diskAreas(): { blobs: string; meta: string; temp: string[] } {
    return { blobs: this.#blobsDir, meta: this.#metaDir, temp: [this.#tmpDir, this.#ingestDir] };
  }

  // ---------------------------------------------------------------- temp files

  /**
   * A new empty scratch directory for this process: `tmp/<pid>-<start time>-<random>`. The caller
   * removes it; if the process dies first (SIGKILL), a later open() does, since the name says
   * whose it was (the start time tells a reused pid apart).
   */
  /**
   * The name of a new scratch dir of this process, not yet made: a build's users mkdir it
   * (recursive) when they first need it, so a build that needs none makes none.
   */
  tempDirName(): string {
    return join(this.#tmpDir, `${ownerTag()}-${randomBytes(6).toString('hex')}`);
  }

  async makeTempDir(): Promise<string> {
    await mkdir(this.#tmpDir, { recursive: true });
    const dir = this.tempDirName();
    await mkdir(dir);
    return dir;
  }

  /** Scratch dirs whose owner process is gone (a live process's are never touched). */
  async #sweepTempDirs(dryRun: boolean): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.#tmpDir).catch(() => [] as string[])) {
      if (ownerAlive(name)) continue;
      if (!dryRun) await rm(join(this.#tmpDir, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /**
   * Remove temp files whose writer is gone: `ingest/*` and the atomic-write
   * temps next to refs.json and meta records. A temp file whose pid is alive
   * is kept unless untouched for a day. Scratch dirs of dead processes go too
   * (counted in `removed`, not in `bytes`).
   */
  async cleanupTemp(opts: { dryRun?: boolean; includeMeta?: boolean } = {}): Promise<SweepResult> {
    const out: SweepResult = { removed: await this.#sweepTempDirs(opts.dryRun === true), bytes: 0 };
    const dirs = [this.#ingestDir, this.root];
    if (opts.includeMeta) {
      const nss = await readdir(this.#metaDir).catch(() => [] as string[]);
      dirs.push(...nss.map((ns) => join(this.#metaDir, ns)));
    }
    const now = Date.now();
    for (const dir of dirs) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) continue;
        throw e;
      }
      for (const name of names) {
        if (!name.endsWith('.tmp')) continue;
        const owner = tempOwner(name);
        if (owner === undefined && dir !== this.#ingestDir) continue; // not one of ours
        const path = join(dir, name);
        const st = await stat(path).catch(() => undefined);
        if (!st?.isFile()) continue;
        const stale = owner === undefined || !pidAlive(owner) || now - st.mtimeMs > STALE_TEMP_MS;
        if (!stale) continue;
        if (!opts.dryRun && !(await removeIfExists(path))) continue;
        out.removed++;
        out.bytes += st.size;
      }
    }
    return out;
  }
}

async function writeAll(fh: FileHandle, buf: Uint8Array): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/** Pass-through that hashes and, at the end, fails with whatever `onMismatch` builds. */
class BlobVerifier extends Transform {
  readonly #hash = createHash('sha256');
  constructor(
    readonly expected: Digest,
    readonly onMismatch: (actual: Digest) => Promise<Error>,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#hash.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    const actual: Digest = `sha256:${this.#hash.digest('hex')}`;
    if (actual === this.expected) {
      cb();
      return;
    }
    this.onMismatch(actual).then(
      (err) => cb(err),
      (err: unknown) => cb(err instanceof Error ? err : new Error(String(err))),
    );
  }
}

function checkRefName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidNameError('ref', String(name), 'empty');
  if (name.length > 1024) throw new InvalidNameError('ref', name.slice(0, 64), 'longer than 1024 characters');
  if (/[\x00-\x1f\x7f]/.test(name)) throw new InvalidNameError('ref', name, 'contains control characters');
}

function checkDescriptor(desc: Descriptor): void {
  if (!isDigest(desc.digest)) throw new InvalidNameError('digest', String(desc.digest), 'not sha256:<64 lowercase hex>');
  if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
    throw new StoreFormatError(`descriptor size ${String(desc.size)} is not a byte count`, { digest: desc.digest });
  }
  if (typeof desc.mediaType !== 'string' || desc.mediaType === '') {
    throw new StoreFormatError('descriptor has no mediaType', { digest: desc.digest });
  }
}
