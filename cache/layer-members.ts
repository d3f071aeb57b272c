/**
 * The member index of stored layers: for a layer blob gzipped by gzipTarMembers, where each gzip
 * member lies ({key: sha256 of its uncompressed bytes, offset, length} in `meta/layer-members/
 * <blob hex>.json`, with the memberFormat it was made under). A later ingest of a layer that
 * shares members (the same step rebuilt after a one-file change) copies those compressed bytes
 * out of the earlier blob instead of deflating them again; the output is the same bytes either
 * way (the encoder checks each copied member's length and CRC-32 against its input).
 *
 * The earlier blob may be gone (gc): then nothing is reused. gc drops the index of a blob it
 * removed (pruneLayerMembers).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { digestHex, isDigest, type Digest } from '../image/digest.js';
import type { ContentStore } from './store.js';

const NS = 'layer-members';

/** One member: [key (sha256 hex of its uncompressed bytes), offset in the blob, compressed length]. */
export type MemberEntry = [key: string, offset: number, length: number];

interface MembersFile {
  format: string;
  members: MemberEntry[];
}

function isMembersFile(v: unknown): v is MembersFile {
  const f = v as MembersFile | undefined;
  return typeof f === 'object' && f !== null && typeof f.format === 'string' && Array.isArray(f.members);
}

/** Records where the members of `blob` lie (only layers of more than one member are worth it). */
export async function recordLayerMembers(store: ContentStore, blob: Digest, format: string, members: MemberEntry[]): Promise<void> {
  if (members.length < 2) return;
  await store.writeMetaIfChanged(NS, digestHex(blob), { format, members } satisfies MembersFile);
}

export interface EarlierMembers {
  /** The compressed bytes of the member with this key, from an earlier blob; undefined when none has it. */
  reuse(key: string): Promise<Buffer | undefined>;
  /** How many distinct members the earlier blobs offer. */
  readonly size: number;
  close(): Promise<void>;
}

/**
 * The members of the earlier `blobs` made under `format` (others compress differently), for
 * reuse by key. Memory: one small entry per member (a member holds about 1 MiB of tar).
 */
export async function earlierMembers(store: ContentStore, blobs: readonly Digest[], format: string): Promise<EarlierMembers> {
  const where = new Map<string, { blob: Digest; offset: number; length: number }>();
  for (const blob of blobs) {
    if (!isDigest(blob)) continue;
    const file = await store.readMeta<unknown>(NS, digestHex(blob)).catch(() => undefined);
    if (!isMembersFile(file) || file.format !== format) continue;
    for (const m of file.members) {
      if (!Array.isArray(m) || typeof m[0] !== 'string' || !Number.isSafeInteger(m[1]) || !Number.isSafeInteger(m[2]) || m[1] < 0 || m[2] <= 0) continue;
      if (!where.has(m[0])) where.set(m[0], { blob, offset: m[1], length: m[2] });
    }
  }
  const handles = new Map<Digest, Promise<FileHandle | undefined>>();
  const handle = (blob: Digest): Promise<FileHandle | undefined> => {
    let h = handles.get(blob);
    if (!h) {
      h = open(store.blobPath(blob), 'r').catch(() => undefined); // gone (gc): no reuse
      handles.set(blob, h);
    }
    return h;
  };
  return {
    size: where.size,
    async reuse(key) {
      const at = where.get(key);
      if (!at) return undefined;
      const fh = await handle(at.blob);
      if (!fh) return undefined;
      const buf = Buffer.allocUnsafe(at.length);
      const { bytesRead } = await fh.read(buf, 0, at.length, at.offset).catch(() => ({ bytesRead: -1 }));
      return bytesRead === at.length ? buf : undefined;
    },
    async close() {
      for (const h of handles.values()) await (await h)?.close().catch(() => undefined);
      handles.clear();
    },
  };
}

/** Drops the index of every blob no longer in the store (gc calls it after sweeping blobs). */
export async function pruneLayerMembers(store: ContentStore, opts: { dryRun?: boolean } = {}): Promise<{ removed: number; bytes: number }> {
  return store.pruneMeta(NS, async (hex) => store.has(`sha256:${hex}`).catch(() => true), { minAgeMs: 0, ...(opts.dryRun ? { dryRun: true } : {}) });
}
