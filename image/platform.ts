import { FormatError } from './errors.js';
import type { Descriptor, Index, Platform } from './types.js';

/** Node's process.arch → the GOARCH spelling images use. */
const NODE_ARCH: Readonly<Record<string, { architecture: string; variant?: string }>> = {
  x64: { architecture: 'amd64' },
  arm64: { architecture: 'arm64', variant: 'v8' },
  arm: { architecture: 'arm', variant: 'v7' },
  ia32: { architecture: '386' },
  ppc64: { architecture: 'ppc64le' },
  s390x: { architecture: 's390x' },
  riscv64: { architecture: 'riscv64' },
  loong64: { architecture: 'loong64' },
  mips64el: { architecture: 'mips64le' },
  mipsel: { architecture: 'mipsle' },
};

/** Other spellings people and tools use (uname -m, Debian) → the canonical one. */
const ARCH_ALIASES: Readonly<Record<string, { architecture: string; variant?: string }>> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
  i386: { architecture: '386' },
  i686: { architecture: '386' },
};

/**
 * The platform images are built for by default on this machine. Containers are
 * Linux everywhere except Windows hosts, so other host OSes map to linux.
 */
export function hostPlatform(): Platform {
  const a = NODE_ARCH[process.arch] ?? { architecture: process.arch };
  let variant = a.variant;
  if (process.arch === 'arm') {
    // Node knows which ARM it was built for; v7 is by far the common one.
    const v = (process.config.variables as Record<string, unknown>)['arm_version'];
    if (typeof v === 'string' && /^[5-8]$/.test(v)) variant = `v${v}`;
  }
  const p: Platform = { architecture: a.architecture, os: process.platform === 'win32' ? 'windows' : 'linux' };
  if (variant !== undefined) p.variant = variant;
  return p;
}

/** `os/arch[/variant]`, the form `--platform` takes. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}

const KNOWN_OS = new Set(['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix', 'plan9']);

/**
 * Parses `os/arch[/variant]`, `arch` alone (host OS), or `os` alone (host arch),
 * normalising architecture aliases (x86_64 → amd64, aarch64 → arm64).
 */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length > 3 || parts.some((x) => x === '' || !/^[a-z0-9._-]+$/.test(x))) {
    throw new FormatError(`invalid platform ${JSON.stringify(s)}: want os/arch[/variant]`, { platform: s });
  }
  const host = hostPlatform();
  let os: string;
  let arch: string;
  let variant: string | undefined;
  if (parts.length === 1) {
    const only = parts[0]!;
    if (KNOWN_OS.has(only)) {
      os = only;
      arch = host.architecture;
      variant = host.variant;
    } else {
      os = host.os;
      arch = only;
    }
  } else {
    os = parts[0]!;
    arch = parts[1]!;
    variant = parts[2];
  }
  const alias = ARCH_ALIASES[arch];
  if (alias) {
    arch = alias.architecture;
    variant ??= alias.variant;
  }
  const p: Platform = { architecture: arch, os };
  if (variant !== undefined) p.variant = variant;
  return p;
}

/** The variant a platform means when it names none (containerd's normalisation). */
function effectiveVariant(p: Platform): string | undefined {
  if (p.variant) return p.variant;
  if (p.architecture === 'arm64') return 'v8';
  if (p.architecture === 'arm') return 'v7';
  return undefined;
}

/**
 * Whether an image for `have` satisfies a request for `want`. A `want` without a
 * variant accepts any variant; arm64 without a variant equals arm64/v8.
 */
export function matchPlatform(want: Platform, have: Platform): boolean {
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  if (!want.variant) return true;
  return effectiveVariant(want) === effectiveVariant(have);
}

/** Index entries that are not runnable images: attestations (BuildKit marks them unknown/unknown). */
export function isAttestation(desc: Descriptor): boolean {
  return desc.platform?.os === 'unknown' || desc.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

/**
 * The one rule for choosing an image from an index: the first non-attestation entry whose
 * platform satisfies `platform`; an index whose only image names no platform gives that image.
 * Undefined when nothing fits (callers name what there was with `indexPlatforms`).
 */
export function selectManifest(index: Pick<Index, 'manifests'>, platform: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter((d) => !isAttestation(d));
  const hit = candidates.find((d) => d.platform && matchPlatform(platform, d.platform));
  if (hit) return hit;
  return candidates.length === 1 && !candidates[0]!.platform ? candidates[0] : undefined;
}

/** The platforms an index offers (for "no image for X (has: …)" errors), attestations left out. */
export function indexPlatforms(index: Pick<Index, 'manifests'>): string[] {
  return index.manifests.filter((d) => !isAttestation(d)).map((d) => (d.platform ? formatPlatform(d.platform) : d.digest));
}
