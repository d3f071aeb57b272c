import { lstatSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import type { ContentStore } from '../cache/store.js';
import { rememberLayerSize } from '../cache/image-size.js';
import type { Digest } from '../image/digest.js';
import { gunzipStream } from '../image/compress.js';
import { sha256 } from '../image/digest.js';
import { applyLayers } from '../image/extract.js';
import type { Layer } from '../image/image.js';
import { layerFromOpener } from '../image/partial.js';
import { readTar } from '../image/tar/reader.js';
import { whiteoutOf } from '../image/whiteout.js';
import { FsView, type LayerIndexEntry } from './fsview.js';
import { LAYER_INDEX_NS } from './store-meta.js';
import type { LayerRef } from './stage-state.js';

/**
 * Per-build views of layer stacks: metadata views (FsView) and unpacked
 * directories, both memoized by the chain of diffIDs so a stack is read once.
 */
export class LayerViews {
  readonly #views = new Map<string, Promise<FsView>>();
  readonly #dirs = new Map<string, Promise<string>>();

  constructor(
    private readonly store: ContentStore,
    readonly tmpDir: string,
  ) {}

  async uncompressed(layer: LayerRef): Promise<Readable> {
    return gunzipStream(await this.store.open(layer.desc.digest));
  }

  toLayer(layer: LayerRef): Layer {
    return layerFromOpener({ desc: layer.desc, diffID: layer.diffID, open: () => this.store.open(layer.desc.digest) });
  }

  fsView(layers: readonly LayerRef[]): Promise<FsView> {
    const key = chainKey(layers);
    let v = this.#views.get(key);
    if (!v) {
      v = (async () => {
        if (layers.length === 0) return FsView.empty();
        const parent = await this.fsView(layers.slice(0, -1));
        const top = layers[layers.length - 1]!;
        const view = parent.clone();
        // A layer's header index is kept in the store: a rebuild need not gunzip its layers again.
        const index = await this.store.readMeta<LayerIndexEntry[]>(LAYER_INDEX_NS, top.diffID).catch(() => undefined);
        if (Array.isArray(index)) return view.applyIndex(index, layers.length - 1);
        const seen = await view.applyLayer(await this.uncompressed(top), layers.length - 1);
        await this.store.writeMeta(LAYER_INDEX_NS, top.diffID, seen).catch(() => {});
        return view;
      })();
      this.#views.set(key, v);
    }
    return v;
  }

  /** Keeps the header index of a layer the builder wrote itself (it knows the headers already). */
  async rememberIndex(diffID: string, headers: ReadonlyArray<{ path: string; type: LayerIndexEntry[1]; mode: number; uid: number; gid: number; size: number; linkname?: string }>): Promise<void> {
    const index: LayerIndexEntry[] = headers.map((h) => [h.path, h.type, h.mode, h.uid, h.gid, h.size, h.linkname ?? null]);
    await this.store.writeMeta(LAYER_INDEX_NS, diffID, index).catch(() => {});
    await rememberLayerSize(this.store, diffID as Digest, headers);
  }

  /** Remembers a view the builder computed itself (a COPY layer it just wrote). */
  setFsView(layers: readonly LayerRef[], view: FsView): void {
    this.#views.set(chainKey(layers), Promise.resolve(view));
  }

  /** Reads one file of a layer stack (e.g. /etc/passwd), or undefined when absent. */
  async readFile(layers: readonly LayerRef[], path: string): Promise<Buffer | undefined> {
    const view = await this.fsView(layers);
    const real = view.resolve(path, true);
    if (real === undefined) return undefined;
    const node = view.lget('/' + real);
    if (!node || node.type !== 'file') return undefined;
    const layer = layers[node.layer];
    if (!layer) return undefined;
    for await (const { header, body } of readTar(await this.uncompressed(layer))) {
      if (header.path === real && header.type === 'file') {
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c as Buffer);
        return Buffer.concat(chunks);
      }
      body.resume();
    }
    return undefined;
  }

  /**
   * The layer stack unpacked into a directory for COPY --from `sources`: only the entries on the
   * way to them and below them, which for `COPY --from=builder /app/dist` is a small part of a
   * builder stage (making inodes is what unpacking costs). The result is checked against the
   * stack's metadata view, path by path under each source; anything missing or different (a
   * hardlink to a file outside, a path reached through symlinks the filter did not foresee)
   * falls back to unpacking everything.
   */
  unpackedFor(layers: readonly LayerRef[], sources: readonly string[]): Promise<string> {
    const literals = sources.map(literalPrefix);
    if (literals.some((l) => l === '')) return this.unpacked(layers);
    const key = `${chainKey(layers)}\0${[...new Set(literals)].sort().join('\0')}`;
    let d = this.#dirs.get(key);
    if (!d) {
      d = (async () => {
        const view = await this.fsView(layers);
        const links: string[] = [];
        const real = literals.map((l) => view.resolvePath('/' + l, true, links));
        if (real.some((r) => r === undefined || r === '' || view.lget('/' + r) === undefined)) return this.unpacked(layers);
        // the links on the way are needed too: COPY follows them again in the unpacked tree
        const wanted = [...new Set([...literals, ...links, ...(real as string[])])];
        const include = (path: string): boolean => {
          const p = whiteoutOf(path)?.path ?? path;
          if (related(p, wanted)) return true;
          const parent = view.resolvePath('/' + posix.dirname(p), true);
          return parent !== undefined && related(parent === '' ? posix.basename(p) : `${parent}/${posix.basename(p)}`, wanted);
        };
        await mkdir(this.tmpDir, { recursive: true });
        const dir = await mkdtemp(join(this.tmpDir, 'rootfs-'));
        try {
          await applyLayers(
            layers.map((l) => () => this.uncompressed(l)),
            dir,
            { include },
          );
          if ((real as string[]).every((r) => sameSubtree(view, r, dir))) return dir;
        } catch {
          /* a hardlink whose target was filtered out, say: unpack everything */
        }
        await rm(dir, { recursive: true, force: true });
        return this.unpacked(layers);
      })();
      this.#dirs.set(key, d);
    }
    return d;
  }

  /** The layer stack unpacked into a directory (for COPY --from), made once per build. */
  unpacked(layers: readonly LayerRef[]): Promise<string> {
    const key = chainKey(layers);
    let d = this.#dirs.get(key);
    if (!d) {
      d = (async () => {
        await mkdir(this.tmpDir, { recursive: true });
        const dir = await mkdtemp(join(this.tmpDir, 'rootfs-'));
        await applyLayers(
          layers.map((l) => () => this.uncompressed(l)),
          dir,
        );
        return dir;
      })();
      this.#dirs.set(key, d);
    }
    return d;
  }
}

/** A COPY --from source: the part before its first wildcard segment ('' when there is none left). */
function literalPrefix(source: string): string {
  const parts = posix.normalize('/' + source).split('/').filter(Boolean);
  const i = parts.findIndex((p) => /[*?[\\]/.test(p));
  return (i < 0 ? parts : parts.slice(0, i)).join('/');
}

function related(path: string, wanted: readonly string[]): boolean {
  return wanted.some((w) => path === w || w.startsWith(path + '/') || path.startsWith(w + '/'));
}

export function chainKey(layers: readonly LayerRef[]): string {
  return layers.length === 0 ? 'empty' : sha256(layers.map((l) => l.diffID).join('\n'));
}

/** Whether `dir` holds exactly what `view` says is at and below `rel` (paths, types, file sizes). */
function sameSubtree(view: FsView, rel: string, dir: string): boolean {
  const expected = new Map<string, string>();
  for (const [p, n] of view.entries()) {
    if (p === rel || p.startsWith(rel + '/')) expected.set(p, n.type === 'file' || n.type === 'hardlink' ? `file:${n.type === 'file' ? n.size : '?'}` : n.type);
  }
  let seen = 0;
  const check = (p: string): boolean => {
    let st;
    try {
      st = lstatSync(join(dir, p));
    } catch {
      return false;
    }
    const want = expected.get(p);
    if (want === undefined) return false;
    seen++;
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
    if (type === 'file') {
      if (!want.startsWith('file:') || (want !== 'file:?' && want !== `file:${st.size}`)) return false;
    } else if (type !== want && !(type === 'other' && ['char', 'block', 'fifo'].includes(want))) return false;
    if (type === 'dir') for (const name of readdirSync(join(dir, p))) if (!check(`${p}/${name}`)) return false;
    return true;
  };
  return check(rel) && seen === expected.size;
}
