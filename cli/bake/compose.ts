import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BakeConfigError, emptyTarget, type BakeConfig, type BakeTarget } from './config.js';
import { interpolateTree, type Lookup } from './interpolate.js';

export interface ConfigFile {
  path: string;
  text: string;
}

/** The `build:` keys of the Compose Specification that tsbuild reads. */
const BUILD_KEYS = new Set([
  'context', 'dockerfile', 'dockerfile_inline', 'args', 'ssh', 'cache_from', 'cache_to', 'additional_contexts', 'labels', 'no_cache',
  'network', 'pull', 'shm_size', 'target', 'secrets', 'tags', 'platforms',
]);
/** Keys of the specification tsbuild accepts but does not apply: a warning says so. */
const IGNORED_BUILD_KEYS = new Set(['extra_hosts', 'isolation', 'privileged', 'ulimits', 'entitlements', 'sbom', 'provenance']);

/** Reads YAML with an alias limit (a billion-laughs file stops) and the file's name in errors. */
export function readYaml(file: ConfigFile): unknown {
  try {
    return parseYaml(file.text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (e) {
    throw new BakeConfigError(file.path, (e as Error).message.split('\n')[0] ?? 'invalid YAML');
  }
}

/**
 * Compose files to bake targets, as `docker compose build` reads them: files merge in order
 * (mappings deep, everything else replaced by the later file), then every value is interpolated
 * from the environment and the `.env` next to the first file. Each service with a `build:` becomes
 * a target named after the service; its image name is `image:`, else `<project>-<service>`.
 * Relative paths are relative to the first file's directory (the project directory).
 */
export function composeToConfig(files: readonly ConfigFile[], lookup: Lookup): BakeConfig {
  const warnings: string[] = [];
  const merged = files.map((file) => ({ file, tree: readYaml(file) })).reduce<Record<string, unknown>>((acc, { file, tree }) => {
    if (tree === null || tree === undefined) return acc;
    if (!isMapping(tree)) throw new BakeConfigError(file.path, 'a compose file must be a mapping at the top');
    return deepMerge(acc, tree);
  }, {});
  const label = files.map((f) => f.path).join(', ');
  const unset = new Set<string>();
  const tree = interpolateTree(merged, lookup, '', (name) => {
    if (!unset.has(name)) warnings.push(`${label}: the "${name}" variable is not set. Defaulting to a blank string.`);
    unset.add(name);
  }) as Record<string, unknown>;
  const projectDir = dirname(resolve(files[0]!.path));
  const project = projectName(typeof tree.name === 'string' ? tree.name : (lookup('COMPOSE_PROJECT_NAME') ?? basename(projectDir)));
  const services = tree.services ?? {};
  if (!isMapping(services)) throw new BakeConfigError(`${label}: services`, 'must be a mapping of service names');
  const topSecrets = isMapping(tree.secrets) ? tree.secrets : {};
  const targets: Record<string, BakeTarget> = {};
  for (const [service, body] of Object.entries(services)) {
    const where = `${label}: services.${service}`;
    if (body === null) continue;
    if (!isMapping(body)) throw new BakeConfigError(where, 'must be a mapping');
    if (body.build === undefined) continue;
    targets[service] = serviceTarget(service, body, { where: `${where}.build`, origin: where, projectDir, project, topSecrets, lookup, warnings });
  }
  return { groups: { default: Object.keys(targets) }, targets, warnings };
}

/** Compose's project-name normalization: lower case, only [a-z0-9_-], no leading `_` or `-`. */
export function projectName(raw: string): string {
  return [...raw.toLowerCase()].filter((ch) => /[a-z0-9_-]/.test(ch)).join('').replace(/^[_-]+/, '');
}

interface ServiceScope {
  where: string;
  origin: string;
  projectDir: string;
  project: string;
  topSecrets: Record<string, unknown>;
  lookup: Lookup;
  warnings: string[];
}

function serviceTarget(service: string, body: Record<string, unknown>, scope: ServiceScope): BakeTarget {
  const { where } = scope;
  const build: Record<string, unknown> = typeof body.build === 'string' ? { context: body.build } : isMapping(body.build) ? body.build : {};
  if (!isMapping(body.build) && typeof body.build !== 'string') throw new BakeConfigError(where, 'must be a context path or a mapping');
  for (const key of Object.keys(build)) {
    if (key.startsWith('x-') || BUILD_KEYS.has(key)) continue;
    scope.warnings.push(IGNORED_BUILD_KEYS.has(key) ? `${where}.${key}: not supported by tsbuild yet; ignored` : `${where}: unknown key "${key}"; ignored`);
  }
  const target = emptyTarget(service, scope.origin);
  const rawContext = optionalString(build.context, `${where}.context`) ?? '.';
  target.context = isUrl(rawContext) || isAbsolute(rawContext) ? rawContext : resolve(scope.projectDir, rawContext);
  const inline = optionalString(build.dockerfile_inline, `${where}.dockerfile_inline`);
  const dockerfile = optionalString(build.dockerfile, `${where}.dockerfile`);
  if (inline !== undefined && dockerfile !== undefined) throw new BakeConfigError(where, 'dockerfile and dockerfile_inline cannot both be set');
  if (inline !== undefined) target.dockerfileInline = inline;
  else if (dockerfile !== undefined) target.dockerfile = dockerfile; // relative to the context, resolved with it
  target.args = keyValues(build.args, `${where}.args`, scope.lookup);
  target.labels = keyValues(build.labels, `${where}.labels`, scope.lookup);
  target.contexts = keyValues(build.additional_contexts, `${where}.additional_contexts`, scope.lookup);
  for (const [name, value] of Object.entries(target.contexts)) {
    if (!/^[a-z-]+:/.test(value) && !isAbsolute(value)) target.contexts[name] = resolve(scope.projectDir, value);
  }
  const image = optionalString(body.image, `${scope.origin}.image`);
  target.tags = [...new Set([image ?? `${scope.project}-${service}`, ...stringList(build.tags, `${where}.tags`)])];
  target.target = optionalString(build.target, `${where}.target`);
  target.platforms = stringList(build.platforms, `${where}.platforms`);
  target.cacheFrom = stringList(build.cache_from, `${where}.cache_from`).map(cacheSpec);
  target.cacheTo = stringList(build.cache_to, `${where}.cache_to`).map(cacheSpec);
  target.ssh = sshSpecs(build.ssh, `${where}.ssh`);
  target.secrets = secretSpecs(build.secrets, `${where}.secrets`, scope);
  target.network = optionalString(build.network, `${where}.network`);
  target.noCache = optionalBool(build.no_cache, `${where}.no_cache`);
  target.pull = optionalBool(build.pull, `${where}.pull`);
  if (build.shm_size !== undefined) scope.warnings.push(`${where}.shm_size: RUN's /dev/shm keeps its default size in bake; ignored`);
  return target;
}

/** `cache_from: [user/app:cache]` is a registry ref; `type=…` specs pass as they are. */
function cacheSpec(value: string): string {
  return value.includes('=') ? value : `type=registry,ref=${value}`;
}

function secretSpecs(value: unknown, where: string, scope: ServiceScope): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new BakeConfigError(where, 'must be a list');
  return value.map((entry, i) => {
    const source = typeof entry === 'string' ? entry : isMapping(entry) ? optionalString(entry.source, `${where}[${i}].source`) : undefined;
    if (source === undefined) throw new BakeConfigError(`${where}[${i}]`, 'needs a secret name (or source:)');
    const id = isMapping(entry) ? (optionalString(entry.target, `${where}[${i}].target`) ?? source) : source;
    const definition = scope.topSecrets[source];
    if (!isMapping(definition)) throw new BakeConfigError(`${where}[${i}]`, `secret "${source}" is not defined under the top-level secrets:`);
    if (typeof definition.file === 'string') return `id=${id},src=${isAbsolute(definition.file) ? definition.file : resolve(scope.projectDir, definition.file)}`;
    if (typeof definition.environment === 'string') return `id=${id},env=${definition.environment}`;
    throw new BakeConfigError(`secrets.${source}`, 'a build secret needs file: or environment:');
  });
}

function sshSpecs(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.map((entry, i) => requireString(entry, `${where}[${i}]`));
  if (isMapping(value)) return Object.entries(value).map(([id, path]) => (path === null || path === '' ? id : `${id}=${requireString(path, `${where}.${id}`)}`));
  throw new BakeConfigError(where, 'must be a list or a mapping');
}

/**
 * `args`/`labels` as a mapping or a `K=V` list. A key without a value takes the environment's
 * value, and is left out when the environment has none (as Compose resolves build args).
 */
function keyValues(value: unknown, where: string, lookup: Lookup): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined || value === null) return out;
  const put = (key: string, raw: unknown, at: string): void => {
    if (raw === null || raw === undefined) {
      const fromEnv = lookup(key);
      if (fromEnv !== undefined) out[key] = fromEnv;
    } else if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') out[key] = String(raw);
    else throw new BakeConfigError(at, 'must be a string, number or boolean');
  };
  if (Array.isArray(value)) {
    value.forEach((entry, i) => {
      const text = requireString(entry, `${where}[${i}]`);
      const eq = text.indexOf('=');
      put(eq < 0 ? text : text.slice(0, eq), eq < 0 ? null : text.slice(eq + 1), `${where}[${i}]`);
    });
  } else if (isMapping(value)) for (const [key, raw] of Object.entries(value)) put(key, raw, `${where}.${key}`);
  else throw new BakeConfigError(where, 'must be a mapping or a list of KEY=VALUE');
  return out;
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isUrl(value: string): boolean {
  return /^(https?:\/\/|git@|ssh:\/\/|git:\/\/)/.test(value);
}

export function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return String(value);
  return requireString(value, where);
}

function requireString(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new BakeConfigError(where, `must be a string, not ${JSON.stringify(value)}`);
  return value;
}

export function optionalBool(value: unknown, where: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new BakeConfigError(where, `must be true or false, not ${JSON.stringify(value)}`);
}

export function stringList(value: unknown, where: string): string[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) throw new BakeConfigError(where, 'must be a list of strings');
  return value.map((entry, i) => requireString(entry, `${where}[${i}]`));
}

/** Mappings merge key by key (recursively); any other value of the later file replaces. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prior = out[key];
    out[key] = isMapping(prior) && isMapping(value) ? deepMerge(prior, value) : value;
  }
  return out;
}
