/**
 * Whether this process runs in a user namespace other than the host's. Rootless tsbuild runs its
 * whole command in one (runtime/rootless.ts), where it is uid 0 and every file owner reads as the
 * image's own uid; what changes there: overlay keeps its markers in `user.overlay.*` xattrs
 * (mount option `userxattr`), and sysfs cannot be mounted without a network namespace of our own.
 */
import { readFileSync } from 'node:fs';

let cached: boolean | undefined;

/** The host's map is the identity over all 2^32-1 ids; any other map is a user namespace. */
export function isIdentityMap(uidMapText: string): boolean {
  const rows = uidMapText.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  return rows.length === 1 && rows[0]![0] === 0 && rows[0]![1] === 0 && rows[0]![2] === 4294967295;
}

export function inUserNamespace(): boolean {
  if (cached === undefined) {
    try {
      cached = !isIdentityMap(readFileSync('/proc/self/uid_map', 'utf8'));
    } catch {
      cached = false;
    }
  }
  return cached;
}

/** The xattr prefix overlayfs uses for its whiteout/opaque/redirect markers here. */
export function overlayXattrPrefix(): string {
  return inUserNamespace() ? 'user.overlay.' : 'trusted.overlay.';
}
