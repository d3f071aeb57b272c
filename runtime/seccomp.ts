/**
 * The default seccomp profile. Neither runc nor crun applies one unless the spec carries it, so
 * tsbuild ships Docker's default profile (`seccomp-moby.json`, moby's default.json unchanged; see
 * seccomp-moby.LICENSE.md) and turns it into the OCI `linux.seccomp` section with the rules of
 * moby's `setupSeccomp` (profiles/seccomp/seccomp_linux.go):
 *
 * - defaultAction, defaultErrnoRet (EPERM) and every other top-level field are kept as they are;
 * - `archMap`: the entry whose architecture is this machine's native one gives `architectures`
 *   (itself, then its sub-architectures);
 * - a syscall rule is dropped when `excludes.arches` holds this arch, any `excludes.caps` is in the
 *   container's bounding set, the kernel is at least `excludes.minKernel`; or when `includes.arches`
 *   lacks this arch, any `includes.caps` is missing, the kernel is older than `includes.minKernel`;
 * - what stays is the rule's names, action, errnoRet and args, unchanged.
 *
 * The conversion runs once per process (well under a millisecond); the container start is
 * dominated by libseccomp compiling the filter, which the conversion does not change.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { RuntimeSetupError } from './errors.js';
import { shippedAssetPaths } from '../image/shipped-asset.js';

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string;
}
interface MobyFilter {
  arches?: string[];
  caps?: string[];
  minKernel?: string;
}
export interface MobySeccompRule {
  names?: string[];
  name?: string;
  comment?: string;
  action: string;
  errnoRet?: number;
  args?: SeccompArg[] | null;
  includes?: MobyFilter;
  excludes?: MobyFilter;
}
export interface MobySeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: Array<{ architecture: string; subArchitectures?: string[] | null }>;
  syscalls: MobySeccompRule[];
}
export interface OciSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
}
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: OciSeccompRule[];
}

/** Node's process.arch → [moby's name for it in `arches`, its native SCMP arch]. */
const ARCHES: Record<string, [string, string]> = {
  x64: ['amd64', 'SCMP_ARCH_X86_64'],
  arm64: ['arm64', 'SCMP_ARCH_AARCH64'],
  arm: ['arm', 'SCMP_ARCH_ARM'],
  ia32: ['x86', 'SCMP_ARCH_X86'],
  s390x: ['s390x', 'SCMP_ARCH_S390X'],
  ppc64: ['ppc64le', 'SCMP_ARCH_PPC64LE'],
  riscv64: ['riscv64', 'SCMP_ARCH_RISCV64'],
};

/**
 * The one difference from moby: x32 (the ILP32 ABI of x86_64) is left out of `architectures`.
 * libseccomp compiles the rules once per architecture at every container start, and x32 cost
 * ~5 ms of each RUN step (crun 1.8: X86_64 alone 14 ms, + X86 22 ms, + X32 26 ms). It changes no
 * answer for x86_64 or i386 processes: their syscalls are matched against their own
 * architecture's rules, and x32 calls (numbers with bit 30 set) are the only ones that now hit the
 * filter's bad-architecture action instead of the x32 copy of the rules. That is fail-closed; x32
 * binaries are all but extinct, and Debian's kernels disable the ABI unless booted with syscall.x32=y.
 */
const DROPPED_ARCHES = new Set(['SCMP_ARCH_X32']);

/** "major.minor" of a kernel release, as moby's parseRelease reads it ("6.1.0-18-amd64" → [6, 1]). */
function kernelVersion(text: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  if (!m) throw new RuntimeSetupError(`cannot read kernel version ${JSON.stringify(text)}`, { release: text });
  return [Number(m[1]), Number(m[2])];
}

function kernelAtLeast(min: string, running: string): boolean {
  const [k, major] = kernelVersion(running);
  const [minK, minMajor] = kernelVersion(min);
  return k > minK || (k === minK && major >= minMajor);
}

/** Whether moby's setupSeccomp keeps `rule` for a container on `arch` with bounding set `caps`. */
function ruleApplies(rule: MobySeccompRule, arch: string, caps: ReadonlySet<string>, kernel: string): boolean {
  const exc = rule.excludes;
  if (exc) {
    if (exc.arches?.includes(arch)) return false;
    if (exc.caps?.some((c) => caps.has(c))) return false;
    if (exc.minKernel && kernelAtLeast(exc.minKernel, kernel)) return false;
  }
  const inc = rule.includes;
  if (inc) {
    if (inc.arches?.length && !inc.arches.includes(arch)) return false;
    if (inc.caps?.some((c) => !caps.has(c))) return false;
    if (inc.minKernel && !kernelAtLeast(inc.minKernel, kernel)) return false;
  }
  return true;
}

function ociRule(rule: MobySeccompRule): OciSeccompRule {
  if (rule.name && rule.names?.length) {
    throw new RuntimeSetupError(`seccomp rule for ${rule.name} has both 'name' and 'names'`, { name: rule.name });
  }
  const out: OciSeccompRule = { names: rule.name ? [rule.name] : (rule.names ?? []), action: rule.action };
  if (rule.errnoRet !== undefined) out.errnoRet = rule.errnoRet;
  if (rule.args?.length) {
    // as moby's Go types marshal them: valueTwo is omitted when 0
    out.args = rule.args.map(({ index, value, valueTwo, op }) => (valueTwo ? { index, value, valueTwo, op } : { index, value, op }));
  }
  return out;
}

/**
 * The OCI seccomp section moby would generate from `profile` for a container whose bounding set
 * is `caps`, on `arch` (Node's name) with kernel `kernelRelease`; x32 left out (see DROPPED_ARCHES).
 */
export function convertSeccomp(
  profile: MobySeccompProfile,
  caps: readonly string[],
  arch: string = process.arch,
  kernelRelease: string = release(),
): OciSeccomp {
  const known = ARCHES[arch];
  if (!known) throw new RuntimeSetupError(`no seccomp architecture mapping for ${arch}`, { arch });
  const [mobyArch, nativeArch] = known;
  if (profile.architectures?.length && profile.archMap?.length) {
    throw new RuntimeSetupError("seccomp profile has both 'architectures' and 'archMap'", {});
  }
  const { archMap, syscalls, ...topLevel } = profile;
  const architectures = [...(profile.architectures ?? [])];
  const native = archMap?.find((m) => m.architecture === nativeArch);
  if (native) architectures.push(native.architecture, ...(native.subArchitectures ?? []));
  const capSet = new Set(caps);
  return {
    ...topLevel,
    architectures: architectures.filter((a) => !DROPPED_ARCHES.has(a)),
    syscalls: syscalls.filter((r) => ruleApplies(r, mobyArch, capSet, kernelRelease)).map(ociRule),
  };
}

/** tsc does not copy .json into dist/, so a compiled build also looks in the source tree beside it. */
function readShippedProfile(): MobySeccompProfile {
  for (const u of shippedAssetPaths('seccomp-moby.json', import.meta.url, ['../../runtime/seccomp-moby.json'])) {
    try {
      return JSON.parse(readFileSync(u, 'utf8')) as MobySeccompProfile;
    } catch {
      /* next */
    }
  }
  throw new RuntimeSetupError('runtime/seccomp-moby.json is missing from the installation', {});
}

const converted = new Map<string, OciSeccomp>();

/** Docker's default profile for a container with bounding set `caps` on this machine (cached). */
export function defaultSeccomp(caps: readonly string[]): OciSeccomp {
  const key = [...caps].sort().join(',');
  let out = converted.get(key);
  if (!out) {
    out = convertSeccomp(readShippedProfile(), caps);
    converted.set(key, out);
  }
  return out;
}
