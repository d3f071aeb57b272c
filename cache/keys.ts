/**
 * Cache keys. A step's key is the sha256 of the canonical JSON of a typed
 * preimage: what the step does (`type`, `op`), what it builds on (`parent`)
 * and the content it reads (`inputs`). Nothing else goes in, so the same
 * inputs give the same key on any machine, and the preimage itself is kept
 * so a miss can be explained field by field (BuildKit `CacheMap`,
 * `util/cachedigest`).
 *
 * cache/ knows no Dockerfile syntax: the builder resolves an instruction into
 * `op` (plain JSON data) and names its inputs; this module only normalizes,
 * strips the fields on KEY_EXCLUSIONS and hashes.
 */
import { isDigest, sha256, type Digest } from '../image/digest.js';
import type { TarEntryType } from '../image/tar/header.js';
import { CacheKeyError } from './errors.js';

/**
 * Bumped when the preimage → key rule changes, or when the same preimage now makes a different
 * layer, so old records simply stop matching (2: COPY/WORKDIR layers carry their existing parent
 * directories, COPY --from keeps owners and xattrs).
 */
export const KEY_VERSION = 2;
/** Bumped when the file-digest rule changes. */
export const FILE_DIGEST_VERSION = 1;

export interface KeyInput {
  /** What this input is to the step, e.g. `src:0`, `mount:/root/.cache`, `stage:build`. Unique within a preimage. */
  name: string;
  digest: Digest;
}

export interface KeyFile {
  path: string;
  digest: Digest;
}

export interface KeyPreimage {
  /** 'copy' | 'run' | 'workdir' | 'meta' | 'base' (open: the builder may add kinds). */
  type: string;
  /** Key of the step this one builds on; null for a stage's first step. */
  parent: Digest | null;
  /** Resolved instruction parameters. Build args go in `op.args` as a record (explain() reads them there). */
  op: Record<string, unknown>;
  /** Content digests the step reads. Order is significant (a later COPY source overwrites an earlier one). */
  inputs?: KeyInput[];
  /**
   * Per-file digests of COPY sources. NOT hashed into the key (their
   * treeDigest is in `inputs`): kept only so explain() can name the file.
   */
  files?: KeyFile[];
}

// ---------------------------------------------------------------- canonical JSON

/**
 * JSON with object keys sorted (UTF-16 code unit order, as Array#sort) at
 * every level, no whitespace, `undefined` object members dropped. Refuses
 * what JSON cannot carry faithfully (NaN, ±Infinity, bigint, functions,
 * symbols, class instances such as Date or Buffer, cycles, array holes /
 * undefined elements) instead of silently changing it, because a key built
 * from a lossy value would collide.
 */
export function canonicalJson(value: unknown): string {
  return canon(value, new Set(), '$');
}

function canon(v: unknown, stack: Set<object>, at: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'number':
      if (!Number.isFinite(v)) throw new CacheKeyError(`cannot hash non-finite number at ${at}`, { at });
      return JSON.stringify(v); // -0 prints as 0
    case 'object':
      break;
    default:
      throw new CacheKeyError(`cannot hash a ${typeof v} at ${at}`, { at, type: typeof v });
  }
  const obj = v as object;
  if (stack.has(obj)) throw new CacheKeyError(`cannot hash a cyclic value at ${at}`, { at });
  stack.add(obj);
  try {
    if (Array.isArray(obj)) {
      const parts: string[] = [];
      for (let i = 0; i < obj.length; i++) {
        if (!(i in obj) || obj[i] === undefined) throw new CacheKeyError(`cannot hash an undefined array element at ${at}[${i}]`, { at });
        parts.push(canon(obj[i], stack, `${at}[${i}]`));
      }
      return `[${parts.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(obj) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const name = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new CacheKeyError(`cannot hash a ${name} at ${at}: pass plain JSON data`, { at, type: name });
    }
    const rec = obj as Record<string, unknown>;
    const parts: string[] = [];
    for (const k of Object.keys(rec).sort()) {
      const x = rec[k];
      if (x === undefined) continue;
      parts.push(`${JSON.stringify(k)}:${canon(x, stack, `${at}.${k}`)}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    stack.delete(obj);
  }
}

// ---------------------------------------------------------------- exclusions

/**
 * Fields of `op` that never reach a key (nor a stored preimage). Paths are
 * dotted; `name[]` means every element of the array `name`, `name[k=v]`
 * every element whose member `k` equals `v`. Each entry has a test that
 * changing it keeps the key.
 */
export const KEY_EXCLUSIONS: ReadonlyArray<{ field: string; why: string }> = [
  {
    field: 'secrets',
    why: 'secret values, files and env: hashing them would leak them through keys and stored preimages; like BuildKit, a new secret does not invalidate a step',
  },
  {
    field: 'mounts[type=secret].source',
    why: 'where a secret comes from on this host (a file path, an env var) is host-specific and not part of the result',
  },
  {
    field: 'mounts[type=cache].id',
    why: 'a cache mount is scratch space whose contents are by contract not part of the result; renaming its id must not rebuild',
  },
  {
    field: 'mounts[type=cache].sharing',
    why: 'shared/private/locked only decides how concurrent builds take turns on a cache mount, not what a step produces',
  },
  {
    field: 'proxyEnv',
    why: 'proxy settings of this host (BuildKit ExecOp ProxyEnv): the same build behind another proxy gives the same result',
  },
  ...['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((name) =>
    [name, name.toLowerCase()].map((n) => ({
      field: `args.${n}`,
      why: `${n} is a predefined proxy build arg, which Docker keeps out of the cache and history`,
    })),
  ),
  {
    field: 'created',
    why: 'a wall-clock history timestamp differs every build; a hit replays the cached config instead',
  },
];

type Segment = { name: string; each: false } | { name: string; each: true; where?: { key: string; value: string } };

function parsePath(field: string): Segment[] {
  return field.split('.').map((s) => {
    const m = /^([^[\]]+)\[(?:([^=\]]+)=([^\]]*))?\]$/.exec(s);
    if (!m) return { name: s, each: false };
    const seg: Segment = { name: m[1]!, each: true };
    if (m[2] !== undefined) seg.where = { key: m[2], value: m[3] ?? '' };
    return seg;
  });
}

const EXCLUSION_PATHS = KEY_EXCLUSIONS.map((e) => parsePath(e.field));

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function removePath(target: unknown, path: readonly Segment[]): void {
  const [seg, ...rest] = path;
  if (seg === undefined || !isRecord(target) || !Object.hasOwn(target, seg.name)) return;
  if (!seg.each) {
    if (rest.length === 0) delete target[seg.name];
    else removePath(target[seg.name], rest);
    return;
  }
  const arr = target[seg.name];
  if (!Array.isArray(arr)) return;
  for (const el of arr) {
    if (seg.where && !(isRecord(el) && el[seg.where.key] === seg.where.value)) continue;
    removePath(el, rest);
  }
}

/** A deep copy of `op` without the KEY_EXCLUSIONS fields (the argument is not modified). */
export function stripExcluded(op: Record<string, unknown>): Record<string, unknown> {
  // Round-trip through canonical JSON: validates (throws on non-JSON data) and deep-copies in one go.
  const copy = JSON.parse(canonicalJson(op)) as Record<string, unknown>;
  for (const p of EXCLUSION_PATHS) removePath(copy, p);
  return copy;
}

// ---------------------------------------------------------------- keys

function checkDigest(d: unknown, what: string): asserts d is Digest {
  if (typeof d !== 'string' || !isDigest(d)) throw new CacheKeyError(`${what} is not a sha256 digest: ${JSON.stringify(d)}`, { what });
}

/** The part of a preimage that is hashed, normalized and checked. */
export function keyMaterial(keyPreimage: KeyPreimage): { v: number; type: string; parent: Digest | null; op: Record<string, unknown>; inputs: KeyInput[] } {
  if (typeof keyPreimage.type !== 'string' || keyPreimage.type === '') throw new CacheKeyError('preimage type must be a non-empty string');
  if (keyPreimage.parent !== null) checkDigest(keyPreimage.parent, 'preimage parent');
  if (!isRecord(keyPreimage.op)) throw new CacheKeyError('preimage op must be an object');
  const names = new Set<string>();
  const inputs = (keyPreimage.inputs ?? []).map((i, n) => {
    if (typeof i.name !== 'string' || i.name === '') throw new CacheKeyError(`input ${n} has no name`);
    if (names.has(i.name)) throw new CacheKeyError(`input name ${JSON.stringify(i.name)} appears twice`, { name: i.name });
    names.add(i.name);
    checkDigest(i.digest, `input ${JSON.stringify(i.name)}`);
    return { name: i.name, digest: i.digest };
  });
  return { v: KEY_VERSION, type: keyPreimage.type, parent: keyPreimage.parent, op: stripExcluded(keyPreimage.op), inputs };
}

/** The step's cache key: sha256 of the canonical JSON of { v, type, parent, op minus exclusions, inputs }. `files` is not hashed. */
export function keyOf(preimage: KeyPreimage): Digest {
  return sha256(canonicalJson(keyMaterial(preimage)));
}

// ---------------------------------------------------------------- file and tree digests

export interface FileDigestHeader {
  /** The path is NOT part of a file's digest (it is part of the tree's): a rename is seen by treeDigest. */
  path?: never;
  type: TarEntryType;
  /** Permission and special bits; file-type bits are masked off. */
  mode: number;
  uid: number;
  gid: number;
  /** Content length; ignored (taken as 0) for anything but regular files. */
  size: number;
  /** Symlink target or hardlink target path. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer | Uint8Array>;
}

/**
 * One file's digest, the written rule (BuildKit contenthash-like):
 * sha256 of the canonical JSON of
 *   { v: 1, type, mode: mode & 0o7777, uid, gid, size (files; else 0),
 *     linkname (symlinks and hardlinks), devmajor/devminor (char/block),
 *     xattrs: { name: base64 } (only when there are any),
 *     content: sha256 of the bytes (regular files only) }.
 * Never mtime, atime, ctime, uname/gname or the path. Golden values are pinned in keys.test.ts.
 */
export function fileDigest(header: FileDigestHeader, content?: Digest): Digest {
  const isFile = header.type === 'file';
  if (isFile) checkDigest(content, 'content digest of a regular file');
  else if (content !== undefined) throw new CacheKeyError(`a ${header.type} has no content digest`, { type: header.type });
  for (const f of ['mode', 'uid', 'gid', 'size'] as const) {
    if (!Number.isSafeInteger(header[f]) || header[f] < 0) throw new CacheKeyError(`file ${f} must be a non-negative integer, got ${String(header[f])}`);
  }
  const m: Record<string, unknown> = {
    v: FILE_DIGEST_VERSION,
    type: header.type,
    mode: header.mode & 0o7777,
    uid: header.uid,
    gid: header.gid,
    size: isFile ? header.size : 0,
  };
  if (header.type === 'symlink' || header.type === 'hardlink') m['linkname'] = header.linkname ?? '';
  if (header.type === 'char' || header.type === 'block') {
    m['devmajor'] = header.devmajor ?? 0;
    m['devminor'] = header.devminor ?? 0;
  }
  const names = Object.keys(header.xattrs ?? {});
  if (names.length > 0) {
    const x: Record<string, string> = {};
    for (const n of names) x[n] = Buffer.from(header.xattrs![n]!).toString('base64');
    m['xattrs'] = x;
  }
  if (isFile) m['content'] = content;
  return sha256(names.length > 0 ? canonicalJson(m) : fileDigestJson(m));
}

/**
 * canonicalJson of a file-digest record without xattrs, written out directly: a 20,000-file
 * COPY computes this 20,000 times per build, and the generic walk was most of a no-op rebuild's
 * key time. Same bytes as canonicalJson (keys in sorted order; keys.test.ts checks both agree).
 */
function fileDigestJson(m: Record<string, unknown>): string {
  let out = '{';
  if (m['content'] !== undefined) out += `"content":${JSON.stringify(m['content'])},`;
  if (m['devmajor'] !== undefined) out += `"devmajor":${String(m['devmajor'])},"devminor":${String(m['devminor'])},`;
  out += `"gid":${String(m['gid'])},`;
  if (m['linkname'] !== undefined) out += `"linkname":${JSON.stringify(m['linkname'])},`;
  return `${out}"mode":${String(m['mode'])},"size":${String(m['size'])},"type":${JSON.stringify(m['type'])},"uid":${String(m['uid'])},"v":${String(m['v'])}}`;
}

/** Digest of a set of files: order-independent (sorted by path), a duplicate path is an error. */
export function treeDigest(files: ReadonlyArray<KeyFile>): Digest {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const pairs: Array<[string, Digest]> = [];
  for (let i = 0; i < sorted.length; i++) {
    const f = sorted[i]!;
    checkDigest(f.digest, `digest of ${JSON.stringify(f.path)}`);
    if (i > 0 && sorted[i - 1]!.path === f.path) throw new CacheKeyError(`path ${JSON.stringify(f.path)} appears twice in a tree`, { path: f.path });
    pairs.push([f.path, f.digest]);
  }
  // canonicalJson({ v, tree: pairs }), written out directly (pairs are [string, digest])
  return sha256(`{"tree":[${pairs.map(([p, d]) => `[${JSON.stringify(p)},${JSON.stringify(d)}]`).join(',')}],"v":${FILE_DIGEST_VERSION}}`);
}
