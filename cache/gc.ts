/**
 * Garbage collection: mark every blob reachable from refs (index → manifests
 * → config, layers, subject) plus caller-supplied roots, sweep the rest.
 *
 * A concurrent build holds blobs that no ref names yet (layers written, the
 * manifest not yet tagged). Blobs younger than a grace period are therefore
 * spared; the store refreshes a blob's mtime whenever an ingest or
 * writeImage finds it already present, so "young" means "recently used".
 */
import { open } from 'node:fs/promises';
import { isDigest, type Digest } from '../image/digest.js';
import { isIndexMediaType, isManifestMediaType } from '../image/mediatypes.js';
import { StoreFormatError } from './errors.js';
import { pruneLayerMembers } from './layer-members.js';
import type { ContentStore } from './store.js';

/** Default for GcOptions.minAgeMs: 10 minutes. */
export const DEFAULT_GC_GRACE_MS = 10 * 60 * 1000;
/** Larger than any manifest or index; larger blobs are never parsed as one. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface GcOptions {
  /** More roots, e.g. layers and manifests named by build-cache records. */
  extraRoots?: Digest[];
  /** Count what would go, delete nothing. */
  dryRun?: boolean;
  /** Spare unreachable blobs modified less than this long ago; default DEFAULT_GC_GRACE_MS. 0 sweeps everything unreachable. */
  minAgeMs?: number;
}

export interface GcResult {
  /** Blobs removed (or that would be, with dryRun). */
  removed: number;
  /** Bytes of those blobs plus of the temp files removed. */
  bytes: number;
  /** Abandoned temp files removed. */
  temps: number;
}

interface Pending {
  digest: Digest;
  /** undefined for extra roots: we sniff whether they are a manifest or an index. */
  mediaType: string | undefined;
}

/** Every digest reachable from the refs and `extraRoots` (blobs absent from the store included). */
export async function markReachable(store: ContentStore, extraRoots: Iterable<Digest> = []): Promise<Set<Digest>> {
  const marked = new Set<Digest>();
  const queue: Pending[] = (await store.listRefs()).map(({ desc }) => ({ digest: desc.digest, mediaType: desc.mediaType }));
  for (const d of extraRoots) queue.push({ digest: d, mediaType: undefined });
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    if (!isDigest(next.digest) || marked.has(next.digest)) continue;
    marked.add(next.digest);
    queue.push(...(await childrenOf(store, next)));
  }
  return marked;
}

/** The descriptors a manifest or index names; [] for leaves (configs, layers, unknown blobs). */
async function childrenOf(store: ContentStore, p: Pending): Promise<Pending[]> {
  const known = isManifestMediaType(p.mediaType) || isIndexMediaType(p.mediaType);
  if (p.mediaType !== undefined && !known) return [];
  const st = await store.stat(p.digest);
  if (st === undefined || st.size > MAX_MANIFEST_BYTES) return [];
  if (!known && !(await startsWithBrace(store.blobPath(p.digest)))) return [];
  let doc: unknown;
  try {
    doc = JSON.parse((await store.readBytes(p.digest)).toString('utf8'));
  } catch (e) {
    // An image's manifest we cannot read would make its layers look garbage: refuse to sweep.
    if (known) throw e instanceof SyntaxError ? new StoreFormatError(`manifest ${p.digest} is not JSON`, { digest: p.digest }) : e;
    return [];
  }
  if (typeof doc !== 'object' || doc === null) return [];
  const j = doc as { manifests?: unknown; config?: unknown; layers?: unknown; subject?: unknown; blobs?: unknown };
  const out: Pending[] = [];
  const add = (d: unknown, asChild: boolean): void => {
    if (typeof d !== 'object' || d === null) return;
    const { digest, mediaType } = d as { digest?: unknown; mediaType?: unknown };
    if (typeof digest !== 'string' || !isDigest(digest)) return;
    const mt = typeof mediaType === 'string' ? mediaType : undefined;
    // Children of an index may lack a media type in sloppy files: sniff those too.
    out.push({ digest, mediaType: asChild ? mt : (mt ?? 'application/octet-stream') });
  };
  if (Array.isArray(j.manifests)) for (const d of j.manifests) add(d, true);
  if (j.config !== undefined) add(j.config, false);
  if (Array.isArray(j.layers)) for (const d of j.layers) add(d, false);
  if (j.subject !== undefined) add(j.subject, true);
  return out;
}

async function startsWithBrace(path: string): Promise<boolean> {
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return false;
  try {
    const buf = Buffer.alloc(64);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('latin1').trimStart().startsWith('{');
  } finally {
    await fh.close();
  }
}

/**
 * Delete unreachable blobs (older than the grace period) and abandoned temp
 * files. Holds the refs lock throughout, so no ref can be set between mark
 * and sweep.
 */
export async function gc(store: ContentStore, opts: GcOptions = {}): Promise<GcResult> {
  const minAgeMs = opts.minAgeMs ?? DEFAULT_GC_GRACE_MS;
  return store.withLock('refs', async () => {
    const live = await markReachable(store, opts.extraRoots ?? []);
    const cutoff = Date.now() - minAgeMs;
    const out: GcResult = { removed: 0, bytes: 0, temps: 0 };
    for await (const b of store.blobs()) {
      if (live.has(b.digest) || (minAgeMs > 0 && b.mtimeMs > cutoff)) continue;
      if (!opts.dryRun && !(await store.delete(b.digest))) continue;
      out.removed++;
      out.bytes += b.size;
    }
    const t = await store.cleanupTemp({ dryRun: opts.dryRun === true, includeMeta: true });
    out.temps = t.removed;
    out.bytes += t.bytes;
    // The member index of a removed layer blob names nothing any more.
    out.bytes += (await pruneLayerMembers(store, { dryRun: opts.dryRun === true })).bytes;
    return out;
  });
}

export interface DiskUsage {
  /** Number of blobs. */
  blobs: number;
  /** Their total size. */
  bytes: number;
  /** Bytes of blobs no ref (nor extra root) reaches, whatever their age. */
  reclaimable: number;
}

export async function diskUsage(store: ContentStore, opts: { extraRoots?: Digest[] } = {}): Promise<DiskUsage> {
  const live = await markReachable(store, opts.extraRoots ?? []);
  const out: DiskUsage = { blobs: 0, bytes: 0, reclaimable: 0 };
  for await (const b of store.blobs()) {
    out.blobs++;
    out.bytes += b.size;
    if (!live.has(b.digest)) out.reclaimable += b.size;
  }
  return out;
}
