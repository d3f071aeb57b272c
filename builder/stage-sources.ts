import { resolveImage } from './base.js';
import type { SourceLocation } from './errors.js';
import type { CopyRoot } from './ops/copy.js';
import type { BuildSession } from './session.js';
import type { StageState } from './stage-state.js';

/** COPY --from / RUN --mount from=: a named context, a stage, or an image. */
export async function copyRootFor(s: BuildSession, from: string, loc?: SourceLocation): Promise<CopyRoot> {
  const nc = s.namedContexts.get(from);
  if (nc?.kind === 'dir') return nc.root;
  const layers = await layersFor(s, from, loc);
  return { dir: await s.views.unpacked(layers), excludes: [], isContext: false };
}

export async function layersFor(s: BuildSession, from: string, loc?: SourceLocation): Promise<StageState['layers']> {
  const nc = s.namedContexts.get(from);
  if (nc?.kind === 'image') return (await resolveImage(s.resolver, nc.ref, loc)).layers;
  const idx = s.df.stages.findIndex((st) => st.name === from.toLowerCase());
  if (idx >= 0) return (await s.stageResult(idx)).layers;
  if (/^\d+$/.test(from) && Number(from) < s.df.stages.length) return (await s.stageResult(Number(from))).layers;
  return (await resolveImage(s.resolver, from, loc)).layers;
}

