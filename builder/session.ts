import type { ContentStore } from '../cache/store.js';
import type { Dockerfile } from '../parser/instructions.js';
import type { Platform } from '../image/types.js';
import type { SolveEnv } from './solve.js';
import type { BaseResolver } from './base.js';
import type { EventSink } from './events.js';
import type { LayerViews } from './layers.js';
import type { ReadSite, SourceRef } from './plan.js';
import type { CopyRoot } from './ops/copy.js';
import type { StageState } from './stage-state.js';
import type { StepCache } from './step-cache.js';
import type { RunSettings } from './build.js';
import type { GitSettings } from './context-source.js';

/** Everything one build's ops share; created by build(), passed down, never global. */
export interface BuildSession extends SolveEnv {
  store: ContentStore;
  df: Dockerfile;
  emit: EventSink;
  views: LayerViews;
  resolver: BaseResolver;
  context: CopyRoot;
  namedContexts: Map<string, NamedContext>;
  /** Global ARG values (after --build-arg), including the platform ARGs. */
  globalArgs: Map<string, string | undefined>;
  buildArgs: Map<string, string>;
  /** Build args that some ARG consumed (others produce a warning, as docker does). */
  usedBuildArgs: Set<string>;
  /** The build's target platform (TARGETPLATFORM); a stage's own is StageState.platform. */
  platform: Platform;
  /** The host's platform (BUILDPLATFORM): what RUN runs natively. */
  buildPlatform: Platform;
  /** Seconds; times written into images and synthesized layer entries. */
  epoch: number | undefined;
  secrets: Map<string, Buffer>;
  ssh: Map<string, string>;
  network: 'default' | 'none' | 'host';
  allow: Set<string>;
  /** Limits and the ssh agent of `ADD <git url>` fetches. */
  git: GitSettings;
  /** What every RUN gets from the command line: hosts, limits, /dev/shm, confinement. */
  run: RunSettings;
  /** Another stage's result; within a stage, its solver waiter (the stage's slot is free while it waits). */
  stageResult: (index: number) => Promise<StageState>;
  /**
   * What a --from of stage `reader` (a label) names, resolved as the plan does;
   * a stage it names becomes a dependency, or an error when that closes a cycle.
   */
  sourceFor: (reader: string, name: string, site: ReadSite) => SourceRef;
  stepTimeoutMs?: number;
  /** Whether a RUN follows instruction `index` of the stage labelled `stage` (COPY then pre-builds its snapshot). */
  runFollows: (stage: string, index: number) => boolean;
  /** Ids of the cache mounts RUN steps used (for --cache-to ...,cache-mounts=true). */
  cacheMountIds: Set<string>;
  /** Undefined only when a caller builds without any cache at all. */
  stepCache?: StepCache;
  signal?: AbortSignal;
  /** Monotonic step counter for progress ids. */
  nextStep: () => number;
  totalSteps: number;
}

export type NamedContext =
  | { kind: 'dir'; root: CopyRoot }
  | { kind: 'image'; ref: string };
