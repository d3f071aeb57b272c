/**
 * Whiteouts in OCI layer tars: `.wh.<name>` deletes <name> from the layers below,
 * `.wh..wh..opq` hides everything a lower layer put in its directory, other `.wh..wh.` names
 * are AUFS bookkeeping (hardlink stores), not content.
 *
 * The one parser of these names: every extractor and filter asks here, and a whiteout whose
 * name is not one plain directory entry (`.wh.`, `.wh..`, `.wh...`) is refused, since joining
 * it to its directory would name the directory itself or its parent.
 */
import { checkName } from './safe-path.js';

export const WH_PREFIX = '.wh.';
export const WH_OPAQUE = '.wh..wh..opq';
const WH_AUFS_META = '.wh..wh.';

export type WhiteoutName = { kind: 'opaque' } | { kind: 'aufs' } | { kind: 'whiteout'; name: string };

/**
 * What the last component `base` of an entry is: an opaque marker, AUFS metadata, a whiteout
 * of `name` (checked), or undefined for an ordinary entry. `entryPath` is for the error.
 */
export function parseWhiteout(base: string, entryPath: string = base): WhiteoutName | undefined {
  if (base === WH_OPAQUE) return { kind: 'opaque' };
  if (!base.startsWith(WH_PREFIX)) return undefined;
  if (base.startsWith(WH_AUFS_META)) return { kind: 'aufs' };
  return { kind: 'whiteout', name: checkName(base.slice(WH_PREFIX.length), entryPath) };
}

/**
 * What a whiteout entry at `path` (clean, relative, no trailing slash) acts on: the directory
 * for an opaque marker, the hidden path for a whiteout ('' is the root), the entry itself for
 * AUFS metadata; undefined for an ordinary entry. Throws UnsafePathError for an unsafe name.
 */
export function whiteoutOf(path: string): { kind: 'opaque' | 'whiteout' | 'aufs'; path: string } | undefined {
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  const w = parseWhiteout(path.slice(slash + 1), path);
  if (w === undefined) return undefined;
  if (w.kind === 'opaque') return { kind: 'opaque', path: dir };
  if (w.kind === 'aufs') return { kind: 'aufs', path };
  return { kind: 'whiteout', path: dir ? `${dir}/${w.name}` : w.name };
}
