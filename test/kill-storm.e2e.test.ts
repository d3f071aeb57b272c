import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readMountInfo } from '../runtime/mounts.js';
import { busyboxLayout } from '../runtime/testing.js';
import { execFileP, makeTree, removeAll, tempDir } from './helpers.js';
import { requireTools } from './tools.js';

/**
 * Builds killed at random points (SIGKILL, SIGTERM, Ctrl-C's SIGINT to the process group) must
 * leave nothing behind once the next command has run: no mounts, processes, cgroups or temp dirs
 * of this test's store and TMPDIR (other tests run beside this one on the machine, so only ours
 * are counted), and a store that check-store finds whole. The CLI runs as it ships (the bundle),
 * as separate processes, so the kills are real.
 */
/** Numbers in [0, 1) from a seed: the nth is a hash of (seed, n), so a logged seed replays the storm. */
function seededRandom(seed: number): () => number {
  let n = 0;
  return () => createHash('sha256').update(`${seed}:${n++}`).digest().readUInt32BE(0) / 2 ** 32;
}

describe('kill storm: builds killed at random points leave nothing behind', function () {
  this.timeout(240_000);
  let work: string;
  let root: string;
  let tmp: string;
  let ctx: string;
  let bundle: string;

  before(async function () {
    if (process.getuid?.() !== 0) {
      if (process.env.CI === 'true') throw new Error('the kill storm needs root under CI');
      this.skip();
    }
    requireTools(this, ['runc', 'crun', 'setpriv', 'umoci']);
    work = await tempDir('tsb-storm-');
    root = join(work, 'root');
    tmp = join(work, 'tmp');
    bundle = join(work, 'bundle');
    await mkdir(tmp);
    await execFileP(process.execPath, ['scripts/bundle.mjs', bundle]);
    const loaded = await tsbuild(['load', '--root', root, '-i', busyboxLayout(), '-t', 'busybox:latest']);
    assert.equal(loaded.code, 0, loaded.stderr);
    const files: Record<string, string> = {
      // two stages: context COPY of many files, RUN loops writing files and sleeping, COPY --from
      'Dockerfile': [
        'FROM busybox:latest AS gen',
        'ARG N',
        'COPY files/ /files/',
        'RUN for i in $(seq 1 300); do echo "$i $N" > /files/gen-$i; done; sleep 0.4',
        'FROM busybox:latest',
        'ARG N',
        'COPY --from=gen /files /copied',
        'RUN ls /copied | wc -l > /count && sleep 1',
        '',
      ].join('\n'),
    };
    for (let i = 0; i < 200; i++) files[`files/f${i}.txt`] = `file ${i}\n`.repeat(1 + (i % 7));
    ctx = await makeTree(files, join(work, 'ctx'));
  });
  after(async () => {
    if (!work) return;
    await tsbuild(['du', '--root', root]); // unmounts what a failed test left, so the tree can go
    await removeAll(work);
  });

  /** The bundled CLI with this test's TMPDIR, to completion. */
  function tsbuild(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
    const child = start(args);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  }

  function start(args: string[]): ChildProcess {
    // its own process group, so SIGINT can go to all of it as a terminal's Ctrl-C does
    return spawn(process.execPath, [join(bundle, 'main.js'), ...args], {
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
  }

  /**
   * Processes of this test: a runtime or watchdog naming our store, or a RUN payload in one of our
   * builds' cgroups (a payload's /proc/PID/root reads "/" after pivot_root, so its cgroup tells).
   */
  function ourProcesses(buildIds: ReadonlySet<string>, cmd?: string): string[] {
    const out: string[] = [];
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
        const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
        const ours = cmd === undefined ? cmdline.includes(root) || [...buildIds].some((b) => cgroups.includes(`/${b}/`)) : cmdline === cmd && cgroups.includes('/tsb-');
        if (ours) {
          out.push(`${pid}: ${cmdline.slice(0, 120)}`);
        }
      } catch {
        /* exited meanwhile */
      }
    }
    return out;
  }

  function ourCgroups(buildIds: ReadonlySet<string>): string[] {
    const hierarchies = [...new Set(readMountInfo().filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2').map((m) => m.mountPoint))];
    return hierarchies.flatMap((h) => [...buildIds].map((b) => join(h, b)).filter((d) => existsSync(d)));
  }

  const ourMounts = (): string[] => readMountInfo().map((m) => m.mountPoint).filter((p) => p.startsWith(root) || p.startsWith(tmp));

  async function entries(dir: string): Promise<string[]> {
    return readdir(dir).catch(() => []);
  }

  it('20 builds killed by SIGKILL, SIGTERM and SIGINT; after one `du`: zero mounts, processes, cgroups, temp dirs, and check-store finds the store whole', async () => {
    const seed = Number(process.env.KILL_STORM_SEED ?? Date.now() % 1_000_000);
    console.log(`      kill storm seed ${seed} (KILL_STORM_SEED=${seed} repeats it)`);
    const random = seededRandom(seed);
    // every build id that ever registered, to find its cgroups and processes
    const buildIds = new Set<string>();
    await mkdir(join(root, 'runtime', 'builds'), { recursive: true });
    const watcher: FSWatcher = watch(join(root, 'runtime', 'builds'), (_event, name) => {
      const m = /^\.?(tsb-[A-Za-z0-9_-]+?)(?:\.\d+-\d+)?\.(?:json|tmp)$/.exec(String(name));
      if (m) buildIds.add(m[1]!);
    });
    const signals: NodeJS.Signals[] = ['SIGKILL', 'SIGTERM', 'SIGINT'];
    const outcomes: string[] = [];
    try {
      // two at a time: each command's start-up cleanup must spare the other, live build
      for (let pair = 0; pair < 10; pair++) {
        await Promise.all(
          [0, 1].map(async (k) => {
            const n = pair * 2 + k;
            const signal = signals[Math.floor(random() * signals.length)]!;
            const delayMs = Math.floor(300 + random() * 3200);
            const runtime = n % 2 === 0 ? 'runc' : 'crun';
            const child = start(['build', '--root', root, '--runtime', runtime, '--progress=plain', '--build-arg', `N=${seed}-${n}`, ctx]);
            let stderr = '';
            child.stdout!.resume();
            child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
            let sent = false;
            const closed = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve) =>
              child.on('close', (code, sig) => resolve({ code, sig })),
            );
            const timer = setTimeout(() => {
              sent = true;
              // SIGINT as a terminal sends it: to the whole process group
              if (signal === 'SIGINT') process.kill(-child.pid!, 'SIGINT');
              else child.kill(signal);
            }, delayMs);
            const { code, sig } = await closed;
            clearTimeout(timer);
            const lastStep = stderr.split('\n').filter((l) => /^#\d+ \[/.test(l)).pop() ?? '(no step yet)';
            outcomes.push(`build ${n} (${runtime}) ${signal} at ${delayMs} ms: ${sent ? `${sig ?? `exit ${code}`}, during ${lastStep}` : `finished first (exit ${code})`}`);
            // a build that was not killed must have succeeded: the others' cleanup left it alone
            if (!sent) assert.equal(code, 0, `build ${n} failed before its kill:\n${stderr}`);
          }),
        );
      }
    } finally {
      watcher.close();
      console.log(outcomes.map((o) => `      ${o}`).join('\n'));
    }
    assert.ok(buildIds.size > 0, 'no build reached a RUN step: the storm tested nothing');

    // the RUN payloads die with their build, without waiting for another command
    for (let i = 0; i < 50 && ourProcesses(buildIds).length > 0; i++) await sleep(100);
    assert.deepEqual(ourProcesses(buildIds), [], 'processes of killed builds still running 5 s later');

    const du = await tsbuild(['du', '--root', root]);
    assert.equal(du.code, 0, du.stderr);

    assert.deepEqual(ourMounts(), []);
    assert.deepEqual(ourProcesses(buildIds), []);
    assert.deepEqual(ourCgroups(buildIds), []);
    assert.deepEqual(await entries(tmp), [], 'temp dirs in TMPDIR');
    for (const dir of ['tmp', 'ingest', 'runtime/steps', 'runtime/tmp', 'runtime/builds', 'runtime/runc', 'runtime/crun']) {
      assert.deepEqual(await entries(join(root, dir)), [], `leftovers in <root>/${dir}`);
    }
    const check = await tsbuild(['check-store', '--root', root]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /store OK/);
    // and the store still builds (a full run, after all those kills)
    const last = await tsbuild(['build', '--root', root, '--progress=plain', '--build-arg', `N=${seed}-final`, ctx]);
    assert.equal(last.code, 0, last.stderr);
  });

  const payloadCases = ['runc', 'crun'].flatMap((runtime) => [
    { runtime, group: false },
    // kill -9 -PGID, as a CI job's timeout does: the runtime processes die too
    { runtime, group: true },
  ]);
  for (const { runtime, group } of payloadCases) {
    it(`a RUN payload dies within 3 s of a SIGKILL to ${group ? "tsbuild's process group" : 'tsbuild'}, before any other command (${runtime})`, async () => {
      const marker = 4000 + Math.floor(Math.random() * 1000);
      const dir = await makeTree({ 'Dockerfile': `FROM busybox:latest\nRUN sleep ${marker}\n` }, join(work, `sleep-${runtime}-${group ? 'group' : 'pid'}`));
      const child = start(['build', '--root', root, '--runtime', runtime, '--progress=plain', dir]);
      child.stdout!.resume();
      child.stderr!.resume();
      const closed = new Promise((resolve) => child.on('close', resolve));
      const payload = (): string[] => ourProcesses(new Set(), `sleep ${marker}`);
      try {
        for (let i = 0; i < 300 && payload().length === 0; i++) await sleep(50);
        assert.equal(payload().length, 1, 'the RUN step never started');
      } finally {
        if (group) process.kill(-child.pid!, 'SIGKILL');
        else child.kill('SIGKILL');
        await closed;
      }
      const t0 = performance.now();
      while (payload().length > 0 && performance.now() - t0 < 3000) await sleep(20);
      assert.deepEqual(payload(), [], `payload still running ${Math.round(performance.now() - t0)} ms after the SIGKILL`);
      // its mount and cgroups wait for the next command
      assert.equal((await tsbuild(['images', '--root', root])).code, 0);
      assert.deepEqual(ourMounts(), []);
    });
  }
});
