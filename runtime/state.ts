/**
 * The runtime's state directory, named once: `<store root>/runtime`. What other modules need
 * from it (cache mounts leaving and entering with the build cache, pruning snapshots) goes
 * through these methods, so no one outside runtime/ computes a path inside it.
 */
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Digest } from '../image/digest.js';
import type { TarSource } from '../image/tar/writer.js';
import { cleanupStale } from './builds.js';
import { pruneSnapshots } from './snapshot-gc.js';

/** Cache-mount io unpacks tars (image/extract): loaded when a build uses it, not by every command. */
const cacheMountIo = (): Promise<typeof import('./cache-mount-io.js')> => import('./cache-mount-io.js');

/** The state dir's name under a store root. */
const STATE_DIR = 'runtime';

export class RuntimeState {
  private constructor(
    /** The state dir (Runtime.create's `root`). */
    readonly root: string,
  ) {}

  /** The runtime state that belongs to the store at `storeRoot`. */
  static ofStore(storeRoot: string): RuntimeState {
    return new RuntimeState(join(storeRoot, STATE_DIR));
  }

  /** Where each kind of runtime data lives, for `du` (everything else under root is runtime state). */
  diskAreas(): { snapshots: string[]; cacheMounts: string[]; temp: string[] } {
    return {
      snapshots: [join(this.root, 'snapshots'), join(this.root, 'deltas'), join(this.root, 'l')],
      cacheMounts: [join(this.root, 'cache-mounts')],
      temp: [join(this.root, 'tmp'), join(this.root, 'steps')],
    };
  }

  /** Bytes of files in the cache mount `id`, or undefined when this machine has none. */
  async cacheMountSize(id: string): Promise<number | undefined> {
    return (await cacheMountIo()).cacheMountSize(this.root, id);
  }

  /** The cache mount `id` as tar sources (sorted, streamed), or undefined when it does not exist. */
  async exportCacheMount(id: string): Promise<AsyncIterable<TarSource> | undefined> {
    return (await cacheMountIo()).exportCacheMount(this.root, id);
  }

  /** Unpacks `tar` as the cache mount `id` unless one exists here (local contents win); true when it did. */
  async importCacheMount(id: string, tar: Readable): Promise<boolean> {
    return (await cacheMountIo()).importCacheMount(this.root, id, tar);
  }

  /** Removes what builds that died left behind (containers, mounts, step dirs); the number removed. */
  cleanupStale(opts: { logs: boolean }): Promise<number> {
    return cleanupStale(this.root, undefined, opts);
  }

  /** Drops layer snapshots not named in `keep` (never while a build on this state dir runs). */
  pruneSnapshots(keep: Iterable<Digest>, opts: { dryRun?: boolean } = {}): Promise<{ removed: number; skipped?: string }> {
    return pruneSnapshots(this.root, keep, opts);
  }
}
