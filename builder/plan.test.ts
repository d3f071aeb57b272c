import assert from 'node:assert/strict';
import { parseDockerfile } from '../parser/index.js';
import { BuildUsageError } from './errors.js';
import { planBuild } from './plan.js';

const plan = (text: string, target?: string) =>
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
      assert.throws(() => plan(c.text, c.name.includes('outside') ? 't' : undefined), (e: unknown) => {
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
      const p = plan(c.text);
      assert.deepEqual(p.stages.map((s) => [...s.deps.keys()]), c.deps);
      assert.deepEqual(p.order, c.order);
    });
  }

  it('says an out-of-range --from index is invalid, with its line', () => {
    assert.throws(() => plan('FROM scratch\nCOPY --from=3 /x /y\n'), /Dockerfile:2:1: invalid stage index 3/);
  });
});
