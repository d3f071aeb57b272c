/**
 * Turning what a RUN step changed into layer entries (the `commit` callback's input).
 *
 * - overlayDiffEntries: walks only the overlay upper dir (milliseconds, whatever the rootfs size).
 *   A char device 0:0 is a whiteout → `.wh.<name>`; an opaque dir → the dir, then
 *   `.wh..wh..opq`; copied-up directories that ended up identical to the lower one are dropped.
 * - walkDiff: the copy snapshotter's kaniko-style double walk, comparing a stat manifest taken
 *   before the step (ctime catches files whose mtime was restored).
 *
 * Both emit the same order: depth first, siblings sorted by their tar name, parents before
 * children. Headers keep mtime (µs), uid/gid, mode and xattrs (never overlay's own); a regular
 * file with several names in the diff is written once, later names become hardlink entries.
 * Bodies are opened lazily, one at a time, when the tar writer reaches them.
 */
import { createReadStream, lstatSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { WH_OPAQUE, WH_PREFIX } from '../image/whiteout.js';
import { xattr } from '../image/xattr.js';
import type { TarHeader } from '../image/tar/header.js';
import type { TarSource } from '../image/tar/writer.js';
import { DiffError } from './errors.js';
import { overlayXattrPrefix } from './userns.js';

const S_IFMT = 0o170000n;
const S_IFDIR = 0o040000n;
const S_IFREG = 0o100000n;
const S_IFLNK = 0o120000n;
const S_IFCHR = 0o020000n;
const S_IFBLK = 0o060000n;
const S_IFIFO = 0o010000n;

/** overlay's opaque-dir marker: `trusted.overlay.opaque`, or `user.overlay.opaque` in a user namespace. */
export function opaqueXattr(): string {
  return `${overlayXattrPrefix()}opaque`;
}

function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}

function relJoin(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Extended attributes worth keeping in a layer (never overlay's bookkeeping). */
export function layerXattrs(host: string): Record<string, Buffer> | undefined {
  let names: string[];
  try {
    names = xattr().listAttributesSync(host);
  } catch {
    return undefined;
  }
  let out: Record<string, Buffer> | undefined;
  for (const n of names.sort()) {
    if (isOverlayXattr(n)) {
      if (n.endsWith('.overlay.redirect') || n.endsWith('.overlay.metacopy')) {
        throw new DiffError(`overlay ${n} on ${host}: redirect_dir/metacopy must be off for an upper-only diff`, { path: host });
      }
      continue;
    }
    const v = xattr().getAttributeSync(host, n);
    if (v) (out ??= {})[n] = v;
  }
  return out;
}

function seconds(ns: bigint): number {
  return Number(ns / 1000n) / 1e6;
}

function whiteout(dir: string, name: string): TarSource {
  return { header: { path: relJoin(dir, `${WH_PREFIX}${name}`), type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 } };
}

/** Hardlink bookkeeping shared by one diff: the first name of an inode carries the content. */
class LinkTracker {
  readonly #first = new Map<string, string>();
  /** The path this entry should hardlink to, or undefined when it is the first name. */
  seen(st: BigIntStats, rel: string): string | undefined {
    if ((st.mode & S_IFMT) !== S_IFREG || st.nlink < 2n) return undefined;
    const key = `${st.dev}:${st.ino}`;
    const first = this.#first.get(key);
    if (first !== undefined) return first;
    this.#first.set(key, rel);
    return undefined;
  }
}

/** A tar source for one file-system object, or undefined for what tar cannot hold (sockets). */
function entryFor(host: string, rel: string, st: BigIntStats, links: LinkTracker): TarSource | undefined {
  const fmt = st.mode & S_IFMT;
  const header: TarHeader = {
    path: rel,
    type: 'file',
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: 0,
    mtime: seconds(st.mtimeNs),
  };
  const xattrs = fmt === S_IFLNK ? undefined : layerXattrs(host);
  if (xattrs) header.xattrs = xattrs;
  switch (fmt) {
    case S_IFDIR:
      header.type = 'dir';
      return { header };
    case S_IFLNK:
      header.type = 'symlink';
      header.linkname = readlinkSync(host);
      return { header };
    case S_IFREG: {
      const first = links.seen(st, rel);
      if (first !== undefined) {
        header.type = 'hardlink';
        header.linkname = first;
        return { header };
      }
      header.size = Number(st.size);
      return header.size === 0 ? { header, body: Buffer.alloc(0) } : { header, body: () => createReadStream(host) };
    }
    case S_IFCHR:
    case S_IFBLK:
      header.type = fmt === S_IFCHR ? 'char' : 'block';
      header.devmajor = Number((st.rdev >> 8n) & 0xfffn);
      header.devminor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & 0xfff00n));
      return { header };
    case S_IFIFO:
      header.type = 'fifo';
      return { header };
    default:
      return undefined;
  }
}

function sortedNames(dir: string): string[] {
  return readdirSync(dir).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Tar name of a child in sort order: deleted entries sort as `.wh.<name>`. */
function byTarName(a: [string, unknown], b: [string, unknown]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function isWhiteoutNode(st: BigIntStats): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0n;
}

/** Whether a directory of an overlay layer carries the opaque xattr. */
export function isOpaque(host: string): boolean {
  const v = xattr().getAttributeSync(host, opaqueXattr());
  return v !== null && v.toString() === 'y';
}

/** The directory a path resolves to in the overlay lowers (top first), if it is one there. */
function lowerDir(lowers: readonly string[], rel: string): string | undefined {
  const parts = rel.split('/');
  for (const lower of lowers) {
    let hiddenBelow = false;
    let present = true;
    for (let i = 1; i <= parts.length; i++) {
      const host = join(lower, ...parts.slice(0, i));
      let st: BigIntStats;
      try {
        st = lstatSync(host, { bigint: true });
      } catch {
        present = false;
        break;
      }
      if (isWhiteoutNode(st)) return undefined;
      if ((st.mode & S_IFMT) !== S_IFDIR) return undefined;
      if (i === parts.length) return host;
      if (isOpaque(host)) hiddenBelow = true;
    }
    if (!present && hiddenBelow) return undefined;
  }
  return undefined;
}

function sameXattrs(a: Record<string, Buffer> | undefined, b: Record<string, Buffer> | undefined): boolean {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  return ka.length === kb.length && ka.every((k) => b?.[k] !== undefined && a![k]!.equals(b[k]!));
}

function unchangedDir(upperHost: string, st: BigIntStats, lowers: readonly string[], rel: string): boolean {
  const l = lowerDir(lowers, rel);
  if (!l) return false;
  const ls = lstatSync(l, { bigint: true });
  return (
    ls.mode === st.mode &&
    ls.uid === st.uid &&
    ls.gid === st.gid &&
    ls.mtimeNs === st.mtimeNs &&
    sameXattrs(layerXattrs(l), layerXattrs(upperHost))
  );
}

/**
 * The layer entries of an overlay upper dir. `lowers` (top first) are only consulted to drop
 * copied-up directories that ended up unchanged (e.g. a parent touched only by a mount stub).
 */
export function overlayDiffEntries(upper: string, lowers: readonly string[]): TarSource[] {
  const out: TarSource[] = [];
  const links = new LinkTracker();
  const walk = (dirRel: string): void => {
    const dirHost = join(upper, dirRel);
    const children: Array<[string, () => void]> = [];
    for (const name of sortedNames(dirHost)) {
      const rel = relJoin(dirRel, name);
      const host = join(dirHost, name);
      const st = lstatSync(host, { bigint: true });
      if (isWhiteoutNode(st)) {
        children.push([`${WH_PREFIX}${name}`, () => out.push(whiteout(dirRel, name))]);
        continue;
      }
      children.push([
        name,
        () => {
          const e = entryFor(host, rel, st, links);
          if (!e) return;
          if (e.header.type !== 'dir') {
            out.push(e);
            return;
          }
          const mark = out.length;
          out.push(e);
          const opaque = isOpaque(host);
          if (opaque) {
            out.push({ header: { path: relJoin(rel, WH_OPAQUE), type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 } });
          }
          walk(rel);
          if (!opaque && out.length === mark + 1 && unchangedDir(host, st, lowers, rel)) out.length = mark;
        },
      ]);
    }
    for (const [, emit] of children.sort(byTarName)) emit();
  };
  walk('');
  return out;
}

// ---------------------------------------------------------------- copy snapshotter

interface ManifestRecord {
  mode: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  link?: string;
}

/** A stat manifest of a plain rootfs: path → record, and dir → child names. */
export interface Manifest {
  records: Map<string, ManifestRecord>;
  children: Map<string, string[]>;
}

export function takeManifest(root: string): Manifest {
  const records = new Map<string, ManifestRecord>();
  const children = new Map<string, string[]>();
  const walk = (dirRel: string): void => {
    const names = sortedNames(join(root, dirRel));
    children.set(dirRel, names);
    for (const name of names) {
      const rel = relJoin(dirRel, name);
      const host = join(root, rel);
      const st = lstatSync(host, { bigint: true });
      const r: ManifestRecord = {
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        size: st.size,
        mtimeNs: st.mtimeNs,
        ctimeNs: st.ctimeNs,
        ino: st.ino,
      };
      if ((st.mode & S_IFMT) === S_IFLNK) r.link = readlinkSync(host);
      records.set(rel, r);
      if ((st.mode & S_IFMT) === S_IFDIR) walk(rel);
    }
  };
  walk('');
  return { records, children };
}

function changed(old: ManifestRecord, st: BigIntStats, host: string): boolean {
  if (old.mode !== st.mode || old.uid !== st.uid || old.gid !== st.gid || old.mtimeNs !== st.mtimeNs) return true;
  // A directory's ctime also moves when entries come and go (and when stubs are cleaned up);
  // its own changes show in mode/owner/mtime, its children are compared one by one.
  if ((st.mode & S_IFMT) === S_IFDIR) return false;
  if (old.size !== st.size || old.ctimeNs !== st.ctimeNs || old.ino !== st.ino) return true;
  return old.link !== undefined && old.link !== readlinkSync(host);
}

/** The layer entries of a plain rootfs compared with the manifest taken before the step. */
export function walkDiffEntries(root: string, before: Manifest): TarSource[] {
  const out: TarSource[] = [];
  const links = new LinkTracker();
  const walk = (dirRel: string, dirWasDir: boolean): void => {
    const names = sortedNames(join(root, dirRel));
    const present = new Set(names);
    const children: Array<[string, () => void]> = [];
    if (dirWasDir) {
      for (const name of before.children.get(dirRel) ?? []) {
        if (!present.has(name)) children.push([`${WH_PREFIX}${name}`, () => out.push(whiteout(dirRel, name))]);
      }
    }
    for (const name of names) {
      const rel = relJoin(dirRel, name);
      const host = join(root, rel);
      children.push([
        name,
        () => {
          const st = lstatSync(host, { bigint: true });
          const old = before.records.get(rel);
          const isDir = (st.mode & S_IFMT) === S_IFDIR;
          const wasDir = old !== undefined && (old.mode & S_IFMT) === S_IFDIR;
          const e = entryFor(host, rel, st, links);
          if (!e) return;
          if (!isDir) {
            if (!old || changed(old, st, host)) out.push(e);
            return;
          }
          const mark = out.length;
          out.push(e);
          // A directory where a non-directory was: mark it opaque like overlay does, so both
          // snapshotters give the same layer for the same step.
          if (old && !wasDir) {
            out.push({ header: { path: relJoin(rel, WH_OPAQUE), type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 } });
          }
          walk(rel, wasDir);
          if (out.length === mark + 1 && old && wasDir && !changed(old, st, host)) out.length = mark;
        },
      ]);
    }
    for (const [, emit] of children.sort(byTarName)) emit();
  };
  walk('', true);
  return out;
}

export async function* walkDiff(root: string, before: Manifest): AsyncGenerator<TarSource> {
  yield* walkDiffEntries(root, before);
}
