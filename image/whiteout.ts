/**
 * Whiteouts in OCI layer tars: `.wh.<name>` deletes <name> from the layers below,
 * `.wh..wh..opq` hides everything a lower layer put in its directory.
 */
export const WH_PREFIX = '.wh.';
export const WH_OPAQUE = '.wh..wh..opq';

/**
 * What a whiteout entry at `path` (clean, relative, no trailing slash) acts on: the directory
 * for an opaque marker, the hidden path for a whiteout ('' is the root); undefined for an
 * ordinary entry.
 */
export function whiteoutOf(path: string): { kind: 'opaque' | 'whiteout'; path: string } | undefined {
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (base === WH_OPAQUE) return { kind: 'opaque', path: dir };
  if (!base.startsWith(WH_PREFIX)) return undefined;
  const name = base.slice(WH_PREFIX.length);
  return { kind: 'whiteout', path: dir ? `${dir}/${name}` : name };
}
