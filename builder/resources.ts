/**
 * What one build opens and must close, whatever happens: its scratch dir under the store (made on
 * first use; a killed build's is removed by the next command), the layer views, the build cache with the
 * context hashers, and the registry client and runtime, each loaded only when first needed
 * (a cached rebuild never loads runtime/, a local build never loads registry/ or undici).
 */
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BuildCache } from '../cache/build-cache.js';
import { ContextHasher } from '../cache/context-hash.js';
import { CopyMemo } from '../cache/copy-memo.js';
import type { ContentStore } from '../cache/store.js';
import type { RegistryClient } from '../registry/client.js';
import { RuntimeState } from '../runtime/state.js';
import type { BuildOptions } from './build.js';
import type { CacheIo } from './cache-io.js';
import type { EventSink } from './events.js';
import { LayerViews } from './layers.js';
import type { StepRuntime } from './solve.js';
import { releaseHeldSteps, type StepCache } from './step-cache.js';

export class BuildResources {
  readonly buildCache: BuildCache;
  readonly runtimeState: RuntimeState;
  readonly stepCache: StepCache;
  readonly #o: BuildOptions;
  readonly #hashers = new Map<string, Promise<ContextHasher>>();
  readonly #copyMemo: CopyMemo;
  #registry: Promise<RegistryClient> | undefined;
  #runtime: Promise<StepRuntime> | undefined;

  private constructor(
    o: BuildOptions,
    readonly tmp: string,
    readonly views: LayerViews,
  ) {
    this.#o = o;
    this.buildCache = new BuildCache(o.store);
    this.#copyMemo = new CopyMemo(o.store, o.racyMarginMs !== undefined ? { racyMarginMs: o.racyMarginMs } : {});
    this.runtimeState = RuntimeState.ofStore(o.store.root);
    const noCacheStages = new Set((o.noCacheFilter ?? []).map((n) => n.toLowerCase()));
    this.stepCache = {
      cache: this.buildCache,
      hasher: (dir) => this.#hasher(dir),
      copyMemo: (dir) => (this.#isScratch(dir) ? undefined : this.#copyMemo),
      misses: [],
      keys: new Map(),
      disabled: (label) => (o.noCache === true ? '--no-cache' : noCacheStages.has(label.toLowerCase()) ? `--no-cache-filter ${label.toLowerCase()}` : undefined),
      ...(o.stepFlights || o.perPlatform ? { flights: o.perPlatform?.flights ?? o.stepFlights } : {}),
    };
  }

  /** Opens nothing on disk yet: the scratch dir is made on first use (a no-op rebuild writes nothing). */
  static open(options: BuildOptions): BuildResources {
    const tmp = options.store.tempDirName();
    return new BuildResources(options, tmp, new LayerViews(options.store, tmp));
  }

  get store(): ContentStore {
    return this.#o.store;
  }

  /** The caller's client, else registry/'s, made on first use. */
  readonly registry = (): Promise<RegistryClient> => {
    const o = this.#o;
    this.#registry ??= o.registry
      ? Promise.resolve(o.registry)
      : import('../registry/client.js').then((m) => new m.RegistryClient({ insecureRegistries: o.insecureRegistries, ...(o.networkTimeouts ? { timeouts: o.networkTimeouts } : {}) }));
    return this.#registry;
  };

  /** The caller's runtime, else runtime/'s over the store's state dir, made on first use. */
  readonly runtime = (): Promise<StepRuntime> => {
    const o = this.#o;
    this.#runtime ??= o.runtimeFactory
      ? o.runtimeFactory()
      : import('../runtime/index.js').then((m) => m.Runtime.create({ root: this.runtimeState.root, ...(o.runtime ?? {}), ...(o.run?.cgroupParent ? { cgroupParent: o.run.cgroupParent } : {}) }));
    return this.#runtime;
  };

  cacheIo(emit: EventSink): CacheIo {
    return { store: this.store, buildCache: this.buildCache, runtimeState: this.runtimeState, registry: this.registry, emit };
  }

  /** Under the store's scratch root: this build's tmp, an unpacked stage, tar or git context. */
  #isScratch(dir: string): boolean {
    return dir.startsWith(dirname(this.tmp) + '/');
  }

  #hasher(dir: string): Promise<ContextHasher> {
    let h = this.#hashers.get(dir);
    if (!h) this.#hashers.set(dir, (h = ContextHasher.open(this.store, dir)));
    return h;
  }

  /** Saves the context hash tables, closes what was opened, removes the scratch dir. */
  async close(): Promise<void> {
    releaseHeldSteps(this.stepCache);
    // Remember content hashes of real directories only: not unpacked stages, nor an unpacked tar
    // or git context (the store's scratch root holds this build's tmp and those).
    for (const [dir, h] of this.#hashers) if (!this.#isScratch(dir)) await (await h.catch(() => undefined))?.save().catch(() => {});
    if (this.#runtime) await (await this.#runtime.catch(() => undefined))?.close();
    if (this.#registry && !this.#o.registry) await (await this.#registry.catch(() => undefined))?.close();
    await rm(this.tmp, { recursive: true, force: true });
  }
}
