/**
 * Test support (not shipped API): images built in memory from tar entries,
 * through the same image/ code a build uses (tar writer → encodeLayer →
 * layerFromOpener → appendLayers over scratch).
 */
import { Readable } from 'node:stream';
import type { Image, Layer } from '../image/image.js';
import { encodeLayer } from '../image/layer-encode.js';
import { MediaType } from '../image/mediatypes.js';
import { appendLayers, scratch, withHistory } from '../image/mutate.js';
import { layerFromOpener } from '../image/partial.js';
import type { TarHeader } from '../image/tar/header.js';
import { createTarStream, type TarSource } from '../image/tar/writer.js';
import type { HistoryEntry } from '../image/types.js';

/** A tar entry in shorthand: a file (bytes or a size of filler), a dir, a whiteout, a symlink. */
export type Entry =
  | { file: string; size?: number; fill?: number; content?: Buffer | string }
  | { dir: string }
  | { whiteout: string }
  | { opaque: string }
  | { symlink: string; target: string };

function header(path: string, type: TarHeader['type'], size = 0, linkname?: string): TarHeader {
  return { path, type, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size, mtime: 0, ...(linkname ? { linkname } : {}) };
}

function toSource(e: Entry): TarSource {
  if ('dir' in e) return { header: header(e.dir, 'dir') };
  if ('symlink' in e) return { header: header(e.symlink, 'symlink', 0, e.target) };
  if ('whiteout' in e) {
    const i = e.whiteout.lastIndexOf('/');
    return { header: header(`${e.whiteout.slice(0, i + 1)}.wh.${e.whiteout.slice(i + 1)}`, 'file') };
  }
  if ('opaque' in e) return { header: header(`${e.opaque.replace(/\/$/, '')}/.wh..wh..opq`, 'file') };
  const body =
    e.content !== undefined ? Buffer.from(e.content) : Buffer.alloc(e.size ?? 0, e.fill ?? 0x61);
  return { header: header(e.file, 'file', body.length), body };
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A gzip layer held in memory (small test sizes only). */
export async function layerOf(entries: Entry[]): Promise<Layer> {
  const enc = encodeLayer(createTarStream(entries.map(toSource)));
  const gz = await collect(enc.stream);
  const res = await enc.result;
  return layerFromOpener({
    desc: { mediaType: MediaType.OciLayerGzip, digest: res.digest, size: res.size },
    diffID: res.diffID,
    open: async () => Readable.from([gz]),
  });
}

export interface Step {
  createdBy: string;
  /** No layer: a metadata step (ENV, CMD …) recorded as an empty_layer history entry. */
  entries?: Entry[];
}

/** scratch + one layer (or empty history entry) per step. */
export async function imageOf(steps: Step[]): Promise<Image> {
  let img: Image = scratch;
  for (const s of steps) {
    const h: HistoryEntry = { created: '2026-01-01T00:00:00Z', created_by: s.createdBy };
    if (s.entries) img = appendLayers(img, [{ layer: await layerOf(s.entries), history: h }]);
    else img = withHistory(img, h);
  }
  return img;
}

export const MiB = 1024 * 1024;
