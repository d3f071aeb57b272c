import assert from 'node:assert/strict';
import { build } from '../builder/build.js';
import { ContentStore } from '../cache/store.js';
import { makeTree, removeAll, tempDir } from './helpers.js';

/** Hostile-but-valid inputs: they must cost time linear in their size. */
describe('build cost grows linearly with the Dockerfile', function () {
  this.timeout(180_000);
  let root: string;
  let ctx: string;
  before(async () => {
    root = await tempDir('tsb-root-');
    ctx = await makeTree({ 'a.txt': 'a' });
  });
  after(() => removeAll(root, ctx));

  const labels = (n: number): string => ['FROM scratch', ...Array.from({ length: n }, (_, i) => `LABEL l${i}=v${i}`), ''].join('\n');
  const timed = async (text: string): Promise<{ ms: number; r: Awaited<ReturnType<typeof build>> }> => {
    const store = await ContentStore.open(root);
    const t0 = performance.now();
    const r = await build({ store, contextDir: ctx, dockerfileText: text, noCache: true });
    return { ms: performance.now() - t0, r };
  };

  it('20,000 LABEL lines build in seconds, and twice the lines take well under four times as long', async () => {
    const small = await timed(labels(10_000));
    const big = await timed(labels(20_000));
    // Before: 10,000 lines took 45 s and 20,000 took 156 s (a copy of all labels and history per line).
    assert.ok(big.ms < 20_000, `20,000 LABELs took ${Math.round(big.ms)} ms`);
    assert.ok(big.ms < 4 * small.ms, `10,000 LABELs: ${Math.round(small.ms)} ms, 20,000: ${Math.round(big.ms)} ms`);
    assert.equal(Object.keys(big.r.config.config.Labels ?? {}).length, 20_000);
    assert.equal(big.r.config.config.Labels?.l19999, 'v19999');
    assert.equal(big.r.config.history?.length, 20_000);
    assert.deepEqual(big.r.sourceMap.at(-1), { file: 'Dockerfile', line: 20_001 });
  });

  it('stages built FROM one stage do not see each other\'s labels or history', async () => {
    const text = [
      'FROM scratch AS base',
      'LABEL a=1',
      'MAINTAINER me',
      'FROM base AS child',
      'LABEL b=2 a=changed',
      'COPY a.txt /a.txt',
      'FROM base',
      'COPY --from=child /a.txt /x',
      'LABEL c=3',
      '',
    ].join('\n');
    const final = (await timed(text)).r;
    assert.deepEqual(final.config.config.Labels, { a: '1', c: '3' });
    assert.equal(final.config.author, 'me');
    assert.deepEqual(final.config.history?.map((h) => h.created_by?.replace(/ # buildkit$/, '')), ['LABEL a=1', 'MAINTAINER me', 'COPY --from=child /a.txt /x', 'LABEL c=3']);
    const child = await build({ store: await ContentStore.open(root), contextDir: ctx, dockerfileText: text, target: 'child' });
    assert.deepEqual(child.config.config.Labels, { a: 'changed', b: '2' });
    assert.equal(child.config.history?.length, 4);
  });
});
