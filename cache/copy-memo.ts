/**
 * The copy memo: what a COPY from a directory was keyed as last time, by a "stamp" of its
 * sources. The stamp is the digest of everything that feeds the step key except file contents
 * (the op, its parent key, the request) and of the stat data of every entry the plan reads
 * (path, type, mode, owner, size, mtime, ctime, inode, link count, link target). A no-op
 * rebuild stats its sources, finds the stamp here and looks the step key up directly: it
 * neither plans the copy nor loads the context's hash table (20,000 rows for a 20,000-file
 * context) nor hashes anything.
 *
 * Trust is the context-hash table's (cache/context-hash.ts): a file rewritten with the same size
 * keeps its mtime but not its ctime, and an entry whose mtime or ctime lies within
 * RACY_MARGIN_MS of the moment the plan started is never remembered (the stat may not have
 * settled). A remembered key whose record is gone just falls back to the full plan.
 *
 * Records live in the store's meta (`copy-memo/<sha256(dir, step)>`): a few stamps per COPY
 * step of a Dockerfile (a multi-platform build has one per platform), dropped by `tsbuild prune`
 * when the directory is gone.
 */
import { createHash, type Hash } from 'node:crypto';
import { digestHex, isDigest, sha256, type Digest } from '../image/digest.js';
import { RACY_MARGIN_MS } from './context-hash.js';
import { FILE_DIGEST_VERSION, KEY_VERSION } from './keys.js';
import type { ContentStore } from './store.js';

const META_NS = 'copy-memo';
const FORMAT = 1;
/** Stamps kept per step (newest first): the platforms of one build, a few recent states. */
const MAX_STAMPS = 8;
/** Stat text is hashed in chunks of about this many characters (one update per entry costs more). */
const CHUNK_CHARS = 64 * 1024;

interface Slot {
  format: number;
  dir: string;
  /** [stamp hex, step key], newest first. */
  stamps: Array<[string, Digest]>;
}

/** The stat data of one entry a COPY plan reads; fields as builder/context.ts's ContextEntry. */
export interface StampedEntry {
  path: string;
  absPath: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  nlink?: number;
  linkTarget?: string;
}

/** Accumulates a stamp: the request first, then every entry in the order the plan reads them. */
export class SourceStamp {
  readonly #hash: Hash = createHash('sha256');
  #pending = '';
  #newestMs = 0;

  constructor(request: unknown) {
    this.#hash.update(JSON.stringify([FORMAT, KEY_VERSION, FILE_DIGEST_VERSION, request]));
  }

  add(entry: StampedEntry): void {
    // A tagged record of NUL-terminated fields (no path or link target holds a NUL; section names
    // are JSON): names can't forge a record.
    this.#pending += `e\0${entry.path}\0${entry.absPath}\0${entry.type}\0${entry.mode}\0${entry.uid}\0${entry.gid}\0${entry.size}\0${entry.mtimeMs}\0${entry.ctimeMs}\0${entry.ino}\0${entry.nlink ?? 1}\0${entry.linkTarget ?? ''}\0`;
    if (entry.mtimeMs > this.#newestMs) this.#newestMs = entry.mtimeMs;
    if (entry.ctimeMs > this.#newestMs) this.#newestMs = entry.ctimeMs;
    if (this.#pending.length >= CHUNK_CHARS) this.#flush();
  }

  /** A marker between the parts of a plan (one per source), so entries can't shift between them. */
  section(name: string): void {
    this.#pending += `s\0${JSON.stringify(name)}\0`;
  }

  #flush(): void {
    this.#hash.update(this.#pending);
    this.#pending = '';
  }

  /** The stamp, and the newest mtime/ctime of any entry (ms since the epoch). */
  finish(): { digest: Digest; newestMs: number } {
    this.#flush();
    return { digest: `sha256:${this.#hash.digest('hex')}`, newestMs: this.#newestMs };
  }
}

export interface CopyMemoOptions {
  /** Clock (ms since the epoch), for tests; default Date.now. */
  now?: () => number;
  /** Default RACY_MARGIN_MS. */
  racyMarginMs?: number;
}

export class CopyMemo {
  readonly #store: ContentStore;
  readonly #margin: number;
  readonly now: () => number;

  constructor(store: ContentStore, options: CopyMemoOptions = {}) {
    this.#store = store;
    this.now = options.now ?? Date.now;
    this.#margin = options.racyMarginMs ?? RACY_MARGIN_MS;
  }

  /** The step key remembered for `stamp`, or undefined. */
  async keyFor(dir: string, stepId: string, stamp: Digest): Promise<Digest | undefined> {
    return (await this.lookup(dir, stepId))?.(stamp);
  }

  /**
   * What this step remembers, as a lookup by stamp; undefined when it remembers nothing (a first
   * build: the caller need not stamp its sources at all).
   */
  async lookup(dir: string, stepId: string): Promise<((stamp: Digest) => Digest | undefined) | undefined> {
    const slot = await this.#read(dir, stepId);
    if (!slot || slot.stamps.length === 0) return undefined;
    return (stamp) => {
      const hex = digestHex(stamp);
      return slot.stamps.find((s) => s[0] === hex)?.[1];
    };
  }

  /**
   * Remembers `key` for `stamp`, unless an entry changed less than the racy margin before
   * `startedAt` (the moment before the plan first looked at the files), or it is already
   * remembered (a rebuild writes nothing). Whether it wrote.
   */
  async remember(dir: string, stepId: string, stamp: { digest: Digest; newestMs: number }, key: Digest, startedAt: number): Promise<boolean> {
    if (stamp.newestMs >= startedAt - this.#margin) return false;
    const hex = digestHex(stamp.digest);
    const slot = await this.#read(dir, stepId);
    if (slot?.stamps.some((s) => s[0] === hex && s[1] === key)) return false;
    const newest: [string, Digest] = [hex, key];
    const stamps = [newest, ...(slot?.stamps ?? []).filter((s) => s[0] !== hex)].slice(0, MAX_STAMPS);
    await this.#store.writeMeta(META_NS, slotName(dir, stepId), { format: FORMAT, dir, stamps } satisfies Slot);
    return true;
  }

  async #read(dir: string, stepId: string): Promise<Slot | undefined> {
    let slot: Partial<Slot> | undefined;
    try {
      slot = await this.#store.readMeta<Partial<Slot>>(META_NS, slotName(dir, stepId));
    } catch {
      return undefined; // a damaged memo costs one full plan, never a wrong key
    }
    if (!slot || slot.format !== FORMAT || slot.dir !== dir || !Array.isArray(slot.stamps)) return undefined;
    const stamps = (slot.stamps as unknown[]).filter((s): s is [string, Digest] => Array.isArray(s) && s.length === 2 && typeof s[0] === 'string' && /^[a-f0-9]{64}$/.test(s[0]) && typeof s[1] === 'string' && isDigest(s[1]));
    return { format: FORMAT, dir, stamps };
  }
}

function slotName(dir: string, stepId: string): string {
  return digestHex(sha256(JSON.stringify([dir, stepId])));
}

/** Drops the memos of directories that no longer exist (for `tsbuild prune`). */
export function pruneCopyMemos(store: ContentStore, opts: { minAgeMs: number; dryRun?: boolean }): Promise<{ removed: number; bytes: number }> {
  return store.pruneMetaOfGoneDirs(META_NS, opts);
}
