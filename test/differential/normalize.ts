/**
 * The normalizer of the differential suite: turns a built image (an OCI layout) or an exported
 * root filesystem (a `type=local` directory) into the builder-independent JSON that
 * testdata/differential/<case>/expected.json holds. The recorder (scripts/record-differential.ts,
 * BuildKit's images) and the comparison test (tsbuild's images) both use THIS module, so a
 * difference in the JSON is a difference in the images, not in two readers.
 *
 * Deliberately independent of the product's image/ readers (tar-stream, node:zlib, node:fs only):
 * a bug there must not hide on both sides of the comparison.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { xattr } from '../../image/xattr.js';

/** One filesystem entry, as both builders must agree on it. */
export interface Entry {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block' | 'whiteout' | 'opaque' | 'absent';
  /** permission bits with setuid/setgid/sticky, octal ('4755'); not for symlinks */
  mode?: string;
  uid?: number;
  gid?: number;
  size?: number;
  sha256?: string;
  /** symlink target */
  target?: string;
  /** the smallest path of this file's hardlink group (only when the group has 2+ members) */
  link?: string;
  xattrs?: Record<string, string>;
  dev?: string;
  /** seconds; only kept for cases that set SOURCE_DATE_EPOCH */
  mtime?: number;
}

export type Tree = Record<string, Entry>;

export interface HistoryEntry {
  created_by: string;
  empty_layer: boolean;
  comment?: string;
}

export interface Normalized {
  /** image config fields (null, [] and {} are dropped: absent and empty mean the same to a runtime) */
  config: Record<string, unknown>;
  /** history entries the Dockerfile added (the base image's are dropped) */
  history: HistoryEntry[];
  /** per layer the Dockerfile added: its entries, whiteouts and opaque markers as written */
  layers: Tree[];
  /** the final filesystem, only where it differs from the base image ('absent' = removed) */
  tree: Tree;
  /** whether the image was built FROM the base image (its tree was subtracted) */
  fromBase?: boolean;
}

export const CONFIG_FIELDS = [
  'User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels',
  'StopSignal', 'Shell', 'Healthcheck', 'OnBuild',
] as const;

interface OciConfig {
  author?: string;
  config?: Record<string, unknown>;
  rootfs: { diff_ids: string[] };
  history?: Array<{ created_by?: string; empty_layer?: boolean; comment?: string }>;
}

interface LoadedImage {
  config: OciConfig;
  /** uncompressed layer tars, base first */
  layers: Buffer[];
}

function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

/** Reads the image of an OCI layout: the manifest named `ref` or the only/first one (an index is followed to linux/amd64). */
export function loadLayout(layout: string, ref?: string): LoadedImage {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: string; mediaType?: string; annotations?: Record<string, string> }>;
  };
  let desc = (ref && index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref)) || index.manifests[0];
  if (!desc) throw new Error(`${layout}: empty index.json`);
  let doc = JSON.parse(readFileSync(blobPath(layout, desc.digest), 'utf8')) as {
    manifests?: Array<{ digest: string; platform?: { os: string; architecture: string } }>;
    config?: { digest: string };
    layers?: Array<{ digest: string }>;
  };
  while (doc.manifests) {
    const next = doc.manifests.find((m) => !m.platform || (m.platform.os === 'linux' && m.platform.architecture === 'amd64'));
    if (!next) throw new Error(`${layout}: no linux/amd64 manifest`);
    desc = next;
    doc = JSON.parse(readFileSync(blobPath(layout, next.digest), 'utf8')) as typeof doc;
  }
  const config = JSON.parse(readFileSync(blobPath(layout, doc.config!.digest), 'utf8')) as OciConfig;
  const layers = (doc.layers ?? []).map((l) => {
    const raw = readFileSync(blobPath(layout, l.digest));
    return raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
  });
  return { config, layers };
}

interface RawEntry {
  path: string;
  entry: Entry;
  /** hardlink: the path (in this layer) it links to */
  hardlinkTo?: string;
}

/** 'a/b/', './a/b', '/a/b' → 'a/b'; the root is ''. */
function cleanPath(name: string): string {
  return name.replace(/^\.?\/+/, '').replace(/^\.$/, '').replace(/\/+$/, '');
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const TAR_TYPES: Record<string, Entry['type']> = {
  'file': 'file', 'contiguous-file': 'file', 'directory': 'dir', 'symlink': 'symlink', 'fifo': 'fifo',
  'character-device': 'char', 'block-device': 'block',
};

/** The entries of one uncompressed layer tar, in order. */
export async function readLayer(tar: Buffer, keepMtime: boolean): Promise<RawEntry[]> {
  const out: RawEntry[] = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      const path = cleanPath(header.name);
      if (path === '') return next(); // the root entry: its metadata is the runtime's, not the build's
      const pax = (header as { pax?: Record<string, string> }).pax ?? {};
      const xattrs: Record<string, string> = {};
      for (const [k, v] of Object.entries(pax)) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = Buffer.from(v, 'binary').toString('base64');
      const base: Entry = { type: 'file', uid: header.uid ?? 0, gid: header.gid ?? 0 };
      if (Object.keys(xattrs).length) base.xattrs = xattrs;
      if (keepMtime && header.mtime) base.mtime = Math.floor(header.mtime.getTime() / 1000);
      if (header.type === 'link') {
        out.push({ path, entry: base, hardlinkTo: cleanPath(header.linkname ?? '') });
      } else {
        const type = TAR_TYPES[header.type ?? 'file'];
        if (!type) throw new Error(`unexpected tar entry type ${header.type} for ${header.name}`);
        const entry: Entry = { ...base, type };
        if (type !== 'symlink') entry.mode = octal(header.mode ?? 0);
        if (type === 'file') {
          const data = Buffer.concat(chunks);
          entry.size = data.length;
          entry.sha256 = sha256(data);
        }
        if (type === 'symlink') entry.target = header.linkname ?? '';
        if (type === 'char' || type === 'block') entry.dev = `${header.devmajor ?? 0},${header.devminor ?? 0}`;
        out.push({ path, entry });
      }
      next();
    });
    stream.resume();
  });
  ex.end(tar);
  await done;
  return out;
}

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
function dirName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** Hardlink groups: every member gets `link` = the smallest member path (order-independent). */
function markHardlinkGroups(tree: Tree, groups: Map<string, string[]>): void {
  for (const members of groups.values()) {
    const alive = members.filter((p) => tree[p]);
    if (alive.length < 2) continue;
    const first = [...alive].sort()[0]!;
    for (const p of alive) tree[p] = { ...tree[p]!, link: first };
  }
}

/** One layer as written, hardlinks resolved to their target's content and grouped. */
function layerTree(raw: RawEntry[]): Tree {
  const tree: Tree = {};
  const groups = new Map<string, string[]>();
  for (const r of raw) {
    const name = baseName(r.path);
    if (name === OPAQUE) tree[r.path] = { type: 'opaque' };
    else if (name.startsWith(WH)) tree[join(dirName(r.path), name.slice(WH.length))] = { type: 'whiteout' };
    else if (r.hardlinkTo !== undefined) {
      const target = tree[r.hardlinkTo];
      tree[r.path] = target ? { ...target } : { type: 'file', target: `(hardlink outside layer) ${r.hardlinkTo}` };
      const key = groupKey(groups, r.hardlinkTo);
      groups.get(key)!.push(r.path);
    } else tree[r.path] = r.entry;
  }
  for (const g of groups.values()) for (const p of g) if (tree[p]) delete tree[p]!.link;
  markHardlinkGroups(tree, groups);
  return tree;
}

function groupKey(groups: Map<string, string[]>, target: string): string {
  for (const [k, members] of groups) if (members.includes(target)) return k;
  groups.set(target, [target]);
  return target;
}

function removeSubtree(tree: Tree, path: string, keepSelf = false): void {
  const prefix = path === '' ? '' : `${path}/`;
  for (const p of Object.keys(tree)) if ((!keepSelf && p === path) || (p.startsWith(prefix) && p !== path)) delete tree[p];
}

/** Applies layers in order (OCI rules: a layer's whiteouts act on the layers below it only). */
export function mergeLayers(layers: RawEntry[][]): Tree {
  const tree: Tree = {};
  const inode = new Map<string, number>(); // path → hardlink group id
  let nextGroup = 0;
  for (const raw of layers) {
    for (const r of raw) {
      const name = baseName(r.path);
      if (name === OPAQUE) removeSubtree(tree, dirName(r.path), true);
      else if (name.startsWith(WH)) removeSubtree(tree, join(dirName(r.path), name.slice(WH.length)));
    }
    for (const r of raw) {
      const name = baseName(r.path);
      if (name.startsWith(WH)) continue;
      const existing = tree[r.path];
      if (existing && !(existing.type === 'dir' && r.entry.type === 'dir' && r.hardlinkTo === undefined)) removeSubtree(tree, r.path);
      if (r.hardlinkTo !== undefined) {
        const target = tree[r.hardlinkTo];
        if (!target) throw new Error(`hardlink ${r.path} → missing ${r.hardlinkTo}`);
        tree[r.path] = { ...target };
        if (!inode.has(r.hardlinkTo)) inode.set(r.hardlinkTo, nextGroup++);
        inode.set(r.path, inode.get(r.hardlinkTo)!);
      } else {
        tree[r.path] = r.entry;
        inode.delete(r.path);
      }
    }
  }
  const groups = new Map<string, string[]>();
  for (const [p, g] of inode) {
    const k = String(g);
    groups.set(k, [...(groups.get(k) ?? []), p]);
  }
  for (const p of Object.keys(tree)) delete tree[p]!.link;
  markHardlinkGroups(tree, groups);
  return tree;
}

/** Entries of `tree` that differ from `base`, plus base entries that are gone ('absent'). */
export function diffFromBase(tree: Tree, base: Tree): Tree {
  const out: Tree = {};
  for (const [p, e] of Object.entries(tree)) if (!base[p] || canonical(base[p]) !== canonical(e)) out[p] = e;
  for (const p of Object.keys(base)) if (!tree[p]) out[p] = { type: 'absent' };
  return sortKeys(out);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

function sortKeys<T>(obj: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v).length === 0);
}

export function normalizeConfig(config: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of CONFIG_FIELDS) {
    const v = config?.[f];
    if (!isEmpty(v)) out[f] = v && typeof v === 'object' && !Array.isArray(v) ? sortKeys(v as Record<string, unknown>) : v;
  }
  return out;
}

export interface NormalizeOptions {
  /**
   * The image config to use instead of the layout's: a docker-archive's config keeps Healthcheck,
   * Shell and OnBuild, which skopeo's conversion to an OCI config drops.
   */
  configJson?: string;
  /** the base image's OCI layout; its layers/history are subtracted when the image starts with them */
  baseLayout?: string;
  keepMtime?: boolean;
}

interface BaseImage {
  diffIds: string[];
  history: number;
  tree: Tree;
}

const baseCache = new Map<string, Promise<BaseImage>>();

/** The base layout's merged tree (without mtimes), read once per process. */
function loadBase(baseLayout: string): Promise<BaseImage> {
  let cached = baseCache.get(baseLayout);
  if (!cached) {
    const base = loadLayout(baseLayout);
    cached = Promise.all(base.layers.map((l) => readLayer(l, false))).then((raw) => ({
      diffIds: base.config.rootfs.diff_ids,
      history: base.config.history?.length ?? 0,
      tree: mergeLayers(raw),
    }));
    baseCache.set(baseLayout, cached);
  }
  return cached;
}

/** Whether an image with these diff_ids was built FROM the base (starts with all its layers). */
function startsWith(diffIds: string[], base: BaseImage): boolean {
  return base.diffIds.length > 0 && base.diffIds.every((d, i) => diffIds[i] === d);
}

/** The base image's merged tree and history length, when `image` was built FROM it (else empty). */
async function baseOf(image: LoadedImage, options: NormalizeOptions): Promise<{ layers: number; history: number; tree: Tree }> {
  const none = { layers: 0, history: 0, tree: {} };
  if (!options.baseLayout) return none;
  const base = await loadBase(options.baseLayout);
  if (!startsWith(image.config.rootfs.diff_ids, base)) return none;
  return { layers: base.diffIds.length, history: base.history, tree: base.tree };
}

export async function normalizeImage(layout: string, options: NormalizeOptions = {}): Promise<Normalized> {
  const image = loadLayout(layout);
  if (options.configJson) image.config = JSON.parse(options.configJson) as OciConfig;
  const base = await baseOf(image, options);
  const raw = await Promise.all(image.layers.map((l) => readLayer(l, options.keepMtime ?? false)));
  const tree = diffFromBase(mergeLayers(raw), base.tree);
  return {
    config: { ...normalizeConfig(image.config.config), ...(image.config.author ? { Author: image.config.author } : {}) },
    history: (image.config.history ?? []).slice(base.history).map((h) => ({
      created_by: h.created_by ?? '',
      empty_layer: h.empty_layer ?? false,
      ...(h.comment ? { comment: h.comment } : {}),
    })),
    layers: raw.slice(base.layers).map((r) => sortKeys(layerTree(r))),
    tree,
    fromBase: base.layers > 0,
  };
}

/** The root filesystem in `dir` (a type=local export), hardlinks grouped by inode. */
export function walkLocal(dir: string, keepMtime = false): Tree {
  const tree: Tree = {};
  const inodes = new Map<string, string[]>();
  const visit = (rel: string): void => {
    const abs = rel === '' ? dir : join(dir, rel);
    const st = lstatSync(abs);
    const entry: Entry = { type: 'file', uid: st.uid, gid: st.gid };
    if (st.isDirectory()) entry.type = 'dir';
    else if (st.isSymbolicLink()) entry.type = 'symlink';
    else if (st.isFIFO()) entry.type = 'fifo';
    else if (st.isCharacterDevice()) entry.type = 'char';
    else if (st.isBlockDevice()) entry.type = 'block';
    if (entry.type !== 'symlink') entry.mode = octal(st.mode);
    if (entry.type === 'file') {
      const data = readFileSync(abs);
      entry.size = data.length;
      entry.sha256 = sha256(data);
      if (st.nlink > 1) inodes.set(`${st.dev}:${st.ino}`, [...(inodes.get(`${st.dev}:${st.ino}`) ?? []), rel]);
    }
    if (entry.type === 'symlink') entry.target = readlinkSync(abs);
    if (entry.type === 'char' || entry.type === 'block') entry.dev = `${Math.floor(st.rdev / 256)},${st.rdev % 256}`;
    if (entry.type !== 'symlink') {
      const names = xattr().listAttributesSync(abs).sort();
      if (names.length) entry.xattrs = Object.fromEntries(names.map((n) => [n, (xattr().getAttributeSync(abs, n) ?? Buffer.alloc(0)).toString('base64')]));
    }
    if (keepMtime) entry.mtime = Math.floor(st.mtimeMs / 1000);
    if (rel !== '') tree[rel] = entry;
    else tree[''] = entry;
    if (entry.type === 'dir') for (const name of readdirSync(abs)) visit(rel === '' ? name : `${rel}/${name}`);
  };
  visit('');
  markHardlinkGroups(tree, inodes);
  return tree;
}

/** A type=local export normalized against the base image's tree (same shape as Normalized.tree). */
export async function normalizeLocal(dir: string, options: NormalizeOptions & { fromBase: boolean }): Promise<Tree> {
  const base = options.fromBase && options.baseLayout ? (await loadBase(options.baseLayout)).tree : {};
  const tree = walkLocal(dir, options.keepMtime ?? false);
  delete tree['']; // the export directory itself belongs to the caller
  return diffFromBase(tree, base);
}
