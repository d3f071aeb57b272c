/**
 * Progress events the builder emits; cli/ renders them (plain, tty, rawjson).
 * Builder code never prints.
 */
export type StepStatus = 'started' | 'cached' | 'done' | 'error' | 'skipped';

export interface StepEvent {
  type: 'step';
  /** Stable id within a build, e.g. "2/7" or "builder-a 3/5". */
  id: string;
  stage: string;
  /** The instruction as written (secrets never appear: build args are not expanded here; FROM shows its expanded image). */
  name: string;
  /**
   * BuildKit's step label without brackets: `base 1/2`, `stage-1 2/3`, `1/2` in a one-stage
   * Dockerfile. Absent for steps BuildKit shows no vertex for (ENV, LABEL…, FROM scratch or a stage).
   */
  label?: string;
  /** A step BuildKit does not show (metadata instructions); renderers may leave it out. */
  hidden?: boolean;
  status: StepStatus;
  loc?: { file: string; line: number };
  durationMs?: number;
  /** Why the step missed the cache, when known. */
  reason?: string;
  error?: string;
}

export interface LogEvent {
  type: 'log';
  id: string;
  stream: 'stdout' | 'stderr';
  line: string;
}

export interface MessageEvent {
  type: 'message';
  level: 'info' | 'warn';
  text: string;
  loc?: { file: string; line: number };
}

/** A sub-task of a step, as BuildKit shows `exporting layers`, `naming to …`, `pushing manifest for …`. */
export interface StatusEvent {
  type: 'status';
  id: string;
  text: string;
  status: 'started' | 'done';
  durationMs?: number;
}

export type BuildEvent = StepEvent | LogEvent | MessageEvent | StatusEvent;
export type EventSink = (e: BuildEvent) => void;
