/**
 * analyzeImage: where an image's bytes go and which of them are wasted.
 *
 * Each layer's tar is streamed once, in manifest order. Only metadata is kept
 * (path → copies: layer, size, content hash), so memory stays flat whatever
 * the image's size; file bodies are hashed as they pass and dropped.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Image, Layer } from '../image/image.js';
import type { HistoryEntry, ImageConfigFile, Manifest } from '../image/types.js';
import { readTar, type TarReadEntry } from '../image/tar/reader.js';
import { LayerReadError } from './errors.js';
import {
  CACHE_RULES,
  COMPILER_DRIVER,
  COMPILER_FIX_BASE,
  COMPILER_FIX_USER,
  FindingAccumulator,
  TOOLCHAIN_PATH,
  cacheRuleFor,
} from './findings.js';
import { WH_PREFIX } from '../image/whiteout.js';
import { DiveLayer, Overlay, PathNode, type Version } from './pathtree.js';
import { TopN, byPath } from './topn.js';
import { formatSize } from './units.js';
import type {
  AnalyzeOptions,
  DirEntry,
  DuplicateContent,
  FileEntry,
  Finding,
  FindingRule,
  LayerReport,
  SizeReport,
  SourceLocation,
  WastedPath,
} from './types.js';

/** Config label (or manifest annotation) tsbuild writes with the base image's layer count. */
export const BASE_LAYERS_LABEL = 'dev.tsbuild.base.layers';

class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/**
 * Reading a tar can run on promise jobs alone for a long time; let timers and
 * I/O callbacks (progress display, signals) run every few MiB / entries.
 */
class Yielder {
  #since = 0;
  async tick(weight: number): Promise<void> {
    this.#since += weight;
    if (this.#since < 16 * 1024 * 1024) return;
    this.#since = 0;
    await new Promise<void>((res) => setImmediate(res));
  }
}

async function hashBody(body: Readable, y: Yielder): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of body) {
    h.update(chunk as Buffer);
    await y.tick((chunk as Buffer).length);
  }
  return `sha256:${h.digest('hex')}`;
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

function baseLayers(o: AnalyzeOptions, cfg: ImageConfigFile, manifest: Manifest, layerCount: number) {
  const clamp = (n: number) => Math.max(0, Math.min(layerCount, Math.floor(n)));
  if (o.baseLayerCount !== undefined) return { count: clamp(o.baseLayerCount), source: 'option' as const };
  const label = cfg.config?.Labels?.[BASE_LAYERS_LABEL] ?? manifest.annotations?.[BASE_LAYERS_LABEL];
  if (label !== undefined && /^\d+$/.test(label)) return { count: clamp(Number(label)), source: 'label' as const };
  // dive's rule: only layer 0 is the base image
  return { count: Math.min(1, layerCount), source: 'default' as const };
}

/** Layer i ↔ the i-th history entry that is not an empty_layer (dive and docker history do the same). */
function historyForLayers(history: HistoryEntry[] | undefined, n: number): Array<{ h?: HistoryEntry; index?: number }> {
  const out: Array<{ h?: HistoryEntry; index?: number }> = [];
  const hs = history ?? [];
  let j = 0;
  for (let i = 0; i < n; i++) {
    while (j < hs.length && hs[j]!.empty_layer) j++;
    if (j < hs.length) {
      out.push({ h: hs[j], index: j });
      j++;
    } else out.push({});
  }
  return out;
}

interface LayerWork {
  report: LayerReport;
  caches: Map<FindingRule, FindingAccumulator>;
}

/** Streams one layer's tar once, feeding the overlay view, dive's view and the cache rules. */
async function scanLayer(
  layer: Layer,
  index: number,
  overlay: Overlay,
  work: LayerWork,
  hashContent: boolean,
): Promise<void> {
  const counter = new ByteCounter();
  const dive = new DiveLayer();
  const y = new Yielder();
  const src = await layer.uncompressed();
  const feeding = pipeline(src, counter);
  feeding.catch(() => undefined); // a source error also fails the reader, which reports it
  try {
    for await (const entry of readTar(counter)) {
      await scanEntry(entry, index, overlay, dive, work, hashContent, y);
      await y.tick(16 * 1024); // an entry weighs like 16 KiB of content
    }
  } catch (e) {
    counter.destroy(); // stop the source: no open file or socket is left behind
    throw e;
  }
  await feeding;
  work.report.uncompressedSize = counter.bytes;
  dive.apply(overlay.root);
}

async function scanEntry(
  { header, body }: TarReadEntry,
  index: number,
  overlay: Overlay,
  dive: DiveLayer,
  work: LayerWork,
  hashContent: boolean,
  y: Yielder,
): Promise<void> {
  const parts = splitPath(header.path);
  if (parts.length === 0) return;
  const r = work.report;
  r.contentBytes += header.size;
  if (parts[parts.length - 1]!.startsWith(WH_PREFIX)) {
    r.whiteouts++;
    overlay.whiteout(parts, index);
    dive.add(parts, header.size, false);
    return;
  }
  if (header.type === 'dir') {
    overlay.directory(parts, index);
    dive.add(parts, header.size, true);
    return;
  }
  const hasContent = header.type === 'file' && header.size > 0;
  const hash = hashContent && hasContent ? await hashBody(body, y) : undefined;
  overlay.file(parts, index, header.size, hash);
  dive.add(parts, header.size, false);
  r.files++;
  if (!hasContent) return;
  const rel = parts.join('/');
  const rule = cacheRuleFor(rel);
  if (rule) {
    let acc = work.caches.get(rule.rule);
    if (!acc) work.caches.set(rule.rule, (acc = new FindingAccumulator()));
    acc.add('/' + rel, header.size);
  }
}

/**
 * Phases: scan every layer's tar once (scanLayers), walk the merged metadata tree once
 * (TreeWalk: final filesystem, waste, dive's score), group identical content (duplicatesOf),
 * turn the per-layer matches into findings (findingsOf), add up the totals (totalsOf).
 */
export async function analyzeImage(img: Image, options: AnalyzeOptions = {}): Promise<SizeReport> {
  const topN = options.topN ?? 20;
  const [manifest, cfg, layers, digest, mediaType] = await Promise.all([
    img.manifest(),
    img.configFile(),
    img.layers(),
    img.digest(),
    img.mediaType(),
  ]);
  const base = baseLayers(options, cfg, manifest, layers.length);
  const { works, overlay } = await scanLayers(layers, cfg, base.count, options);
  const layerReports = works.map((w) => w.report);
  const tree = new TreeWalk(layerReports, topN, options.dirDepth ?? 3);
  tree.walk(overlay.root, '/', 0);
  tree.wasted.sort((a, b) => b.bytes - a.bytes || byPath(a, b));
  tree.dirs.sort(byPath);
  const totals = totalsOf(layerReports, tree);
  // dive's user size is every layer but layer 0, whatever the base really is
  const diveUserBytes = totals.contentBytes - (layerReports[0]?.contentBytes ?? 0);
  const wastedBytes = tree.reclaimable + tree.cacheBytes;
  return {
    schemaVersion: 1,
    image: {
      digest,
      mediaType,
      configDigest: manifest.config.digest,
      ...(cfg.created !== undefined ? { created: cfg.created } : {}),
      platform: [cfg.os, cfg.architecture, ...(cfg.variant ? [cfg.variant] : [])].join('/'),
      baseLayerCount: base.count,
      baseLayerSource: base.source,
    },
    totals,
    layers: layerReports,
    largestFiles: tree.largestFiles.values(),
    largestDirs: tree.largestDirs.values(),
    dirs: tree.dirs,
    wasted: tree.wasted.slice(0, options.wastedLimit ?? 500),
    wastedPaths: tree.wasted.length,
    reclaimableBytes: tree.reclaimable,
    reclaimablePercent: totals.userBytes > 0 ? tree.reclaimable / totals.userBytes : 0,
    cacheBytes: tree.cacheBytes,
    wastedBytes,
    wastedPercent: totals.userBytes > 0 ? wastedBytes / totals.userBytes : 0,
    efficiency: tree.diveCum === 0 ? 1 : tree.diveMin / tree.diveCum,
    diveWastedBytes: tree.diveWasted,
    diveUserWastedPercent: diveUserBytes > 0 ? tree.diveWasted / diveUserBytes : null,
    duplicates: duplicatesOf(tree.byHash, topN),
    findings: findingsOf(works, tree, layerReports),
  };
}

/** Phase 1: every layer's tar, once, in manifest order, into one overlay of path metadata. */
async function scanLayers(layers: Layer[], cfg: ImageConfigFile, baseCount: number, options: AnalyzeOptions): Promise<{ works: LayerWork[]; overlay: Overlay }> {
  const hist = historyForLayers(cfg.history, layers.length);
  const works: LayerWork[] = [];
  const overlay = new Overlay({
    onRemoved: (layer, v) => {
      const w = works[layer];
      if (w) w.report.removedBytes += v.size;
    },
  });
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    const { h, index: historyIndex } = hist[i]!;
    const source: SourceLocation | undefined = historyIndex !== undefined ? options.sourceMap?.[historyIndex] : undefined;
    const report: LayerReport = {
      index: i,
      digest: await layer.digest(),
      diffID: cfg.rootfs?.diff_ids?.[i] ?? '',
      mediaType: await layer.mediaType(),
      compressedSize: await layer.size(),
      uncompressedSize: 0,
      contentBytes: 0,
      files: 0,
      whiteouts: 0,
      createdBy: h?.created_by ?? '',
      ...(h?.created !== undefined ? { created: h.created } : {}),
      ...(h?.comment !== undefined ? { comment: h.comment } : {}),
      ...(historyIndex !== undefined ? { historyIndex } : {}),
      ...(source ? { source: { file: source.file, line: source.line } } : {}),
      base: i < baseCount,
      wastedBytes: 0,
      removedBytes: 0,
    };
    const work: LayerWork = { report, caches: new Map() };
    works.push(work);
    try {
      await scanLayer(layer, i, overlay, work, options.hashContent ?? true);
    } catch (e) {
      throw new LayerReadError(i, report.digest, e);
    }
  }
  return { works, overlay };
}

/** Phase 2: one walk over the merged tree: the final filesystem, what is wasted, dive's score. */
class TreeWalk {
  readonly wasted: WastedPath[] = [];
  reclaimable = 0;
  /** Package-manager cache files in the final filesystem: waste no layer overlap shows. */
  cacheBytes = 0;
  diveMin = 0;
  diveCum = 0;
  diveWasted = 0;
  finalFiles = 0;
  finalBytes = 0;
  readonly largestFiles: TopN<FileEntry>;
  readonly largestDirs: TopN<DirEntry>;
  readonly dirs: DirEntry[] = [];
  readonly byHash = new Map<string, Array<{ path: string; layer: number; size: number }>>();
  /** Compiler-toolchain bytes in the final filesystem, per layer. */
  readonly toolchain = new Map<number, FindingAccumulator>();
  compilerDriver = false;

  constructor(
    private readonly layerReports: LayerReport[],
    topN: number,
    private readonly dirDepth: number,
  ) {
    this.largestFiles = new TopN<FileEntry>(topN, (f) => f.size, byPath);
    this.largestDirs = new TopN<DirEntry>(topN, (d) => d.size, byPath);
  }

  walk(node: PathNode, path: string, depth: number): { size: number; files: number } {
    if (node.dCount > 0) {
      this.diveMin += node.dMin;
      this.diveCum += node.dCum;
      if (node.dCount >= 2) this.diveWasted += node.dCum;
    }
    if (node.versions) this.#accountVersions(node.versions, node.live, path);
    const own = node.live ? this.#finalFile(node.live, path) : { size: 0, files: 0 };
    const children = node.children ? this.#walkChildren(node.children, path, depth) : { size: 0, files: 0 };
    return { size: own.size + children.size, files: own.files + children.files };
  }

  #walkChildren(children: Map<string, PathNode>, path: string, depth: number): { size: number; files: number } {
    let size = 0;
    let files = 0;
    for (const name of [...children.keys()].sort()) {
      const r = this.walk(children.get(name)!, path === '/' ? `/${name}` : `${path}/${name}`, depth + 1);
      size += r.size;
      files += r.files;
    }
    if (files > 0 && path !== '/') {
      const d: DirEntry = { path, size, files, depth };
      this.largestDirs.add(d);
      if (depth <= this.dirDepth) this.dirs.push(d);
    }
    return { size, files };
  }

  #finalFile(live: Version, path: string): { size: number; files: number } {
    this.finalFiles++;
    this.finalBytes += live.size;
    this.largestFiles.add({ path, size: live.size, layer: live.layer });
    if (live.hash) {
      let g = this.byHash.get(live.hash);
      if (!g) this.byHash.set(live.hash, (g = []));
      g.push({ path, layer: live.layer, size: live.size });
    }
    const rel = path.slice(1);
    // only the surviving copy: replaced or deleted copies are already in `reclaimable`
    if (live.size > 0 && cacheRuleFor(rel)) this.cacheBytes += live.size;
    if (COMPILER_DRIVER.test(rel)) this.compilerDriver = true;
    if (live.size > 0 && (TOOLCHAIN_PATH.test(rel) || COMPILER_DRIVER.test(rel))) {
      let acc = this.toolchain.get(live.layer);
      if (!acc) this.toolchain.set(live.layer, (acc = new FindingAccumulator()));
      acc.add(path, live.size);
    }
    return { size: live.size, files: 1 };
  }

  #accountVersions(versions: Version[], live: Version | undefined, path: string): void {
    if (versions.length < 2 && live) return;
    let bytes = 0;
    let sameAsFinal = live !== undefined && live.hash !== undefined;
    for (const v of versions) {
      if (v === live) continue;
      bytes += v.size;
      this.layerReports[v.layer]!.wastedBytes += v.size;
      if (!live || v.hash === undefined || v.hash !== live.hash) sameAsFinal = false;
    }
    if (bytes === 0) return;
    this.reclaimable += bytes;
    const last = versions[versions.length - 1]!;
    const w: WastedPath = {
      path,
      layers: versions.map((v) => v.layer),
      bytes,
      kind: !live ? 'deleted' : sameAsFinal ? 'duplicate' : 'overwritten',
      copies: versions.length,
    };
    if (live) w.finalLayer = live.layer;
    else if (last.endKind === 'deleted') w.deletedIn = last.endLayer;
    this.wasted.push(w);
  }
}

/** Phase 3: identical content under different paths, largest first. */
function duplicatesOf(byHash: TreeWalk['byHash'], topN: number): DuplicateContent[] {
  const dupTop = new TopN<DuplicateContent>(topN, (d) => d.bytes, (a, b) => byPath({ path: a.paths[0]! }, { path: b.paths[0]! }));
  for (const [hash, group] of byHash) {
    if (group.length < 2) continue;
    const size = group[0]!.size;
    dupTop.add({
      digest: hash,
      size,
      paths: group.slice(0, 20).map((g) => g.path),
      layers: [...new Set(group.map((g) => g.layer))].sort((a, b) => a - b),
      bytes: (group.length - 1) * size,
    });
  }
  return dupTop.values();
}

/** Phase 4: package-manager caches per layer, and a compiler toolchain left in the final image. */
function findingsOf(works: LayerWork[], tree: TreeWalk, layerReports: LayerReport[]): Finding[] {
  const findings: Finding[] = [];
  for (const w of works) {
    for (const rule of CACHE_RULES) {
      const acc = w.caches.get(rule.rule);
      if (!acc || acc.bytes === 0) continue;
      findings.push({
        rule: rule.rule,
        layer: w.report.index,
        createdBy: w.report.createdBy,
        ...(w.report.source ? { source: w.report.source } : {}),
        bytes: acc.bytes,
        paths: acc.paths(),
        fileCount: acc.fileCount,
        message: `${rule.what}: ${formatSize(acc.bytes)} in ${acc.fileCount} file(s) stored by layer ${w.report.index}`,
        fix: rule.fix,
      });
    }
  }
  if (tree.compilerDriver) {
    for (const [layer, acc] of [...tree.toolchain].sort((a, b) => a[0] - b[0])) {
      const lr = layerReports[layer]!;
      findings.push({
        rule: 'compiler-in-final',
        layer,
        createdBy: lr.createdBy,
        ...(lr.source ? { source: lr.source } : {}),
        bytes: acc.bytes,
        paths: acc.paths(),
        fileCount: acc.fileCount,
        message: `compiler toolchain in the final image: ${formatSize(acc.bytes)} in ${acc.fileCount} file(s) from layer ${layer}`,
        fix: lr.base ? COMPILER_FIX_BASE : COMPILER_FIX_USER,
      });
    }
  }
  return findings.sort((a, b) => b.bytes - a.bytes || a.layer - b.layer);
}

/** Phase 5: sizes over all layers, and the final filesystem's. */
function totalsOf(layerReports: LayerReport[], tree: TreeWalk): SizeReport['totals'] {
  let compressed = 0;
  let uncompressed = 0;
  let contentBytes = 0;
  let baseBytes = 0;
  for (const l of layerReports) {
    compressed += l.compressedSize;
    uncompressed += l.uncompressedSize;
    contentBytes += l.contentBytes;
    if (l.base) baseBytes += l.contentBytes;
  }
  return {
    compressed,
    uncompressed,
    files: tree.finalFiles,
    finalBytes: tree.finalBytes,
    contentBytes,
    baseBytes,
    userBytes: contentBytes - baseBytes,
    layers: layerReports.length,
  };
}
