/**
 * Content hashes of build-context files, remembered between builds so a
 * no-op rebuild reads no file twice. A remembered hash is keyed by the
 * file's (size, mtime, ctime, inode, mode) and reused only when all five
 * match and the entry is not "racy".
 *
 * Racy (git's rule, Documentation/technical/racy-git.txt): timestamps are
 * coarse (1 s on some file systems, a kernel tick elsewhere), so a file
 * rewritten with the same size within one tick of our read keeps the same
 * stat. An entry whose mtime or ctime is within RACY_MARGIN_MS of the moment
 * we read the file is therefore never trusted: it is re-hashed next time, by
 * which point the stat has settled. The cost is one extra read of files that
 * were written just before a build; the gain is that a stale hash is never
 * returned.
 *
 * The table lives in the store's meta (`context-hash/<sha256(contextDir)>`),
 * written atomically once per build by save().
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { digestHex, sha256, type Digest } from '../image/digest.js';
import { CacheKeyError, ContextChangedError } from './errors.js';
import type { ContentStore } from './store.js';

const META_NS = 'context-hash';
const FORMAT = 1;
/** Larger than the coarsest common timestamp granularity (FAT, SMB: 2 s). */
export const RACY_MARGIN_MS = 2000;
/** An entry not used by this many saves in a row is dropped (files deleted or no longer copied). */
const MAX_IDLE_SAVES = 20;
const READ_ATTEMPTS = 3;
/** Files below this are read in one call into a buffer of this size; larger ones are streamed. */
const SMALL_FILE = 64 * 1024;

export interface FileStat {
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  mode: number;
}

/** [size, mtimeMs, ctimeMs, ino, mode, sha256 hex, save generation last used] — arrays keep a 20k-file table small. */
type Entry = [number, number, number, number, number, string, number];

interface Table {
  format: number;
  dir: string;
  generation: number;
  entries: Record<string, Entry>;
}

export interface ContextHasherOptions {
  /** Clock (ms since the epoch), for tests; default Date.now. */
  now?: () => number;
  /** Default RACY_MARGIN_MS. */
  racyMarginMs?: number;
}

function sameStat(e: Entry, st: FileStat): boolean {
  return e[0] === st.size && e[1] === st.mtimeMs && e[2] === st.ctimeMs && e[3] === st.ino && e[4] === st.mode;
}

function sameFileStat(a: FileStat, b: FileStat): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino && a.mode === b.mode;
}

export class ContextHasher {
  readonly contextDir: string;
  readonly #store: ContentStore;
  readonly #metaKey: string;
  /** contextDir + '/' */
  readonly #prefix: string;
  readonly #now: () => number;
  readonly #margin: number;
  /** Entries as loaded plus what this session learned. */
  readonly #entries: Map<string, Entry>;
  /** Paths hashed (new or changed) or reused this session: written on save. */
  readonly #touched = new Set<string>();
  /** Paths whose entry this session found invalid (stat changed, or racy): removed on save. */
  readonly #dropped = new Set<string>();
  #generation: number;
  #hashed = 0;
  #reused = 0;

  private constructor(store: ContentStore, contextDir: string, table: Table | undefined, o: ContextHasherOptions) {
    this.#store = store;
    this.contextDir = contextDir;
    this.#prefix = contextDir.endsWith('/') ? contextDir : `${contextDir}/`;
    this.#metaKey = digestHex(sha256(contextDir));
    this.#now = o.now ?? Date.now;
    this.#margin = o.racyMarginMs ?? RACY_MARGIN_MS;
    this.#entries = new Map(Object.entries(table?.entries ?? {}));
    this.#generation = (table?.generation ?? 0) + 1;
  }

  /** Load the remembered hashes of `contextDir` (an unreadable table just starts empty). */
  static async open(store: ContentStore, contextDir: string, options: ContextHasherOptions = {}): Promise<ContextHasher> {
    const dir = resolve(contextDir);
    const table = await readTable(store, digestHex(sha256(dir)), dir);
    return new ContextHasher(store, dir, table, options);
  }

  #rel(absPath: string): string {
    // The walker hands over clean absolute paths: take the fast way when there is nothing to
    // normalize (no `.`/`..` segment, no `//`), the general one otherwise.
    if (sep === '/' && absPath.startsWith(this.#prefix) && absPath.length > this.#prefix.length && !/\/\.{0,2}(\/|$)|\/\//.test(absPath)) {
      return absPath.slice(this.#prefix.length);
    }
    const rel = relative(this.contextDir, resolve(absPath));
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new CacheKeyError(`${absPath} is not inside the build context ${this.contextDir}`, { path: absPath });
    }
    return sep === '/' ? rel : rel.split(sep).join('/');
  }

  /**
   * sha256 of a regular file's content. `st` is the caller's lstat of the
   * file; the remembered hash is reused only when it matches exactly and the
   * entry was not racy. Otherwise the file is read (streamed), and the hash
   * is remembered under the stat of the open file taken before reading.
   */
  async hashFile(absPath: string, st: FileStat, signal?: AbortSignal): Promise<Digest> {
    const rel = this.#rel(absPath);
    const e = this.#entries.get(rel);
    if (e && sameStat(e, st)) {
      this.#reused++;
      e[6] = this.#generation;
      this.#touched.add(rel);
      return `sha256:${e[5]}`;
    }
    this.#hashed++;
    const { digest, stat, racy } = await this.#read(absPath, signal);
    if (racy) {
      this.#entries.delete(rel);
      this.#touched.delete(rel);
      this.#dropped.add(rel);
    } else {
      this.#entries.set(rel, [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino, stat.mode, digestHex(digest), this.#generation]);
      this.#touched.add(rel);
      this.#dropped.delete(rel);
    }
    return digest;
  }

  /** Reads and hashes a file; retries when its stat changes during the read (a writer is busy). */
  async #read(absPath: string, signal?: AbortSignal): Promise<{ digest: Digest; stat: FileStat; racy: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const r = this.#readSmallSync(absPath) ?? (await this.#readStreamed(absPath, signal));
      if (r) return r;
      if (attempt >= READ_ATTEMPTS) throw new ContextChangedError(absPath, attempt);
    }
  }

  /**
   * Most context files are small: synchronous calls cost microseconds, where
   * five thread-pool round trips per file made a 20,000-file COPY wait seconds.
   * Returns undefined for a large file (streamed instead), null when the stat
   * changed during the read.
   */
  #readSmallSync(absPath: string): { digest: Digest; stat: FileStat; racy: boolean } | null | undefined {
    const startedAt = this.#now();
    const fd = openSync(absPath, 'r');
    try {
      const before = fstatSync(fd);
      if (before.size >= SMALL_FILE) return undefined;
      // One byte more than expected: a file that grew shows up as a changed stat below.
      const buf = Buffer.allocUnsafe(before.size + 1);
      let n = 0;
      for (let r = -1; r !== 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, n);
      const after = fstatSync(fd);
      if (!sameFileStat(before, after)) return null;
      return this.#result(createHash('sha256').update(buf.subarray(0, n)), before, startedAt);
    } finally {
      closeSync(fd);
    }
  }

  async #readStreamed(absPath: string, signal?: AbortSignal): Promise<{ digest: Digest; stat: FileStat; racy: boolean } | null> {
    const startedAt = this.#now();
    const fh = await open(absPath, 'r');
    try {
      const before = await fh.stat();
      const hash = createHash('sha256');
      for await (const chunk of fh.createReadStream({ autoClose: false, start: 0 })) {
        signal?.throwIfAborted(); // a multi-gigabyte file takes seconds: a cancelled build stops here
        hash.update(chunk as Buffer);
      }
      const after = await fh.stat();
      return sameFileStat(before, after) ? this.#result(hash, before, startedAt) : null;
    } finally {
      await fh.close();
    }
  }

  #result(hash: Hash, before: FileStat, startedAt: number): { digest: Digest; stat: FileStat; racy: boolean } {
    const racy = Math.max(before.mtimeMs, before.ctimeMs) >= startedAt - this.#margin;
    const stat: FileStat = { size: before.size, mtimeMs: before.mtimeMs, ctimeMs: before.ctimeMs, ino: before.ino, mode: before.mode };
    return { digest: `sha256:${hash.digest('hex')}`, stat, racy };
  }

  /**
   * Persist the table atomically. Merges with what another build on the same
   * context may have saved meanwhile (under a store lock), so neither loses
   * the other's work; entries unused for MAX_IDLE_SAVES saves are dropped.
   * A session that hashed nothing new writes nothing.
   */
  async save(): Promise<void> {
    // Nothing learned (a no-op rebuild): the table on disk is already right. Skipping the write
    // also leaves the generation alone, so idle entries age by saves, not by builds.
    if (this.#hashed === 0 && this.#dropped.size === 0) return;
    const lock = `context-hash-${this.#metaKey.slice(0, 32)}`;
    await this.#store.withLock(lock, async () => {
      const disk = await readTable(this.#store, this.#metaKey, this.contextDir);
      const generation = Math.max(this.#generation, (disk?.generation ?? 0) + 1);
      const merged = new Map<string, Entry>(Object.entries(disk?.entries ?? {}));
      for (const rel of this.#dropped) merged.delete(rel);
      for (const rel of this.#touched) {
        const e = this.#entries.get(rel);
        if (e) merged.set(rel, [e[0], e[1], e[2], e[3], e[4], e[5], generation]);
      }
      // Null prototype: a context file named `__proto__` is just a key.
      const entries = Object.create(null) as Record<string, Entry>;
      for (const [rel, e] of merged) if (generation - e[6] < MAX_IDLE_SAVES) entries[rel] = e;
      const table: Table = { format: FORMAT, dir: this.contextDir, generation, entries };
      await this.#store.writeMeta(META_NS, this.#metaKey, table);
      this.#generation = generation;
    });
  }

  /** Files read (hashed) and remembered hashes reused since open(). */
  stats(): { hashed: number; reused: number } {
    return { hashed: this.#hashed, reused: this.#reused };
  }
}

async function readTable(store: ContentStore, key: string, dir: string): Promise<Table | undefined> {
  let t: Table | undefined;
  try {
    t = await store.readMeta<Table>(META_NS, key);
  } catch {
    return undefined; // a damaged table costs one full re-hash, never a wrong hash
  }
  if (!t || t.format !== FORMAT || t.dir !== dir || typeof t.entries !== 'object' || t.entries === null) return undefined;
  // Drop malformed rows rather than trust them.
  const entries = Object.create(null) as Record<string, Entry>;
  for (const [rel, e] of Object.entries(t.entries)) {
    if (Array.isArray(e) && e.length === 7 && e.every((x, i) => (i === 5 ? typeof x === 'string' && /^[a-f0-9]{64}$/.test(x) : typeof x === 'number'))) {
      entries[rel] = e;
    }
  }
  return { ...t, entries };
}

/** Drops the remembered tables of context directories that no longer exist (for `tsbuild prune`). */
export function pruneContextTables(store: ContentStore, opts: { minAgeMs: number; dryRun?: boolean }): Promise<{ removed: number; bytes: number }> {
  return store.pruneMetaOfGoneDirs(META_NS, opts);
}
