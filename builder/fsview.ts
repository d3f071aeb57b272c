import type { Readable } from 'node:stream';
import { posix } from 'node:path';
import type { TarEntryType, TarHeader } from '../image/tar/header.js';
import { readTar } from '../image/tar/reader.js';
import { parseWhiteout } from '../image/whiteout.js';

/** What the builder needs to know about one path of a stage's filesystem. */
export interface FsNode {
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname?: string;
  /** Index of the layer that last wrote this path (for reading its content). */
  layer: number;
}

/** One tar header as a layer index keeps it: [path, type, mode, uid, gid, size, linkname]. */
export type LayerIndexEntry = [string, TarEntryType, number, number, number, number, string | null];


/**
 * A metadata-only view of a stack of layers (no file contents held): enough to
 * resolve COPY destinations, WORKDIR existence and --chown names without
 * unpacking anything. Built by streaming each layer's tar headers once.
 */
export class FsView {
  private constructor(private readonly nodes: Map<string, FsNode>) {}

  static empty(): FsView {
    return new FsView(new Map());
  }

  clone(): FsView {
    return new FsView(new Map(this.nodes));
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Applies one layer's tar (headers only; bodies are drained). Returns the headers it saw, for an index. */
  async applyLayer(tar: Readable, layerIndex: number): Promise<LayerIndexEntry[]> {
    const seen: LayerIndexEntry[] = [];
    for await (const { header, body } of readTar(tar)) {
      body.resume();
      seen.push([header.path, header.type, header.mode, header.uid, header.gid, header.size, header.linkname ?? null]);
    }
    this.applyIndex(seen, layerIndex);
    return seen;
  }

  /**
   * Applies a layer from its header index (what applyLayer returned, kept in
   * the store), with the layer semantics of whiteouts and opaque directories.
   */
  applyIndex(headers: readonly LayerIndexEntry[], layerIndex: number): this {
    const seen = new Set<string>();
    for (const [rawPath, type, mode, uid, gid, size, linkname] of headers) {
      const path = clean(rawPath);
      const base = posix.basename(path);
      const dir = posix.dirname(path) === '.' ? '' : posix.dirname(path);
      const whiteout = parseWhiteout(base, path);
      if (whiteout?.kind === 'opaque') {
        // Hide what lower layers put under dir, but not what this layer wrote.
        for (const p of [...this.nodes.keys()]) {
          if (isUnder(p, dir) && !seen.has(p)) this.nodes.delete(p);
        }
        continue;
      }
      if (whiteout?.kind === 'whiteout') {
        this.removeTree(join(dir, whiteout.name));
        continue;
      }
      if (whiteout?.kind === 'aufs') continue;
      const prev = this.nodes.get(path);
      if (prev && prev.type === 'dir' && type !== 'dir') this.removeTree(path);
      this.nodes.set(path, { type, mode, uid, gid, size, ...(linkname !== null ? { linkname } : {}), layer: layerIndex });
      seen.add(path);
    }
    return this;
  }

  /** Adds entries written by the builder itself (a COPY layer), without re-reading its tar. */
  applyEntries(entries: Iterable<{ path: string } & Omit<FsNode, 'layer'>>, layerIndex: number): void {
    for (const e of entries) {
      const path = clean(e.path);
      // ADD of a tar with `.wh.NAME` writes a whiteout of what the image had there
      const whiteout = parseWhiteout(posix.basename(path), path);
      if (whiteout?.kind === 'whiteout') {
        this.removeTree(join(posix.dirname(path) === '.' ? '' : posix.dirname(path), whiteout.name));
        continue;
      }
      const prev = this.nodes.get(path);
      if (prev && prev.type === 'dir' && e.type !== 'dir') this.removeTree(path);
      const { path: _p, ...rest } = e;
      this.nodes.set(path, { ...rest, layer: layerIndex });
    }
  }

  private removeTree(path: string): void {
    this.nodes.delete(path);
    for (const p of [...this.nodes.keys()]) if (isUnder(p, path)) this.nodes.delete(p);
  }

  /**
   * The header a layer writes for an existing directory it adds entries to (`rel` as a layer path,
   * symlinks already resolved). Layers carry each entry's parents, as BuildKit's and containerd's
   * diffs do: an unpacker meeting a child without its parent makes the parent root:root 0755, and
   * as an overlay layer that directory would hide the real one's owner and mode from later steps.
   */
  existingDirHeader(rel: string, mtime: number): TarHeader | undefined {
    const n = this.nodes.get(rel);
    if (n?.type !== 'dir') return undefined;
    return { path: rel, type: 'dir', mode: n.mode, uid: n.uid, gid: n.gid, size: 0, mtime };
  }

  /** The node at `path` without resolving symlinks in its last component. */
  lget(path: string): FsNode | undefined {
    const r = this.resolve(path, false);
    return r === undefined ? undefined : this.nodes.get(r);
  }

  /** The node at `path`, following symlinks (inside the root, chroot-like). */
  get(path: string): FsNode | undefined {
    const r = this.resolve(path, true);
    return r === undefined ? undefined : this.nodes.get(r);
  }

  /**
   * Resolves `path` to the key of an existing node, following symlinks as the
   * kernel would inside a chroot at the root. Returns undefined when missing.
   */
  resolve(path: string, followLast: boolean): string | undefined {
    const resolved = this.resolvePath(path, followLast);
    return resolved !== undefined && (resolved === '' || this.nodes.has(resolved)) ? resolved : undefined;
  }

  /**
   * Resolves symlinks of the existing prefix of `path` inside the root; missing
   * trailing components are appended as they are. '' is the root. `links` collects every
   * symlink followed on the way (a chain like latest → current → v1 names all three).
   */
  resolvePath(path: string, followLast: boolean, links?: string[]): string | undefined {
    const parts = clean(path).split('/').filter(Boolean);
    let cur = '';
    let hops = 0;
    while (parts.length > 0) {
      const part = parts.shift()!;
      if (part === '.') continue; // a link target may say ./name
      if (part === '..') {
        cur = cur.includes('/') ? cur.slice(0, cur.lastIndexOf('/')) : '';
        continue;
      }
      const next = join(cur, part);
      const node = this.nodes.get(next);
      if (node?.type === 'symlink' && (parts.length > 0 || followLast)) {
        if (++hops > 40) return undefined;
        links?.push(next);
        const target = node.linkname ?? '';
        parts.unshift(...target.split('/').filter(Boolean));
        if (target.startsWith('/')) cur = '';
        continue;
      }
      cur = next;
    }
    return cur;
  }

  entries(): IterableIterator<[string, FsNode]> {
    return this.nodes.entries();
  }
}

function clean(p: string): string {
  const n = posix.normalize('/' + p).slice(1);
  return n.endsWith('/') ? n.slice(0, -1) : n;
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function isUnder(p: string, dir: string): boolean {
  return dir === '' ? p !== '' : p.startsWith(dir + '/');
}
