/**
 * The command line's `k=v,k=v` specs (--output, --cache-from/--cache-to, --secret, --ssh),
 * read by one field splitter. RUN --mount is Dockerfile syntax and parsed by builder/ops/run.ts.
 */
import type { CacheSpec, SecretSpec } from '../builder/build.js';
import type { OutputSpec } from '../builder/exporters/index.js';
import { parseSize } from '../report/units.js';
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
