/**
 * `tsbuild inspect`: the object `docker image inspect` prints (Id, RepoTags, Config, RootFS, Size…),
 * or with --manifest our view (the manifest and config as stored), through the same --format
 * templates as `images`.
 */
import { unpackedImageSize } from '../../cache/image-size.js';
import { storedManifestOf, storedPlatforms } from '../../cache/lookup.js';
import type { ContentStore } from '../../cache/store.js';
import type { Descriptor, ContainerConfig, ImageConfigFile, Manifest } from '../../image/types.js';
import { familiar, storeRefName } from '../../registry/reference.js';
import { bool, helpText, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { HELP_FLAG, openExistingStore, ROOT_FLAG, type Io } from '../common.js';
import { Template } from '../template.js';
import { findImage, PLATFORM_FLAG } from './images.js';

const FLAGS: FlagSpec[] = [
  { name: 'format', short: 'f', type: 'string', valueName: 'TEMPLATE', description: "a Go template ({{.Config.User}}, {{json .RootFS}}, {{index .Config.Labels \"k\"}}, {{join .RepoTags \",\"}}), or 'json'" },
  { name: 'manifest', type: 'bool', description: 'print our view instead: {Name, Id, Digest, Manifest, Config} as stored (alias --raw)' },
  { name: 'raw', type: 'bool', description: 'same as --manifest' },
  PLATFORM_FLAG,
  ROOT_FLAG,
  HELP_FLAG,
];

const HELP = helpText(
  'tsbuild inspect [OPTIONS] IMAGE [IMAGE...]',
  "Show images as `docker image inspect` does: a JSON array of {Id, RepoTags, RepoDigests, Parent,\nComment, Created, Config, Architecture, Variant, Os, Size, RootFS, Metadata…}. IMAGE is a name,\nan image ID or a unique ID prefix, or a manifest digest. A missing image is an error on stderr\n(exit 1); the others are still printed.",
  FLAGS,
);

/** Keys whose values Go prints as maps / slices (docker's types), for --format. */
const MAP_KEYS = new Set(['Labels', 'ExposedPorts', 'Volumes', 'Data', 'Annotations']);
const SLICE_KEYS = new Set(['RepoTags', 'RepoDigests', 'Env', 'Cmd', 'Entrypoint', 'OnBuild', 'Shell', 'Layers', 'Test', 'layers', 'manifests', 'diff_ids', 'history']);

export async function inspectCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, FLAGS);
  if (bool(p, 'help')) return io.out(HELP), 0;
  if (p.positionals.length === 0) throw new UsageError('"tsbuild inspect" requires at least 1 argument (IMAGE)');
  const format = str(p, 'format');
  const template = format === undefined || format === '' || format === 'json' ? undefined : new Template(format, { mapKeys: MAP_KEYS, sliceKeys: SLICE_KEYS });
  const store = await openExistingStore(p);
  const raw = bool(p, 'manifest') || bool(p, 'raw');
  const found: unknown[] = [];
  let rc = 0;
  for (const name of p.positionals) {
    let desc: Descriptor;
    try {
      desc = (await findImage(store, name, str(p, 'platform'))).desc;
    } catch (e) {
      io.err(`Error: ${(e as Error).message}\n`);
      rc = 1;
      continue;
    }
    found.push(raw ? await manifestView(store, desc, name) : await dockerInspect(store, desc));
  }
  if (template) for (const obj of found) io.out(`${template.execute(obj)}\n`);
  else io.out(`${JSON.stringify(found, null, 4)}\n`);
  return rc;
}

/** Our view: the manifest and config as the store has them, every name of the image, and of a multi-platform name its index and platforms. */
async function manifestView(store: ContentStore, desc: Descriptor, asked: string): Promise<unknown> {
  const manifest = await store.readJSON<Manifest>(desc.digest);
  const config = await store.readJSON<ImageConfigFile>(manifest.config.digest);
  const names = await namesOf(store, desc);
  let named: Descriptor | undefined;
  try {
    named = await store.getRef(storeRefName(asked));
  } catch {
    named = undefined; // an ID or digest, not a name
  }
  const platforms = named ? await storedPlatforms(store, named) : [];
  return { Name: names[0], Names: names, Id: manifest.config.digest, Digest: desc.digest, ...(platforms.length > 0 ? { Index: named!.digest, Platforms: platforms } : {}), Manifest: manifest, Config: config };
}

async function namesOf(store: ContentStore, desc: Descriptor): Promise<string[]> {
  const out: string[] = [];
  for (const r of await store.listRefs()) if ((await storedManifestOf(store, r.desc)).digest === desc.digest) out.push(familiar(r.name));
  return out.sort();
}

/** docker image inspect's object (API 1.41, docker 20.10), field for field in its order. */
export async function dockerInspect(store: ContentStore, desc: Descriptor): Promise<Record<string, unknown>> {
  const manifest = await store.readJSON<Manifest>(desc.digest);
  const config = await store.readJSON<ImageConfigFile & { comment?: string; container?: string; docker_version?: string; container_config?: ContainerConfig }>(manifest.config.digest);
  const names = await namesOf(store, desc);
  const repos = [...new Set(names.map((n) => n.slice(0, n.lastIndexOf(':'))))];
  const size = await unpackedImageSize(store, desc.digest);
  return {
    Id: manifest.config.digest,
    RepoTags: names,
    RepoDigests: repos.map((r) => `${r}@${desc.digest}`),
    Parent: '',
    Comment: config.comment || (config.history?.at(-1)?.comment ?? ''),
    Created: rfc3339Nano(config.created),
    Container: config.container ?? '',
    ContainerConfig: dockerConfig(config.container_config ?? {}),
    DockerVersion: config.docker_version ?? '',
    Author: config.author ?? '',
    Config: dockerConfig(config.config ?? {}),
    Architecture: config.architecture,
    ...(config.variant ? { Variant: config.variant } : {}),
    Os: config.os,
    Size: size,
    VirtualSize: size,
    RootFS: { Type: config.rootfs?.type ?? 'layers', Layers: config.rootfs?.diff_ids ?? [] },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}

/** docker's container.Config: every field, `omitempty` ones only when set, nulls where Go has nil. */
function dockerConfig(c: ContainerConfig & { Hostname?: string; Domainname?: string; Image?: string; StopTimeout?: number }): Record<string, unknown> {
  const set = <T>(v: T | undefined | null): T | null => v ?? null;
  return {
    Hostname: c.Hostname ?? '',
    Domainname: c.Domainname ?? '',
    User: c.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    ...(c.ExposedPorts && Object.keys(c.ExposedPorts).length > 0 ? { ExposedPorts: c.ExposedPorts } : {}),
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: set(c.Env),
    Cmd: set(c.Cmd),
    ...(c.Healthcheck ? { Healthcheck: c.Healthcheck } : {}),
    ...(c.ArgsEscaped ? { ArgsEscaped: true } : {}),
    Image: c.Image ?? '',
    Volumes: set(c.Volumes),
    WorkingDir: c.WorkingDir ?? '',
    Entrypoint: set(c.Entrypoint),
    OnBuild: set(c.OnBuild),
    Labels: set(c.Labels),
    ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    ...(c.StopTimeout !== undefined ? { StopTimeout: c.StopTimeout } : {}),
    ...(c.Shell && c.Shell.length > 0 ? { Shell: c.Shell } : {}),
  };
}

/** Go's RFC3339Nano spelling of a config time, as docker prints it: no trailing zeros in the fraction. */
function rfc3339Nano(created: string | undefined): string {
  if (!created) return '0001-01-01T00:00:00Z';
  return created.replace(/\.(\d*?)0*(Z|[+-]\d\d:\d\d)$/, (_m, digits: string, zone: string) => `${digits ? `.${digits}` : ''}${zone}`);
}
