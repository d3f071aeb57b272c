/**
 * The metadata tree the analysis keeps while it streams an image's layers:
 * one node per path ever seen, holding only sizes, layer numbers and content
 * hashes — never file bytes — so memory grows with the number of paths, not
 * with the image's size.
 *
 * Each node tracks two views of the stacked layers:
 *  - the overlay view (what a container really sees: whiteouts, opaque dirs,
 *    a file replacing a directory), used for the final filesystem and the
 *    correct "reclaimable" accounting;
 *  - dive's view (its Stack(): opaque markers ignored, a re-added node keeps
 *    its children), used only to reproduce dive's efficiency score exactly.
 */

import { WH_OPAQUE, WH_PREFIX } from '../image/whiteout.js';

/** One stored copy of a non-directory path. */
export interface Version {
  layer: number;
  size: number;
  /** Content hash (regular files with content, when hashing is on). */
  hash: string | undefined;
  /** Layer that overwrote or deleted it; -1 while it is live. */
  endLayer: number;
  endKind: 'live' | 'overwritten' | 'deleted';
}

export class PathNode {
  children: Map<string, PathNode> | undefined;
  /** Non-directory copies stored at this path, in layer order. */
  versions: Version[] | undefined;
  /** The copy visible in the stacked (overlay) filesystem. */
  live: Version | undefined;
  // dive's stacked tree (payload of the last layer that touched the node)
  dLive = false;
  dDir = false;
  dSize = 0;
  // dive's efficiency data for this path
  dCum = 0;
  dMin = -1;
  dCount = 0;

  constructor(
    readonly name: string,
    readonly parent: PathNode | undefined,
  ) {}

  child(name: string): PathNode {
    this.children ??= new Map();
    let c = this.children.get(name);
    if (!c) {
      c = new PathNode(name, this);
      this.children.set(name, c);
    }
    return c;
  }

  find(parts: readonly string[]): PathNode | undefined {
    let n: PathNode | undefined = this;
    for (const p of parts) {
      n = n.children?.get(p);
      if (!n) return undefined;
    }
    return n;
  }

  path(): string {
    const parts: string[] = [];
    for (let n: PathNode | undefined = this; n?.parent; n = n.parent) parts.push(n.name);
    return '/' + parts.reverse().join('/');
  }
}

/** The `.wh..wh..` namespace: AUFS metadata (opaque markers, plinks), never a file. */
const WH_META_PREFIX = `${WH_PREFIX}${WH_PREFIX}.`;

/** Callbacks the overlay view reports copies through (for per-layer attribution). */
export interface OverlayListener {
  onRemoved(layer: number, v: Version): void;
}

/**
 * The overlay view: applies one tar entry at a time. Deletions only touch
 * copies from lower layers, so the order of entries inside a layer does not
 * matter (an opaque marker may come before or after the layer's own entries).
 */
export class Overlay {
  readonly root = new PathNode('', undefined);
  constructor(private readonly listener: OverlayListener) {}

  #end(n: PathNode, layer: number, kind: 'overwritten' | 'deleted'): void {
    const v = n.live;
    if (!v) return;
    v.endLayer = layer;
    v.endKind = kind;
    n.live = undefined;
    this.listener.onRemoved(layer, v);
  }

  /** Delete every copy below `layer` at n and under it (whiteout, opaque dir, file over dir). */
  #deleteLower(n: PathNode, layer: number, includeSelf: boolean): void {
    if (includeSelf && n.live && n.live.layer < layer) this.#end(n, layer, 'deleted');
    if (n.children) for (const c of n.children.values()) this.#deleteLower(c, layer, true);
  }

  /** Walk to the parent directory of parts, turning files on the way into directories. */
  #dir(parts: readonly string[], upTo: number, layer: number): PathNode {
    let n = this.root;
    for (let i = 0; i < upTo; i++) {
      n = n.child(parts[i]!);
      // a path under a former file: the file was replaced by a directory
      if (n.live) this.#end(n, layer, 'deleted');
    }
    return n;
  }

  whiteout(parts: readonly string[], layer: number): void {
    const parent = this.#dir(parts, parts.length - 1, layer);
    const name = parts[parts.length - 1]!;
    if (name === WH_OPAQUE) {
      this.#deleteLower(parent, layer, false);
      return;
    }
    const target = parent.children?.get(name.slice(WH_PREFIX.length));
    if (target) this.#deleteLower(target, layer, true);
  }

  directory(parts: readonly string[], layer: number): PathNode {
    const n = this.#dir(parts, parts.length, layer);
    return n;
  }

  file(parts: readonly string[], layer: number, size: number, hash: string | undefined): PathNode {
    const parent = this.#dir(parts, parts.length - 1, layer);
    const n = parent.child(parts[parts.length - 1]!);
    // a file replacing a directory hides everything that was under it
    if (n.children) for (const c of n.children.values()) this.#deleteLower(c, layer, true);
    if (n.live) this.#end(n, layer, 'overwritten');
    const v: Version = { layer, size, hash, endLayer: -1, endKind: 'live' };
    (n.versions ??= []).push(v);
    n.live = v;
    return n;
  }
}

/** One node of dive's per-layer tree (raw names: a whiteout keeps its `.wh.` prefix). */
export interface DiveLayerNode {
  parts: string[];
  size: number;
  isDir: boolean;
  /** Created only as the parent of another entry (dive gives it an empty payload). */
  implicit: boolean;
  hasChild: boolean;
}

/**
 * Collects one layer's entries the way dive's FileTree.AddPath would, then
 * applies dive's efficiency visit and Stack() to the shared tree.
 */
export class DiveLayer {
  readonly #nodes = new Map<string, DiveLayerNode>();

  #ensure(parts: string[], implicit: boolean, size: number, isDir: boolean): DiveLayerNode {
    const key = parts.join('/');
    let n = this.#nodes.get(key);
    if (!n) {
      n = { parts, size: implicit ? 0 : size, isDir: implicit ? false : isDir, implicit, hasChild: false };
      this.#nodes.set(key, n);
    } else if (!implicit) {
      // AddPath on an existing node replaces the payload and keeps the children
      n.size = size;
      n.isDir = isDir;
      n.implicit = false;
    }
    return n;
  }

  add(parts: string[], size: number, isDir: boolean): void {
    // dive never adds `.wh..wh..*` (opaque markers), but their parent directories are created
    const last = parts[parts.length - 1]!;
    const isMarker = last.startsWith(WH_META_PREFIX);
    const upTo = isMarker ? parts.length - 1 : parts.length;
    for (let i = 1; i < upTo; i++) {
      const anc = this.#ensure(parts.slice(0, i), true, 0, false);
      anc.hasChild = true;
    }
    if (isMarker) {
      if (upTo > 0) this.#ensure(parts.slice(0, upTo), true, 0, false);
      return;
    }
    this.#ensure(parts, false, size, isDir);
  }

  /** Dive's visit order: depth first, children sorted by name, children before their parent. */
  #ordered(): DiveLayerNode[] {
    const all = [...this.#nodes.values()];
    all.sort((a, b) => {
      const n = Math.min(a.parts.length, b.parts.length);
      for (let i = 0; i < n; i++) {
        const x = a.parts[i]!;
        const y = b.parts[i]!;
        if (x !== y) return x < y ? -1 : 1;
      }
      return b.parts.length - a.parts.length; // the descendant first
    });
    return all;
  }

  /**
   * Efficiency visit over this layer's leaves against dive's stack of the layers
   * below, then stack this layer on top. Mirrors dive/filetree/efficiency.go:
   * a whiteout counts the size of the directory it deletes (a deleted *file*
   * counts 0), and a whiteout whose target dive cannot find aborts the rest of
   * that layer's visit.
   */
  apply(root: PathNode): void {
    const order = this.#ordered();
    for (const n of order) {
      if (n.hasChild) continue;
      const last = n.parts[n.parts.length - 1]!;
      const isWh = last.startsWith(WH_PREFIX);
      const parts = isWh ? [...n.parts.slice(0, -1), last.slice(WH_PREFIX.length)] : n.parts;
      let size = n.size;
      if (isWh) {
        const target = diveFind(root, parts);
        if (!target) break; // dive: GetNode error ends the visit of this layer
        size = target.dDir ? diveSubtreeSize(target) : 0;
      }
      const p = root.find(parts) ?? makePath(root, parts);
      p.dCum += size;
      if (p.dMin < 0 || size < p.dMin) p.dMin = size;
      p.dCount++;
    }
    // Stack(): every node of the layer, child first
    for (const n of order) {
      const last = n.parts[n.parts.length - 1]!;
      if (last.startsWith(WH_PREFIX)) {
        const target = diveFind(root, [...n.parts.slice(0, -1), last.slice(WH_PREFIX.length)]);
        if (target) diveRemove(target);
        continue;
      }
      let p = root;
      for (const name of n.parts) {
        p = p.child(name);
        if (!p.dLive) {
          p.dLive = true;
          p.dDir = false;
          p.dSize = 0;
        }
      }
      p.dDir = n.isDir;
      p.dSize = n.size;
    }
  }
}

function makePath(root: PathNode, parts: readonly string[]): PathNode {
  let n = root;
  for (const p of parts) n = n.child(p);
  return n;
}

function diveFind(root: PathNode, parts: readonly string[]): PathNode | undefined {
  let n: PathNode | undefined = root;
  for (const p of parts) {
    n = n.children?.get(p);
    if (!n || !n.dLive) return undefined;
  }
  return n;
}

function diveSubtreeSize(n: PathNode): number {
  let s = n.dSize;
  if (n.children) for (const c of n.children.values()) if (c.dLive) s += diveSubtreeSize(c);
  return s;
}

function diveRemove(n: PathNode): void {
  n.dLive = false;
  if (n.children) for (const c of n.children.values()) if (c.dLive) diveRemove(c);
}
