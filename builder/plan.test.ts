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
      if (c.deps) assert.deepEqual(p.stages.map((s) => [...s.deps]), c.deps);
    });
  }

  const errors: Array<{ name: string; df: string; target?: string; args?: Record<string, string>; message: RegExp }> = [
    { name: 'a cycle', df: 'FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /x /x\n', message: /circular dependency detected on stage: b -> a -> b/ },
    { name: 'an unknown target', df: 'FROM busybox\n', target: 'nope', message: /target stage "nope" could not be found/ },
    { name: 'an index out of range', df: 'FROM busybox\nCOPY --from=3 /x /x\n', message: /stage index 3 out of range \(1 stages\)/ },
    { name: 'a stage reading from itself by index', df: 'FROM busybox\nCOPY --from=0 /x /x\n', message: /stage 0 cannot read from itself/ },
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
