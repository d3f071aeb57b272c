/**
 * Scheduling without runc: the Solver with stages that only count, and whole builds whose RUN
 * steps go to a fake runtime that counts executions and can fail or wait for cancellation
 * (as BuildKit's scheduler tests do with their fake ops).
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { ContentStore } from '../cache/store.js';
import type { Digest } from '../image/digest.js';
import type { TarSource } from '../image/tar/writer.js';
import type { RegistryClient } from '../registry/client.js';
import { RunAbortedError } from '../runtime/errors.js';
import type { RunRequest, RunResult } from '../runtime/types.js';
import { makeTree, removeAll, tempDir } from '../test/helpers.js';
import { build } from './build.js';
import { BuildError, RunStepFailedError } from './errors.js';
import type { BuildPlan, PlannedStage } from './plan.js';
import { Solver, type StepRuntime } from './solve.js';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A plan from `deps` (stage i reads deps[i]); the target is the last stage. */
function planOf(deps: number[][], target = deps.length - 1): BuildPlan {
  const stages = deps.map((d) => ({ deps: new Map(d.map((index) => [index, undefined])) }) as unknown as PlannedStage);
  const order: number[] = [];
  const visit = (i: number): void => {
    if (order.includes(i)) return;
    deps[i]!.forEach(visit);
    order.push(i);
  };
  visit(target);
  return { stages, order, target };
}

describe('builder/solve: the stage scheduler', () => {
  it('a diamond: every stage once, dependencies first, independent stages in parallel', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    let active = 0;
    let maxActive = 0;
    const solver = new Solver<number>({
      plan: planOf([[], [0], [0], [1, 2]]),
      parallelism: 4,
      stop: new AbortController(),
      buildStage: async (p, i, waitFor) => {
        for (const d of p.deps.keys()) await waitFor(d);
        started.push(i);
        maxActive = Math.max(maxActive, ++active);
        await tick(20);
        active--;
        finished.push(i);
        return i * 10;
      },
    });
    assert.equal(await solver.solve(), 30);
    assert.deepEqual(started.sort(), [0, 1, 2, 3]);
    assert.equal(finished[0], 0);
    assert.equal(finished[3], 3);
    assert.equal(maxActive, 2, 'stages 1 and 2 ran side by side');
  });

  it('parallelism caps the stages building at once', async () => {
    let active = 0;
    let maxActive = 0;
    const solver = new Solver<void>({
      plan: planOf([[], [], [], [], [0, 1, 2, 3]]),
      parallelism: 2,
      stop: new AbortController(),
      buildStage: async (p, _i, waitFor) => {
        for (const d of p.deps.keys()) await waitFor(d);
        maxActive = Math.max(maxActive, ++active);
        await tick(10);
        active--;
      },
    });
    await solver.solve();
    assert.equal(maxActive, 2);
  });

  it('a stage runs its steps before a COPY --from beside the stage it copies from; the copy waits for it', async () => {
    const log: string[] = [];
    const solver = new Solver<void>({
      plan: planOf([[], [0]]),
      parallelism: 2,
      stop: new AbortController(),
      buildStage: async (p, i, waitFor) => {
        log.push(`${i} start`);
        await tick(i === 0 ? 60 : 10);
        log.push(`${i} step`);
        for (const d of p.deps.keys()) await waitFor(d);
        log.push(`${i} done`);
      },
    });
    await solver.solve();
    assert.deepEqual(log, ['0 start', '1 start', '1 step', '0 step', '0 done', '1 done']);
  });

  it('a stage waiting for another gives its slot to a queued stage', async () => {
    const log: string[] = [];
    let working = 0;
    let maxWorking = 0;
    const work = async (i: number, ms: number): Promise<void> => {
      maxWorking = Math.max(maxWorking, ++working);
      log.push(`${i} working`);
      await tick(ms);
      working--;
    };
    // 0 runs long; 1 reads 0 at once; 2 is independent but queued behind 0 and 1 (parallelism 2)
    const solver = new Solver<void>({
      plan: planOf([[], [0], [], [1, 2]]),
      parallelism: 2,
      stop: new AbortController(),
      buildStage: async (p, i, waitFor) => {
        for (const d of p.deps.keys()) await waitFor(d);
        await work(i, i === 0 ? 80 : 10);
        log.push(`${i} done`);
      },
    });
    await solver.solve();
    assert.deepEqual(log, ['0 working', '2 working', '2 done', '0 done', '1 working', '1 done', '3 working', '3 done']);
    assert.equal(maxWorking, 2);
  });

  it('with one slot, stages that wait for each other still finish (no deadlock)', async () => {
    const built: number[] = [];
    const solver = new Solver<void>({
      plan: planOf([[], [0], [0, 1], [2, 1]]),
      parallelism: 1,
      stop: new AbortController(),
      buildStage: async (p, i, waitFor) => {
        await tick(5);
        for (const d of [...p.deps.keys()].reverse()) await waitFor(d);
        built.push(i);
      },
    });
    await solver.solve();
    assert.deepEqual(built, [0, 1, 2, 3]);
  });

  it('a stage the target does not need is not built', async () => {
    const built: number[] = [];
    const solver = new Solver<void>({ plan: planOf([[], [], [0]]), parallelism: 4, stop: new AbortController(), buildStage: async (_p, i) => void built.push(i) });
    await solver.solve();
    assert.deepEqual(built.sort(), [0, 2]);
  });

  it('a failing stage aborts the others, queued stages never start, the first failure is what the build reports', async () => {
    const stop = new AbortController();
    const built: number[] = [];
    let sawAbort = false;
    const solver = new Solver<void>({
      plan: planOf([[], [], [], [0, 1, 2]]),
      parallelism: 2,
      stop,
      buildStage: async (p, i, waitFor) => {
        for (const d of p.deps.keys()) await waitFor(d);
        built.push(i);
        if (i === 1) {
          await tick(10);
          throw new Error('stage 1 failed');
        }
        // stage 0 runs until cancelled, then fails with the abort (not the root cause)
        await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
        sawAbort = true;
        throw new BuildError('TSB_BUILD_ABORTED', 'build aborted');
      },
    });
    await assert.rejects(solver.solve(), /stage 1 failed/);
    await solver.settled();
    assert.ok(sawAbort, 'the running stage saw the abort');
    assert.deepEqual(built.sort(), [0, 1], 'stage 2 (queued behind the limit) and the target never started');
  });
});

interface FakeStep {
  /** Milliseconds the step "runs". */
  ms?: number;
  exitCode?: number;
  /** Runs until the build is cancelled. */
  untilAborted?: boolean;
}

/** A StepRuntime that runs nothing: it counts, waits, and commits a one-file diff named after the command. */
class CountingRuntime implements StepRuntime {
  readonly runs: string[] = [];
  readonly aborted: string[] = [];
  /** When each command started and ended (performance.now()). */
  readonly spans = new Map<string, { start: number; end: number }>();
  active = 0;
  maxActive = 0;
  closed = false;
  constructor(private readonly steps: Record<string, FakeStep> = {}) {}

  async runStep<T>(req: RunRequest, commit: (diff: AsyncIterable<TarSource>) => Promise<T>, _committedDiffID?: (c: T) => Digest | undefined): Promise<RunResult<T>> {
    const command = req.args[req.args.length - 1]!;
    const step = this.steps[command] ?? { ms: 20 };
    this.runs.push(command);
    const span = { start: performance.now(), end: Infinity };
    this.spans.set(command, span);
    this.maxActive = Math.max(this.maxActive, ++this.active);
    try {
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          this.aborted.push(command);
          reject(new RunAbortedError({}));
        };
        if (req.signal?.aborted) return onAbort();
        req.signal?.addEventListener('abort', onAbort, { once: true });
        if (!step.untilAborted) {
          setTimeout(() => {
            req.signal?.removeEventListener('abort', onAbort);
            resolve();
          }, step.ms ?? 20);
        }
      });
      const result = { durationMs: step.ms ?? 20, lastLines: [`ran ${command}`], logFile: '/dev/null' };
      if (step.exitCode) return { ...result, exitCode: step.exitCode };
      const body = Buffer.from(`${command}\n`);
      const diff = (async function* () {
        yield { header: { path: 'ran', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 } } satisfies TarSource;
        yield { header: { path: `ran/${command}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0 }, body } satisfies TarSource;
      })();
      return { ...result, exitCode: 0, committed: await commit(diff) };
    } finally {
      span.end = performance.now();
      this.active--;
    }
  }

  async seedLayer(): Promise<{ unfit: string }> {
    return { unfit: 'nothing to seed' };
  }

  /** No snapshots: COPY --from unpacks the stack, as with the copy snapshotter. */
  async layerView(): Promise<string | undefined> {
    return undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

describe('builder: builds scheduled over a fake runtime (no runc, no root)', function () {
  this.timeout(30_000);
  let work: string;
  before(async () => {
    work = await tempDir('tsb-solve-');
  });
  after(async () => removeAll(work));

  const PARALLEL = [
    'FROM scratch AS a',
    'RUN a1',
    'RUN a2',
    'FROM scratch AS b',
    'RUN b1',
    'FROM scratch AS unused',
    'RUN never',
    'FROM scratch',
    'COPY --from=a /ran /from-a',
    'COPY --from=b /ran /from-b',
    'RUN final',
    '',
  ].join('\n');

  it('independent stages run in parallel, each step once; a rebuild runs nothing', async () => {
    const ctx = await makeTree({ Dockerfile: PARALLEL }, `${work}/ctx-parallel`);
    const store = await ContentStore.open(`${work}/root-parallel`);
    const rt = new CountingRuntime();
    const first = await build({ store, contextDir: ctx, runtimeFactory: async () => rt });
    assert.deepEqual([...rt.runs].sort(), ['a1', 'a2', 'b1', 'final']);
    assert.ok(rt.runs.indexOf('a1') < rt.runs.indexOf('a2') && rt.runs.indexOf('a2') < rt.runs.indexOf('final'));
    assert.equal(rt.maxActive, Math.min(2, availableParallelism()), 'a and b ran side by side (where the machine has two cores)');
    assert.ok(rt.closed, 'the runtime is closed after the build');
    assert.deepEqual(first.stats, { executed: 6, cached: 0 });

    const again = new CountingRuntime();
    const second = await build({ store, contextDir: ctx, runtimeFactory: async () => again });
    assert.deepEqual(again.runs, [], 'every step came from the cache');
    assert.equal(second.digest, first.digest);
    assert.deepEqual(second.stats, { executed: 0, cached: 6 });
  });

  it('the steps before a COPY --from run while the stage it copies from builds; the steps after it wait for that stage', async () => {
    const ctx = await makeTree(
      { Dockerfile: 'FROM scratch AS build\nRUN compile\nFROM scratch\nRUN install\nRUN configure\nCOPY --from=build /ran /app\nRUN check\n' },
      `${work}/ctx-steps`,
    );
    const store = await ContentStore.open(`${work}/root-steps`);
    // compile is long so that the overlap holds on a loaded machine (a 300 ms compile failed under load 15)
    const rt = new CountingRuntime({ compile: { ms: 1500 }, install: { ms: 50 }, configure: { ms: 50 } });
    await build({ store, contextDir: ctx, runtimeFactory: async () => rt });
    const span = (c: string): { start: number; end: number } => rt.spans.get(c)!;
    assert.deepEqual([...rt.runs].sort(), ['check', 'compile', 'configure', 'install']);
    if (availableParallelism() >= 2) {
      assert.ok(span('install').start < span('compile').end && span('configure').end < span('compile').end, `install and configure ran while compile did: ${JSON.stringify(Object.fromEntries(rt.spans))}`);
      assert.equal(rt.maxActive, 2);
    }
    assert.ok(span('check').start >= span('compile').end, 'the step after the COPY --from started after the stage it copies from');
  });

  it('a failing step before a COPY --from stops the stage it copies from; that failure is reported', async () => {
    const ctx = await makeTree({ Dockerfile: 'FROM scratch AS build\nRUN wait\nFROM scratch\nRUN fail\nCOPY --from=build /ran /app\nRUN never\n' }, `${work}/ctx-steps-fail`);
    const store = await ContentStore.open(`${work}/root-steps-fail`);
    const rt = new CountingRuntime({ wait: { untilAborted: true }, fail: { ms: 30, exitCode: 5 } });
    await assert.rejects(build({ store, contextDir: ctx, runtimeFactory: async () => rt }), (e: unknown) => {
      assert.ok(e instanceof RunStepFailedError, String(e));
      assert.equal(e.exitCode, 5);
      return true;
    });
    if (availableParallelism() >= 2) assert.deepEqual(rt.aborted, ['wait'], 'the other stage was running and was killed');
    assert.ok(!rt.runs.includes('never'));
    assert.ok(rt.closed);
  });

  it('a failure in one parallel stage cancels the running step of the other; the failure is reported, not the abort', async () => {
    const ctx = await makeTree({ Dockerfile: 'FROM scratch AS slow\nRUN wait\nFROM scratch AS bad\nRUN fail\nFROM scratch\nCOPY --from=slow /ran /s\nCOPY --from=bad /ran /b\nRUN final\n' }, `${work}/ctx-fail`);
    const store = await ContentStore.open(`${work}/root-fail`);
    const rt = new CountingRuntime({ wait: { untilAborted: true }, fail: { ms: 30, exitCode: 3 } });
    await assert.rejects(build({ store, contextDir: ctx, runtimeFactory: async () => rt }), (e: unknown) => {
      assert.ok(e instanceof RunStepFailedError, String(e));
      assert.equal(e.exitCode, 3);
      return true;
    });
    assert.deepEqual(rt.aborted, ['wait']);
    assert.ok(!rt.runs.includes('final'));
    assert.ok(rt.closed);
  });

  it('the injected clock dates steps and the image: two builds at the same instant give the same digest', async () => {
    const ctx = await makeTree({ Dockerfile: 'FROM scratch\nRUN a\nENV X=1\n' }, `${work}/ctx-clock`);
    const clock = { now: () => Date.UTC(2020, 0, 2, 3, 4, 5) };
    const builds = [];
    for (const name of ['clock-1', 'clock-2']) {
      const store = await ContentStore.open(`${work}/root-${name}`);
      builds.push(await build({ store, contextDir: ctx, runtimeFactory: async () => new CountingRuntime(), clock, noCache: true }));
    }
    assert.equal(builds[0]!.config.created, '2020-01-02T03:04:05.000Z');
    assert.deepEqual(builds[0]!.config.history?.map((h) => h.created), ['2020-01-02T03:04:05.000Z', '2020-01-02T03:04:05.000Z']);
    assert.equal(builds[1]!.digest, builds[0]!.digest);
  });

  it('base images come from the injected registry', async () => {
    const ctx = await makeTree({ Dockerfile: 'FROM registry.example/team/base:1\nRUN a\n' }, `${work}/ctx-registry`);
    const store = await ContentStore.open(`${work}/root-registry`);
    const asked: string[] = [];
    const registry = {
      getPlatformImage: async (ref: { repository: string; tag?: string }) => {
        asked.push(`${ref.repository}:${ref.tag}`);
        throw new BuildError('TSB_BUILD_ABORTED', 'the fake registry has no images');
      },
      download: async () => {
        throw new Error('not used');
      },
      close: async () => {},
    } as unknown as RegistryClient;
    const rt = new CountingRuntime();
    await assert.rejects(build({ store, contextDir: ctx, runtimeFactory: async () => rt, registry }), /the fake registry has no images/);
    assert.deepEqual(asked, ['team/base:1']);
    assert.deepEqual(rt.runs, []);
  });

  it('cancelling the build stops the running step and starts no other', async () => {
    const ctx = await makeTree({ Dockerfile: 'FROM scratch\nRUN first\nRUN second\n' }, `${work}/ctx-cancel`);
    const store = await ContentStore.open(`${work}/root-cancel`);
    const rt = new CountingRuntime({ first: { untilAborted: true } });
    const cancel = new AbortController();
    const running = build({ store, contextDir: ctx, runtimeFactory: async () => rt, signal: cancel.signal });
    while (rt.runs.length === 0) await tick(5);
    cancel.abort();
    await assert.rejects(running, (e: unknown) => (e as { code?: string }).code === 'TSB_RUNTIME_ABORTED' || (e as { code?: string }).code === 'TSB_BUILD_ABORTED');
    assert.deepEqual(rt.runs, ['first']);
    assert.deepEqual(rt.aborted, ['first']);
    assert.ok(rt.closed);
  });
});
