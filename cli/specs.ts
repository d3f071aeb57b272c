/**
 * The command line's `k=v,k=v` specs (--output, --cache-from/--cache-to, --secret, --ssh),
 * read by one field splitter. RUN --mount is Dockerfile syntax and parsed by builder/ops/run.ts.
 */
import type { CacheSpec, SecretSpec } from '../builder/build.js';
import type { AnnotationSet, AttestOptions } from '../builder/attestations.js';
import type { OutputSpec } from '../builder/exporters/index.js';
import { isIP } from 'node:net';
import { parseSize } from '../report/units.js';
import { ULIMIT_NAMES, type ExtraHost, type SecurityOptions, type Ulimit } from '../runtime/types.js';
import type { MobySeccompProfile } from '../runtime/seccomp.js';
import { UsageError } from './args.js';

/**
 * `a=1,b=2,b=3,flag` → a: ['1'], b: ['2', '3'], flag: [''] (keys and values trimmed, repeats kept
 * in order). A bare key stands for a flag that is on.
 */
export function parseSpecFields(spec: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const part of spec.split(',')) {
    const i = part.indexOf('=');
    const key = (i < 0 ? part : part.slice(0, i)).trim();
    const value = i < 0 ? '' : part.slice(i + 1).trim();
    fields.set(key, [...(fields.get(key) ?? []), value]);
  }
  return fields;
}

/** A spec field as a switch: bare (`push`) or `push=true` is on. */
function isOn(value: string | undefined): boolean {
  return value === '' || value === 'true';
}

/** `--output`: `type=oci,dest=out.tar`, `type=image,name=a,name=b,push=true`, a bare `DIR` (type=local) or `-` (tar to stdout). */
export function parseOutput(spec: string): OutputSpec {
  if (!spec.includes('=')) return spec === '-' ? { type: 'tar', dest: '-' } : { type: 'local', dest: spec };
  const fields = parseSpecFields(spec);
  const get = (k: string): string | undefined => fields.get(k)?.[0];
  const type = get('type') ?? 'local';
  const names = (fields.get('name') ?? []).flatMap((n) => n.split(/\s+/)).filter(Boolean);
  const dest = get('dest');
  switch (type) {
    case 'image':
    case 'registry':
      return { type: 'image', names, push: type === 'registry' || isOn(get('push')) };
    case 'oci':
    case 'docker':
      if (!dest) throw new UsageError(`--output type=${type} needs dest=FILE.tar`);
      return { type, dest, names };
    case 'local':
    case 'tar':
      if (!dest) throw new UsageError(`--output type=${type} needs dest=`);
      return { type, dest };
    default:
      throw new UsageError(`unsupported --output type ${JSON.stringify(type)} (image, registry, oci, docker, local, tar)`);
  }
}

/**
 * The outputs of a build: each `--output` spec, a pushing image output for `--push`, and, when
 * names are given beside other outputs only, the store too (docker keeps `-t` images only with
 * --load; we keep them: cheap and expected). `tsbuild build` and each bake target share it.
 */
export function buildOutputs(specs: readonly string[], push: boolean, tags: readonly string[]): OutputSpec[] {
  const outputs = specs.map(parseOutput);
  if (push) outputs.push({ type: 'image', names: [], push: true });
  if (outputs.length > 0 && tags.length > 0 && !outputs.some((output) => output.type === 'image')) outputs.push({ type: 'image', names: [], push: false });
  return outputs;
}

/** `--cache-from/--cache-to`: `type=registry,ref=R[,mode=max]`, `type=local,src=DIR|dest=DIR`, or a bare ref (buildx's shorthand). */
export function parseCacheSpec(spec: string, dir: 'from' | 'to'): CacheSpec {
  if (!spec.includes('=')) return { type: 'registry', ref: spec };
  const fields = parseSpecFields(spec);
  const get = (k: string): string | undefined => fields.get(k)?.[0];
  const mode = get('mode');
  if (mode !== undefined && mode !== 'min' && mode !== 'max') throw new UsageError(`--cache-${dir}: mode must be min or max`);
  const type = get('type') ?? 'registry';
  const mounts = get('cache-mounts');
  const max = get('cache-mounts-max');
  const extra = {
    ...(mode ? { mode: mode as 'min' | 'max' } : {}),
    ...(mounts !== undefined ? { cacheMounts: isOn(mounts) } : {}),
    ...(max !== undefined ? { cacheMountsMax: parseSize(max) } : {}),
  };
  if (type === 'registry') {
    const ref = get('ref');
    if (!ref) throw new UsageError(`--cache-${dir} type=registry needs ref=`);
    return { type, ref, ...extra };
  }
  if (type === 'local') {
    const d = dir === 'from' ? get('src') : get('dest');
    if (!d) throw new UsageError(`--cache-${dir} type=local needs ${dir === 'from' ? 'src' : 'dest'}=`);
    return { type, dir: d, ...extra };
  }
  if (type === 'inline') {
    if (dir === 'from') throw new UsageError('--cache-from type=inline does not exist: name the image with type=registry,ref=IMAGE');
    return { type: 'inline' };
  }
  throw new UsageError(`unsupported cache type ${type} (registry, local)`);
}

/** `--secret id=ID[,src=FILE|source=FILE][,env=VAR]`. */
export function parseSecret(spec: string): SecretSpec {
  const fields = parseSpecFields(spec);
  const get = (k: string): string | undefined => fields.get(k)?.[0];
  const id = get('id');
  if (!id) throw new UsageError(`--secret needs id=: ${spec}`);
  const src = get('src') ?? get('source');
  const env = get('env');
  return { id, ...(src ? { src } : {}), ...(env ? { env } : {}) };
}

/** `--ssh default|ID[=SOCKET]` (repeatable) → socket by id ('' = $SSH_AUTH_SOCK). */
export function parseSsh(values: string[]): Record<string, string> {
  return Object.fromEntries(values.map((v) => (v.includes('=') ? [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)] : [v, ''])));
}

/**
 * `--add-host NAME:IP` or `NAME=IP` (buildx: IPv6 may be bracketed; `IP,IP` gives one line each;
 * `host-gateway` is the host itself, 127.0.0.1, since RUN shares the host's network here). The
 * address is written as Go prints it (`0:0::1` → `::1`), as BuildKit does.
 */
export function parseAddHost(spec: string): ExtraHost[] {
  let sep = spec.indexOf('=');
  if (sep < 0) sep = spec.indexOf(':');
  if (sep <= 0) throw new UsageError(`bad format for add-host: ${JSON.stringify(spec)} (NAME:IP or NAME=IP)`);
  const host = spec.slice(0, sep);
  const value = spec.slice(sep + 1);
  if (value === 'host-gateway') return [{ host, ip: '127.0.0.1' }];
  return value.split(',').map((raw) => {
    const unbracketed = raw.length > 2 && raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
    const ip = canonicalIp(unbracketed);
    if (ip === undefined) throw new UsageError(`invalid IP address in add-host: ${JSON.stringify(raw)}`);
    return { host, ip };
  });
}

/** An IP as Go's net.IP.String() writes it; undefined when `text` is no address. */
export function canonicalIp(text: string): string | undefined {
  const kind = isIP(text);
  if (kind === 4) return text.split('.').map((x) => String(Number(x))).join('.');
  if (kind !== 6) return undefined;
  const compressed = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  // an IPv4-mapped address prints as the IPv4 address
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  }
  return compressed;
}

/** `--ulimit NAME=SOFT[:HARD]` as docker's go-units reads it (-1 is unlimited; HARD defaults to SOFT). */
export function parseUlimit(spec: string): Ulimit {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new UsageError(`invalid ulimit argument: ${spec} (NAME=SOFT[:HARD], e.g. nofile=1024:2048)`);
  const name = spec.slice(0, eq);
  if (!ULIMIT_NAMES.includes(name)) throw new UsageError(`invalid ulimit type: ${name} (one of ${ULIMIT_NAMES.join(', ')})`);
  const values = spec.slice(eq + 1).split(':');
  if (values.length > 2) throw new UsageError(`too many limit value arguments - ${spec.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const num = (v: string): number => {
    if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < -1) throw new UsageError(`invalid ulimit value ${JSON.stringify(v)} in ${spec}`);
    return Number(v);
  };
  const soft = num(values[0]!);
  const hard = values[1] !== undefined ? num(values[1]) : soft;
  if (hard !== -1 && (soft === -1 || soft > hard)) throw new UsageError(`ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { name, soft, hard };
}

/** docker's RAMInBytes (`--shm-size 128m`): a number with an optional k/m/g/t/p unit, all binary, `b`/`ib` allowed. */
export function ramInBytes(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i.exec(text);
  if (!m) throw new UsageError(`invalid --${flag} ${JSON.stringify(text)}: a size like 64m, 1g or 67108864`);
  const exponent = m[2] ? 'kmgtp'.indexOf(m[2].toLowerCase()) + 1 : 0;
  const bytes = Math.floor(Number(m[1]) * 1024 ** exponent);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`invalid --${flag} ${JSON.stringify(text)}`);
  return bytes;
}

/**
 * `--security-opt` (docker's classic builder; BuildKit has none): `seccomp=unconfined`,
 * `seccomp=PROFILE.json` (moby's format), `no-new-privileges[=true|false]`. `apparmor=` and
 * `label=` are accepted with a note (tsbuild applies no AppArmor or SELinux profile), anything
 * else is an error. `readFile` reads a profile (the CLI's own file access).
 */
export function parseSecurityOpts(values: string[], readFile: (path: string) => string): { options: SecurityOptions; notes: string[] } {
  const options: SecurityOptions = {};
  const notes: string[] = [];
  for (const v of values) {
    const sep = /[=:]/.exec(v);
    const key = sep ? v.slice(0, sep.index) : v;
    const value = sep ? v.slice(sep.index + 1) : '';
    if (key === 'no-new-privileges') {
      if (!['', 'true', 'false'].includes(value)) throw new UsageError(`invalid --security-opt ${v}: no-new-privileges takes true or false`);
      options.noNewPrivileges = value !== 'false';
    } else if (key === 'seccomp') {
      if (value === 'unconfined') options.seccomp = 'unconfined';
      else if (value === '') throw new UsageError('--security-opt seccomp= needs unconfined or a profile file');
      else options.seccomp = readSeccompProfile(value, readFile);
    } else if (key === 'apparmor' || key === 'label') {
      notes.push(`--security-opt ${v}: ignored, tsbuild applies no AppArmor or SELinux profile to RUN`);
    } else {
      throw new UsageError(`invalid --security-opt ${JSON.stringify(v)} (seccomp=unconfined|FILE, no-new-privileges, apparmor=…, label=…)`);
    }
  }
  return { options, notes };
}

function readSeccompProfile(path: string, readFile: (path: string) => string): MobySeccompProfile {
  let profile: unknown;
  try {
    profile = JSON.parse(readFile(path));
  } catch (e) {
    throw new UsageError(`--security-opt seccomp=${path}: ${(e as Error).message}`);
  }
  const p = profile as Partial<MobySeccompProfile> | null;
  if (typeof p !== 'object' || p === null || typeof p.defaultAction !== 'string' || !Array.isArray(p.syscalls ?? [])) {
    throw new UsageError(`--security-opt seccomp=${path}: not a seccomp profile (needs defaultAction and syscalls, as Docker's default.json)`);
  }
  return { ...p, syscalls: p.syscalls ?? [] } as MobySeccompProfile;
}

/**
 * `--annotation [TYPE[,TYPE…]:]KEY=VALUE` as buildx reads it: TYPE is `manifest` (the default),
 * `manifest-descriptor`, `index` or `index-descriptor`, optionally with `[PLATFORM]`, which must
 * then be the platform built.
 */
export function parseAnnotations(values: string[], platform: string): AnnotationSet {
  const set: AnnotationSet = { index: {}, indexDescriptor: {}, manifest: {}, manifestDescriptor: {} };
  const targets: Record<string, keyof AnnotationSet> = { manifest: 'manifest', 'manifest-descriptor': 'manifestDescriptor', index: 'index', 'index-descriptor': 'indexDescriptor' };
  for (const v of values) {
    if (v === '') continue;
    const eq = v.indexOf('=');
    if (eq < 0) throw new UsageError(`invalid annotation ${JSON.stringify(v)}, expected key=value`);
    const left = v.slice(0, eq);
    const value = v.slice(eq + 1);
    const colon = left.indexOf(':');
    const key = colon < 0 ? left : left.slice(colon + 1);
    if (key === '') throw new UsageError(`invalid annotation ${JSON.stringify(v)}: empty key`);
    const types = colon < 0 ? ['manifest'] : left.slice(0, colon).split(',');
    for (const t of types) {
      const m = /^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$/.exec(t);
      if (!m) throw new UsageError(`invalid annotation type ${JSON.stringify(t)}, expected type and optional platform in square brackets`);
      const target = targets[m[1]!];
      if (!target) throw new UsageError(`unknown annotation type ${JSON.stringify(m[1])} (manifest, manifest-descriptor, index, index-descriptor)`);
      if (m[2] !== undefined && m[2] !== platform) throw new UsageError(`invalid annotation: no platform ${m[2]} found in source (this build is ${platform})`);
      set[target][key] = value;
    }
  }
  return set;
}

/** `--attest type=provenance|sbom,…`, `--provenance VALUE`, `--sbom VALUE` (buildx's shorthands) → what to attach. */
export function parseAttestations(attest: string[], provenance: string | undefined, sbom: string | undefined): { options: AttestOptions; notes: string[] } {
  const specs = [...attest];
  // buildx's CanonicalizeAttest: a boolean means enabled or disabled, anything else is attributes
  const canonical = (type: string, v: string): string => (/^(true|false|1|0)$/i.test(v) ? `type=${type},disabled=${!/^(true|1)$/i.test(v)}` : `type=${type},${v}`);
  if (provenance !== undefined) specs.push(canonical('provenance', provenance));
  if (sbom !== undefined) specs.push(canonical('sbom', sbom));
  const options: AttestOptions = {};
  const notes: string[] = [];
  for (const spec of specs) {
    const fields = parseSpecFields(spec);
    const get = (k: string): string | undefined => fields.get(k)?.[0];
    const type = get('type');
    const disabled = get('disabled');
    if (disabled !== undefined && !/^(true|false|1|0)$/i.test(disabled)) throw new UsageError(`invalid value disabled=${disabled} in ${spec}`);
    const off = disabled !== undefined && /^(true|1)$/i.test(disabled);
    const known = (allowed: string[]): void => {
      for (const k of fields.keys()) if (!['type', 'disabled', ...allowed].includes(k)) throw new UsageError(`unknown ${type} attestation attribute ${JSON.stringify(k)} in ${spec}`);
    };
    if (type === 'provenance') {
      known(['mode', 'version', 'builder-id']);
      const mode = get('mode') ?? 'min';
      if (!['min', 'max', 'full'].includes(mode)) throw new UsageError(`invalid provenance mode ${JSON.stringify(mode)} (min or max)`);
      const version = get('version') ?? 'v1';
      if (version !== 'v1' && version !== 'v0.2') throw new UsageError(`invalid provenance SLSA version ${JSON.stringify(version)} (v1 or v0.2)`);
      const builderId = get('builder-id');
      if (off) delete options.provenance;
      else options.provenance = { mode: mode === 'min' ? 'min' : 'max', version, ...(builderId ? { builderId } : {}) };
    } else if (type === 'sbom') {
      known(['generator', 'scan-context', 'scan-stage']);
      if (get('generator') !== undefined) notes.push(`--attest type=sbom,generator=${get('generator')}: tsbuild scans the filesystem itself (dpkg, apk, npm); no generator image runs`);
      if (off) delete options.sbom;
      else options.sbom = true;
    } else {
      throw new UsageError(type === undefined ? `attestation type not specified in ${JSON.stringify(spec)}` : `unknown attestation type ${JSON.stringify(type)} (provenance, sbom)`);
    }
  }
  return { options, notes };
}
