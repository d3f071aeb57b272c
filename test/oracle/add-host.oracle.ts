import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxLayout, runtimeTestSkipReason } from '../../runtime/testing.js';
import { DOCKER, requireDockerd } from './dockerd.js';
import { cli, execFileP, makeTree, removeAll, tempDir } from '../helpers.js';


/**
 * RUN's /etc/hosts with --add-host, byte for byte as BuildKit writes it: the same Dockerfile built
 * by dockerd's BuildKit (`docker build --network=host --add-host …`, local output) and by tsbuild.
 * Run with `npm run test:oracle` next to a running dockerd; without one it fails rather than skips.
 */
describe('oracle: --add-host gives RUN the /etc/hosts BuildKit gives it', function () {
  this.timeout(300_000);
  let root: string;
  let work: string;
  const base = `tsb-oracle-busybox:${process.pid}`;

  before(async () => {
    const reason = runtimeTestSkipReason();
    if (reason) throw new Error(`add-host oracle: ${reason}`);
    requireDockerd('add-host');
    root = await tempDir('tsb-hosts-root-');
    work = await tempDir('tsb-hosts-out-');
    assert.equal((await cli(['load', '--root', root, '-i', busyboxLayout(), '-t', base])).code, 0);
    // the same base for docker: our docker-archive of it, loaded into dockerd
    const tar = join(work, 'base.tar');
    assert.equal((await cli(['save', '--root', root, '-o', tar, base])).code, 0);
    await execFileP(DOCKER, ['load', '-i', tar]);
  });
  after(async () => {
    await execFileP(DOCKER, ['rmi', base]).catch(() => undefined);
    await removeAll(root, work);
  });

  it('the same bytes for IPv4, IPv6 written the long way, and several addresses of one name', async () => {
    const ctx = await makeTree({ Dockerfile: `FROM ${base}\nRUN cat /etc/hosts > /hosts\n` });
    const hosts = ['foo:1.2.3.4', 'six:0:0:0:0:0:0:0:1', 'db:10.0.0.1', 'db:10.0.0.2'];
    try {
      await execFileP(DOCKER, ['build', '--network=host', '-q', ...hosts.flatMap((h) => ['--add-host', h]), '-o', `type=local,dest=${join(work, 'docker')}`, ctx], {
        env: { ...process.env, DOCKER_BUILDKIT: '1' },
      });
      const r = await cli(['build', '--root', root, '-q', ...hosts.flatMap((h) => ['--add-host', h]), '-o', `type=local,dest=${join(work, 'tsbuild')}`, ctx]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await readFile(join(work, 'tsbuild', 'hosts'), 'utf8'), await readFile(join(work, 'docker', 'hosts'), 'utf8'));
    } finally {
      await removeAll(ctx);
    }
  });
});
