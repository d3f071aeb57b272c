import assert from 'node:assert/strict';
import { copyFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { removeAll, tempDir } from './helpers.js';
import { shippedCliBehaviours } from './shipped-cli.js';
import { requireOrSkip } from './tools.js';

/** What `npm run build` writes with scripts/compile.mjs. */
const EXECUTABLE = 'dist/tsbuild';

/**
 * The compiled executable (`bun build --compile`, scripts/compile.mjs) as a user installs it:
 * copied alone into an empty directory, run with neither Node nor node_modules beside it, so a
 * file it reads from beside the code (the seccomp profile, the xattr binding) must be inside it.
 * Under CI a missing dist/tsbuild fails: scripts/setup.sh runs `npm run build`.
 */
describe('the compiled executable (dist/tsbuild)', function () {
  this.timeout(180_000);
  let dir: string;

  before(async function () {
    const built = await stat(EXECUTABLE).catch(() => undefined);
    requireOrSkip(this, built ? undefined : `${EXECUTABLE} is missing (npm run build writes it)`);
    dir = await tempDir('tsb-exe-');
    await copyFile(EXECUTABLE, join(dir, 'tsbuild'));
  });
  after(async () => dir && removeAll(dir));

  it('is one file, alone in its directory', async () => {
    assert.deepEqual(await readdir(dir), ['tsbuild']);
    assert.ok(((await stat(join(dir, 'tsbuild'))).mode & 0o111) !== 0, 'executable bit');
  });

  shippedCliBehaviours(async () => ({ file: join(dir, 'tsbuild'), prefix: [], hideBuildTree: true }));
});
