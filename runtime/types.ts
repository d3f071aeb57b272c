/** The public shapes of runtime/ (re-exported by runtime/index.ts). */
import type { Layer } from '../image/image.js';
import type { MobySeccompProfile } from './seccomp.js';

export interface RuntimeOptions {
  /** State dir, e.g. `<store>/runtime`: snapshots, cache mounts, container state, logs. */
  root: string;
  /** 'auto' tries crun (2x faster start) and falls back to runc. */
  runtime?: 'auto' | 'runc' | 'crun';
  /** 'auto' uses overlay when a probe mount shows whiteouts and opaque dirs work. */
  snapshotter?: 'auto' | 'overlay' | 'copy';
  /** Container id prefix; `tsb-` is prepended when missing. Default: random. */
  buildId?: string;
  /**
   * `--cgroup-parent`: RUN containers go in `<parent>/<buildId>/<step>` of every hierarchy instead
   * of `<buildId>/<step>` (a relative path; checked by `checkCgroupParent`).
   */
  cgroupParent?: string;
  /**
   * 'container' (default): runc/crun. 'chroot': no new namespaces, for root inside an
   * unprivileged container (runtime/chroot.ts says what that does not isolate).
   */
  isolation?: 'container' | 'chroot';
}

/** An `/etc/hosts` line a RUN gets after BuildKit's two (`--add-host`). */
export interface ExtraHost {
  host: string;
  ip: string;
}

/** The limit names `--ulimit` takes (docker's go-units list); RLIMIT_ + upper case in the spec. */
export const ULIMIT_NAMES: readonly string[] = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

/** A process resource limit (`--ulimit nofile=1024:2048`); -1 is unlimited. Name without RLIMIT_, lower case. */
export interface Ulimit {
  name: string;
  soft: number;
  hard: number;
}

/** `--security-opt` choices that change a RUN's confinement. */
export interface SecurityOptions {
  /** 'unconfined' = no seccomp filter; a moby-format profile replaces Docker's default. */
  seccomp?: 'unconfined' | MobySeccompProfile;
  /** Sets no_new_privs (off by default, as in Docker). */
  noNewPrivileges?: boolean;
}

export type RunMount =
  | {
      type: 'cache';
      target: string;
      id: string;
      sharing: 'shared' | 'private' | 'locked';
      readonly?: boolean;
      uid?: number;
      gid?: number;
      mode?: number;
    }
  | {
      type: 'bind';
      target: string;
      /** Path inside the from-fs. */
      source: string;
      from: { layers: Layer[] } | { hostDir: string };
      readwrite?: boolean;
    }
  | { type: 'tmpfs'; target: string; size?: number }
  | { type: 'secret'; target: string; data: Buffer; mode?: number; uid?: number; gid?: number }
  | { type: 'ssh'; target: string; socketPath: string; mode?: number; uid?: number; gid?: number };

export interface RunRequest {
  /** rootfs = these layers in order (base first). */
  lowers: Layer[];
  /** Final argv (the builder applies SHELL for the shell form). */
  args: string[];
  /** KEY=VALUE. PATH and HOME get defaults when absent. */
  env: string[];
  /** Absolute. A missing cwd is created by the runtime and removed again (a mount stub). */
  cwd: string;
  /** 'name', 'uid', 'name:group', 'uid:gid', resolved against the rootfs. Default root. */
  user?: string;
  /** Default 'buildkitsandbox', like BuildKit. */
  hostname?: string;
  /** 'default' is the host network on this machine (there is no bridge/CNI setup). */
  network: 'default' | 'none' | 'host';
  /** 'insecure' = privileged: all capabilities we have, no seccomp, no masked paths. */
  security?: 'sandbox' | 'insecure';
  mounts: RunMount[];
  extraHosts?: ExtraHost[];
  /** Replace the default limit of the same name (Docker's NOFILE 1048576 clamped to the host). */
  ulimits?: Ulimit[];
  /** Bytes of the /dev/shm tmpfs (default 64 MiB, as Docker and BuildKit). */
  shmSize?: number;
  securityOptions?: SecurityOptions;
  timeoutMs?: number;
  signal?: AbortSignal;
  onOutput?: (stream: 'stdout' | 'stderr', line: string) => void;
}

export interface RunResult<T> {
  exitCode: number;
  /** The commit callback's result, only when exitCode === 0. */
  committed?: T;
  durationMs: number;
  /** The last 20 output lines (both streams). */
  lastLines: string[];
  /** The full output, never clipped. Removed when a later Runtime.create finds this build dead. */
  logFile: string;
}

export interface RuntimeInfo {
  runtime: 'runc' | 'crun' | 'chroot';
  snapshotter: 'overlay' | 'copy';
}
