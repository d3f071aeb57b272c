/**
 * Driving an OCI runtime binary (runc or crun) with a private state dir.
 *
 * crun 1.8 refuses hybrid cgroup hosts ("cgroups in hybrid mode not supported"); hiding the
 * unified hierarchy in a private mount namespace makes it use v1 like runc does. `wrap` runs every
 * crun command that way (measured: /work/shared/research/runtime.md §5).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { exec, type ExecResult } from './exec.js';
import { readMountInfo } from './mounts.js';
import { join } from 'node:path';

export type RuntimeName = 'runc' | 'crun';

const HIDE_UNIFIED = 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"';

/** A v1+v2 host where cgroup2 sits at /sys/fs/cgroup/unified beside v1 controllers. */
export function isHybridCgroups(): boolean {
  const m = readMountInfo();
  return m.some((x) => x.mountPoint === '/sys/fs/cgroup/unified' && x.fsType === 'cgroup2') && m.some((x) => x.fsType === 'cgroup');
}

/** cgroup hierarchies mounted on this host (v1 controllers and the v2 tree). */
export function cgroupMounts(): string[] {
  return [...new Set(readMountInfo().filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2').map((m) => m.mountPoint))];
}

/** rmdir a build's cgroup parent (under `cgroupParent`, if any) in every hierarchy (children first); busy ones are left. */
export function removeBuildCgroups(buildId: string, cgroupParent?: string): void {
  for (const mp of cgroupMounts()) {
    const dir = join(mp, cgroupParent ?? '', buildId);
    if (!existsSync(dir)) continue;
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) {
          try {
            rmdirSync(join(dir, e.name));
          } catch {
            /* still has processes */
          }
        }
      }
      rmdirSync(dir);
    } catch {
      /* busy or already gone */
    }
  }
}

export interface ContainerState {
  id: string;
  pid: number;
  status: string;
}

export class OciRuntime {
  constructor(
    readonly name: RuntimeName,
    readonly binary: string,
    /** --root: where the runtime keeps container state. */
    readonly stateDir: string,
    /** Run inside `unshare -m` with the cgroup2 mount hidden (crun on hybrid hosts). */
    readonly wrap: boolean,
  ) {}

  argv(args: readonly string[]): [string, string[]] {
    const full = [`--root=${this.stateDir}`, ...args];
    if (!this.wrap) return [this.binary, full];
    return ['unshare', ['-m', '--propagation', 'private', 'sh', '-c', HIDE_UNIFIED, this.binary, ...full]];
  }

  /**
   * `run` under a watchdog shell that dies with us: setpriv gives it PR_SET_PDEATHSIG=TERM, and
   * its TERM trap kills the container. The runtime itself cannot carry the death signal: a
   * killed runc/crun leaves the container's init running (measured: `RUN sleep 1000` outlived a
   * SIGKILLed node, also with `setpriv --pdeathsig KILL runc run`). Costs one sh (~1 ms).
   */
  run(bundle: string, id: string): ChildProcess {
    const direct = new OciRuntime(this.name, this.binary, this.stateDir, false);
    const [cmd, args] = direct.argv(['run', '--bundle', bundle, id]);
    const [killCmd, killArgs] = direct.argv(['kill', id, 'KILL']);
    const script =
      // wrap: the watchdog itself runs in the private mount namespace with the cgroup2 mount
      // hidden, so its runtime and its trap's kill need no namespace and no shell of their own
      (this.wrap ? 'umount /sys/fs/cgroup/unified 2>/dev/null\n' : '') +
      `trap ${shellWords([`${shellWords([killCmd, ...killArgs])} >/dev/null 2>&1`])} TERM\n` +
      `${shellWords([cmd, ...args])} &\n` +
      // wait returns early when the trap ran; the runtime exits once its container is dead
      'pid=$!; wait $pid; rc=$?; while kill -0 $pid 2>/dev/null; do wait $pid; rc=$?; done; exit $rc\n';
    // stdin is /dev/null; every other fd of ours is close-on-exec, so nothing leaks into the step
    // setsid: its own process group, so a SIGKILL to ours (kill -9 -PGID, a CI job's timeout)
    // spares the watchdog, whose death signal then fires (measured: the payload outlived such a
    // kill when the watchdog shared our group). setsid does not fork: we are not a group leader
    // (nor is unshare without --fork, which execs in place; the death signal survives both execs).
    const watchdog = ['setsid', 'sh', '-c', script];
    const unshare = this.wrap ? ['unshare', '-m', '--propagation', 'private'] : [];
    return spawn('setpriv', ['--pdeathsig', 'TERM', '--', ...unshare, ...watchdog], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async command(args: readonly string[]): Promise<ExecResult> {
    const [cmd, full] = this.argv(args);
    return exec(cmd, full, { timeoutMs: 30_000 });
  }

  async kill(id: string, signal = 'KILL'): Promise<boolean> {
    return (await this.command(['kill', id, signal])).code === 0;
  }

  /** `delete -f`: kills what is left and removes the state; fine when the container is gone. */
  /** Whether the runtime still keeps state for container `id` (runc and crun: a directory named after it). */
  hasState(id: string): boolean {
    return existsSync(join(this.stateDir, id));
  }

  async delete(id: string): Promise<void> {
    await this.command(['delete', '-f', id]);
  }

  async list(): Promise<ContainerState[]> {
    if (!existsSync(this.stateDir)) return [];
    const r = await this.command(['list', '--format', 'json']);
    if (r.code !== 0) return [];
    const text = r.stdout.trim();
    if (text === '' || text === 'null') return [];
    try {
      const parsed = JSON.parse(text) as Array<{ id: string; pid: number; status: string }> | null;
      return (parsed ?? []).map((c) => ({ id: c.id, pid: c.pid, status: c.status }));
    } catch {
      return [];
    }
  }
}

/** Words quoted for sh: each inside '…', with ' written as '\\''. */
export function shellWords(words: readonly string[]): string {
  return words.map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(' ');
}
