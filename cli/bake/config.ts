import { TsbuildError } from '../../errors/tsbuild-error.js';

/** One image to build: a compose service with a `build:` section or a bake target, resolved. */
export interface BakeTarget {
  name: string;
  /** The context: a directory (absolute) or a URL, as `tsbuild build` takes it. */
  context: string;
  /** The Dockerfile's path (absolute for a directory context); unset with `dockerfileInline`. */
  dockerfile?: string;
  dockerfileInline?: string;
  args: Record<string, string>;
  labels: Record<string, string>;
  tags: string[];
  target?: string;
  platforms: string[];
  cacheFrom: string[];
  cacheTo: string[];
  /** Named contexts (`--build-context NAME=VALUE`). */
  contexts: Record<string, string>;
  /** `--secret` specs: `id=ID,src=FILE` or `id=ID,env=VAR`. */
  secrets: string[];
  ssh: string[];
  network?: string;
  noCache?: boolean;
  noCacheFilter: string[];
  pull?: boolean;
  /** `--output` specs. */
  outputs: string[];
  /** Where it was defined, for errors: `compose.yaml: services.api`. */
  origin: string;
}

export interface BakeConfig {
  /** Group name → target or group names, in order. */
  groups: Record<string, string[]>;
  targets: Record<string, BakeTarget>;
  /** Unknown keys, unset variables, ignored settings: printed before building. */
  warnings: string[];
}

/** A bake or compose file that cannot be used: names the file and the key. */
export class BakeConfigError extends TsbuildError {
  constructor(where: string, message: string) {
    super('TSB_BAKE_CONFIG', `${where}: ${message}`, { where });
  }
}

export function emptyTarget(name: string, origin: string): BakeTarget {
  return { name, context: '.', args: {}, labels: {}, tags: [], platforms: [], cacheFrom: [], cacheTo: [], contexts: {}, secrets: [], ssh: [], noCacheFilter: [], outputs: [], origin };
}

/** Bake's `--print` shape: `{group: {NAME: {targets}}, target: {NAME: {context, dockerfile, …}}}`. */
export function printable(config: BakeConfig, selected: readonly string[]): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  for (const name of selected) {
    const t = config.targets[name]!;
    target[name] = withoutEmpty({
      context: t.context,
      contexts: t.contexts,
      dockerfile: t.dockerfileInline === undefined ? t.dockerfile : undefined,
      'dockerfile-inline': t.dockerfileInline,
      args: t.args,
      labels: t.labels,
      tags: t.tags,
      target: t.target,
      platforms: t.platforms,
      'cache-from': t.cacheFrom,
      'cache-to': t.cacheTo,
      secret: t.secrets,
      ssh: t.ssh,
      network: t.network,
      'no-cache': t.noCache,
      'no-cache-filter': t.noCacheFilter,
      pull: t.pull,
      output: t.outputs,
    });
  }
  const group = Object.fromEntries(Object.entries(config.groups).map(([name, targets]) => [name, { targets }]));
  return { group, target };
}

function withoutEmpty(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(record).filter(([, value]) => {
      if (value === undefined) return false;
      if (Array.isArray(value)) return value.length > 0;
      if (typeof value === 'object' && value !== null) return Object.keys(value).length > 0;
      return true;
    }),
  );
}
