/**
 * The export phase: `--cache-to` (build-cache records and, when asked, cache mounts), then every
 * `--output` (store tags, OCI, docker, local, tar, registry push; builder/exporters).
 */
import type { BuildOptions, BuildResult } from './build.js';
import { exportCaches } from './cache-io.js';
import type { EventSink } from './events.js';
import { runExporter, type OutputSpec } from './exporters/index.js';
import type { FinalImage } from './finalize.js';
import type { BuildResources } from './resources.js';
import type { Solved } from './session.js';

export async function exportBuild(o: BuildOptions, solved: Solved, image: FinalImage, res: BuildResources, emit: EventSink): Promise<BuildResult['pushed']> {
  const { final, session } = solved;
  await exportCaches(o.cacheTo ?? [], res.cacheIo(emit), { keys: solved.stepKeys, cacheMountIds: session.cacheMountIds });
  const tags = o.tags ?? [];
  // no --output: the image goes to the store under its -t names
  const outputs: OutputSpec[] = o.outputs && o.outputs.length > 0 ? o.outputs : [{ type: 'image', names: tags, push: false }];
  const pushed: BuildResult['pushed'] = [];
  for (const out of outputs) {
    const spec = 'names' in out && out.names.length === 0 ? { ...out, names: tags } : out;
    const r = await runExporter(spec, {
      store: o.store,
      views: res.views,
      layers: final.layers,
      manifest: image.manifest,
      registry: res.registry,
      baseName: final.baseName,
    });
    pushed.push(...r.pushed);
  }
  return pushed;
}
