/**
 * The default seccomp profile. Neither runc nor crun applies one unless the spec carries it, so
 * tsbuild ships Docker's default profile already converted to OCI form for amd64 with Docker's
 * default capabilities (`seccomp-default.json`). Other architectures convert the moby-format
 * profile (`/usr/share/containers/seccomp.json`, from containers-common) at first use, with the
 * same rules as moby's `setupSeccomp`: a rule applies when the arch and all `includes.caps` match
 * and no `excludes.caps` is granted.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { RuntimeSetupError } from './errors.js';

export interface MobySeccompRule {
  names?: string[];
  name?: string;
  action: string;
  args?: Array<{ index: number; value: number; valueTwo?: number; op: string }> | null;
  includes?: { arches?: string[]; caps?: string[]; minKernel?: string };
  excludes?: { arches?: string[]; caps?: string[]; minKernel?: string };
  errnoRet?: number;
}
export interface MobySeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: Array<{ architecture: string; subArchitectures?: string[] }>;
  syscalls: MobySeccompRule[];
}
export interface OciSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo: number; op: string }>;
}
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSeccompRule[];
}

/** Node's process.arch → [Go arch name used in moby profiles, native SCMP arch]. */
const ARCHES: Record<string, [string, string]> = {
  x64: ['amd64', 'SCMP_ARCH_X86_64'],
  arm64: ['arm64', 'SCMP_ARCH_AARCH64'],
  arm: ['arm', 'SCMP_ARCH_ARM'],
  s390x: ['s390x', 'SCMP_ARCH_S390X'],
  ppc64: ['ppc64le', 'SCMP_ARCH_PPC64LE'],
  riscv64: ['riscv64', 'SCMP_ARCH_RISCV64'],
};

export const MOBY_PROFILE_PATH = '/usr/share/containers/seccomp.json';

function kernelAtLeast(min: string, running = release()): boolean {
  const parse = (v: string) => v.split(/[.-]/).slice(0, 2).map((x) => Number.parseInt(x, 10) || 0);
  const [a1 = 0, a2 = 0] = parse(running);
  const [b1 = 0, b2 = 0] = parse(min);
  return a1 > b1 || (a1 === b1 && a2 >= b2);
}

/**
 * x32 (the ILP32 ABI of x86_64) is left out of the filter that Docker's profile would also
 * build for it. libseccomp compiles the rules once per architecture at every container start,
 * and x32 cost ~5 ms of each RUN step here (X86_64 alone 14 ms, + X86 22 ms, + X32 26 ms,
 * crun 1.8). Leaving an architecture out is fail-closed: its syscalls hit the filter's
 * bad-arch action and are refused. x32 binaries are all but extinct, and Debian's kernels
 * disable the ABI unless booted with syscall.x32=y. i386 (X86) stays: 32-bit tools do run in builds.
 */
const DROPPED_ARCHES = new Set(['SCMP_ARCH_X32']);

export function convertSeccomp(p: MobySeccompProfile, caps: readonly string[], arch = process.arch): OciSeccomp {
  const a = ARCHES[arch];
  if (!a) throw new RuntimeSetupError(`no seccomp architecture mapping for ${arch}`, { arch });
  const [goArch, scmpArch] = a;
  const architectures: string[] = [];
  for (const m of p.archMap ?? []) {
    if (m.architecture === scmpArch) architectures.push(m.architecture, ...(m.subArchitectures ?? []).filter((x) => !DROPPED_ARCHES.has(x)));
  }
  const capSet = new Set(caps);
  const syscalls: OciSeccompRule[] = [];
  for (const r of p.syscalls) {
    const inc = r.includes ?? {};
    const exc = r.excludes ?? {};
    if (inc.arches?.length && !inc.arches.includes(goArch)) continue;
    if (exc.arches?.length && exc.arches.includes(goArch)) continue;
    if (inc.caps?.length && !inc.caps.every((c) => capSet.has(c))) continue;
    if (exc.caps?.length && exc.caps.some((c) => capSet.has(c))) continue;
    if (inc.minKernel && !kernelAtLeast(inc.minKernel)) continue;
    const names = r.names ?? (r.name ? [r.name] : []);
    if (names.length === 0) continue;
    const rule: OciSeccompRule = { names, action: r.action };
    if (r.errnoRet !== undefined) rule.errnoRet = r.errnoRet;
    if (r.args && r.args.length > 0) {
      rule.args = r.args.map((x) => ({ index: x.index, value: x.value, valueTwo: x.valueTwo ?? 0, op: x.op }));
    }
    syscalls.push(rule);
  }
  const out: OciSeccomp = { defaultAction: p.defaultAction, architectures, syscalls };
  if (p.defaultErrnoRet !== undefined) out.defaultErrnoRet = p.defaultErrnoRet;
  return out;
}

let cached: OciSeccomp | undefined;

/** tsc does not copy .json into dist/, so a compiled build also looks in the source tree beside it. */
function readShippedProfile(): string {
  const candidates = [new URL('./seccomp-default.json', import.meta.url), new URL('../../runtime/seccomp-default.json', import.meta.url)];
  for (const u of candidates) {
    try {
      return readFileSync(u, 'utf8');
    } catch {
      /* next */
    }
  }
  throw new RuntimeSetupError('runtime/seccomp-default.json is missing from the installation', {});
}

/** The profile for the default (sandbox) capability set on this machine's architecture. */
export function defaultSeccomp(defaultCaps: readonly string[]): OciSeccomp {
  if (cached) return cached;
  if (process.arch === 'x64') {
    cached = JSON.parse(readShippedProfile()) as OciSeccomp;
    return cached;
  }
  let text: string;
  try {
    text = readFileSync(MOBY_PROFILE_PATH, 'utf8');
  } catch {
    throw new RuntimeSetupError(
      `no seccomp profile for ${process.arch}: tsbuild ships one for amd64 only and ${MOBY_PROFILE_PATH} ` +
        `(package containers-common / golang-github-containers-common) is missing`,
      { arch: process.arch, path: MOBY_PROFILE_PATH },
    );
  }
  cached = convertSeccomp(JSON.parse(text) as MobySeccompProfile, defaultCaps);
  return cached;
}
