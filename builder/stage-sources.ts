import { resolveImage } from './base.js';
import { BuildUsageError } from './errors.js';
import type { ReadSite } from './plan.js';
import type { BuildSession } from './session.js';
import type { StageState } from './stage-state.js';

/** COPY --from / RUN --mount from=: a named context, a stage, or an image. */
/** The layers `from` names, for stage `reader` (its label); resolved as the plan resolves it. */
export async function layersFor(session: BuildSession, reader: string, from: string, site: ReadSite): Promise<StageState['layers']> {
  const src = session.sourceFor(reader, from, site);
  switch (src.kind) {
    case 'stage':
      return (await session.stageResult(src.index)).layers;
    case 'context': {
      const nc = session.namedContexts.get(src.name)!;
      if (nc.kind === 'dir') throw new BuildUsageError(`named context ${src.name} is a directory, not an image`, site.loc);
      return (await resolveImage(session.resolver, nc.ref, site.loc)).layers;
    }
    case 'scratch':
      return [];
    case 'image':
      return (await resolveImage(session.resolver, src.ref, site.loc)).layers;
  }
}

