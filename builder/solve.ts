/**
 * The scheduler over a build plan's stages (BuildKit's solver, at stage granularity): a stage
 * starts once the stages it reads are done, independent stages run in parallel up to a limit,
 * each stage runs once however many stages read it, and the first failure aborts the rest
 * (their running steps see the abort signal and are killed), as BuildKit does.
 *
 * What a stage does is injected (`buildStage`), and so is the runtime its RUN steps use
 * (StepRuntime), so scheduling is tested without runc (solve.test.ts).
 */
import pLimit from 'p-limit';
import type { Runtime } from '../runtime/index.js';
import { BuildError } from './errors.js';
import type { BuildPlan, PlannedStage } from './plan.js';

/** What builder/ needs of a container runtime: runtime/'s Runtime, or a fake in tests. */
export type StepRuntime = Pick<Runtime, 'runStep' | 'seedLayer' | 'close'>;

export interface SolveOptions<T> {
  plan: Pick<BuildPlan, 'stages' | 'order' | 'target'>;
  /** Builds one stage; called once per stage, after every stage in its `deps`. */
  buildStage: (planned: PlannedStage, index: number) => Promise<T>;
  /** Stages building at once. */
  parallelism: number;
  /** Aborted when a stage fails (and by the caller to cancel the build). */
  stop: AbortController;
}

export class Solver<T> {
  readonly #o: SolveOptions<T>;
  readonly #results = new Map<number, Promise<T>>();
  readonly #limit: ReturnType<typeof pLimit>;
  /** The first stage failure: what the build reports, rather than the aborts it caused elsewhere. */
  #firstFailure: { error: unknown } | undefined;

  constructor(o: SolveOptions<T>) {
    this.#o = o;
    this.#limit = pLimit(Math.max(1, o.parallelism));
  }

  /** The result of stage `index`, starting it (and what it reads) if nothing has yet. */
  stageResult(index: number): Promise<T> {
    let p = this.#results.get(index);
    if (!p) {
      const planned = this.#o.plan.stages[index]!;
      p = Promise.all([...planned.deps.keys()].map((d) => this.stageResult(d))).then(() =>
        this.#limit(async () => {
          // a stage whose turn comes after a failure does not start
          if (this.#o.stop.signal.aborted) throw new BuildError('TSB_ABORTED', 'build aborted');
          try {
            return await this.#o.buildStage(planned, index);
          } catch (e) {
            this.#fail(e); // before the limit hands this slot to a queued stage
            throw e;
          }
        }),
      );
      this.#results.set(index, p);
      p.catch((e: unknown) => this.#fail(e));
    }
    return p;
  }

  /** One failed stage stops the others (their running steps are killed), as BuildKit does. */
  #fail(error: unknown): void {
    this.#firstFailure ??= { error };
    this.#o.stop.abort();
  }

  /** Resolves once every started stage has finished, failed or not (before cleaning up after a build). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#results.values()]);
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
