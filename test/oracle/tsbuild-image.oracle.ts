import assert from 'node:assert/strict';
import { cp, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxLayout } from '../../runtime/testing.js';
import { DOCKER, requireDockerd } from './dockerd.js';
import { cli, execFileP, removeAll, tempDir } from '../helpers.js';

const EPOCH = '1700000000';

/**
 * tsbuild builds its own image (the root Dockerfile, `tsbuild build -t tsbuild:dev .`), and that
 * image, run by docker with default privileges (no --privileged, docker's capabilities and seccomp
 * profile), builds testdata/example with `--isolation chroot` into the image root's runc build
 * gives (same image ID, SOURCE_DATE_EPOCH fixed). An oracle check, run on its own with
 * `npm run test:oracle` next to a running dockerd; CI has no dockerd. Docker Hub is out of reach
 * here, so BASE is a Debian 12 base made of this host's binaries (host-debian-base.sh).
 */
describe('the tsbuild image builds testdata/example in a default-privileged docker container', function () {
  this.timeout(600_000);
  let work: string;
  const tag = `tsbuild:oracle-${process.pid}`;

  before(async () => {
    await stat('dist/tsbuild').catch(() => {
      throw new Error('dist/tsbuild is missing: npm run build');
    });
    requireDockerd('tsbuild image');
    work = await tempDir('tsb-image-');
  });
  after(async () => {
    await execFileP(DOCKER, ['rmi', '-f', tag]).catch(() => {});
    await removeAll(work);
  });

  it('builds the image, and the image builds the example as root on the host does', async () => {
    const store = join(work, 'store');
    await execFileP('bash', ['test/oracle/host-debian-base.sh', join(work, 'base')]);
    const base = await cli(['build', '--root', store, '--progress=quiet', '-t', 'host-debian:12', join(work, 'base')]);
    assert.equal(base.code, 0, base.stderr);
    const archive = join(work, 'tsbuild-image.tar');
    const image = await cli(['build', '--root', store, '--progress=quiet', '--build-arg', 'BASE=host-debian:12', '-t', tag, '--output', `type=docker,dest=${archive},name=${tag}`, '.']);
    assert.equal(image.code, 0, image.stderr);
    await execFileP(DOCKER, ['load', '-i', archive]);

    const input = join(work, 'in');
    await cp(busyboxLayout(), join(input, 'bb'), { recursive: true });
    await cp('testdata/example', join(input, 'example'), { recursive: true });
    const script = 'tsbuild load -i /in/bb -t busybox:latest >/dev/null && tsbuild build --isolation chroot --progress=plain -t example /in/example';
    const { stderr } = await execFileP(DOCKER, ['run', '--rm', '--network=host', '-e', `SOURCE_DATE_EPOCH=${EPOCH}`, '-v', `${input}:/in:ro`, '--entrypoint', 'sh', tag, '-c', script], {
      timeout: 300_000,
    });
    const inDocker = /^built (sha256:[0-9a-f]{64})/m.exec(stderr)?.[1];
    assert.ok(inDocker, stderr);

    const hostStore = join(work, 'host-store');
    assert.equal((await cli(['load', '--root', hostStore, '-i', busyboxLayout(), '-t', 'busybox:latest'])).code, 0);
    const onHost = await cli(['build', '--root', hostStore, '-q', 'testdata/example'], { SOURCE_DATE_EPOCH: EPOCH });
    assert.equal(onHost.code, 0, onHost.stderr);
    assert.equal(inDocker, onHost.stdout.trim());
  });
});
