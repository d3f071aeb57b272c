/**
 * The OCI runtime spec (config.json) for one RUN step, built directly rather than by editing
 * `runc spec` output, whose defaults are wrong for builds (terminal, read-only root, 3 caps,
 * noNewPrivileges). Defaults follow Docker/BuildKit: 14 capabilities, masked and read-only /proc
 * paths, the default seccomp profile, rlimits clamped to what this process may grant.
 */
import { readFileSync } from 'node:fs';
import { convertSeccomp, defaultSeccomp, type OciSeccomp } from './seccomp.js';
import type { SecurityOptions, Ulimit } from './types.js';
import type { ResolvedUser } from './users.js';
import { inUserNamespace } from './userns.js';

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: { bounding: string[]; effective: string[]; permitted: string[] };
    rlimits: Array<{ type: string; hard: number; soft: number }>;
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  annotations?: Record<string, string>;
  mounts: OciMount[];
  linux: {
    namespaces: Array<{ type: string }>;
    cgroupsPath?: string;
    resources: { devices: Array<{ allow: boolean; access?: string; type?: string }> };
    maskedPaths?: string[];
    readonlyPaths?: string[];
    seccomp?: OciSeccomp;
  };
}

/** Docker's default capability set. */
export const DEFAULT_CAPS: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Capability numbers → names (linux/capability.h). */
const CAP_NAMES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
].map((n) => `CAP_${n}`);

/**
 * Every capability this process can hand out (its bounding set). `insecure` steps get these: asking
 * for one we lack (CAP_SYS_RESOURCE on this machine) would make the runtime fail with EPERM.
 */
export function hostCaps(statusText = readFileSync('/proc/self/status', 'utf8')): string[] {
  const m = /^CapBnd:\s*([0-9a-f]+)/m.exec(statusText);
  const mask = BigInt('0x' + (m?.[1] ?? '0'));
  return CAP_NAMES.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];
export const READONLY_PATHS: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Hard limits of this process by RLIMIT name, from /proc/self/limits (Infinity = unlimited). */
export function hostHardLimits(text = readFileSync('/proc/self/limits', 'utf8')): Map<string, number> {
  const names: Record<string, string> = {
    'Max open files': 'RLIMIT_NOFILE',
    'Max processes': 'RLIMIT_NPROC',
    'Max core file size': 'RLIMIT_CORE',
    'Max locked memory': 'RLIMIT_MEMLOCK',
    'Max stack size': 'RLIMIT_STACK',
  };
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    for (const [label, name] of Object.entries(names)) {
      if (!line.startsWith(label)) continue;
      const hard = line.slice(label.length).trim().split(/\s+/)[1];
      out.set(name, hard === 'unlimited' || hard === undefined ? Infinity : Number(hard));
    }
  }
  return out;
}

/** Docker's NOFILE default (1048576), clamped: without CAP_SYS_RESOURCE a higher value fails the start. */
export function defaultRlimits(hard = hostHardLimits()): OciSpec['process']['rlimits'] {
  const limit = Math.min(1048576, hard.get('RLIMIT_NOFILE') ?? 1048576);
  return [{ type: 'RLIMIT_NOFILE', hard: limit, soft: limit }];
}

export interface SpecInput {
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  hostname: string;
  network: 'default' | 'none' | 'host';
  security: 'sandbox' | 'insecure';
  /** Extra mounts after the standard ones (hosts, resolv.conf, the step's own mounts). */
  mounts: OciMount[];
  cgroupsPath?: string;
  ulimits?: Ulimit[];
  shmSize?: number;
  securityOptions?: SecurityOptions;
}

/** Docker's and BuildKit's /dev/shm: 64 MiB. */
export const DEFAULT_SHM_BYTES = 64 * 1024 * 1024;

/** -1 (unlimited) is RLIM_INFINITY, 2^64-1: beyond a JS number, so written by `specJson`. */
const RLIM_INFINITY_MARK = '__tsbuild_rlim_infinity__';

/** The defaults, with each `--ulimit` replacing the limit of its name (later flags win). */
export function withUlimits(defaults: OciSpec['process']['rlimits'], ulimits: readonly Ulimit[]): OciSpec['process']['rlimits'] {
  const byType = new Map(defaults.map((r) => [r.type, r]));
  for (const u of ulimits) byType.set(`RLIMIT_${u.name.toUpperCase()}`, { type: `RLIMIT_${u.name.toUpperCase()}`, hard: u.hard, soft: u.soft });
  return [...byType.values()];
}

/** config.json text: -1 limits become 18446744073709551615, which runc and crun read as unlimited. */
export function specJson(spec: OciSpec): string {
  const text = JSON.stringify(spec, (key, value: unknown) => ((key === 'hard' || key === 'soft') && value === -1 ? RLIM_INFINITY_MARK : value));
  return text.replaceAll(`"${RLIM_INFINITY_MARK}"`, '18446744073709551615');
}

/**
 * `sysfsBind`: a user namespace may mount sysfs only with a network namespace of its own; with
 * the host's network (rootless, --network=host) the host's /sys is bound read-only instead.
 */
export function standardMounts(insecure: boolean, shmBytes = DEFAULT_SHM_BYTES, sysfsBind = false): OciMount[] {
  const sys: OciMount = sysfsBind
    ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
    : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', insecure ? 'rw' : 'ro'] };
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${Math.ceil(shmBytes / 1024)}k`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    sys,
  ];
}

export function buildSpec(input: SpecInput): OciSpec {
  const insecure = input.security === 'insecure';
  const caps = insecure ? hostCaps() : [...DEFAULT_CAPS];
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  if (input.network === 'none') namespaces.push({ type: 'network' });
  const user: OciSpec['process']['user'] = { uid: input.user.uid, gid: input.user.gid };
  if (input.user.additionalGids.length > 0) user.additionalGids = input.user.additionalGids;
  const spec: OciSpec = {
    ociVersion: '1.0.2-dev',
    process: {
      terminal: false,
      user,
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: withUlimits(defaultRlimits(), input.ulimits ?? []),
      noNewPrivileges: input.securityOptions?.noNewPrivileges === true,
    },
    root: { path: input.rootfs, readonly: false },
    hostname: input.hostname,
    mounts: [...standardMounts(insecure, input.shmSize, inUserNamespace() && input.network !== 'none'), ...input.mounts],
    linux: {
      namespaces,
      resources: { devices: insecure ? [{ allow: true, access: 'rwm' }] : [{ allow: false, access: 'rwm' }] },
    },
  };
  // rootless: no cgroup is ours to create (v1 has no delegation); runc's rootless manager
  // ignores its permission errors only when no path was asked for
  if (input.cgroupsPath && !inUserNamespace()) spec.linux.cgroupsPath = input.cgroupsPath;
  if (!insecure) {
    spec.linux.maskedPaths = [...MASKED_PATHS];
    spec.linux.readonlyPaths = [...READONLY_PATHS];
    // moby filters the profile's capability-conditional rules by the bounding set
    const seccomp = input.securityOptions?.seccomp;
    if (seccomp === undefined) spec.linux.seccomp = defaultSeccomp(caps);
    else if (seccomp !== 'unconfined') spec.linux.seccomp = convertSeccomp(seccomp, caps);
  }
  return spec;
}
