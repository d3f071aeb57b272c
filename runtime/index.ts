/**
 * runtime/: RUN steps in real containers.
 *
 * A step's rootfs comes from a Snapshotter (snapshotter.ts: an overlay of read-only layer
 * snapshots plus a fresh upper dir, or a `cp -a` of a flattened chain where overlay does not
 * work). runc/crun run the step with a spec we build ourselves; the snapshotter's diff is handed
 * to `commit` while the snapshot still exists; then everything is torn down — also on error,
 * timeout, abort, close() and SIGINT/SIGTERM. A build killed with SIGKILL is cleaned up by the next
 * command that opens the store (or Runtime.create on the same state dir); its RUN payload dies
 * with it (OciRuntime.run's watchdog).
 *
 * State dir layout: builds/ (who is alive), runc|crun/ (runtime state), snapshots/ + deltas/ + l/ (layers),
 * flat/ (copy snapshotter), steps/<container id>/ (bundle, upper, mounts), cache-mounts/, logs/,
 * tmp/, seccomp-bpf/ (crun's compiled filters).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import type { TarSource } from '../image/tar/writer.js';
import type { Layer } from '../image/image.js';
import type { Readable } from 'node:stream';
import { digestHex, type Digest } from '../image/digest.js';
import {
  BUILD_PREFIX,
  checkCgroupParent,
  cleanupStale,
  removeBuildRecord,
  writeBuildRecord,
} from './builds.js';
import { RunAbortedError, RunRequestError, RunTimeoutError, RuntimeSetupError } from './errors.js';
import { resolveInRoot } from '../image/safe-path.js';
import { unmountAllUnder } from './mounts.js';
import { isHybridCgroups, OciRuntime, removeBuildCgroups } from './oci.js';
import { StepOutput } from './output.js';
import { probeOverlay, probeRuntime } from './probe.js';
import { prepareMounts, normalizeTarget, type MountContext } from './runmounts.js';
import { createSnapshotter, type SeedResult, type Snapshotter, type StepRootfs } from './snapshotter.js';
import type { DeltaHint } from './delta.js';
import { chrootRefusal, placeChrootFixtures, runChrooted, withoutChrootFixtures, type ChrootRun } from './chroot.js';
import { buildSpec, DEFAULT_CAPS, specJson, standardMounts, type OciMount } from './spec.js';
import { defaultSeccomp, type OciSeccomp } from './seccomp.js';
import { crunSeccompBpf, SECCOMP_BPF_ANNOTATION } from './seccomp-bpf.js';
import { MountStubs } from './stubs.js';
import type { ExtraHost, RunRequest, RunResult, RuntimeInfo, RuntimeOptions } from './types.js';
import { resolveUser } from './users.js';
import { which } from './exec.js';
import { inUserNamespace } from './userns.js';

export type { DeltaHint } from './delta.js';
export type { SeedResult } from './snapshotter.js';
export type { ExtraHost, RunMount, RunRequest, RunResult, RuntimeInfo, RuntimeOptions, SecurityOptions, Ulimit } from './types.js';
export { checkCgroupParent } from './builds.js';
export { ULIMIT_NAMES } from './types.js';
export * from './errors.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_HOSTNAME = 'buildkitsandbox';

/** Probe results per (state dir, wanted runtime/snapshotter): probing costs ~100 ms. */
const probed = new Map<string, Promise<{ oci: OciRuntime; overlay: boolean }>>();

/**
 * CVE-2024-21626: runc ≤ 1.1.11 leaks a host directory fd, so a cwd like /proc/self/fd/7 (or a
 * symlink in the image that leads there) would start the step outside its rootfs. No build step
 * has a reason to start under /proc, so such a cwd is refused before anything starts.
 */
export function checkCwd(cwd: string): string {
  if (!cwd.startsWith('/')) throw new RunRequestError(`working directory must be absolute: ${JSON.stringify(cwd)}`, { cwd });
  const n = posix.normalize(cwd);
  if (n === '/proc' || n.startsWith('/proc/')) {
    throw new RunRequestError(`refusing working directory ${JSON.stringify(cwd)} under /proc`, { cwd });
  }
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

function withDefaults(env: readonly string[], home: string): string[] {
  const out = [...env];
  const has = (k: string) => out.some((e) => e.startsWith(`${k}=`));
  if (!has('PATH')) out.push(`PATH=${DEFAULT_PATH}`);
  if (!has('HOME')) out.push(`HOME=${home}`);
  return out;
}

class Step {
  child: ChildProcess | undefined;
  exited: Promise<number> | undefined;
  created = false;
  aborted = false;
  timedOut = false;
  readonly cleanup: MountContext['cleanup'] = [];
  readonly hostMounts: string[] = [];
  #torn: Promise<void> | undefined;

  constructor(
    readonly id: string,
    readonly dir: string,
    readonly oci: OciRuntime,
  ) {}

  /** Kills the container's whole pid namespace (init gets SIGKILL; the kernel kills the rest). */
  async kill(): Promise<void> {
    if (!this.child || !this.exited) return;
    let done = false;
    void this.exited.then(() => (done = true));
    for (let i = 0; i < 30 && !done; i++) {
      await this.oci.kill(this.id, 'KILL');
      await Promise.race([this.exited, sleep(100)]);
    }
    if (!done) {
      this.child.kill('SIGKILL');
      await this.oci.delete(this.id);
    }
  }

  teardown(): Promise<void> {
    this.#torn ??= this.#teardown();
    return this.#torn;
  }

  async #teardown(): Promise<void> {
    const errors: unknown[] = [];
    const attempt = async (f: () => unknown) => {
      try {
        await f();
      } catch (e) {
        errors.push(e);
      }
    };
    if (this.exited) {
      let done = false;
      void this.exited.then(() => (done = true));
      await sleep(0);
      if (!done) await attempt(() => this.kill());
    }
    if (this.created) await attempt(() => this.oci.delete(this.id));
    for (const f of this.cleanup.reverse()) await attempt(f);
    await attempt(() => unmountAllUnder(this.dir));
    await attempt(() => fsp.rm(this.dir, { recursive: true, force: true }));
    if (errors.length > 0) {
      throw new RuntimeSetupError(`teardown of ${this.id} failed: ${errors.map((e) => (e as Error).message).join('; ')}`, {
        containerId: this.id,
      });
    }
  }
}

// ---------------------------------------------------------------- SIGINT / SIGTERM

const live = new Set<Runtime>();
let handlersInstalled = false;

function onSignal(sig: NodeJS.Signals): void {
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  handlersInstalled = false;
  void Promise.allSettled([...live].map((r) => r.close())).then(() => process.kill(process.pid, sig));
}

function track(r: Runtime, on: boolean): void {
  if (on) live.add(r);
  else live.delete(r);
  if (live.size > 0 && !handlersInstalled) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    handlersInstalled = true;
  } else if (live.size === 0 && handlersInstalled) {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    handlersInstalled = false;
  }
}

// ---------------------------------------------------------------- Runtime

interface ProbeRecord {
  fingerprint: string;
  runtime: { name: 'runc' | 'crun'; binary: string; wrap: boolean };
  overlay: boolean;
}

async function probeFingerprint(root: string, want: string, snap: string): Promise<string> {
  const bins: string[] = [];
  for (const name of ['crun', 'runc']) {
    const bin = await which(name);
    const st = bin ? await fsp.stat(bin).catch(() => undefined) : undefined;
    bins.push(`${name}=${bin ?? '-'}:${st?.size ?? 0}:${st?.mtimeMs ?? 0}`);
  }
  // overlay support depends on the file system the state dir is on, not only on the kernel
  const dev = (await fsp.stat(root)).dev;
  return [release(), inUserNamespace() ? 'userns' : 'host', want, snap, isHybridCgroups() ? 'hybrid' : 'single', `dev=${dev}`, ...bins].join('|');
}

/**
 * Where else a verdict is remembered: per machine, in /run (a tmpfs, emptied at boot), so a new
 * or wiped store does not pay ~0.1 s for a probe this machine already ran. The file name carries
 * the fingerprint's hash; TSBUILD_PROBE_DIR overrides the directory (tests), '' turns it off.
 */
function machineProbeFile(fingerprint: string): string | undefined {
  const dir = process.env.TSBUILD_PROBE_DIR ?? '/run/tsbuild';
  if (dir === '') return undefined;
  return join(dir, `probe-${createHash('sha256').update(fingerprint).digest('hex').slice(0, 32)}.json`);
}

async function readProbe(root: string, fingerprint: string): Promise<{ oci: OciRuntime; overlay: boolean } | undefined> {
  const machine = machineProbeFile(fingerprint);
  for (const file of [join(root, 'probe.json'), ...(machine ? [machine] : [])]) {
    try {
      const r = JSON.parse(await fsp.readFile(file, 'utf8')) as ProbeRecord;
      if (r.fingerprint !== fingerprint || !existsSync(r.runtime.binary)) continue;
      return { oci: new OciRuntime(r.runtime.name, r.runtime.binary, join(root, r.runtime.name), r.runtime.wrap), overlay: r.overlay };
    } catch {
      continue;
    }
  }
  return undefined;
}

async function writeProbe(root: string, fingerprint: string, r: { oci: OciRuntime; overlay: boolean }): Promise<void> {
  const rec: ProbeRecord = { fingerprint, runtime: { name: r.oci.name, binary: r.oci.binary, wrap: r.oci.wrap }, overlay: r.overlay };
  const machine = machineProbeFile(fingerprint);
  for (const file of [join(root, 'probe.json'), ...(machine ? [machine] : [])]) {
    try {
      await fsp.mkdir(dirname(file), { recursive: true, mode: 0o700 });
      const tmp = `${file}.${randomBytes(4).toString('hex')}`;
      await fsp.writeFile(tmp, JSON.stringify(rec), { mode: 0o600 });
      await fsp.rename(tmp, file);
    } catch (e) {
      if (file === join(root, 'probe.json')) throw e; // the machine copy is only a shortcut
    }
  }
}

export class Runtime {
  readonly info: RuntimeInfo;
  readonly buildId: string;
  readonly root: string;
  readonly #oci: OciRuntime;
  readonly #cgroupParent: string | undefined;
  readonly #snapshotter: Snapshotter;
  /** `--isolation chroot` (runtime/chroot.ts): no runtime, no containers. */
  readonly #chroot: boolean;
  readonly #steps = new Set<Step>();
  /** layerView's mounts by their stack's diffIDs, and the dirs they are under (removed by close()). */
  readonly #views = new Map<string, Promise<string>>();
  readonly #viewDirs: string[] = [];
  /** crun's compiled seccomp filters by their section's JSON (undefined: crun compiles it). */
  readonly #bpf = new Map<string, Promise<Buffer | undefined>>();
  #counter = 0;
  #closed: Promise<void> | undefined;

  private constructor(root: string, buildId: string, oci: OciRuntime, overlay: boolean, cgroupParent: string | undefined, chroot = false) {
    this.root = root;
    this.#chroot = chroot;
    this.#cgroupParent = cgroupParent;
    this.buildId = buildId;
    this.#oci = oci;
    this.#snapshotter = createSnapshotter(overlay ? 'overlay' : 'copy', root, buildId);
    this.info = { runtime: chroot ? 'chroot' : oci.name, snapshotter: this.#snapshotter.name };
  }

  static async create(createOptions: RuntimeOptions): Promise<Runtime> {
    if (!isAbsolute(createOptions.root)) throw new RuntimeSetupError(`runtime state dir must be absolute: ${createOptions.root}`, { root: createOptions.root });
    const root = resolve(createOptions.root);
    if (/[,:\s]/.test(root)) {
      throw new RuntimeSetupError(`runtime state dir must not contain ',', ':' or spaces (overlay options): ${root}`, { root });
    }
    if (process.getuid?.() !== 0) {
      throw new RuntimeSetupError('running RUN steps needs root or the rootless user namespace the tsbuild command enters by itself', {});
    }
    let buildId = createOptions.buildId ?? randomBytes(5).toString('hex');
    if (!buildId.startsWith(BUILD_PREFIX)) buildId = BUILD_PREFIX + buildId;
    if (!/^tsb-[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*$/.test(buildId) || buildId.length > 64) {
      throw new RuntimeSetupError(`invalid build id ${JSON.stringify(buildId)}`, { buildId });
    }
    for (const d of ['builds', 'steps', 'tmp', 'logs', 'cache-mounts', 'snapshots', 'l']) {
      await fsp.mkdir(join(root, d), { recursive: true });
    }
    const cgroupParent = createOptions.cgroupParent !== undefined ? checkCgroupParent(createOptions.cgroupParent) : undefined;
    await writeBuildRecord(root, buildId, cgroupParent);

    // leftovers of dead builds (every command that opens the store also does this)
    await cleanupStale(root, buildId);

    if (createOptions.isolation === 'chroot') {
      // no runtime to probe, and no mount(2) for overlay: the copy snapshotter and chroot(1)
      if (createOptions.snapshotter === 'overlay') {
        await removeBuildRecord(root, buildId);
        throw new RuntimeSetupError('--isolation chroot uses the copy snapshotter (it cannot mount overlay)', {});
      }
      const r = new Runtime(root, buildId, new OciRuntime('runc', '', join(root, 'runc'), false), false, undefined, true);
      track(r, true);
      return r;
    }
    const want = createOptions.runtime ?? 'auto';
    const snap = createOptions.snapshotter ?? 'auto';
    const key = `${root}\0${want}\0${snap}`;
    let p = probed.get(key);
    if (!p) {
      p = (async () => {
        // A probe runs a container and mounts an overlay (~0.1 s); its verdict is kept on disk
        // for as long as the kernel, the runtime binaries and the choices stay the same.
        const fingerprint = await probeFingerprint(root, want, snap);
        const remembered = await readProbe(root, fingerprint);
        if (remembered) return remembered;
        const oci = await probeRuntime(want, root, join(root, 'tmp', `${buildId}-000000000000`), buildId);
        let overlay = false;
        if (snap !== 'copy') {
          const why = await probeOverlay(join(root, 'tmp', `${buildId}-000000000001`));
          if (why && snap === 'overlay') throw new RuntimeSetupError(overlayUnavailable(why), { reason: why });
          overlay = why === undefined;
        }
        await writeProbe(root, fingerprint, { oci, overlay });
        return { oci, overlay };
      })();
      probed.set(key, p);
      p.catch(() => probed.delete(key));
    }
    let result;
    try {
      result = await p;
    } catch (e) {
      await removeBuildRecord(root, buildId);
      throw e;
    }
    // the probe's OciRuntime may come from another build id: only its binary/state dir matter
    // converted once per process (and a missing profile fails here, not at the first RUN)
    defaultSeccomp(DEFAULT_CAPS);
    const r = new Runtime(root, buildId, result.oci, result.overlay, cgroupParent);
    track(r, true);
    return r;
  }

  /**
   * Runs one step and hands its filesystem diff to `commit`. With `committedDiffID` (the diffID of
   * the layer `commit` made), the overlay upper dir becomes that layer's snapshot.
   */
  async runStep<T>(
    req: RunRequest,
    commit: (diff: AsyncIterable<TarSource>) => Promise<T>,
    committedDiffID?: (committed: T) => Digest | undefined,
  ): Promise<RunResult<T>> {
    if (this.#closed) throw new RuntimeSetupError('runtime is closed', {});
    if (req.signal?.aborted) throw new RunAbortedError({});
    const t0 = performance.now();
    const cwd = checkCwd(req.cwd);
    const id = `${this.buildId}-${++this.#counter}`;
    const stepDir = join(this.root, 'steps', id);
    const step = new Step(id, stepDir, this.#oci);
    this.#steps.add(step);
    await fsp.mkdir(join(this.root, 'logs', this.buildId), { recursive: true });
    const logFile = join(this.root, 'logs', this.buildId, `${id}.log`);
    const output = new StepOutput(logFile, req.onOutput);
    const onAbort = () => {
      step.aborted = true;
      void step.kill();
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await fsp.mkdir(join(stepDir, 'bundle'), { recursive: true });
      const rootfs = await this.#snapshotter.prepare(req.lowers, { dir: stepDir, hostMounts: step.hostMounts });
      this.#throwIfAborted(step, req);
      if (this.#chroot) return await this.#runChrootStep(step, req, { rootfs, cwd, output, logFile, t0 }, commit);

      const stubs = await this.#writeBundle(step, rootfs.path, cwd, req);
      this.#throwIfAborted(step, req);

      // ---- run
      const exitCode = await this.#run(step, join(stepDir, 'bundle'), output, req);
      await output.close();
      const lastLines = output.lastLines();
      const data = { containerId: id, lastLines, logFile };
      if (step.aborted) throw new RunAbortedError(data);
      if (step.timedOut) throw new RunTimeoutError(req.timeoutMs ?? 0, data);

      // the container must be gone before its upper dir is read ('run' deletes it on a normal
      // exit; only a container whose state is still there needs one more runtime process)
      if (this.#oci.hasState(id)) await this.#oci.delete(id);
      step.created = false;
      await stubs.clean();
      const result: RunResult<T> = { exitCode, durationMs: 0, lastLines, logFile };
      if (exitCode === 0) {
        result.committed = await commit(await rootfs.diff());
        const diffID = committedDiffID?.(result.committed);
        if (diffID) await rootfs.keep(diffID);
      }
      result.durationMs = Math.round(performance.now() - t0);
      return result;
    } catch (e) {
      // close() or the abort signal tore the step down under us: report that, not its fallout
      if (step.aborted && !(e instanceof RunAbortedError)) throw new RunAbortedError({ containerId: id, logFile });
      throw e;
    } finally {
      req.signal?.removeEventListener('abort', onAbort);
      await output.close().catch(() => {});
      try {
        await step.teardown();
      } finally {
        this.#steps.delete(step);
      }
    }
  }

  /** `--isolation chroot`: the step runs by chroot(1) in its rootfs copy (runtime/chroot.ts). */
  async #runChrootStep<T>(
    step: Step,
    req: RunRequest,
    s: { rootfs: StepRootfs; cwd: string; output: StepOutput; logFile: string; t0: number },
    commit: (diff: AsyncIterable<TarSource>) => Promise<T>,
  ): Promise<RunResult<T>> {
    const refusal = chrootRefusal(req);
    if (refusal) throw new RunRequestError(refusal, {});
    const rootfs = s.rootfs.path;
    const cwdIn = resolveInRoot(rootfs, s.cwd);
    if (checkCwd(cwdIn.path) !== cwdIn.path) throw new RunRequestError(`bad working directory ${s.cwd}`, { cwd: s.cwd });
    const user = resolveUser(rootfs, req.user);
    if (cwdIn.missing.length > 0) await fsp.mkdir(cwdIn.host, { recursive: true });
    const hostname = req.hostname ?? DEFAULT_HOSTNAME;
    const fixtures = await placeChrootFixtures(
      rootfs,
      { hosts: hostsFile(hostname, req.extraHosts ?? []), resolvConf: hostResolvConf(req.network) },
      join(step.dir, 'saved'),
    );
    this.#throwIfAborted(step, req);
    const run: ChrootRun = {
      rootfs,
      cwd: s.cwd,
      user,
      args: req.args,
      env: withDefaults(req.env, user.home),
      output: s.output,
      onKill: (kill) => step.cleanup.push(kill),
    };
    if (req.timeoutMs !== undefined) run.timeoutMs = req.timeoutMs;
    if (req.signal) run.signal = req.signal;
    const { exitCode, timedOut } = await runChrooted(run);
    await s.output.close();
    const lastLines = s.output.lastLines();
    const data = { containerId: step.id, lastLines, logFile: s.logFile };
    if (step.aborted || req.signal?.aborted) throw new RunAbortedError(data);
    if (timedOut) throw new RunTimeoutError(req.timeoutMs ?? 0, data);
    await fixtures.remove();
    const result: RunResult<T> = { exitCode, durationMs: 0, lastLines, logFile: s.logFile };
    if (exitCode === 0) result.committed = await commit(withoutChrootFixtures(await s.rootfs.diff()));
    result.durationMs = Math.round(performance.now() - s.t0);
    return result;
  }

  /** The container's bundle: its mounts prepared, its config.json written; the stubs runc will create. */
  async #writeBundle(step: Step, rootfs: string, cwd: string, req: RunRequest): Promise<MountStubs> {
    // the cwd may also reach /proc through a symlink inside the image
    const cwdIn = resolveInRoot(rootfs, cwd);
    if (checkCwd(cwdIn.path) !== cwdIn.path) throw new RunRequestError(`bad working directory ${cwd}`, { cwd });

    const user = resolveUser(rootfs, req.user);

    const hostname = req.hostname ?? DEFAULT_HOSTNAME;
    const netMounts = await networkFiles(step.dir, hostsFile(hostname, req.extraHosts ?? []), req.network);
    const ctx: MountContext = {
      stateRoot: this.root,
      stepDir: step.dir,
      snapshotter: this.#snapshotter,
      cleanup: step.cleanup,
      hostMounts: step.hostMounts,
    };
    if (req.signal) ctx.signal = req.signal;
    const userMounts = await prepareMounts(req.mounts, ctx);
    const security = req.security ?? 'sandbox';

    // ---- what runc will have to create (removed again after the run)
    const stubs = new MountStubs(rootfs);
    for (const m of [...standardMounts(security === 'insecure', req.shmSize), ...netMounts, ...userMounts]) {
      stubs.record(normalizeTarget(m.destination));
    }
    stubs.record(cwd);

    const spec = buildSpec({
      rootfs,
      args: req.args,
      env: withDefaults(req.env, user.home),
      cwd,
      user,
      hostname,
      network: req.network,
      security,
      mounts: [...netMounts, ...userMounts],
      cgroupsPath: `/${this.#cgroupParent ? `${this.#cgroupParent}/` : ''}${this.buildId}/${step.id}`,
      ...(req.ulimits ? { ulimits: req.ulimits } : {}),
      ...(req.shmSize !== undefined ? { shmSize: req.shmSize } : {}),
      ...(req.securityOptions ? { securityOptions: req.securityOptions } : {}),
    });
    // crun: the filter compiled once per state dir, not by every `crun run` (runtime/seccomp-bpf.ts)
    const bpf = spec.linux.seccomp ? await this.#seccompBpf(spec.linux.seccomp) : undefined;
    if (bpf) spec.annotations = { [SECCOMP_BPF_ANNOTATION]: bpf.toString('base64') };
    await fsp.writeFile(join(step.dir, 'bundle', 'config.json'), specJson(spec));
    return stubs;
  }

  #seccompBpf(seccomp: OciSeccomp): Promise<Buffer | undefined> {
    if (this.#oci.name !== 'crun') return Promise.resolve(undefined);
    const key = JSON.stringify(seccomp);
    let bpf = this.#bpf.get(key);
    if (!bpf) {
      const id = `${this.buildId}-${++this.#counter}`;
      bpf = crunSeccompBpf(this.#oci, this.root, seccomp, { dir: join(this.root, 'steps', id), id }).catch(() => undefined);
      this.#bpf.set(key, bpf);
    }
    return bpf;
  }

  #throwIfAborted(step: Step, req: RunRequest): void {
    if (step.aborted || req.signal?.aborted) throw new RunAbortedError({ containerId: step.id });
  }

  async #run(step: Step, bundle: string, output: StepOutput, req: RunRequest): Promise<number> {
    const child = this.#oci.run(bundle, step.id);
    step.child = child;
    step.created = true;
    output.attach('stdout', child.stdout);
    output.attach('stderr', child.stderr);
    step.exited = new Promise<number>((resolve) => {
      child.on('error', (e) => {
        output.note(`${this.#oci.name}: ${e.message}`);
        resolve(127);
      });
      child.on('close', (code, signal) => resolve(code ?? (signal ? 128 + 9 : 1)));
    });
    let timer: NodeJS.Timeout | undefined;
    if (req.timeoutMs !== undefined && req.timeoutMs > 0) {
      timer = setTimeout(() => {
        step.timedOut = true;
        output.note(`tsbuild: step timed out after ${req.timeoutMs} ms, killing it`);
        void step.kill();
      }, req.timeoutMs);
    }
    try {
      return await step.exited;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /**
   * A tree of `layers` (bottom first) to read from, for COPY --from: an overlay of the layers'
   * snapshots (a RUN's output layer already is one), so nothing is unpacked. Undefined when a
   * layer has no snapshot yet (making one unpacks the whole layer, where the caller may need a
   * small part of it) and with the copy snapshotter (its view is a flattened copy of the stack).
   * Nothing may write to it. Mounted once per stack and build; close() unmounts it.
   */
  layerView(layers: readonly Layer[]): Promise<string | undefined> {
    if (this.#closed) throw new RuntimeSetupError('runtime is closed', {});
    if (this.#snapshotter.name !== 'overlay') return Promise.resolve(undefined);
    return (async () => {
      const diffIDs = await Promise.all(layers.map((l) => l.diffID()));
      // a whole snapshot, or a delta on one (snapshots.ts)
      const has = (d: Digest) => existsSync(join(this.root, 'snapshots', digestHex(d))) || existsSync(join(this.root, 'deltas', digestHex(d)));
      if (!diffIDs.every(has)) return undefined;
      const key = diffIDs.join('\n');
      let view = this.#views.get(key);
      if (!view) {
        const dir = join(this.root, 'steps', `${this.buildId}-${++this.#counter}`);
        const scratch = { dir, hostMounts: [] as string[] };
        this.#viewDirs.push(dir);
        view = this.#snapshotter.view(layers, scratch);
        this.#views.set(key, view);
        view.catch(() => this.#views.delete(key));
      }
      return view;
    })();
  }

  /**
   * Makes the overlay snapshot of a layer from its uncompressed tar as it is
   * written (copy snapshotter: nothing to do, the stream is drained). With a hint (the layer is
   * a new version of an earlier one), only the changed entries are written (runtime/delta.ts).
   */
  seedLayer(tar: Readable, diffID: Promise<Digest>, hint?: DeltaHint): Promise<SeedResult> {
    return this.#snapshotter.seed(tar, diffID, hint);
  }

  /** Tears down every live step of this instance, its cgroup parent and its build record. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const steps = [...this.#steps];
      for (const s of steps) s.aborted = true;
      await Promise.allSettled(steps.map((s) => s.teardown()));
      await Promise.allSettled(this.#views.values());
      for (const dir of this.#viewDirs) {
        await unmountAllUnder(dir).catch(() => {});
        await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
      }
      removeBuildCgroups(this.buildId, this.#cgroupParent);
      await removeBuildRecord(this.root, this.buildId);
      track(this, false);
    })();
    return this.#closed;
  }
}

/** /etc/hosts and /etc/resolv.conf for the step, bound read-only. */
async function networkFiles(stepDir: string, hosts: string, network: RunRequest['network']): Promise<OciMount[]> {
  const files = join(stepDir, 'files');
  await fsp.mkdir(files);
  await fsp.writeFile(join(files, 'hosts'), hosts);
  await fsp.writeFile(join(files, 'resolv.conf'), hostResolvConf(network));
  return [
    { destination: '/etc/resolv.conf', type: 'bind', source: join(files, 'resolv.conf'), options: ['rbind', 'ro'] },
    { destination: '/etc/hosts', type: 'bind', source: join(files, 'hosts'), options: ['rbind', 'ro'] },
  ];
}

/** /etc/hosts as BuildKit writes it (executor/oci/hosts.go): its two lines, then `IP<TAB>NAME` per --add-host. */
export function hostsFile(hostname: string, extraHosts: readonly ExtraHost[]): string {
  return `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n` + extraHosts.map((h) => `${h.ip}\t${h.host}\n`).join('');
}

/** Why --snapshotter overlay cannot be had, and what to do instead (one line). */
export function overlayUnavailable(why: string, rootless = inUserNamespace()): string {
  if (!rootless) return `overlay snapshotter unavailable: ${why}`;
  // fuse-overlayfs is not used: kernel overlayfs mounts in a user namespace from Linux 5.11 on
  return `overlay snapshotter unavailable in the rootless user namespace (${why}): it needs Linux >= 5.11 (fuse-overlayfs is not supported); use --snapshotter copy, or run as root`;
}

function hostResolvConf(network: RunRequest['network']): string {
  if (network === 'none') return '';
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return '';
  }
}
