import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, execFileP, makeTree, removeAll, requireTool, tempDir } from './helpers.js';

/**
 * Behaviours where tsbuild once differed from BuildKit (issue 11). Each case's Dockerfile ends
 * by writing what it observes to /probe.out; `want` is what BuildKit (dockerd 20.10) printed
 * for the same Dockerfile and context, with `busybox:latest` meaning the anchors' busybox.
 */
export interface ParityCase {
  name: string;
  dockerfile: string;
  files?: Record<string, string>;
  /** shell run in the context directory after the files are written (links, modes, xattrs) */
  setup?: string;
  args?: string[];
  want: string[];
}

const cases: ParityCase[] = [
  {
    name: 'a layer repeated in the stack (COPY, rm, same COPY) does not break the next RUN',
    files: { a: 'hi\n' },
    dockerfile: 'FROM busybox:latest\nCOPY a /x/\nRUN rm -rf /x\nCOPY a /x/\nRUN cat /x/a > /probe.out\n',
    want: ['hi'],
  },
];

describe('BuildKit parity: end to end', function () {
  this.timeout(300_000);
  let root: string;
  let work: string;

  before(async function () {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('RUN tests need root under CI');
      this.skip();
    }
    await requireTool(this, 'runc');
    await requireTool(this, 'umoci');
    root = await tempDir('tsb-root-');
    work = await tempDir('tsb-parity-');
    await execFileP('bash', ['testdata/busybox/build.sh', join(work, 'bb')]);
    const r = await cli(['load', '--root', root, '-i', join(work, 'bb'), '-t', 'busybox:latest']);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => removeAll(root, work));

  for (const c of cases) {
    it(c.name, async () => {
      const ctx = await makeTree({ ...c.files, Dockerfile: c.dockerfile });
      const dest = await tempDir('tsb-parity-out-');
      try {
        if (c.setup) await execFileP('sh', ['-ec', c.setup], { cwd: ctx });
        const r = await cli(['build', '--root', root, '--progress=plain', ...(c.args ?? []), '-o', `type=local,dest=${dest}`, ctx]);
        assert.equal(r.code, 0, r.stderr);
        const got = (await readFile(join(dest, 'probe.out'), 'utf8')).split('\n').filter((l) => l !== '');
        assert.deepEqual(got, c.want);
      } finally {
        await removeAll(ctx, dest);
      }
    });
  }
});
