/**
 * diffReports: what grew and what shrank between two builds (a → b), per
 * layer, per directory and per file. Layers are paired by position (two
 * builds of one Dockerfile line up); directories come from the reports'
 * `dirs` (complete down to dirDepth, so a missing one really is 0); files only
 * from largestFiles, so a file outside one side's top list is `null` there.
 */
import type { Finding, SizeReport } from './types.js';

export interface Delta {
  a: number;
  b: number;
  delta: number;
}

export interface LayerDiff {
  status: 'same' | 'changed' | 'added' | 'removed';
  index: number;
  createdByA?: string;
  createdByB?: string;
  diffIDA?: string;
  diffIDB?: string;
  /** contentBytes (Σ file sizes) */
  content: Delta;
  compressed: Delta;
}

export interface PathDiff {
  path: string;
  /** null: not listed in that report (outside its top files). */
  a: number | null;
  b: number | null;
  delta: number;
}

export interface SizeDiff {
  a: { digest: string };
  b: { digest: string };
  totals: {
    compressed: Delta;
    uncompressed: Delta;
    finalBytes: Delta;
    files: Delta;
    reclaimableBytes: Delta;
    /** SizeReport.wastedBytes: reclaimable plus package-manager caches. */
    wastedBytes: Delta;
    efficiency: Delta;
  };
  layers: LayerDiff[];
  /** Directories whose size changed, largest change first. */
  dirs: PathDiff[];
  /** Files (from largestFiles) whose size changed or that appeared/disappeared, largest change first. */
  files: PathDiff[];
  findings: { added: Finding[]; resolved: Finding[] };
}

const d = (a: number, b: number): Delta => ({ a, b, delta: b - a });
const byMagnitude = (x: PathDiff, y: PathDiff) =>
  Math.abs(y.delta) - Math.abs(x.delta) || (x.path < y.path ? -1 : x.path > y.path ? 1 : 0);

export function diffReports(before: SizeReport, after: SizeReport): SizeDiff {
  const layers: LayerDiff[] = [];
  const n = Math.max(before.layers.length, after.layers.length);
  for (let i = 0; i < n; i++) {
    const la = before.layers[i];
    const lb = after.layers[i];
    const status: LayerDiff['status'] = !la ? 'added' : !lb ? 'removed' : la.diffID === lb.diffID ? 'same' : 'changed';
    layers.push({
      status,
      index: i,
      ...(la ? { createdByA: la.createdBy, diffIDA: la.diffID } : {}),
      ...(lb ? { createdByB: lb.createdBy, diffIDB: lb.diffID } : {}),
      content: d(la?.contentBytes ?? 0, lb?.contentBytes ?? 0),
      compressed: d(la?.compressedSize ?? 0, lb?.compressedSize ?? 0),
    });
  }

  const dirsA = new Map(before.dirs.map((x) => [x.path, x.size]));
  const dirsB = new Map(after.dirs.map((x) => [x.path, x.size]));
  const dirs: PathDiff[] = [];
  for (const path of new Set([...dirsA.keys(), ...dirsB.keys()])) {
    const sa = dirsA.get(path) ?? 0;
    const sb = dirsB.get(path) ?? 0;
    if (sa !== sb) dirs.push({ path, a: sa, b: sb, delta: sb - sa });
  }
  dirs.sort(byMagnitude);

  const filesA = new Map(before.largestFiles.map((x) => [x.path, x.size]));
  const filesB = new Map(after.largestFiles.map((x) => [x.path, x.size]));
  const files: PathDiff[] = [];
  for (const path of new Set([...filesA.keys(), ...filesB.keys()])) {
    const sa = filesA.get(path) ?? null;
    const sb = filesB.get(path) ?? null;
    if (sa === sb) continue;
    files.push({ path, a: sa, b: sb, delta: (sb ?? 0) - (sa ?? 0) });
  }
  files.sort(byMagnitude);

  const key = (f: Finding) => `${f.rule}\u0000${f.createdBy}`;
  const fa = new Set(before.findings.map(key));
  const fb = new Set(after.findings.map(key));

  return {
    a: { digest: before.image.digest },
    b: { digest: after.image.digest },
    totals: {
      compressed: d(before.totals.compressed, after.totals.compressed),
      uncompressed: d(before.totals.uncompressed, after.totals.uncompressed),
      finalBytes: d(before.totals.finalBytes, after.totals.finalBytes),
      files: d(before.totals.files, after.totals.files),
      reclaimableBytes: d(before.reclaimableBytes, after.reclaimableBytes),
      wastedBytes: d(before.wastedBytes, after.wastedBytes),
      efficiency: d(before.efficiency, after.efficiency),
    },
    layers,
    dirs,
    files,
    findings: {
      added: after.findings.filter((f) => !fa.has(key(f))),
      resolved: before.findings.filter((f) => !fb.has(key(f))),
    },
  };
}
