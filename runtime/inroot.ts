/**
 * Path resolution inside a container root, the way the kernel would see it after chroot: every
 * symlink (absolute or relative) is resolved against the root, and `..` never climbs above it.
 * Used for user lookup (/etc/passwd), mount stubs (which targets are missing) and bind sources,
 * so an image cannot make the builder read or mount host files through a symlink.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export interface InRootPath {
  /** Absolute path inside the root after resolving symlinks, e.g. `/etc/passwd`. */
  path: string;
  /** The same path on the host (`root` + path). */
  host: string;
  exists: boolean;
  /** In-root paths of the components that do not exist, top first (what `mkdir -p` would create). */
  missing: string[];
  /** True when a component that must be a directory is a file (the path cannot exist). */
  blocked: boolean;
}

const MAX_SYMLINKS = 40;

export function splitPath(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

export function resolveInRoot(root: string, p: string, opts: { followFinal?: boolean } = {}): InRootPath {
  const followFinal = opts.followFinal ?? true;
  const queue = splitPath(p);
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
    let st;
    try {
      st = lstatSync(join(root, inRoot));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
      gone = true;
      missing.push(inRoot);
      continue;
    }
    const last = queue.length === 0;
    if (st.isSymbolicLink() && (!last || followFinal)) {
      if (++links > MAX_SYMLINKS) {
        gone = true;
        blocked = true;
        continue;
      }
      const target = readlinkSync(join(root, inRoot));
      resolved.pop();
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...splitPath(target));
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
