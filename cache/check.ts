/**
 * `tsbuild check-store`: re-hash every blob and check that what names blobs (image names, the
 * manifests and indexes behind them, build-cache records) names blobs the store has. A store
 * written only by ContentStore stays consistent through kills (blobs appear by rename); this is
 * for disks that lose or flip bytes, and for people who edit the store by hand.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../image/digest.js';
import { isDigest } from '../image/digest.js';
import { isIndexMediaType, isManifestMediaType } from '../image/mediatypes.js';
import type { Descriptor } from '../image/types.js';
import { BuildCache } from './build-cache.js';
import { isErrno } from './fsutil.js';
import type { ContentStore } from './store.js';

export type StoreProblemKind = 'corrupt-blob' | 'broken-ref' | 'dangling-cache-record';

export interface StoreProblem {
  kind: StoreProblemKind;
  /** The blob digest, image name or record it is about. */
  subject: string;
  problem: string;
  /** Set when `repair` removed the subject. */
  repaired: boolean;
}

export interface StoreCheck {
  blobs: number;
  bytes: number;
  refs: number;
  problems: StoreProblem[];
}

/** Larger than any manifest or index we would parse (as gc's limit). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * Checks the whole store. With `repair`, corrupt blobs are deleted first, then image names whose
 * image lacks a blob and cache records naming a missing blob (so one pass leaves a store that
 * checks clean). Blobs are hashed as streams: memory stays flat whatever their size.
 */
export async function checkStore(store: ContentStore, options: { repair?: boolean } = {}): Promise<StoreCheck> {
  const repair = options.repair === true;
  const out: StoreCheck = { blobs: 0, bytes: 0, refs: 0, problems: [] };
  const corrupt = new Set<Digest>();
  for await (const b of store.blobs()) {
    const actual = await hashBlob(store, b.digest);
    if (actual === undefined) continue; // removed meanwhile (gc)
    out.blobs++;
    out.bytes += b.size;
    if (actual === b.digest) continue;
    corrupt.add(b.digest);
    if (repair) await store.delete(b.digest);
    out.problems.push({ kind: 'corrupt-blob', subject: b.digest, problem: `content hashes to ${actual}`, repaired: repair });
  }
  // without repair a corrupt blob is still there; it was reported once, not again for each user
  const present = async (d: Digest): Promise<boolean> => !corrupt.has(d) && (await store.has(d));
  for (const { name, desc } of await store.listRefs()) {
    out.refs++;
    const problem = await brokenImage(store, desc, present, corrupt);
    if (problem === undefined) continue;
    if (repair) await store.deleteRef(name);
    out.problems.push({ kind: 'broken-ref', subject: name, problem, repaired: repair });
  }
  for (const d of await new BuildCache(store).dangling({ repair })) {
    out.problems.push({ kind: 'dangling-cache-record', subject: d.record, problem: d.problem, repaired: repair });
  }
  return out;
}

async function hashBlob(store: ContentStore, d: Digest): Promise<Digest | undefined> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of await store.open(d, { verify: false })) hash.update(chunk as Buffer);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || (e as { code?: string }).code === 'TSB_CACHE_BLOB_NOT_FOUND') return undefined;
    throw e;
  }
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Why the image `desc` names cannot be used, or undefined. A manifest needs its config and every
 * layer; an index needs at least one of its manifests (a pull keeps only this platform's), and
 * the ones present must be whole.
 */
async function brokenImage(
  store: ContentStore,
  desc: Descriptor,
  present: (d: Digest) => Promise<boolean>,
  corrupt: ReadonlySet<Digest>,
): Promise<string | undefined> {
  if (!isDigest(desc.digest)) return `names an invalid digest ${JSON.stringify(desc.digest)}`;
  if (corrupt.has(desc.digest)) return `${desc.digest} is corrupt`;
  if (!(await present(desc.digest))) return `${desc.mediaType} ${desc.digest} is missing`;
  if (!isManifestMediaType(desc.mediaType) && !isIndexMediaType(desc.mediaType)) return undefined;
  const st = await store.stat(desc.digest);
  if (st !== undefined && st.size > MAX_MANIFEST_BYTES) return `${desc.digest} is ${st.size} bytes, too large for a manifest`;
  let doc: { manifests?: unknown; config?: unknown; layers?: unknown };
  try {
    doc = JSON.parse((await store.readBytes(desc.digest)).toString('utf8')) as typeof doc;
  } catch (e) {
    return `${desc.digest} is not readable JSON: ${(e as Error).message}`;
  }
  const children = (v: unknown): Descriptor[] => (Array.isArray(v) ? v.filter((x): x is Descriptor => typeof x === 'object' && x !== null) : []);
  if (isIndexMediaType(desc.mediaType)) {
    const results: Array<string | undefined> = [];
    for (const m of children(doc.manifests)) {
      if (isDigest(m.digest) && !corrupt.has(m.digest) && !(await store.has(m.digest))) continue; // another platform, not pulled
      results.push(await brokenImage(store, m, present, corrupt));
    }
    if (results.length === 0) return `index ${desc.digest} has none of its manifests`;
    return results.find((r) => r !== undefined);
  }
  for (const blob of [...children([doc.config]), ...children(doc.layers)]) {
    if (!isDigest(blob.digest)) return `${desc.digest} names an invalid digest`;
    if (corrupt.has(blob.digest)) return `${blob.digest} is corrupt`;
    if (!(await present(blob.digest))) return `${blob.mediaType} ${blob.digest} is missing`;
  }
  return undefined;
}
