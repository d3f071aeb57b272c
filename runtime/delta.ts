/**
 * Delta snapshots: the snapshot of a new version of a layer as the snapshot of its previous
 * version plus a small overlay dir with only the entries that differ (snapshots.ts stacks them).
 * One edited file of a 20,000-file COPY then costs one file creation, not 20,000.
 *
 * Mounted as lowerdirs [base..., delta], the stack must show exactly what the new layer's own
 * snapshot would, over ANY layers below it (a snapshot is shared by every stack that has the
 * layer). Each entry of the new layer resolves to the delta (changed: its header and content
 * as in the new layer, parents with their headers too, since overlay takes a directory's
 * attributes from its topmost copy) or to the base (unchanged). What a delta cannot say is
 * refused, and the caller unpacks the whole layer instead:
 * - an entry of the base that the new layer lacks: a whiteout would also hide the layers below;
 * - a type change: a delta directory over a base file stops overlay's lookup there, so the
 *   directory would not merge with the layers below as the new layer's would;
 * - whiteouts or opaque directories (in either), hardlinks (a link's target must be in the
 *   same dir), device nodes in the base (a whiteout is one), duplicate paths.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Digest } from '../image/digest.js';
import { entryParts } from '../image/safe-path.js';
import type { TarHeader } from '../image/tar/header.js';
import { parseWhiteout } from '../image/whiteout.js';
import { isOpaque } from './diff.js';
import { hostMode } from './unpack.js';

/** What the builder knows of a layer it writes when it wrote an earlier version of it. */
export interface DeltaHint {
  /** diffID of the earlier version (the previous build of the same step). */
  base: Digest;
  /** Every entry of the new layer, in tar order (the tar that follows must hold exactly these). */
  headers: readonly TarHeader[];
  /**
   * Whether the entry at this layer path (no leading `/`) has the same type, mode, owner, size,
   * link target, xattrs and content as in `base` (mtime is compared here, from the base dir).
   */
  sameAsBase(rel: string): boolean;
}

export type DeltaPlan = { keep: Set<string> } | { unfit: string };

function sameType(st: Stats, type: TarHeader['type']): boolean {
  switch (type) {
    case 'file':
      return st.isFile();
    case 'dir':
      return st.isDirectory();
    case 'symlink':
      return st.isSymbolicLink();
    case 'char':
      return st.isCharacterDevice();
    case 'block':
      return st.isBlockDevice();
    case 'fifo':
      return st.isFIFO();
    default:
      return false;
  }
}

/** The topmost entry at rel in a stack of overlay dirs without whiteouts (top first). */
function lstatIn(dirsTopFirst: readonly string[], rel: string): Stats | undefined {
  for (const d of dirsTopFirst) {
    const st = lstatSync(join(d, rel), { throwIfNoEntry: false });
    if (st) return st;
  }
  return undefined;
}

/** Every path in the stack (union; true for a directory), or why the stack cannot be a delta's base. */
function walkStack(dirsTopFirst: readonly string[]): Map<string, boolean> | string {
  const all = new Map<string, boolean>();
  for (const top of dirsTopFirst) {
    if (isOpaque(top)) return 'the base has an opaque root';
    const pending = [''];
    for (let rel = pending.pop(); rel !== undefined; rel = pending.pop()) {
      for (const e of readdirSync(join(top, rel), { withFileTypes: true })) {
        const child = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.isCharacterDevice() || e.isBlockDevice()) return `the base has a device node or whiteout (${child})`;
        all.set(child, e.isDirectory());
        if (e.isDirectory()) {
          if (isOpaque(join(top, child))) return `the base has an opaque directory (${child})`;
          pending.push(child);
        }
      }
    }
  }
  return all;
}

/**
 * Which entries of the new layer go into the delta over the base stack (`baseDirsTopFirst`: the
 * base layer's snapshot dirs, topmost first), or why a delta cannot be made. Costs one lstat per
 * entry and one readdir per base directory.
 */
export function planDelta(baseDirsTopFirst: readonly string[], hint: DeltaHint): DeltaPlan {
  const base = walkStack(baseDirsTopFirst);
  if (typeof base === 'string') return { unfit: base };
  const keep = new Set<string>();
  const seen = new Set<string>();
  let matched = 0;
  for (const h of hint.headers) {
    const parts = entryParts(h.path);
    if (parseWhiteout(parts[parts.length - 1] ?? '', h.path)) return { unfit: `the layer has a whiteout (${h.path})` };
    if (h.type === 'hardlink') return { unfit: `the layer has a hardlink (${h.path})` };
    const rel = parts.join('/');
    if (seen.has(rel)) return { unfit: `the layer has ${h.path} twice` };
    seen.add(rel);
    if (rel === '') {
      keep.add(rel);
      continue;
    }
    if (!base.has(rel)) {
      // new: its nearest ancestor the base has must be a directory there (not a file or symlink)
      for (let i = parts.length - 1; i > 0; i--) {
        const isDir = base.get(parts.slice(0, i).join('/'));
        if (isDir === false) return { unfit: `${parts.slice(0, i).join('/')} changed type` };
        if (isDir === true) break;
      }
      keep.add(rel);
      continue;
    }
    // reached through real directories of the stack (walkStack), never through a symlink
    const st = lstatIn(baseDirsTopFirst, rel);
    if (!st) return { unfit: `${h.path} vanished from the base` };
    if (!sameType(st, h.type)) return { unfit: `${h.path} changed type` };
    if (st.isFile() && st.nlink > 1) return { unfit: `the base has a hardlink (${h.path})` };
    matched++;
    const changed =
      !hint.sameAsBase(rel) ||
      st.uid !== h.uid ||
      st.gid !== h.gid ||
      st.mtimeMs !== h.mtime * 1000 ||
      (h.type !== 'symlink' && (st.mode & 0o7777) !== (hostMode(h) & 0o7777)) ||
      (h.type === 'file' && st.size !== h.size);
    if (changed) keep.add(rel);
  }
  if (matched !== base.size) return { unfit: `${base.size - matched} entries of the base are not in the layer` };
  return { keep };
}
