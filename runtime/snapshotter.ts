/**
 * Snapshotters: how a step gets its writable rootfs over a stack of layers, and how its changes
 * come back as a diff. Runtime.runStep and RUN's mounts ask a Snapshotter and never branch on
 * which one it is; a new variant (fuse-overlayfs, a rootless copy) is one more implementation.
 *
 * - OverlaySnapshotter: read-only layer snapshots as lowerdirs, a fresh upper dir; the diff is the
 *   upper dir, which then becomes the committed layer's snapshot.
 * - CopySnapshotter: `cp -a` of the flattened chain; the diff is a walk against a stat manifest.
 */
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../image/digest.js';
import type { Layer } from '../image/image.js';
import type { TarSource } from '../image/tar/writer.js';
import { overlayDiffEntries, takeManifest, walkDiff } from './diff.js';
import { mountOverlay, unmountAllUnder } from './mounts.js';
import type { DeltaHint } from './delta.js';
import { copyTree, FlatSnapshots, LayerSnapshots, visibleStack, type LayerSnapshot } from './snapshots.js';

/** A step's writable rootfs. */
export interface StepRootfs {
  /** The directory the container runs in. */
  readonly path: string;
  /** The step's changes against its layers; called once, after the container is gone. */
  diff(): Promise<AsyncIterable<TarSource>>;
  /** Offers the rootfs as the snapshot of the layer committed from diff() (best effort). */
  keep(diffID: Digest): Promise<void>;
}

/** Where a snapshotter may create things for one step; what it mounts is listed for the teardown. */
export interface StepScratch {
  /** A directory of the step's own (removed by the teardown). */
  dir: string;
  /** Host mount points created here (unmounted by the teardown). */
  hostMounts: string[];
}

export interface Snapshotter {
  readonly name: 'overlay' | 'copy';
  /** A writable rootfs with `lowers` (bottom first) applied, made under `scratch.dir`. */
  prepare(lowers: readonly Layer[], scratch: StepScratch): Promise<StepRootfs>;
  /** A tree of `layers` that the step may read (its writes, if any, are discarded). */
  view(layers: readonly Layer[], scratch: StepScratch): Promise<string>;
  /** A throwaway writable view of `src`: shared snapshots are never bound writable. */
  writableView(src: string, scratch: StepScratch): Promise<string>;
  /**
   * Makes a layer's snapshot from its uncompressed tar while it is written (drains it otherwise);
   * with a hint, as a delta on the previous version's snapshot where one can be made (delta.ts).
   * Says how many entries the delta holds, or why none was made.
   */
  seed(tar: Readable, diffID: Promise<Digest>, hint?: DeltaHint): Promise<SeedResult>;
}

export interface SeedResult {
  delta?: number;
  unfit?: string;
}

export function createSnapshotter(kind: 'overlay' | 'copy', root: string, buildId: string): Snapshotter {
  return kind === 'overlay' ? new OverlaySnapshotter(new LayerSnapshots(root, buildId)) : new CopySnapshotter(new FlatSnapshots(root, buildId));
}

async function makeDirs(...dirs: string[]): Promise<void> {
  for (const d of dirs) await fsp.mkdir(d, { recursive: true });
}

async function* iterate<E>(entries: readonly E[]): AsyncGenerator<E> {
  yield* entries;
}

export class OverlaySnapshotter implements Snapshotter {
  readonly name = 'overlay';
  constructor(private readonly layers: LayerSnapshots) {}

  async prepare(lowers: readonly Layer[], scratch: StepScratch): Promise<StepRootfs> {
    const snaps = visibleStack(await this.#ensureAll(lowers));
    const lowerDirs = snaps.map((s) => s.dir).reverse();
    const upper = join(scratch.dir, 'upper');
    const path = join(scratch.dir, 'merged');
    await this.#mount(snaps, scratch, upper, path);
    let entries: TarSource[] | undefined;
    return {
      path,
      diff: async () => {
        await unmountAllUnder(path);
        entries = overlayDiffEntries(upper, lowerDirs);
        return iterate(entries);
      },
      // a snapshot that cannot be adopted is unpacked by the next RUN that needs it
      keep: async (diffID) => {
        if (entries) await this.layers.adopt(upper, entries, diffID).catch(() => {});
      },
    };
  }

  async view(layers: readonly Layer[], scratch: StepScratch): Promise<string> {
    // a read-only overlay of those layers; its upper only ever sees writes the step discards
    const path = join(scratch.dir, 'merged');
    await this.#mount(visibleStack(await this.#ensureAll(layers)), scratch, join(scratch.dir, 'upper'), path);
    return path;
  }

  async writableView(src: string, scratch: StepScratch): Promise<string> {
    if (!(await fsp.lstat(src)).isDirectory()) return copyView(src, scratch);
    await fsp.mkdir(scratch.dir, { recursive: true });
    await fsp.symlink(src, join(scratch.dir, 'lower'));
    const path = join(scratch.dir, 'merged');
    await makeDirs(join(scratch.dir, 'upper'), join(scratch.dir, 'work'), path);
    await mountOverlay({ cwd: scratch.dir, lowers: ['lower'], upper: join(scratch.dir, 'upper'), work: join(scratch.dir, 'work'), target: path });
    scratch.hostMounts.push(path);
    return path;
  }

  seed(tar: Readable, diffID: Promise<Digest>, hint?: DeltaHint): Promise<SeedResult> {
    return this.layers.seed(tar, diffID, hint);
  }

  /** Every layer's snapshot dirs, bottom first (a delta snapshot is several). */
  async #ensureAll(layers: readonly Layer[]): Promise<LayerSnapshot[]> {
    const snaps: LayerSnapshot[] = [];
    for (const l of layers) snaps.push(...(await this.layers.ensure(l)));
    return snaps;
  }

  /** Mounts `snaps` (bottom first) read-only under a fresh `upper`; no layers: an empty lowerdir. */
  async #mount(snaps: readonly LayerSnapshot[], scratch: StepScratch, upper: string, target: string): Promise<void> {
    const work = join(scratch.dir, 'work');
    await makeDirs(upper, work, target);
    let shorts = snaps.map((s) => s.short).reverse();
    if (shorts.length === 0) {
      await fsp.mkdir(join(scratch.dir, 'empty'));
      shorts = [join(scratch.dir, 'empty')];
    }
    await mountOverlay({ cwd: this.layers.linkDir, lowers: shorts, upper, work, target });
    scratch.hostMounts.push(target);
  }
}

async function copyView(src: string, scratch: StepScratch): Promise<string> {
  const dst = `${scratch.dir}-copy`;
  await copyTree(src, dst);
  return dst;
}

export class CopySnapshotter implements Snapshotter {
  readonly name = 'copy';
  constructor(private readonly flat: FlatSnapshots) {}

  async prepare(lowers: readonly Layer[], scratch: StepScratch): Promise<StepRootfs> {
    const flat = await this.flat.ensure(lowers);
    const path = join(scratch.dir, 'rootfs');
    await copyTree(flat, path);
    const manifest = takeManifest(path);
    return { path, diff: async () => walkDiff(path, manifest), keep: async () => {} };
  }

  view(layers: readonly Layer[]): Promise<string> {
    return this.flat.ensure(layers);
  }

  writableView(src: string, scratch: StepScratch): Promise<string> {
    return copyView(src, scratch);
  }

  async seed(tar: Readable, diffID: Promise<Digest>): Promise<SeedResult> {
    tar.resume();
    await diffID;
    return { unfit: 'the copy snapshotter makes no deltas' };
  }
}
