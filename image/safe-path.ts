/**
 * The one audited place where a path from an input is checked and resolved inside a root:
 * tar entry paths, whiteout names, hardlink targets (every extractor), and paths inside a
 * container root (users, mount stubs, bind sources, cwd) — before anything is created or
 * deleted there.
 *
 * - entryParts / linkTargetParts: a tar path as components; NUL, `..` and over-long names are
 *   refused (`.` and empty components are dropped, so a leading `/` stays inside the root).
 * - checkName: one directory entry name (what a whiteout names): not empty, `.`, `..`, no `/`.
 * - resolveInRoot: symlinks resolved the way the kernel would after chroot(root): an absolute
 *   target restarts at the root and `..` never climbs above it. Can create missing directories.
 * - hostPathBeneath: the host path of an in-root path only if no component is a symlink or
 *   missing, for code that acts on what a container left behind (it may have planted links).
 */
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { UnsafePathError } from './errors.js';

/** Linux NAME_MAX and PATH_MAX: longer names fail in the kernel anyway, with a less clear error. */
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;
const MAX_SYMLINKS = 40;

/** Components of a path, `.` and empty ones dropped (no checks: see entryParts for inputs). */
export function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

function checkLength(p: string, parts: readonly string[], original: string): void {
  if (Buffer.byteLength(p) > MAX_PATH_BYTES) throw new UnsafePathError(original, `longer than ${MAX_PATH_BYTES} bytes`);
  for (const c of parts) {
    if (Buffer.byteLength(c) > MAX_NAME_BYTES) throw new UnsafePathError(original, `a name longer than ${MAX_NAME_BYTES} bytes`);
  }
}

/** Components of a tar entry path, cleaned; `[]` is the root. Refuses NUL, `..` and over-long names. */
export function entryParts(entryPath: string, original: string = entryPath): string[] {
  if (entryPath.includes('\0')) throw new UnsafePathError(original, 'NUL byte');
  const parts = splitPath(entryPath);
  if (parts.includes('..')) throw new UnsafePathError(original, 'path component ".."');
  checkLength(entryPath, parts, original);
  return parts;
}

/** Components of a hardlink target (relative to the root, like an entry path); never the root itself. */
export function linkTargetParts(linkname: string | undefined, entryPath: string): string[] {
  const parts = entryParts(linkname ?? '', entryPath);
  if (parts.length === 0) throw new UnsafePathError(entryPath, 'hardlink to the root');
  return parts;
}

/** One directory entry name from an input (the name a whiteout deletes). */
export function checkName(name: string, original: string): string {
  if (name === '' || name === '.' || name === '..') throw new UnsafePathError(original, `names ${JSON.stringify(name)}`);
  if (name.includes('/')) throw new UnsafePathError(original, 'name contains "/"');
  if (name.includes('\0')) throw new UnsafePathError(original, 'NUL byte');
  checkLength(name, [name], original);
  return name;
}

export interface InRootPath {
  /** Absolute path inside the root after resolving symlinks, e.g. `/etc/passwd`. */
  path: string;
  /** The same path on the host (`root` + path). */
  host: string;
  exists: boolean;
  /** In-root paths of the components that do not exist, top first (what `mkdir -p` would create). */
  missing: string[];
  /** True when the path cannot exist: a file where a directory must be, or a symlink loop. */
  blocked: boolean;
}

export interface ResolveOptions {
  /** Follow a symlink in the last component (default true). */
  followFinal?: boolean;
  /**
   * Make every component a directory: called with the host path of one that is missing or not
   * a directory (its lstat), which it must turn into a directory. An extractor creating parents.
   */
  makeDir?: (host: string, existing: Stats | undefined) => void;
}

function lstatOrUndefined(host: string): Stats | undefined {
  try {
    return lstatSync(host);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** Resolves `p` inside `root` (a real path) with chroot semantics; see the module comment. */
export function resolveInRoot(root: string, inputPath: string, opts: ResolveOptions = {}): InRootPath {
  if (inputPath.includes('\0')) throw new UnsafePathError(inputPath, 'NUL byte');
  const followFinal = opts.followFinal ?? true;
  const queue = splitPath(inputPath);
  const resolved: string[] = [];
  const missing: string[] = [];
  let links = 0;
  let gone = false; // a component was missing: the rest is taken literally
  let blocked = false;
  while (queue.length > 0) {
    const comp = queue.shift()!;
    if (comp === '..') {
      if (resolved.length > 0) resolved.pop();
      if (gone && missing.length > 0) {
        missing.pop();
        if (missing.length === 0 && !blocked) gone = false;
      }
      continue;
    }
    resolved.push(comp);
    const inRoot = '/' + resolved.join('/');
    if (gone) {
      missing.push(inRoot);
      continue;
    }
    const host = join(root, inRoot);
    const st = lstatOrUndefined(host);
    const last = queue.length === 0;
    if (st?.isSymbolicLink() && (!last || followFinal)) {
      if (++links > MAX_SYMLINKS) {
        gone = true;
        blocked = true;
        continue;
      }
      const target = readlinkSync(host);
      resolved.pop();
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...splitPath(target));
      continue;
    }
    if (opts.makeDir && !st?.isDirectory()) {
      opts.makeDir(host, st);
      continue;
    }
    if (st === undefined) {
      gone = true;
      missing.push(inRoot);
      continue;
    }
    if (!last && !st.isDirectory()) {
      gone = true;
      blocked = true;
    }
  }
  const path = '/' + resolved.join('/');
  return { path, host: join(root, path), exists: !gone, missing, blocked };
}

/**
 * The host path of `p` (an in-root path) if every component exists, none is a symlink and all
 * but the last are directories; else undefined. For acting on a tree a container has written:
 * with no symlink on the way, the host path names the same file the container saw.
 */
export function hostPathBeneath(root: string, path: string): { host: string; stat: Stats } | undefined {
  if (path.includes('\0')) return undefined;
  const parts = splitPath(path);
  if (parts.includes('..')) return undefined;
  let host = root;
  let stat: Stats | undefined;
  for (let i = 0; i < parts.length; i++) {
    if (stat !== undefined && !stat.isDirectory()) return undefined;
    host = join(host, parts[i]!);
    stat = lstatOrUndefined(host);
    if (stat === undefined || stat.isSymbolicLink()) return undefined;
  }
  return stat === undefined ? undefined : { host, stat };
}
