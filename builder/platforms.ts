/**
 * Multi-platform builds (`--platform linux/amd64,linux/arm64`): the build runs once per target
 * platform, concurrently, under one stage limit, with steps in flight shared so that a step whose
 * key is the same for every target (a `FROM --platform=$BUILDPLATFORM` stage) is built once. The
 * platforms' images then become one OCI image index, which the outputs export. One platform never
 * comes here: it gives a plain manifest, exactly as without --platform.
 */
import { availableParallelism } from 'node:os';
import { BuildCache } from '../cache/build-cache.js';
import { StepFlights } from './step-cache.js';
import { MediaType } from '../image/mediatypes.js';
import { formatPlatform } from '../image/platform.js';
import type { Descriptor, Index, Platform } from '../image/types.js';
import type { RegistryClient } from '../registry/client.js';
import { RuntimeState } from '../runtime/state.js';
import { buildSource, type BuildOptions, type BuildResult } from './build.js';
import { Slots } from './solve.js';
import { exportCaches, importCaches, type CacheIo } from './cache-io.js';
import { BuildUsageError } from './errors.js';
import type { BuildEvent, EventSink } from './events.js';
import { runIndexExporter, type OutputSpec } from './exporters/index.js';
import { sortedKeys } from './finalize.js';
import { LayerViews } from './layers.js';
import type { DockerfileSource } from './prepare.js';

/** The exporters that can hold an index; the others get a clear error before anything is built. */
function checkOutputs(outputs: readonly OutputSpec[], platforms: Platform[]): void {
  const list = platforms.map(formatPlatform).join(', ');
  for (const out of outputs) {
    if (out.type === 'docker') {
      throw new BuildUsageError(`--output type=docker holds one image, not the ${platforms.length} platforms asked for (${list}): use type=oci (or --push), or one --platform`);
    }
    if (out.type === 'tar') throw new BuildUsageError(`--output type=tar with several platforms (${list}) is not supported: use type=local (one directory per platform) or type=oci`);
  }
}

/** A platform's events, named with it (`[linux/arm64 build]`), with ids that do not collide across platforms. */
function platformSink(emit: EventSink, platform: string): EventSink {
  return (e: BuildEvent) => {
    // BuildKit's label of a multi-platform step: [linux/arm64 base 1/2]
    if (e.type === 'step') emit({ ...e, id: `${platform} ${e.id}`, stage: `${platform} ${e.stage}`, ...(e.label !== undefined ? { label: `${platform} ${e.label}` } : {}) });
    else if (e.type === 'log' || e.type === 'status') emit({ ...e, id: `${platform} ${e.id}` });
    else emit(e);
  };
}

export async function buildPlatforms(options: BuildOptions, source: DockerfileSource, platforms: Platform[]): Promise<BuildResult> {
  const tags = options.tags ?? [];
  const outputs: OutputSpec[] = options.outputs && options.outputs.length > 0 ? [...options.outputs] : [{ type: 'image', names: tags, push: false }];
  checkOutputs(outputs, platforms);
  const emit: EventSink = options.onEvent ?? (() => {});
  let registry = options.registry;
  let registryP: Promise<RegistryClient> | undefined;
  const getRegistry = (): Promise<RegistryClient> =>
    (registryP ??= registry ? Promise.resolve(registry) : import('../registry/client.js').then((m) => (registry = new m.RegistryClient({ insecureRegistries: options.insecureRegistries, ...(options.networkTimeouts ? { timeouts: options.networkTimeouts } : {}) }))));
  const cacheIo: CacheIo = { store: options.store, buildCache: new BuildCache(options.store), runtimeState: RuntimeState.ofStore(options.store.root), registry: getRegistry, emit };
  // the first failing platform stops the others, as one failing stage stops a build
  const stop = new AbortController();
  if (options.signal?.aborted) stop.abort(options.signal.reason);
  else options.signal?.addEventListener('abort', () => stop.abort(options.signal?.reason), { once: true });
  const tmp = await options.store.makeTempDir();
  try {
    await importCaches(options.cacheFrom ?? [], cacheIo);
    // bake's table when bake builds this target: a step shared with another target is built once too
    const shared = { slots: new Slots(availableParallelism()), flights: options.stepFlights ?? new StepFlights() };
    // one client for every platform (bases are pulled once per platform, over the same connections)
    const client = await getRegistry();
    const results = await Promise.all(
      platforms.map((p) =>
        buildSource(
          {
            ...options,
            platform: formatPlatform(p),
            onEvent: platformSink(emit, formatPlatform(p)),
            signal: stop.signal,
            perPlatform: shared,
            registry: client,
          },
          source,
        ).catch((e: unknown) => {
          stop.abort(e);
          throw e;
        }),
      ),
    );
    // BuildKit's order: every platform's image (with --annotation manifest-descriptor:), then their attestation manifests
    const descAnnotations = options.annotations?.manifestDescriptor ?? {};
    const indexAnnotations = options.annotations?.index ?? {};
    const index: Index = {
      schemaVersion: 2,
      mediaType: MediaType.OciIndex,
      manifests: [
        ...results.map((r, i): Descriptor => ({
          mediaType: MediaType.OciManifest,
          digest: r.digest,
          size: r.manifestSize,
          ...(Object.keys(descAnnotations).length ? { annotations: sortedKeys(descAnnotations) } : {}),
          platform: descriptorPlatform(platforms[i]!),
        })),
        ...results.flatMap((r) => (r.attestation ? [r.attestation] : [])),
      ],
      ...(Object.keys(indexAnnotations).length ? { annotations: sortedKeys(indexAnnotations) } : {}),
    };
    const stored = await options.store.putJSON(index, MediaType.OciIndex);
    const indexDescriptorAnnotations = options.annotations?.indexDescriptor ?? {};
    const indexDesc = Object.keys(indexDescriptorAnnotations).length ? { ...stored, annotations: sortedKeys(indexDescriptorAnnotations) } : stored;
    const keys = { min: results.flatMap((r) => r.cacheKeys.min), max: results.flatMap((r) => r.cacheKeys.max), cacheMountIds: new Set(results.flatMap((r) => [...r.cacheKeys.cacheMountIds])) };
    await exportCaches(options.cacheTo ?? [], cacheIo, { keys: (mode) => keys[mode], cacheMountIds: keys.cacheMountIds });
    const views = new LayerViews(options.store, tmp);
    const pushed: BuildResult['pushed'] = [];
    for (const out of outputs) {
      const spec = 'names' in out && out.names.length === 0 ? { ...out, names: tags } : out;
      const r = await runIndexExporter(spec, { store: options.store, views, index: indexDesc, registry: getRegistry });
      pushed.push(...r.pushed);
    }
    return combine(results, platforms, indexDesc, tags, pushed, keys);
  } finally {
    const { rm } = await import('node:fs/promises');
    await rm(tmp, { recursive: true, force: true });
    if (registry && !options.registry) await registry.close();
  }
}

/** A descriptor's platform in BuildKit's field order (architecture, os, variant), normalized. */
function descriptorPlatform(p: Platform): Platform {
  return { architecture: p.architecture, os: p.os, ...(p.variant ? { variant: p.variant } : {}) };
}

/** The build's result: the index's digest, each platform's image, and the sums of their work. */
function combine(
  results: BuildResult[],
  platforms: Platform[],
  index: Descriptor,
  tags: string[],
  pushed: BuildResult['pushed'],
  cacheKeys: BuildResult['cacheKeys'],
): BuildResult {
  const first = results[0]!;
  return {
    digest: index.digest,
    imageId: index.digest,
    manifestSize: index.size,
    config: first.config,
    tags,
    pushed,
    warnings: [...new Set(results.flatMap((r) => r.warnings))],
    baseLayerCount: first.baseLayerCount,
    sourceMap: first.sourceMap,
    cacheMisses: results.flatMap((r) => r.cacheMisses),
    stats: { executed: results.reduce((n, r) => n + r.stats.executed, 0), cached: results.reduce((n, r) => n + r.stats.cached, 0) },
    cacheKeys,
    platforms: results.map((r, i) => ({ platform: formatPlatform(platforms[i]!), digest: r.digest, imageId: r.imageId, config: r.config })),
  };
}
