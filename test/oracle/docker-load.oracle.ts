import assert from 'node:assert/strict';
import { join } from 'node:path';
import { busyboxLayout, runtimeTestSkipReason } from '../../runtime/testing.js';
import { BASE_REF, CASES } from '../differential/cases.js';
import { dockerfilePath, prepareContext } from '../differential/harness.js';
import { DOCKER, requireDockerd } from './dockerd.js';
import { cli, execFileP, removeAll, tempDir } from '../helpers.js';


/** Cases whose image IDs are checked through `docker load`: config-only, COPY, RUN, multi-stage, links, whiteouts. */
const LOAD_CASES = ['env-order', 'scratch-copy', 'workdir-relative', 'copy-from-stage', 'context-symlinks', 'run-opaque-dir', 'healthcheck-full', 'onbuild-trigger'];


/**
 * `docker load` of tsbuild's type=docker output must give the image ID `tsbuild build -q` printed
 * (the config digest survives the docker store). An oracle check, run on its own with
 * `npm run test:oracle` next to a running dockerd (shared/tools/dockerd-up.sh); it is not part of
 * `npm test` (CI installs no docker.io), and without a dockerd it fails rather than skips.
 */
describe('docker load of type=docker output keeps the image ID of build -q', function () {
  this.timeout(300_000);
  let root: string;
  let work: string;

  before(async () => {
    const reason = runtimeTestSkipReason();
    if (reason) throw new Error(`docker load oracle: ${reason}`);
    requireDockerd('docker load');
    root = await tempDir('tsb-load-root-');
    work = await tempDir('tsb-load-out-');
    const r = await cli(['load', '--root', root, '-i', busyboxLayout(), '-t', BASE_REF]);
    assert.equal(r.code, 0, r.stderr);
  });

  after(() => removeAll(root, work));

  for (const dir of LOAD_CASES) {
    it(dir, async () => {
      const c = CASES.find((x) => x.dir === dir);
      assert.ok(c, `no case ${dir}`);
      const ctx = prepareContext(c);
      const tag = `tsbuild-diffsuite-load/${dir}:1`;
      const archive = join(work, `${dir}.tar`);
      try {
        const common = ['build', '--root', root, '-f', dockerfilePath(c), ...Object.entries(c.args ?? {}).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]), ...(c.target ? ['--target', c.target] : [])];
        const quiet = await cli([...common, '-q', ctx]);
        assert.equal(quiet.code, 0, quiet.stderr);
        const id = quiet.stdout.trim();
        assert.match(id, /^sha256:[0-9a-f]{64}$/);
        const exported = await cli([...common, '--progress=quiet', '-t', tag, '--output', `type=docker,dest=${archive}`, ctx]);
        assert.equal(exported.code, 0, exported.stderr);
        await execFileP(DOCKER, ['load', '-i', archive], { timeout: 120_000 });
        const { stdout } = await execFileP(DOCKER, ['image', 'inspect', '--format', '{{.Id}}', tag], { timeout: 30_000 });
        assert.equal(stdout.trim(), id, `docker load gave ${stdout.trim()}, tsbuild build -q printed ${id}`);
      } finally {
        await execFileP(DOCKER, ['rmi', tag], { timeout: 60_000 }).catch(() => undefined);
        await removeAll(ctx, archive);
      }
    });
  }
});
