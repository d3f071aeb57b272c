import assert from 'node:assert/strict';
import { analyzeImage } from './analyze.js';
import { diffReports } from './diff.js';
import { imageOf, type Step } from './test-util.js';

describe('report/diffReports', function () {
  this.timeout(30_000);

  it('per layer and per path growth and shrink between two builds', async () => {
    const base: Step = { createdBy: 'base', entries: [{ file: 'etc/os-release', size: 100 }] };
    const a = await analyzeImage(
      await imageOf([
        base,
        { createdBy: 'COPY app', entries: [{ file: 'app/main.js', size: 1000 }, { file: 'app/old.js', size: 300 }] },
        { createdBy: 'RUN apt-get update', entries: [{ file: 'var/lib/apt/lists/x_Packages', size: 5000 }] },
      ]),
    );
    const b = await analyzeImage(
      await imageOf([
        base,
        { createdBy: 'COPY app', entries: [{ file: 'app/main.js', size: 4000 }, { file: 'app/lib/dep.js', size: 200 }] },
        { createdBy: 'RUN apt-get update && rm -rf /var/lib/apt/lists/*', entries: [{ file: 'usr/bin/tool', size: 50 }] },
        { createdBy: 'COPY extra', entries: [{ file: 'extra', size: 7 }] },
      ]),
    );
    const d = diffReports(a, b);
    assert.deepEqual(
      d.layers.map((l) => [l.index, l.status, l.content.delta]),
      [[0, 'same', 0], [1, 'changed', 4200 - 1300], [2, 'changed', 50 - 5000], [3, 'added', 7]],
    );
    assert.deepEqual(d.totals.finalBytes, { a: 6400, b: 4357, delta: 4357 - 6400 });
    assert.deepEqual(d.totals.files, { a: 4, b: 5, delta: 1 });
    assert.deepEqual(
      d.dirs.map((x) => [x.path, x.a, x.b]),
      [['/var', 5000, 0], ['/var/lib', 5000, 0], ['/var/lib/apt', 5000, 0], ['/app', 1300, 4200], ['/app/lib', 0, 200], ['/usr', 0, 50], ['/usr/bin', 0, 50]],
    );
    assert.deepEqual(
      d.files.map((x) => [x.path, x.a, x.b, x.delta]),
      [
        ['/var/lib/apt/lists/x_Packages', 5000, null, -5000],
        ['/app/main.js', 1000, 4000, 3000],
        ['/app/old.js', 300, null, -300],
        ['/app/lib/dep.js', null, 200, 200],
        ['/usr/bin/tool', null, 50, 50],
        ['/extra', null, 7, 7],
      ],
    );
    assert.deepEqual(d.findings.resolved.map((f) => f.rule), ['apt-lists']);
    assert.deepEqual(d.findings.added, []);
    assert.equal(diffReports(a, a).dirs.length, 0);
    assert.ok(diffReports(a, a).layers.every((l) => l.status === 'same'));
  });
});
