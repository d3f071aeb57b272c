/**
 * The cache-io phase of a build: `--cache-from` before the stages are solved, `--cache-to` after.
 * Build-cache records go through cache/remote-cache; cache-mount contents through the runtime's
 * state (RuntimeState), never by path.
 */
import type { BuildCache } from '../cache/build-cache.js';
import { exportCache, importCache, importInlineCache, INLINE_CACHE_KEY, inlineCacheRecords, type CacheMountExport } from '../cache/remote-cache.js';
import type { ContentStore } from '../cache/store.js';
import { gunzipStream } from '../image/compress.js';
import type { Digest } from '../image/digest.js';
import type { Descriptor } from '../image/types.js';
import { createTarStream } from '../image/tar/writer.js';
import type { RegistryClient } from '../registry/client.js';
import { parseReference } from '../registry/reference.js';
import type { RuntimeState } from '../runtime/state.js';
import type { Dockerfile } from '../parser/instructions.js';
import type { CacheSpec } from './build.js';
import type { BuildPlan } from './plan.js';
import { BuildUsageError } from './errors.js';
import type { EventSink } from './events.js';

export interface CacheIo {
  store: ContentStore;
  buildCache: BuildCache;
  runtimeState: RuntimeState;
  registry: () => Promise<RegistryClient>;
  emit: EventSink;
}

/** Default cap on one exported cache mount. */
const CACHE_MOUNT_MAX = 512 * 1024 * 1024;

export function describeCache(spec: CacheSpec): string {
  return spec.type === 'local' ? `local:${spec.dir}` : spec.type === 'registry' ? `registry:${spec.ref}` : 'inline';
}

/** Imports every `--cache-from`; a source that fails is a warning, as with docker/buildx. */
export async function importCaches(specs: readonly CacheSpec[], io: CacheIo): Promise<void> {
  for (const spec of specs) {
    try {
      if (spec.type === 'inline') throw new BuildUsageError('--cache-from takes a registry ref or a local dir (an image with an inline cache is a registry ref)');
      const r = await importCache(io.store, io.buildCache, spec.type === 'local' ? { type: 'local', dir: spec.dir } : { type: 'registry', ref: spec.ref, client: await io.registry() }).catch(async (e: unknown) => {
        // Not a cache artifact: maybe an image that carries an inline cache.
        if (spec.type !== 'registry' || (e as { code?: string }).code !== 'TSB_CACHE_REMOTE_FORMAT') throw e;
        const img = await (await io.registry()).getImage(parseReference(spec.ref));
        return { ...(await importInlineCache(io.store, io.buildCache, img)), mounts: [] };
      });
      let mounts = 0;
      for (const m of r.mounts) {
        const tar = gunzipStream(await io.store.open(m.layer.desc.digest));
        if (await io.runtimeState.importCacheMount(m.id, tar)) mounts++;
      }
      io.emit({ type: 'message', level: 'info', text: `importing cache from ${describeCache(spec)}: ${r.records} records${r.mounts.length ? `, ${mounts}/${r.mounts.length} cache mounts` : ''}` });
    } catch (e) {
      io.emit({ type: 'message', level: 'warn', text: `cache import from ${describeCache(spec)} failed: ${(e as Error).message}` });
    }
  }
}

/** With `--cache-to type=inline`: the config keys that carry the target's cache records (else none). */
export async function inlineCache(specs: readonly CacheSpec[], io: CacheIo, keys: Digest[], layers: Descriptor[]): Promise<Record<string, unknown>> {
  if (!specs.some((c) => c.type === 'inline')) return {};
  return { [INLINE_CACHE_KEY]: await inlineCacheRecords(io.buildCache, keys, layers) };
}

/** Exports every non-inline `--cache-to`: the step keys `mode` selects, and the cache mounts RUN used when asked. */
export async function exportCaches(
  specs: readonly CacheSpec[],
  io: CacheIo,
  built: { keys: (mode: 'min' | 'max') => Digest[]; cacheMountIds: ReadonlySet<string> },
): Promise<void> {
  for (const spec of specs) {
    if (spec.type === 'inline') continue;
    const mode = spec.mode ?? 'min';
    const keys = built.keys(mode);
    const mounts = spec.cacheMounts ? await exportCacheMounts(io, built.cacheMountIds, spec.cacheMountsMax ?? CACHE_MOUNT_MAX) : [];
    await exportCache(io.store, io.buildCache, keys, spec.type === 'local' ? { type: 'local', dir: spec.dir } : { type: 'registry', ref: spec.ref, client: await io.registry() }, mode, { mounts });
    io.emit({ type: 'message', level: 'info', text: `exported cache to ${describeCache(spec)} (${keys.length} steps, mode=${mode})` });
  }
}

async function exportCacheMounts(io: CacheIo, ids: ReadonlySet<string>, max: number): Promise<CacheMountExport[]> {
  const mounts: CacheMountExport[] = [];
  for (const id of ids) {
    const size = await io.runtimeState.cacheMountSize(id);
    if (size === undefined) continue;
    if (size > max) {
      io.emit({ type: 'message', level: 'warn', text: `cache mount ${id} (${size} bytes) is over the ${max}-byte cap: not exported` });
      continue;
    }
    const l = await io.store.ingestLayer(createTarStream((await io.runtimeState.exportCacheMount(id))!));
    mounts.push({ id, layer: { desc: l.desc, diffID: l.diffID } });
  }
  return mounts;
}

/** Keys of the target stage and of every stage it builds FROM (not COPY --from): mode=min. */
function lineageKeys(plan: BuildPlan, df: Dockerfile, finalLabel: string, keys: ReadonlyMap<string, Digest[]>): Digest[] {
  const out: Digest[] = [...(keys.get(finalLabel) ?? [])];
  let base = plan.stages[plan.target]?.base;
  while (base?.kind === 'stage') {
    const st = df.stages[base.index];
    out.push(...(keys.get(st?.name ?? String(base.index)) ?? []));
    base = plan.stages[base.index]?.base;
  }
  return out;
}

/** The step keys a `--cache-to` of `mode` exports. min: the target stage's lineage; max: every stage's. */
export function keysForMode(mode: 'min' | 'max', plan: BuildPlan, df: Dockerfile, finalLabel: string, keys: ReadonlyMap<string, Digest[]>): Digest[] {
  return mode === 'max' ? [...keys.values()].flat() : lineageKeys(plan, df, finalLabel, keys);
}
