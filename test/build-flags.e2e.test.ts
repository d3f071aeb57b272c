import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, makeTree, removeAll, storeWithBusybox } from './helpers.js';

/** docker build's RUN flags (--add-host, --ulimit, --shm-size, --cgroup-parent, --security-opt) seen from inside a real RUN. */
describe('build flags that reach RUN: end to end', function () {
  this.timeout(300_000);
  let root: string;
  let work: string;
  const cgroupParent = `tsbtest-${process.pid}`;

  before(async function () {
    ({ root, work } = await storeWithBusybox(this));
  });
  after(async () => {
    // the parent cgroup itself is left by design (docker leaves it too); the test's own goes
    for (const mp of ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d))]) {
      const dir = join(mp, cgroupParent);
      if (existsSync(dir)) rmdirSync(dir);
    }
    await removeAll(root, work);
  });

  const build = (args: string[]) => cli(['build', '--root', root, '--progress=plain', ...args]);
  const probe = 'FROM busybox:latest\n' +
    'RUN cat /etc/hosts > /hosts; ulimit -Sn > /nofile; ulimit -Hn >> /nofile; ulimit -c > /core; ' +
    "df -k /dev/shm | tail -1 | awk '{print $2}' > /shm; grep pids /proc/self/cgroup > /cgroup; " +
    'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status > /status\n';

  it('gives RUN the hosts, limits, /dev/shm, cgroup and confinement the flags ask for', async () => {
    const ctx = await makeTree({ Dockerfile: probe });
    const out = join(work, 'flags-out');
    try {
      const r = await build([
        '--add-host', 'foo:1.2.3.4', '--add-host', 'six=[0:0::1]', '--add-host', 'many=10.0.0.1,10.0.0.2',
        '--ulimit', 'nofile=1024:2048', '--ulimit', 'core=-1',
        '--shm-size', '128m', '--cgroup-parent', cgroupParent,
        '--security-opt', 'seccomp=unconfined', '--security-opt', 'no-new-privileges',
        '--output', `type=local,dest=${out}`, ctx,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const file = (name: string): Promise<string> => readFile(join(out, name), 'utf8');
      // exactly BuildKit's file (executor/oci/hosts.go), checked against docker build --add-host
      assert.equal(await file('hosts'), '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n1.2.3.4\tfoo\n::1\tsix\n10.0.0.1\tmany\n10.0.0.2\tmany\n');
      assert.equal(await file('nofile'), '1024\n2048\n');
      assert.equal(await file('core'), 'unlimited\n');
      assert.equal(await file('shm'), '131072\n');
      assert.match(await file('cgroup'), new RegExp(`:pids:/${cgroupParent}/tsb-[^/]+/tsb-[^/]+\\n$`));
      assert.equal(await file('status'), 'NoNewPrivs:\t1\nSeccomp:\t0\n');
    } finally {
      await removeAll(ctx, out);
    }
  });

  it('keeps the defaults without flags: 64 MiB /dev/shm, Docker seccomp, no extra hosts', async () => {
    const ctx = await makeTree({ Dockerfile: probe });
    const out = join(work, 'default-out');
    try {
      const r = await build(['--output', `type=local,dest=${out}`, ctx]);
      assert.equal(r.code, 0, r.stderr);
      const file = (name: string): Promise<string> => readFile(join(out, name), 'utf8');
      assert.equal(await file('hosts'), '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n');
      assert.equal(await file('shm'), '65536\n');
      assert.equal(await file('status'), 'NoNewPrivs:\t0\nSeccomp:\t2\n');
    } finally {
      await removeAll(ctx, out);
    }
  });

  it('applies a seccomp profile file in place of Docker default', async () => {
    const ctx = await makeTree({ Dockerfile: 'FROM busybox:latest\nRUN touch /f && chmod 600 /f\n' });
    const profile = join(work, 'no-chmod.json');
    await writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod', 'fchmodat', 'fchmodat2'], action: 'SCMP_ACT_ERRNO' }] }));
    try {
      const denied = await build(['--security-opt', `seccomp=${profile}`, ctx]);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /Operation not permitted/);
      assert.equal((await build([ctx])).code, 0);
    } finally {
      await removeAll(ctx);
    }
  });

  it('keys RUN on host names but not their addresses, on limits and on /dev/shm (as BuildKit)', async () => {
    const ctx = await makeTree({ Dockerfile: 'FROM busybox:latest\nRUN echo run\n' });
    const ran = (stderr: string): boolean => /^#2 \[2\/2\] RUN echo run$/m.test(stderr) && /^#2 DONE/m.test(stderr) && !/^#2 CACHED/m.test(stderr);
    try {
      assert.ok(ran((await build([ctx])).stderr));
      assert.ok(ran((await build(['--add-host', 'db:10.0.0.1', ctx])).stderr));
      assert.ok(!ran((await build(['--add-host', 'db:10.0.0.2', ctx])).stderr), 'another IP for the same name reuses the step');
      assert.ok(ran((await build(['--add-host', 'cache:10.0.0.2', ctx])).stderr), 'another name re-runs it');
      assert.ok(ran((await build(['--ulimit', 'nofile=100:200', ctx])).stderr));
      assert.ok(!ran((await build(['--ulimit', 'nofile=100:200', ctx])).stderr));
      assert.ok(ran((await build(['--shm-size', '32m', ctx])).stderr));
      assert.ok(!ran((await build([ctx])).stderr), 'no flags: the first key again');
    } finally {
      await removeAll(ctx);
    }
  });

  it('accepts the daemon-only flags with a note each; rejects unknown --allow values and bad specs (exit 2)', async () => {
    const ctx = await makeTree({ Dockerfile: 'FROM busybox:latest\n' });
    try {
      const r = await build(['--builder', 'default', '--rm', '--force-rm', '--compress', '--squash', '--memory', '1g', '--memory-swap', '2g', '--cpu-shares', '512', ctx]);
      assert.equal(r.code, 0, r.stderr);
      for (const flag of ['builder', 'rm', 'force-rm', 'compress', 'squash', 'memory', 'memory-swap', 'cpu-shares']) {
        assert.equal(r.stderr.split('\n').filter((l) => l.startsWith(`note: --${flag}: `)).length, 1, `one note for --${flag}:\n${r.stderr}`);
      }
      const quiet = await cli(['build', '--root', root, '-q', '--squash', ctx]);
      assert.equal(quiet.stderr, '');
      const cases: Array<[string[], RegExp]> = [
        [['--allow', 'foo'], /invalid --allow "foo" \(security.insecure, network.host\)/],
        [['--add-host', 'nohost'], /bad format for add-host/],
        [['--ulimit', 'nofile=9:1'], /soft limit must be less than or equal to hard limit/],
        [['--shm-size', 'lots'], /invalid --shm-size "lots"/],
        [['--cgroup-parent', '../escape'], /invalid cgroup parent "..\/escape"/],
        [['--security-opt', 'bogus'], /invalid --security-opt "bogus"/],
      ];
      for (const [args, message] of cases) {
        const bad = await build([...args, ctx]);
        assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
        assert.match(bad.stderr, message);
      }
    } finally {
      await removeAll(ctx);
    }
  });

  it('progress reads like BuildKit plain output: labels, expanded FROM, export steps, exact miss reasons, errors once', async () => {
    const ctx = await makeTree({
      Dockerfile: 'ARG BASE=busybox:latest\nFROM ${BASE} AS base\nENV X=1\nRUN echo hi > /a\nFROM base\nCOPY Dockerfile /d\nWORKDIR /w\nRUN echo two\n',
    });
    try {
      const r = await build(['-t', 'progress:1', '--no-cache-filter', 'base', ctx]);
      assert.equal(r.code, 0, r.stderr);
      const headers = r.stderr.split('\n').filter((l) => /^#\d+ \S/.test(l) && !/^#\d+ (DONE|CACHED|ERROR|\d+\.\d+ )/.test(l) && !/^#\d+ (exporting (layers|manifest|config)|naming) /.test(l));
      assert.deepEqual(headers, [
        '#1 [base 1/2] FROM docker.io/library/busybox:latest',
        '#2 [base 2/2] RUN echo hi > /a',
        '#3 [stage-1 1/3] COPY Dockerfile /d',
        '#4 [stage-1 2/3] WORKDIR /w',
        '#5 [stage-1 3/3] RUN echo two',
        '#6 exporting to image',
      ]);
      assert.match(r.stderr, /^#2 DONE \d+\.\ds \(cache disabled by --no-cache-filter base\)$/m);
      assert.match(r.stderr, /^#6 naming to docker\.io\/library\/progress:1 (\d+\.\ds )?done$/m);
      assert.match(r.stderr, /^#6 exporting manifest sha256:[a-f0-9]{64} done$/m);
      assert.doesNotMatch(r.stderr, /ENV X=1/, 'metadata steps are not shown, as in BuildKit');
      await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nRUN echo boom-marker; exit 3\n');
      const failed = await build([ctx]);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /^#2 \[2\/2\] RUN echo boom-marker; exit 3$/m, 'a one-stage Dockerfile has no stage name in its labels');
      assert.equal(failed.stderr.match(/exit code: 3/g)?.length, 1, `the error once:\n${failed.stderr}`);
    } finally {
      await removeAll(ctx);
    }
  });
});
