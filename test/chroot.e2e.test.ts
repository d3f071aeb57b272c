import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, makeTree, processesWith, removeAll, storeWithBusybox } from './helpers.js';

/**
 * --isolation chroot (runtime/chroot.ts) on this host, as root: the same image as runc gives for
 * RUN with USER, WORKDIR and chown, the step's /dev and /etc/hosts kept out of its layers, its
 * background processes killed with it, and what it cannot do refused with the reason.
 * (test/oracle/tsbuild-image.oracle.ts runs it where it is meant for: a default docker container.)
 */
const EPOCH = { SOURCE_DATE_EPOCH: '1700000000' };

describe('--isolation chroot: RUN without containers', function () {
  this.timeout(300_000);
  let root: string;
  let work: string;
  let ctx: string;
  const token = `tsb-chroot-bg-${process.pid}`;

  before(async function () {
    ({ root, work } = await storeWithBusybox(this));
    ctx = await makeTree({
      Dockerfile: [
        'FROM busybox:latest',
        "RUN echo 'app:x:1000:1000:app:/home/app:/bin/sh' >> /etc/passwd && mkdir -p /home/app && chown 1000:1000 /home/app",
        'USER app',
        'WORKDIR /home/app/sub',
        `RUN id -u > uid && pwd > cwd && echo x > /dev/null && head -c 4 /dev/urandom | wc -c > rnd && (sleep 1000 && echo ${token} &) ; true`,
        'USER root',
        'RUN echo changed >> /etc/hosts; touch /dev/stray; rm -rf /data; mkdir /data',
        '',
      ].join('\n'),
    });
  });
  after(() => removeAll(root, work, ctx));

  it('gives the image runc gives, with nothing of /dev or /etc/hosts in a layer and no process left', async () => {
    const chroot = await cli(['build', '--root', root, '--isolation', 'chroot', '--no-cache', '-q', ctx], EPOCH);
    assert.equal(chroot.code, 0, chroot.stderr);
    assert.deepEqual(processesWith(token), [], "the step's background process died with it");
    const runc = await cli(['build', '--root', root, '--no-cache', '-q', ctx], EPOCH);
    assert.equal(runc.code, 0, runc.stderr);
    assert.match(chroot.stdout.trim(), /^sha256:[0-9a-f]{64}$/);
    assert.equal(chroot.stdout.trim(), runc.stdout.trim());

    const out = await cli(['build', '--root', root, '--isolation', 'chroot', '--progress=quiet', '--output', `type=local,dest=${join(work, 'fs')}`, ctx], EPOCH);
    assert.equal(out.code, 0, out.stderr);
    const fs = join(work, 'fs');
    assert.equal(readFileSync(join(fs, 'home/app/sub/uid'), 'utf8'), '1000\n');
    assert.equal(readFileSync(join(fs, 'home/app/sub/cwd'), 'utf8'), '/home/app/sub\n');
    assert.equal(readFileSync(join(fs, 'home/app/sub/rnd'), 'utf8').trim(), '4');
    assert.deepEqual(readdirSync(join(fs, 'dev')), [], 'the /dev nodes and the stray file stay out of the image');
    // the base has no /etc/hosts; the step's (which it appended to) is not the image's, as with BuildKit's bind mount
    assert.equal(existsSync(join(fs, 'etc/hosts')), false);
  });

  it('refuses --network=none and RUN --mount, saying why', async () => {
    const none = await cli(['build', '--root', root, '--isolation', 'chroot', '--network=none', '--no-cache', '--progress=quiet', ctx]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /--network=none needs a network namespace, which --isolation chroot cannot create/);
    const mctx = await makeTree({ Dockerfile: 'FROM busybox:latest\nRUN --mount=type=tmpfs,target=/t true\n' });
    try {
      const mount = await cli(['build', '--root', root, '--isolation', 'chroot', '--progress=quiet', mctx]);
      assert.equal(mount.code, 1);
      assert.match(mount.stderr, /RUN --mount=type=tmpfs needs mount\(2\), which --isolation chroot does not have/);
    } finally {
      await removeAll(mctx);
    }
  });
});
