/**
 * The export phase: `--cache-to` (build-cache records and, when asked, cache mounts), then every
 * `--output` (store tags, OCI, docker, local, tar, registry push; builder/exporters).
 */
import type { BuildOptions, BuildResult } from './build.js';
import { exportCaches } from './cache-io.js';
import type { EventSink } from './events.js';
import { runExportStep, type OutputSpec } from './exporters/index.js';
import type { Descriptor } from '../image/types.js';
import type { FinalImage } from './finalize.js';
import type { BuildResources } from './resources.js';
import type { Solved } from './session.js';

/** `index`: the index around the image when attestations are attached (named, pushed and written instead of the image). */
export async function exportBuild(options: BuildOptions, solved: Solved, image: FinalImage, res: BuildResources, emit: EventSink, index?: Descriptor): Promise<BuildResult['pushed']> {
  const { final, session } = solved;
  await exportCaches(options.cacheTo ?? [], res.cacheIo(emit), { keys: solved.stepKeys, cacheMountIds: session.cacheMountIds });
  const tags = options.tags ?? [];
  // no --output: the image goes to the store under its -t names
  const outputs: OutputSpec[] = options.outputs && options.outputs.length > 0 ? options.outputs : [{ type: 'image', names: tags, push: false }];
  const pushed: BuildResult['pushed'] = [];
  if (index) {
    for (const out of outputs) {
      if (out.type !== 'image' && out.type !== 'oci') emit({ type: 'message', level: 'warn', text: `attestations are attached to image, registry and oci outputs; type=${out.type} gets the image alone` });
    }
  }
  for (const [i, out] of outputs.entries()) {
    const spec = 'names' in out && out.names.length === 0 ? { ...out, names: tags } : out;
    const r = await runExportStep(spec, {
      store: options.store,
      views: res.views,
      layers: final.layers,
      manifest: image.manifest,
      config: image.config,
      ...(index ? { index } : {}),
      registry: res.registry,
      baseName: final.baseName,
      emit,
      stepId: `export-${i}`,
    });
    pushed.push(...r.pushed);
  }
  return pushed;
}
