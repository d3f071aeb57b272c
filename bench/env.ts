/**
 * Where things are, and the shared anchor scripts (`shared/tools/*.sh`: registry,
 * base images, dockerd, buildah storage, the bigctx context generator) that the
 * benches drive. Services this process starts are remembered so they can be
 * stopped at the end, and only those.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandFailedError } from './errors.js';
import { runOrThrow } from './measure.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BENCH_OUT = join(REPO, 'bench', 'out');
export const SHARED_TOOLS = process.env.SHARED_TOOLS ?? resolve(REPO, '..', 'shared', 'tools');
export const ANCHORS_STATE = process.env.ANCHORS_STATE ?? '/var/lib/tsbuild-anchors';
/** The docker 20.10 client that speaks to dockerd's built-in BuildKit (anchors.md gotcha 1). */
export const DOCKER = '/usr/bin/docker';
export const REGISTRY = '127.0.0.1:5000';

export function tool(script: string): string {
  return join(SHARED_TOOLS, script);
}

/** A process is alive if it exists and is not a zombie (pid 1 here reaps late: anchors.md gotcha 13). */
function pidAlive(pidfile: string): boolean {
  try {
    const pid = readFileSync(pidfile, 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

const REGISTRY_PIDFILE = join(ANCHORS_STATE, 'registry-5000', 'registry.pid');
const DOCKERD_PIDFILE = join(ANCHORS_STATE, 'dockerd', 'dockerd.pid');
const started = new Set<'registry' | 'dockerd'>();

/** Start the plain registry on :5000 if it is down and push the busybox base image (idempotent, ~1 s). */
export function ensureRegistryAndBase(): void {
  if (!pidAlive(REGISTRY_PIDFILE)) {
    runOrThrow(tool('registry-up.sh'), []);
    started.add('registry');
  }
  runOrThrow(tool('base-images.sh'), ['--no-debian']);
}

/** Start dockerd (BuildKit) if installed; return why not when it cannot run. */
export function ensureDockerd(): string | undefined {
  if (!existsSync(DOCKER) || !existsSync('/usr/sbin/dockerd')) return 'docker.io (dockerd 20.10) not installed';
  const wasUp = pidAlive(DOCKERD_PIDFILE);
  const r = spawnSync(tool('dockerd-up.sh'), [], { encoding: 'utf8' });
  if (r.status !== 0) return `dockerd-up.sh failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}`;
  if (!wasUp) started.add('dockerd');
  return undefined;
}

/** Generate the bigctx context into DIR (20,000 files + 3 x 50 MiB by default; env overrides sizes). */
export function generateContext(dir: string, sizes: { files?: number; dirs?: number; big?: number } = {}): void {
  const env = { ...process.env };
  if (sizes.files !== undefined) env.NFILES = String(sizes.files);
  if (sizes.dirs !== undefined) env.NDIRS = String(sizes.dirs);
  if (sizes.big !== undefined) env.NBIG = String(sizes.big);
  runOrThrow(tool('gen-context.sh'), [dir], { env });
}

/** Stop the services this process started (by their recorded PIDs, through anchors-down.sh). */
export function stopStartedServices(): void {
  if (started.has('dockerd')) spawnSync(tool('anchors-down.sh'), ['dockerd'], { stdio: 'inherit' });
  if (started.has('registry')) {
    // anchors-down.sh registry would stop every registry (others may own some): stop only ours
    try {
      const pid = Number(readFileSync(REGISTRY_PIDFILE, 'utf8').trim());
      process.kill(pid, 'SIGTERM');
      process.stderr.write(`stopped registry :5000 (pid ${pid})\n`);
    } catch {
      /* already gone */
    }
  }
  started.clear();
}

/**
 * Path of tsbuild's CLI as it ships: TSBUILD_MAIN overrides; otherwise the tree is bundled
 * (scripts/bundle.mjs, as `npm run build` does) into bench/out/bin, not dist/ (other work
 * may be using it).
 */
export function compileTsbuild(): string {
  if (process.env.TSBUILD_MAIN) return resolve(process.env.TSBUILD_MAIN);
  const out = join(BENCH_OUT, 'bin');
  const main = join(out, 'main.js');
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'bundle.mjs'), out], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(main)) throw new CommandFailedError('node scripts/bundle.mjs', r.status, r.stdout + r.stderr);
  return main;
}

/**
 * The executable as `npm run build` makes it (scripts/compile.mjs, bun build --compile) from the
 * bundle in `bundleDir`, into bench/out/tsbuild; TSBUILD_EXE overrides. Returns why not when Bun
 * is missing (the cells then print n/a).
 */
export function compileTsbuildExe(bundleDir: string): { exe?: string; why?: string } {
  if (process.env.TSBUILD_EXE) return { exe: resolve(process.env.TSBUILD_EXE) };
  const exe = join(BENCH_OUT, 'tsbuild');
  const r = spawnSync(process.execPath, [join(REPO, 'scripts', 'compile.mjs'), bundleDir, exe], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(exe)) return { why: `scripts/compile.mjs failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}` };
  return { exe };
}

export interface MachineState {
  date: string;
  cpus: number;
  memGiB: number;
  freeMemGiB: number;
  loadavg: [number, number, number];
  kernel: string;
  node: string;
  gitRev: string;
}

export function machineState(): MachineState {
  const la = loadavg();
  const rev = spawnSync('git', ['describe', '--always', '--dirty'], { cwd: REPO, encoding: 'utf8' });
  return {
    date: new Date().toISOString(),
    cpus: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    freeMemGiB: Math.round(freemem() / 2 ** 30),
    loadavg: [round2(la[0]!), round2(la[1]!), round2(la[2]!)],
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
    gitRev: rev.status === 0 ? rev.stdout.trim() : 'unknown',
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

export function rel(p: string): string {
  return relative(process.cwd(), p) || '.';
}
