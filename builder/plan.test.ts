import assert from 'node:assert/strict';
import { parseDockerfile } from '../parser/index.js';
import { BuildUsageError } from './errors.js';
import { planBuild, type BuildPlan } from './plan.js';

function plan(text: string, opts: { target?: string; contexts?: string[]; args?: Record<string, string> } = {}): BuildPlan {
  const df = parseDockerfile(text, { file: 'Dockerfile' });
  return planBuild(df, new Map(Object.entries(opts.args ?? {})), { ...(opts.target ? { target: opts.target } : {}), namedContexts: new Set(opts.contexts ?? []) });
}

/** Each stage's base as a short string: s<N>, ctx:<name>, img:<ref>, scratch. */
function bases(p: BuildPlan): string[] {
  return p.stages.map(({ base }) => (base.kind === 'stage' ? `s${base.index}` : base.kind === 'context' ? `ctx:${base.name}` : base.kind === 'image' ? `img:${base.ref}` : 'scratch'));
}

describe('builder/plan: stage graph, target pruning, order', () => {
  const cases: Array<{ name: string; df: string; target?: string; contexts?: string[]; args?: Record<string, string>; order: number[]; bases: string[]; deps?: number[][] }> = [
    { name: 'one stage', df: 'FROM busybox\n', order: [0], bases: ['img:busybox'] },
    { name: 'scratch', df: 'FROM scratch\n', order: [0], bases: ['scratch'] },
    {
      name: 'the last stage is the target; unused stages are pruned',
      df: 'FROM busybox AS a\nFROM busybox AS unused\nFROM a AS b\nCOPY --from=a /x /y\n',
      order: [0, 2],
      bases: ['img:busybox', 'img:busybox', 's0'],
      deps: [[], [], [0]],
    },
    {
      name: '--target picks a stage (names are case-insensitive)',
      df: 'FROM busybox AS Build\nFROM build AS final\n',
      target: 'BUILD',
      order: [0],
      bases: ['img:busybox', 's0'],
    },
    {
      name: 'COPY --from by index and RUN --mount from= are dependencies, dependencies first',
      df: 'FROM busybox AS a\nFROM busybox AS b\nFROM busybox\nCOPY --from=1 /x /x\nRUN --mount=type=bind,from=a,target=/a true\n',
      order: [1, 0, 2],
      bases: ['img:busybox', 'img:busybox', 'img:busybox'],
      deps: [[], [], [1, 0]],
    },
    {
      name: 'a named context shadows a stage of the same name',
      df: 'FROM busybox AS base\nFROM base\n',
      contexts: ['base'],
      order: [1],
      bases: ['img:busybox', 'ctx:base'],
    },
    {
      name: 'global ARGs (already resolved by prepare) expand in FROM and COPY --from',
      df: 'ARG BASE\nARG SRC\nFROM ${BASE} AS a\nFROM alpine:${V}\nCOPY --from=${SRC} /x /x\n',
      args: { BASE: 'busybox', SRC: 'a', V: '3' },
      order: [0, 1],
      bases: ['img:busybox', 'img:alpine:3'],
    },
    { name: 'a stage named like an image shadows the image for later stages', df: 'FROM busybox AS alpine\nFROM alpine\n', order: [0, 1], bases: ['img:busybox', 's0'] },
    { name: 'a stage cannot use its own name as base: the image is meant', df: 'FROM alpine AS alpine\n', order: [0], bases: ['img:alpine'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = plan(c.df, c);
      assert.deepEqual(p.order, c.order);
      assert.equal(p.target, c.order[c.order.length - 1]);
      assert.deepEqual(bases(p), c.bases);
      if (c.deps) assert.deepEqual(p.stages.map((s) => [...s.deps.keys()]), c.deps);
    });
  }

  const errors: Array<{ name: string; df: string; target?: string; args?: Record<string, string>; message: RegExp }> = [
    { name: 'a cycle', df: 'FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /x /x\n', message: /Dockerfile:4:1: circular dependency detected on stage: a -> b -> a/ },
    { name: 'an unknown target', df: 'FROM busybox\n', target: 'nope', message: /target stage "nope" could not be found/ },
    { name: 'an index out of range', df: 'FROM busybox\nCOPY --from=3 /x /x\n', message: /invalid stage index 3 \(the Dockerfile has 1 stages\)/ },
    { name: 'a stage reading from itself by index', df: 'FROM busybox\nCOPY --from=0 /x /x\n', message: /circular dependency detected on stage: stage-0 -> stage-0/ },
    { name: 'a base that expands to nothing', df: 'ARG B\nFROM ${B}\n', message: /base name \(\$\{B\}\) should not be blank/ },
  ];
  for (const c of errors) {
    it(`rejects ${c.name}`, () => {
      assert.throws(() => plan(c.df, c), (e: unknown) => e instanceof BuildUsageError && c.message.test(e.message));
    });
  }
  it('a Dockerfile without FROM is rejected by the parser or the planner', () => {
    assert.throws(() => plan('ARG X=1\n'), /no stages to build|no FROM/);
  });
});

const planTarget = (text: string, target?: string) =>
  planBuild(parseDockerfile(text, { file: 'Dockerfile' }), new Map(), { target, namedContexts: new Set() });

describe('planBuild: cycles are errors before anything runs', () => {
  const cycles: Array<{ name: string; text: string; message: RegExp; line: number }> = [
    { name: 'COPY --from its own stage', text: 'FROM scratch AS a\nCOPY --from=a /x /y\n', message: /circular dependency detected on stage: a -> a \(COPY --from=a \/x \/y\)/, line: 2 },
    { name: 'COPY --from its own index', text: 'FROM scratch\nCOPY --from=0 /x /y\n', message: /circular dependency detected on stage: stage-0 -> stage-0/, line: 2 },
    { name: 'RUN --mount from= its own stage', text: 'FROM scratch AS a\nRUN --mount=type=bind,from=a,target=/m true\n', message: /stage: a -> a \(RUN --mount/, line: 2 },
    { name: 'a -> b -> a through COPY', text: 'FROM scratch AS a\nCOPY --from=b /x /y\nFROM scratch AS b\nCOPY --from=a /x /y\n', message: /stage: a -> b -> a/, line: 4 },
    { name: 'FROM a stage that reads the later one', text: 'FROM scratch AS a\nCOPY --from=b /x /y\nFROM a AS b\n', message: /stage: a -> b -> a \(FROM a AS b\)/, line: 3 },
    { name: 'a cycle outside the target\'s reach', text: 'FROM scratch AS a\nCOPY --from=a /x /y\nFROM scratch AS t\n', message: /stage: a -> a/, line: 2 },
    { name: 'a three-stage cycle', text: 'FROM scratch AS a\nCOPY --from=c /x /y\nFROM a AS b\nFROM b AS c\n', message: /stage: a -> c -> b -> a/, line: 3 },
  ];
  for (const c of cycles) {
    it(`refuses ${c.name}, naming the cycle and the line`, () => {
      assert.throws(() => planTarget(c.text, c.name.includes('outside') ? 't' : undefined), (e: unknown) => {
        assert.ok(e instanceof BuildUsageError, String(e));
        assert.match(e.message, c.message);
        assert.equal(e.loc?.line, c.line);
        assert.ok(e.message.startsWith(`Dockerfile:${c.line}:`), e.message);
        return true;
      });
    });
  }

  const fine: Array<{ name: string; text: string; deps: number[][]; order: number[] }> = [
    { name: 'FROM x AS x is the image x', text: 'FROM alpine AS alpine\n', deps: [[]], order: [0] },
    { name: 'FROM a later stage is an image', text: 'FROM b AS a\nFROM scratch AS b\n', deps: [[], []], order: [1] },
    { name: 'COPY --from a later stage', text: 'FROM scratch AS a\nCOPY --from=b /x /y\nFROM scratch AS b\n', deps: [[1], []], order: [1] },
    { name: 'a diamond', text: 'FROM scratch AS a\nFROM a AS b\nFROM a AS c\nFROM scratch\nCOPY --from=b /x /y\nCOPY --from=c /x /y\n', deps: [[], [0], [0], [1, 2]], order: [0, 1, 2, 3] },
  ];
  for (const c of fine) {
    it(`plans ${c.name}`, () => {
      const p = planTarget(c.text);
      assert.deepEqual(p.stages.map((s) => [...s.deps.keys()]), c.deps);
      assert.deepEqual(p.order, c.order);
    });
  }

  it('says an out-of-range --from index is invalid, with its line', () => {
    assert.throws(() => planTarget('FROM scratch\nCOPY --from=3 /x /y\n'), /Dockerfile:2:1: invalid stage index 3/);
  });
});
