/**
 * The scheduler over a build plan's stages (BuildKit's solver, at step granularity): a stage
 * starts once the stage it is built FROM is done, and waits for a stage it COPY --from's or
 * mounts only at that step, so the steps before it run beside the other stage. Up to
 * `parallelism` stages do work at once: a stage waiting for another gives its slot back for the
 * wait. Each stage runs once however many stages read it, and the first failure aborts the rest
 * (their running steps see the abort signal and are killed), as BuildKit does.
 *
 * What a stage does is injected (`buildStage`), and so are the runtime, registry and clock its
 * steps use (SolveEnv), so scheduling is tested without runc or a network (solve.test.ts).
 */
import type { RegistryClient } from '../registry/client.js';
import type { Runtime } from '../runtime/index.js';
import { BuildError } from './errors.js';
import type { BuildPlan, PlannedStage } from './plan.js';

/** What builder/ needs of a container runtime: runtime/'s Runtime, or a fake in tests. */
export type StepRuntime = Pick<Runtime, 'runStep' | 'seedLayer' | 'layerView' | 'close'>;

/** How a running stage waits for another stage's result (it gives its slot back meanwhile). */
export type StageWaiter<T> = (index: number) => Promise<T>;

/** What a build's steps need of a registry (pull a base image, download an ADD URL): registry/'s RegistryClient, or a fake. */
export type StepRegistry = Pick<RegistryClient, 'getPlatformImage' | 'download'>;

/** Wall-clock time for step durations and the image's `created` when SOURCE_DATE_EPOCH is unset (tests: a fixed clock). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** What solving injects into the steps, each loaded only when a step first needs it. */
export interface SolveEnv {
  runtime: () => Promise<StepRuntime>;
  registry: () => Promise<StepRegistry>;
  clock: Clock;
}

export interface SolveOptions<T> {
  plan: Pick<BuildPlan, 'stages' | 'order' | 'target'>;
  /**
   * Builds one stage; called once per stage, after the stage it is built FROM. It must wait for
   * any other stage it reads through `waitFor`, which frees the stage's slot while it waits.
   */
  buildStage: (planned: PlannedStage, index: number, waitFor: StageWaiter<T>) => Promise<T>;
  /** Stages doing work at once. */
  parallelism: number;
  /** Slots shared with other solvers (the platforms of one multi-platform build); replaces `parallelism`. */
  slots?: Slots;
  /** Aborted when a stage fails (and by the caller to cancel the build). */
  stop: AbortController;
}

/** A counting semaphore; a stage coming back from a wait goes before stages not yet started. */
export class Slots {
  #free: number;
  readonly #queue: Array<() => void> = [];
  constructor(size: number) {
    this.#free = Math.max(1, size);
  }
  acquire(resuming = false): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => (resuming ? this.#queue.unshift(resolve) : this.#queue.push(resolve)));
  }
  release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#free++;
  }
}

export class Solver<T> {
  readonly #o: SolveOptions<T>;
  readonly #results = new Map<number, Promise<T>>();
  readonly #finished = new Set<number>();
  readonly #slots: Slots;
  /** The first stage failure: what the build reports, rather than the aborts it caused elsewhere. */
  #firstFailure: { error: unknown } | undefined;

  constructor(o: SolveOptions<T>) {
    this.#o = o;
    this.#slots = o.slots ?? new Slots(o.parallelism);
  }

  /** The result of stage `index`, starting it (and the stage it is built FROM) if nothing has yet. */
  stageResult(index: number): Promise<T> {
    let p = this.#results.get(index);
    if (!p) {
      const planned = this.#o.plan.stages[index]!;
      const base = planned.base?.kind === 'stage' ? this.stageResult(planned.base.index) : Promise.resolve();
      p = base.then(() => this.#run(planned, index));
      this.#results.set(index, p);
      p.then(
        () => this.#finished.add(index),
        (e: unknown) => this.#fail(e),
      );
    }
    return p;
  }

  async #run(planned: PlannedStage, index: number): Promise<T> {
    await this.#slots.acquire();
    try {
      // a stage whose turn comes after a failure does not start
      if (this.#o.stop.signal.aborted) throw new BuildError('TSB_BUILD_ABORTED', 'build aborted');
      return await this.#o.buildStage(planned, index, this.#waiter());
    } catch (e) {
      this.#fail(e); // before the slot goes to a queued stage
      throw e;
    } finally {
      this.#slots.release();
    }
  }

  /**
   * The waiter of one running stage: while it waits for stages that are not done, its slot
   * works for others (a stage's steps are sequential, but RUN may mount several stages at once).
   */
  #waiter(): StageWaiter<T> {
    let waits = 0;
    return async (index) => {
      const result = this.stageResult(index);
      if (this.#finished.has(index)) return result;
      if (waits++ === 0) this.#slots.release();
      try {
        return await result;
      } finally {
        if (--waits === 0) await this.#slots.acquire(true);
      }
    };
  }

  /** One failed stage stops the others (their running steps are killed), as BuildKit does. */
  #fail(error: unknown): void {
    this.#firstFailure ??= { error };
    this.#o.stop.abort();
  }

  /** Resolves once every started stage has finished, failed or not (before cleaning up after a build). */
  async settled(): Promise<void> {
    let n = -1;
    // a stage may start another while the first ones settle
    while (n !== this.#results.size) {
      n = this.#results.size;
      await Promise.allSettled([...this.#results.values()]);
    }
  }

  /** Starts every planned stage (independent ones in parallel) and returns the target's result. */
  async solve(): Promise<T> {
    for (const i of this.#o.plan.order) void this.stageResult(i).catch(() => undefined);
    try {
      return await this.stageResult(this.#o.plan.target);
    } catch (e) {
      throw this.#firstFailure ? this.#firstFailure.error : e;
    }
  }
}
