import { open } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { bakeFileLayers, mergeLayer, type TargetLayer } from './bake-file.js';
import { composeToConfig, isUrl, type ConfigFile } from './compose.js';
import { BakeConfigError, emptyTarget, type BakeConfig, type BakeTarget } from './config.js';
import { parseDotenv, type Lookup } from './interpolate.js';

/** Looked for in this order when no -f is given; every one present is read, as buildx does. */
export const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml', 'docker-bake.json', 'docker-bake.hcl', 'docker-bake.override.json', 'docker-bake.override.hcl'];

/** A bake or compose file larger than this is refused (the Dockerfile limit). */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export async function readConfigFiles(paths: readonly string[], cwd: string): Promise<ConfigFile[]> {
  const chosen = paths.length > 0 ? paths.map((p) => resolve(cwd, p)) : DEFAULT_FILES.map((name) => join(cwd, name)).filter((p) => existsSync(p));
  if (chosen.length === 0) throw new BakeConfigError(cwd, `no bake file found: looked for ${DEFAULT_FILES.join(', ')} (or name one with -f)`);
  return Promise.all(chosen.map(readConfigFile));
}

async function readConfigFile(path: string): Promise<ConfigFile> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new BakeConfigError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new BakeConfigError(path, 'not a regular file');
    const buffer = Buffer.alloc(Math.min(info.size, MAX_CONFIG_BYTES) + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > MAX_CONFIG_BYTES) throw new BakeConfigError(path, `larger than ${MAX_CONFIG_BYTES} bytes`);
    return { path, text: buffer.subarray(0, bytesRead).toString('utf8') };
  } finally {
    await handle.close();
  }
}

/**
 * Every file's targets merged in order (compose files first read together, as one project; then
 * each bake file's fields over them), with the environment and the `.env` beside the first
 * compose file for interpolation (the environment wins, as in Compose).
 */
export async function loadConfig(files: readonly ConfigFile[], environment: NodeJS.ProcessEnv): Promise<BakeConfig> {
  const warnings: string[] = [];
  const compose = files.filter((f) => /\.ya?ml$/i.test(f.path));
  const layers: Record<string, TargetLayer> = {};
  const groups: Record<string, string[]> = {};
  const envLookup: Lookup = (name) => environment[name];
  if (compose.length > 0) {
    const dotenvPath = join(dirname(compose[0]!.path), '.env');
    const dotenv = existsSync(dotenvPath) ? parseDotenv((await readConfigFile(dotenvPath)).text, dotenvPath, envLookup) : new Map<string, string>();
    const config = composeToConfig(compose, (name) => environment[name] ?? dotenv.get(name));
    warnings.push(...config.warnings);
    Object.assign(layers, config.targets);
    mergeGroups(groups, config.groups);
  }
  for (const file of files) {
    if (/\.ya?ml$/i.test(file.path)) continue;
    if (/\.hcl$/i.test(file.path)) {
      throw new BakeConfigError(file.path, `HCL bake files are not supported; write the same targets as ${basename(file.path).replace(/\.hcl$/i, '.json')} (docker-bake.json: {"group": …, "target": …, "variable": …}; see the README)`);
    }
    const parsed = bakeFileLayers(file, envLookup, warnings);
    for (const [name, layer] of Object.entries(parsed.targets)) layers[name] = layers[name] ? mergeLayer(layers[name]!, layer) : layer;
    mergeGroups(groups, parsed.groups);
  }
  const targets: Record<string, BakeTarget> = {};
  for (const [name, layer] of Object.entries(layers)) targets[name] = completeTarget(name, layer);
  return { groups, targets, warnings };
}

function mergeGroups(into: Record<string, string[]>, from: Record<string, string[]>): void {
  for (const [name, members] of Object.entries(from)) into[name] = [...new Set([...(into[name] ?? []), ...members])];
}

/** A target with every default filled in: context `.` (the working directory), `Dockerfile` (relative to the context). */
function completeTarget(name: string, layer: TargetLayer): BakeTarget {
  const target: BakeTarget = { ...emptyTarget(name, layer.origin), ...(Object.fromEntries(Object.entries(layer).filter(([, v]) => v !== undefined)) as Partial<BakeTarget>) };
  if (!isUrl(target.context) && !/^[a-z-]+:/.test(target.context)) target.context = resolve(target.context);
  if (target.dockerfileInline === undefined) target.dockerfile ??= 'Dockerfile';
  return target;
}

/** The Dockerfile a target builds: its `dockerfile` relative to its context (as buildx resolves it). */
export function dockerfilePath(target: BakeTarget): string | undefined {
  if (target.dockerfile === undefined || isUrl(target.context)) return target.dockerfile;
  return isAbsolute(target.dockerfile) ? target.dockerfile : join(target.context, target.dockerfile);
}

/** Keys `--set` may change, with how: a string, a boolean, a list (repeated --set accumulate) or a map entry. */
const SET_KEYS: Record<string, 'string' | 'bool' | 'list'> = {
  context: 'string', dockerfile: 'string', target: 'string', network: 'string', 'dockerfile-inline': 'string',
  'no-cache': 'bool', pull: 'bool', push: 'bool',
  tags: 'list', platform: 'list', platforms: 'list', 'cache-from': 'list', 'cache-to': 'list', secrets: 'list', secret: 'list', ssh: 'list', output: 'list', 'no-cache-filter': 'list',
};

/**
 * Applies `--set TARGET.KEY=VALUE` (TARGET may be `*` or a glob of names; `args.NAME`,
 * `labels.NAME` and `contexts.NAME` set one entry; list keys set by several --set accumulate, and
 * `KEY+=VALUE` appends to the file's list).
 */
export function applyOverrides(config: BakeConfig, overrides: readonly string[]): void {
  const listsSet = new Set<string>();
  for (const override of overrides) {
    const match = /^([^.=]+)\.([A-Za-z0-9_.-]+?)(\+?=)(.*)$/s.exec(override);
    if (!match) throw new BakeConfigError('--set', `"${override}": expected TARGET.KEY=VALUE`);
    const [, pattern, key, operator, value] = match as unknown as [string, string, string, string, string];
    const names = Object.keys(config.targets).filter((name) => globMatch(pattern, name));
    if (names.length === 0) throw new BakeConfigError('--set', `"${override}": no target matches "${pattern}"`);
    for (const name of names) setKey(config.targets[name]!, key, value, operator === '+=', listsSet, override);
  }
}

function setKey(target: BakeTarget, key: string, value: string, append: boolean, listsSet: Set<string>, override: string): void {
  const entry = /^(args|labels|contexts)\.(.+)$/.exec(key);
  if (entry) {
    target[entry[1] as 'args' | 'labels' | 'contexts'][entry[2]!] = value;
    return;
  }
  const kind = SET_KEYS[key];
  if (!kind) throw new BakeConfigError('--set', `"${override}": unknown key "${key}" (${[...Object.keys(SET_KEYS), 'args.NAME', 'labels.NAME', 'contexts.NAME'].join(', ')})`);
  if (kind === 'bool' && !['true', 'false'].includes(value)) throw new BakeConfigError('--set', `"${override}": ${key} must be true or false`);
  switch (key) {
    case 'context':
      target.context = isUrl(value) ? value : resolve(value);
      return;
    case 'dockerfile':
      target.dockerfile = value;
      delete target.dockerfileInline;
      return;
    case 'dockerfile-inline':
      target.dockerfileInline = value;
      return;
    case 'target':
    case 'network':
      target[key] = value;
      return;
    case 'no-cache':
      target.noCache = value === 'true';
      return;
    case 'pull':
      target.pull = value === 'true';
      return;
    case 'push':
      if (value === 'true') target.outputs = [...target.outputs, 'type=image,push=true'];
      return;
  }
  const field = ({ tags: 'tags', platform: 'platforms', platforms: 'platforms', 'cache-from': 'cacheFrom', 'cache-to': 'cacheTo', secrets: 'secrets', secret: 'secrets', ssh: 'ssh', output: 'outputs', 'no-cache-filter': 'noCacheFilter' } as const)[key as 'tags'];
  const seenKey = `${target.name}\0${field}`;
  const values = value.split(',').length > 1 && ['tags', 'platforms', 'noCacheFilter'].includes(field) ? value.split(',') : [value];
  target[field] = append || listsSet.has(seenKey) ? [...target[field], ...values] : values;
  listsSet.add(seenKey);
}

function globMatch(pattern: string, name: string): boolean {
  const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return regex.test(name);
}

/** Target and group names to the targets they name, in order, each once; unknown names and group cycles are errors. */
export function selectTargets(config: BakeConfig, names: readonly string[]): string[] {
  const wanted = names.length > 0 ? names : ['default'];
  const out: string[] = [];
  const visit = (name: string, chain: string[]): void => {
    if (config.targets[name]) {
      if (!out.includes(name)) out.push(name);
      return;
    }
    const group = config.groups[name];
    if (!group) {
      if (name === 'default' && chain.length === 0) throw new BakeConfigError('bake', `no "default" group: name the targets to build (${Object.keys(config.targets).join(', ') || 'none defined'})`);
      throw new BakeConfigError('bake', `unknown target or group "${name}"${chain.length ? ` (in group ${chain.at(-1)})` : ''}; defined: ${[...Object.keys(config.targets), ...Object.keys(config.groups)].join(', ')}`);
    }
    if (chain.includes(name)) throw new BakeConfigError(`group.${name}`, `includes itself: ${[...chain, name].join(' -> ')}`);
    for (const member of group) visit(member, [...chain, name]);
  };
  for (const name of wanted) visit(name, []);
  if (out.length === 0) throw new BakeConfigError('bake', `nothing to build: ${wanted.join(', ')} names no target with a build section`);
  return out;
}

/** Everything checkable before any build starts (so an error never follows a partial push). */
export function validateTargets(config: BakeConfig, selected: readonly string[]): void {
  for (const name of selected) {
    const target = config.targets[name]!;
    if (isUrl(target.context)) throw new BakeConfigError(`${target.origin}.context`, `${target.context}: remote contexts are not supported by bake yet (tsbuild build takes them)`);
    if (!isDirectory(target.context)) throw new BakeConfigError(`${target.origin}.context`, `${target.context} is not a directory`);
    const dockerfile = dockerfilePath(target);
    if (dockerfile !== undefined && !isUrl(target.context) && !isFile(dockerfile)) throw new BakeConfigError(`${target.origin}.dockerfile`, `${dockerfile} does not exist`);
    for (const secret of target.secrets) {
      const src = /(?:^|,)src=([^,]+)/.exec(secret)?.[1];
      if (src !== undefined && !isFile(src)) throw new BakeConfigError(`${target.origin}.secrets`, `secret file ${src} does not exist`);
    }
  }
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

function isFile(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
}
