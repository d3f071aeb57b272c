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
  /** The instruction as written (secrets never appear: build args are not expanded here). */
  name: string;
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

export type BuildEvent = StepEvent | LogEvent | MessageEvent;
export type EventSink = (e: BuildEvent) => void;
