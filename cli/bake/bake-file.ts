import { isAbsolute, resolve } from 'node:path';
import { BakeConfigError, type BakeTarget } from './config.js';
import { isMapping, isUrl, optionalBool, optionalString, stringList, type ConfigFile } from './compose.js';
import { interpolateTree, type Lookup } from './interpolate.js';

/** What one bake file says of a target: only the fields it sets (a later file overrides those). */
export type TargetLayer = Partial<Omit<BakeTarget, 'name' | 'origin'>> & { origin: string };

export interface BakeFileLayers {
  groups: Record<string, string[]>;
  targets: Record<string, TargetLayer>;
}

const TARGET_KEYS = new Set([
  'context', 'contexts', 'dockerfile', 'dockerfile-inline', 'args', 'labels', 'tags', 'target', 'platforms', 'cache-from', 'cache-to',
  'secret', 'ssh', 'network', 'no-cache', 'no-cache-filter', 'pull', 'output', 'inherits', 'description',
]);

/**
 * `docker-bake.json` as buildx reads it: `variable` (a default, overridden by the environment
 * variable of the same name), `group` and `target`, `inherits` (parents first, the target's own
 * fields last; args, labels and contexts merge, other fields replace). `${VAR}` in values refers to
 * variables; bake's HCL functions are not evaluated (such a value is an error). Relative contexts
 * are relative to the working directory, as in buildx.
 */
export function bakeFileLayers(file: ConfigFile, environment: Lookup, warnings: string[]): BakeFileLayers {
  let tree: unknown;
  try {
    tree = JSON.parse(file.text);
  } catch (e) {
    throw new BakeConfigError(file.path, `not valid JSON: ${(e as Error).message}`);
  }
  if (!isMapping(tree)) throw new BakeConfigError(file.path, 'a bake file must be a JSON object');
  for (const key of Object.keys(tree)) if (!['variable', 'group', 'target', 'function'].includes(key)) warnings.push(`${file.path}: unknown key "${key}"; ignored`);
  if (tree.function !== undefined) throw new BakeConfigError(`${file.path}: function`, 'bake functions are not supported by tsbuild');
  const variables = readVariables(tree.variable, file.path, environment);
  const lookup: Lookup = (name) => variables.get(name);
  const resolved = interpolateTree({ group: tree.group ?? {}, target: tree.target ?? {} }, lookup, '', (name, path) =>
    warnings.push(`${file.path}: ${path}: variable "${name}" is not defined. Defaulting to a blank string.`),
  ) as { group: unknown; target: unknown };
  if (!isMapping(resolved.group)) throw new BakeConfigError(`${file.path}: group`, 'must be an object of groups');
  if (!isMapping(resolved.target)) throw new BakeConfigError(`${file.path}: target`, 'must be an object of targets');
  const groups: Record<string, string[]> = {};
  for (const [name, body] of Object.entries(resolved.group)) {
    if (!isMapping(body)) throw new BakeConfigError(`${file.path}: group.${name}`, 'must be an object with targets');
    groups[name] = stringList(body.targets, `${file.path}: group.${name}.targets`);
  }
  const raw: Record<string, Record<string, unknown>> = {};
  for (const [name, body] of Object.entries(resolved.target)) {
    if (!isMapping(body)) throw new BakeConfigError(`${file.path}: target.${name}`, 'must be an object');
    raw[name] = body;
  }
  const targets: Record<string, TargetLayer> = {};
  for (const name of Object.keys(raw)) targets[name] = inherited(name, raw, file.path, warnings, []);
  return { groups, targets };
}

function readVariables(value: unknown, file: string, environment: Lookup): Map<string, string> {
  const variables = new Map<string, string>();
  if (value === undefined) return variables;
  if (!isMapping(value)) throw new BakeConfigError(`${file}: variable`, 'must be an object of variables');
  for (const [name, body] of Object.entries(value)) {
    const fallback = isMapping(body) ? body.default : undefined;
    const fromEnv = environment(name);
    if (fromEnv !== undefined) variables.set(name, fromEnv);
    else if (fallback !== undefined && fallback !== null) variables.set(name, typeof fallback === 'string' ? fallback : JSON.stringify(fallback));
  }
  // Defaults may refer to other variables.
  for (const [name, text] of variables) variables.set(name, String(interpolateTree(text, (other) => (other === name ? undefined : variables.get(other)), `${file}: variable.${name}`, () => {})));
  return variables;
}

function inherited(name: string, raw: Record<string, Record<string, unknown>>, file: string, warnings: string[], chain: string[]): TargetLayer {
  const where = `${file}: target.${name}`;
  if (chain.includes(name)) throw new BakeConfigError(where, `inherits itself: ${[...chain, name].join(' -> ')}`);
  const body = raw[name];
  if (!body) throw new BakeConfigError(`${file}: target.${chain.at(-1) ?? name}.inherits`, `unknown target "${name}"`);
  let layer: TargetLayer = { origin: where };
  for (const parent of stringList(body.inherits, `${where}.inherits`)) layer = mergeLayer(layer, inherited(parent, raw, file, warnings, [...chain, name]));
  return mergeLayer(layer, ownLayer(body, where, warnings));
}

function ownLayer(body: Record<string, unknown>, where: string, warnings: string[]): TargetLayer {
  for (const key of Object.keys(body)) if (!TARGET_KEYS.has(key)) warnings.push(`${where}: unknown key "${key}"; ignored`);
  const layer: TargetLayer = { origin: where };
  const context = optionalString(body.context, `${where}.context`);
  if (context !== undefined) layer.context = isUrl(context) || isAbsolute(context) || /^[a-z-]+:/.test(context) ? context : resolve(context);
  const set = <K extends keyof TargetLayer>(key: K, value: TargetLayer[K] | undefined): void => {
    if (value !== undefined) layer[key] = value;
  };
  set('dockerfile', optionalString(body.dockerfile, `${where}.dockerfile`));
  set('dockerfileInline', optionalString(body['dockerfile-inline'], `${where}.dockerfile-inline`));
  set('target', optionalString(body.target, `${where}.target`));
  set('network', optionalString(body.network, `${where}.network`));
  set('noCache', optionalBool(body['no-cache'], `${where}.no-cache`));
  set('pull', optionalBool(body.pull, `${where}.pull`));
  const lists: Array<[keyof TargetLayer, string]> = [
    ['tags', 'tags'], ['platforms', 'platforms'], ['cacheFrom', 'cache-from'], ['cacheTo', 'cache-to'], ['secrets', 'secret'], ['ssh', 'ssh'],
    ['noCacheFilter', 'no-cache-filter'], ['outputs', 'output'],
  ];
  for (const [key, jsonKey] of lists) if (body[jsonKey] !== undefined) (layer as Record<string, unknown>)[key] = specList(body[jsonKey], `${where}.${jsonKey}`);
  const maps: Array<[keyof TargetLayer, string]> = [['args', 'args'], ['labels', 'labels'], ['contexts', 'contexts']];
  for (const [key, jsonKey] of maps) if (body[jsonKey] !== undefined) (layer as Record<string, unknown>)[key] = stringMap(body[jsonKey], `${where}.${jsonKey}`);
  return layer;
}

/** A list of specs, each a string or (newer bake files) an object of its fields: `{type: registry, ref: …}`. */
function specList(value: unknown, where: string): string[] {
  if (!Array.isArray(value)) return stringList(value, where);
  return value.map((entry, i) =>
    isMapping(entry)
      ? Object.entries(entry)
          .map(([key, field]) => `${key}=${String(field)}`)
          .join(',')
      : stringList(entry, `${where}[${i}]`)[0]!,
  );
}

function stringMap(value: unknown, where: string): Record<string, string> {
  if (!isMapping(value)) throw new BakeConfigError(where, 'must be an object of strings');
  const out: Record<string, string> = {};
  for (const [key, field] of Object.entries(value)) {
    if (field === null) continue; // bake: a null arg is taken from nowhere (left unset)
    if (typeof field !== 'string' && typeof field !== 'number' && typeof field !== 'boolean') throw new BakeConfigError(`${where}.${key}`, 'must be a string');
    out[key] = String(field);
  }
  return out;
}

/** `over`'s fields win; args, labels and contexts merge key by key. */
export function mergeLayer<T extends TargetLayer>(base: T, over: TargetLayer): T {
  const out = { ...base, ...over } as T;
  for (const key of ['args', 'labels', 'contexts'] as const) {
    if (base[key] || over[key]) out[key] = { ...(base[key] ?? {}), ...(over[key] ?? {}) };
  }
  out.origin = over.origin;
  return out;
}
