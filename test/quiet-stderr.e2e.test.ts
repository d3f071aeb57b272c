import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileP, makeTree, removeAll, tempDir } from './helpers.js';
import { requireTools } from './tools.js';

/**
 * The CLI as a process, with a full GC forced at exit (test/gc-at-exit.mjs): a build must print
 * no Node warning. A stream over a store blob that a reader abandoned (FsView.readFile stops at
 * /etc/passwd) used to leave its FileHandle to the garbage collector, which printed
 * "Closing file descriptor N on garbage collection" and DEP0137 even with --progress=quiet, and
 * in the middle of a rawjson stream.
 */
describe('build stderr carries no Node warnings (file handles closed explicitly)', function () {
  this.timeout(240_000);
  let work: string;
  let root: string;
  const tsbuild = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const argv = ['--expose-gc', '--import', './test/gc-at-exit.mjs', '--import', 'tsx', 'cli/main.ts', ...args];
    try {
      const r = await execFileP(process.execPath, argv, { maxBuffer: 64 << 20 });
      return { code: 0, ...r };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: err.code ?? 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  };
  const assertNoWarnings = (stderr: string): void => {
    assert.doesNotMatch(stderr, /Warning|DEP0\d{3}|garbage collection/, stderr);
  };

  before(async () => {
    work = await tempDir('tsb-quiet-');
    root = join(work, 'root');
  });
  after(() => removeAll(work));

  it('COPY --chown (reads /etc/passwd out of a base layer), COPY --from and ADD: quiet and rawjson', async () => {
    // One layer whose /etc/passwd comes before 4 MB that the reader never gets to.
    const ctx = await makeTree(
      {
        'rootfs/etc/passwd': 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
        'rootfs/etc/group': 'root:x:0:\napp:x:1000:\n',
        'a.txt': 'a\n',
        'Dockerfile': [
          'FROM scratch AS base',
          'COPY rootfs/ /',
          'FROM base AS app',
          'COPY --chown=app a.txt /home/app/a.txt',
          'FROM scratch',
          'COPY --from=app /home/app/a.txt /etc/passwd /',
          'ADD a.txt /b.txt',
          '',
        ].join('\n'),
      },
      join(work, 'ctx'),
    );
    await writeFile(join(ctx, 'rootfs/zbig'), randomBytes(4 << 20));
    const quiet = await tsbuild(['build', '--root', root, '--progress=quiet', ctx]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assertNoWarnings(quiet.stderr);
    assert.equal(quiet.stderr, '');
    const raw = await tsbuild(['build', '--root', root, '--no-cache', '--progress=rawjson', ctx]);
    assert.equal(raw.code, 0, raw.stderr);
    assertNoWarnings(raw.stderr);
    const lines = raw.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('built '));
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
  });

  it('a multi-stage build with RUN and COPY --from a RUN stage', async function () {
    requireTools(this, ['runc', 'umoci', 'busybox']);
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('RUN needs root under CI');
      this.skip();
    }
    await execFileP('bash', ['testdata/busybox/build.sh', join(work, 'bb')]);
    const loaded = await tsbuild(['load', '--root', root, '-i', join(work, 'bb'), '-t', 'busybox:latest']);
    assert.equal(loaded.code, 0, loaded.stderr);
    const ctx = await makeTree(
      {
        'a.txt': 'a\n',
        'Dockerfile': [
          'FROM busybox:latest AS b',
          'COPY --chown=nobody a.txt /a.txt',
          'RUN cat /a.txt > /b.txt',
          'FROM scratch',
          'COPY --from=b /b.txt /bin/busybox /',
          'ADD a.txt /c.txt',
          '',
        ].join('\n'),
      },
      join(work, 'ctx-run'),
    );
    const r = await tsbuild(['build', '--root', root, '--progress=quiet', ctx]);
    assert.equal(r.code, 0, r.stderr);
    assertNoWarnings(r.stderr);
    assert.equal(r.stderr, '');
  });
});
