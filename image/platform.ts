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

/**
 * The platform images are built for by default on this machine, normalized (containerd's
 * DefaultSpec then Normalize: arm64 names no variant). Containers are Linux everywhere except
 * Windows hosts, so other host OSes map to linux.
 */
export function hostPlatform(): Platform {
  const a = NODE_ARCH[process.arch] ?? { architecture: process.arch };
  let variant = a.variant;
  if (process.arch === 'arm') {
    // Node knows which ARM it was built for; v7 is by far the common one.
    const v = (process.config.variables as Record<string, unknown>)['arm_version'];
    if (typeof v === 'string' && /^[5-8]$/.test(v)) variant = `v${v}`;
  }
  return normalizePlatform({ architecture: a.architecture, os: process.platform === 'win32' ? 'windows' : 'linux', ...(variant ? { variant } : {}) });
}

/** `os/arch[/variant]`, the form `--platform` takes. */
export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, ...(platform.variant ? [platform.variant] : [])].join('/');
}

const KNOWN_OS = new Set(['linux', 'windows', 'darwin', 'freebsd', 'netbsd', 'openbsd', 'solaris', 'illumos', 'aix', 'plan9']);

/** containerd's normalizeArch: aliases to GOARCH names, and each architecture's variant spelling. */
function normalizeArch(archIn: string, variantIn: string): { architecture: string; variant: string } {
  let arch = archIn.toLowerCase();
  let variant = variantIn.toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === '8' || variant === 'v8') variant = '';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  return { architecture: arch, variant };
}

/**
 * containerd's platforms.Normalize, which BuildKit applies to every --platform: `arm64` and
 * `arm64/v8` are `arm64` without variant, `arm` is `arm/v7`, `amd64/v1` is `amd64`,
 * `x86_64`/`aarch64`/`armhf`/`armel`/`i386` are their GOARCH names, `macos` is darwin.
 */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase() === 'macos' ? 'darwin' : platform.os.toLowerCase();
  const { architecture, variant } = normalizeArch(platform.architecture, platform.variant ?? '');
  const { variant: _old, ...rest } = platform;
  const out: Platform = { ...rest, architecture, os };
  if (variant) out.variant = variant;
  return out;
}

/**
 * Parses `os/arch[/variant]`, `arch` alone (host OS), or `os` alone (host arch), normalized as
 * BuildKit does (containerd's Parse, then Normalize): `linux/aarch64` and `linux/arm64/v8` are
 * `linux/arm64`, `linux/arm` is `linux/arm/v7`.
 */
export function parsePlatform(spec: string): Platform {
  const parts = spec.trim().toLowerCase().split('/');
  if (parts.length > 3 || parts.some((x) => x === '' || !/^[a-z0-9._-]+$/.test(x))) {
    throw new FormatError(`invalid platform ${JSON.stringify(spec)}: want os/arch[/variant]`, { platform: spec });
  }
  const host = hostPlatform();
  if (parts.length === 1 && KNOWN_OS.has(parts[0]!)) return normalizePlatform({ ...host, os: parts[0]! });
  const [os, arch, variant] = parts.length === 1 ? [host.os, parts[0]!, undefined] : [parts[0]!, parts[1]!, parts[2]];
  return normalizePlatform({ os, architecture: arch, ...(variant !== undefined ? { variant } : {}) });
}

/** Parses a comma-separated `--platform` list (`linux/amd64,linux/arm64`), duplicates (after normalizing) dropped. */
export function parsePlatformList(text: string): Platform[] {
  const out = new Map<string, Platform>();
  for (const part of text.split(',')) {
    if (part.trim() === '') continue;
    const p = parsePlatform(part);
    out.set(formatPlatform(p), p);
  }
  if (out.size === 0) throw new FormatError(`invalid platform ${JSON.stringify(text)}: want os/arch[/variant]`, { platform: text });
  return [...out.values()];
}

/**
 * What a machine of `want` runs, best first (containerd's OnlyStrict): the platform itself, then
 * the lower variants of its architecture (arm/v7 runs v6 and v5, amd64/v3 runs v2 and v1).
 */
function compatibleVariants(want: Platform): string[] {
  const n = normalizePlatform(want);
  const variant = n.variant ?? '';
  const out = [variant];
  const version = /^v(\d+)$/.exec(variant);
  if (!version) return out;
  const floor = n.architecture === 'arm' ? 5 : n.architecture === 'amd64' ? 1 : Number(version[1]);
  for (let v = Number(version[1]) - 1; v >= floor; v--) out.push(n.architecture === 'amd64' && v === 1 ? '' : `v${v}`);
  return out;
}

/** How well an image for `have` serves `want`: 0 best, higher worse, -1 not at all (containerd's matcher). */
function platformRank(want: Platform, have: Platform): number {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return -1;
  return compatibleVariants(w).indexOf(h.variant ?? '');
}

/**
 * Whether an image for `have` runs on `want`, both normalized as containerd does: arm64 and
 * arm64/v8 are the same, arm is arm/v7, and a lower variant of the same architecture fits.
 */
export function matchPlatform(want: Platform, have: Platform): boolean {
  return platformRank(want, have) >= 0;
}

/**
 * A single image's platform (from its config), formatted, when it cannot serve `want`; undefined
 * when it can or names none. For "X is an image for linux/amd64, not linux/arm64" errors.
 */
export function configPlatformMismatch(config: { os?: string; architecture?: string; variant?: string }, want: Platform): string | undefined {
  if (!config.os || !config.architecture) return undefined;
  const have: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  return matchPlatform(want, have) ? undefined : formatPlatform(normalizePlatform(have));
}

/** Index entries that are not runnable images: attestations (BuildKit marks them unknown/unknown). */
export function isAttestation(desc: Descriptor): boolean {
  return desc.platform?.os === 'unknown' || desc.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}

/**
 * The one rule for choosing an image from an index: the non-attestation entry whose platform
 * serves `platform` best (its own variant, then lower ones; the first of equals); an index whose only image names no platform gives that image.
 * Undefined when nothing fits (callers name what there was with `indexPlatforms`).
 */
export function selectManifest(index: Pick<Index, 'manifests'>, platform: Platform): Descriptor | undefined {
  const candidates = index.manifests.filter((d) => !isAttestation(d));
  let hit: Descriptor | undefined;
  let best = Infinity;
  for (const d of candidates) {
    const rank = d.platform ? platformRank(platform, d.platform) : -1;
    if (rank >= 0 && rank < best) [hit, best] = [d, rank];
  }
  if (hit) return hit;
  return candidates.length === 1 && !candidates[0]!.platform ? candidates[0] : undefined;
}

/** The platforms an index offers (for "no image for X (has: …)" errors), attestations left out. */
export function indexPlatforms(index: Pick<Index, 'manifests'>): string[] {
  return index.manifests.filter((d) => !isAttestation(d)).map((d) => (d.platform ? formatPlatform(d.platform) : d.digest));
}
