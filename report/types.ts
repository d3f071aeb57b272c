/**
 * The size report: what analyzeImage returns, renderJson writes and
 * diffReports/checkGates read. Its JSON form is documented in SCHEMA.md;
 * changing a field's meaning needs a new schemaVersion.
 */

export interface SourceLocation {
  file: string;
  line: number;
}

export interface AnalyzeOptions {
  /** Layers that came from the base image. Else: config label / manifest annotation
   *  `dev.tsbuild.base.layers`, else 1 (dive's rule: only layer 0 is "base"). */
  baseLayerCount?: number;
  /** Length of largestFiles, largestDirs, duplicates. Default 20. */
  topN?: number;
  /** Per config history entry (empty_layer entries included), for our own builds. */
  sourceMap?: Array<SourceLocation | undefined>;
  /** At most this many entries in `wasted` (largest first). Default 500. Totals always count all. */
  wastedLimit?: number;
  /** Hash file contents to tell identical rewrites (`duplicate`) from real changes. Default true. */
  hashContent?: boolean;
  /** Directories down to this depth are listed in `dirs` (for the treemap and diffs). Default 3. */
  dirDepth?: number;
}

export type WasteKind = 'deleted' | 'overwritten' | 'duplicate';

export type FindingRule =
  | 'apt-lists'
  | 'apt-cache'
  | 'pip-cache'
  | 'npm-cache'
  | 'yarn-cache'
  | 'apk-cache'
  | 'go-build-cache'
  | 'compiler-in-final';

export interface LayerReport {
  /** Position in the manifest, 0 = bottom. */
  index: number;
  digest: string;
  diffID: string;
  mediaType: string;
  /** Bytes of the blob as stored and pulled (gzip). */
  compressedSize: number;
  /** Bytes of the uncompressed tar stream. */
  uncompressedSize: number;
  /** Σ tar header sizes of the layer's entries (dive's layer size). */
  contentBytes: number;
  /** Non-directory, non-whiteout entries in this layer. */
  files: number;
  /** Whiteouts (incl. opaque markers) in this layer. */
  whiteouts: number;
  createdBy: string;
  created?: string;
  comment?: string;
  /** Index into the config's history[] this layer was matched to. */
  historyIndex?: number;
  source?: SourceLocation;
  /** True for layers of the base image. */
  base: boolean;
  /** Bytes stored in this layer that do not reach the final filesystem. */
  wastedBytes: number;
  /** Bytes of lower layers this layer deleted or replaced. */
  removedBytes: number;
  emptyLayer?: false;
}

export interface FileEntry {
  path: string;
  size: number;
  /** Layer that stored the surviving copy. */
  layer: number;
}

export interface DirEntry {
  path: string;
  /** Σ sizes of the files under it in the final filesystem. */
  size: number;
  files: number;
  depth: number;
}

export interface WastedPath {
  path: string;
  /** Layers that stored a copy of the path, in order. */
  layers: number[];
  /** Bytes that would disappear if the path were stored once (0 copies if deleted). */
  bytes: number;
  kind: WasteKind;
  /** Copies stored (≥ 1). */
  copies: number;
  /** Layer holding the surviving copy (absent when deleted). */
  finalLayer?: number;
  /** Layer that deleted the path (kind 'deleted'). */
  deletedIn?: number;
}

export interface DuplicateContent {
  /** Content digest shared by all the paths. */
  digest: string;
  size: number;
  paths: string[];
  layers: number[];
  /** (copies − 1) × size: bytes a hardlink or a single copy would save. */
  bytes: number;
}

export interface Finding {
  rule: FindingRule;
  layer: number;
  createdBy: string;
  source?: SourceLocation;
  bytes: number;
  /** Matching files, largest first (at most 20; `fileCount` has them all). */
  paths: string[];
  fileCount: number;
  message: string;
  fix: string;
}

export interface SizeReport {
  schemaVersion: 1;
  image: {
    digest: string;
    mediaType: string;
    configDigest: string;
    created?: string;
    platform: string;
    baseLayerCount: number;
    baseLayerSource: 'option' | 'label' | 'default';
  };
  totals: {
    /** Σ compressed layer sizes (what a pull transfers, minus manifest/config). */
    compressed: number;
    /** Σ uncompressed tar stream sizes. */
    uncompressed: number;
    /** Non-directory entries in the final filesystem. */
    files: number;
    /** Σ file sizes in the final filesystem. */
    finalBytes: number;
    /** Σ layer contentBytes (dive's image size). */
    contentBytes: number;
    /** contentBytes of base layers / of the other layers. */
    baseBytes: number;
    userBytes: number;
    layers: number;
  };
  layers: LayerReport[];
  largestFiles: FileEntry[];
  largestDirs: DirEntry[];
  /** Every directory down to `dirDepth`, sorted by path. */
  dirs: DirEntry[];
  /** Paths stored more than needed, largest first (truncated to wastedLimit). */
  wasted: WastedPath[];
  /** Number of wasted paths before truncation. */
  wastedPaths: number;
  /** Σ bytes over all wasted paths: what would disappear if each path were stored once. */
  reclaimableBytes: number;
  /** reclaimableBytes / userBytes (0 when there are no user bytes). */
  reclaimablePercent: number;
  /** Package-manager cache files (the cache finding rules) in the final filesystem. */
  cacheBytes: number;
  /** The headline waste: reclaimableBytes + cacheBytes (disjoint: a cache copy that was replaced or deleted is only in reclaimableBytes). */
  wastedBytes: number;
  /** wastedBytes / userBytes (0 when there are no user bytes). */
  wastedPercent: number;
  /** dive's efficiency score, dive's definition (see SCHEMA.md). */
  efficiency: number;
  /** dive's "wasted" figure: every copy of a path seen twice, surviving copy included (dive#684). */
  diveWastedBytes: number;
  /** diveWastedBytes / userBytes as dive computes it; null when userBytes is 0 (dive: NaN/Inf). */
  diveUserWastedPercent: number | null;
  /** Identical content stored under several paths of the final filesystem. */
  duplicates: DuplicateContent[];
  findings: Finding[];
}
