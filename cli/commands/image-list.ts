/**
 * `tsbuild images`, shaped like `docker images`: the same columns, sizes (unpacked, 3 significant
 * digits), relative CREATED times, `--format` templates (cli/template.ts) and `--filter`s.
 */
import { unpackedImageSize } from '../../cache/image-size.js';
import { findStoredImage, storedIndexEntries, storedManifestOf } from '../../cache/lookup.js';
import { isIndexMediaType } from '../../image/mediatypes.js';
import { formatPlatform } from '../../image/platform.js';
import type { ContentStore } from '../../cache/store.js';
import type { Digest } from '../../image/digest.js';
import type { Descriptor, ImageConfigFile, Manifest } from '../../image/types.js';
import { checkGlobSyntax } from '../../parser/dockerignore.js';
import { familiar } from '../../registry/reference.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { HELP_FLAG, humanSize, openExistingStore, ROOT_FLAG, type Io } from '../common.js';
import { alignColumns, goJson, listFormat, Template } from '../template.js';

const FLAGS: FlagSpec[] = [
  { name: 'all', short: 'a', type: 'bool', description: 'show all images (the store keeps no intermediate images, so the same list)' },
  { name: 'digests', type: 'bool', description: 'show a DIGEST column (the manifest digest)' },
  { name: 'filter', short: 'f', type: 'list', valueName: 'FILTER', description: 'reference=PATTERN, dangling=true|false, label=KEY[=VALUE], before=IMAGE, since=IMAGE (repeatable)' },
  { name: 'format', type: 'string', valueName: 'TEMPLATE', description: "'table', 'table TEMPLATE', 'json' or a Go template: {{.Repository}} {{.Tag}} {{.ID}} {{.Digest}} {{.CreatedSince}} {{.CreatedAt}} {{.Size}}, {{json .}}" },
  { name: 'no-trunc', type: 'bool', description: 'show full image IDs (sha256:…)' },
  { name: 'quiet', short: 'q', type: 'bool', description: 'only show image IDs' },
  { name: 'tree', type: 'bool', description: 'under a multi-platform image, a row for each platform in the store' },
  ROOT_FLAG,
  HELP_FLAG,
];

const HELP = helpText(
  'tsbuild images [OPTIONS] [REPOSITORY[:TAG]]',
  'List the images in the local store, one row per name, newest first. REPOSITORY[:TAG] may hold\nglobs (*, ?, [..]) as --filter reference= does.',
  FLAGS,
);

/** One image in the store and every name it has. */
export interface ListedImage {
  names: string[];
  /** Of the names that are multi-platform (index) names: the index descriptor. */
  indexes: Map<string, Descriptor>;
  manifest: Digest;
  id: Digest;
  config: ImageConfigFile;
  /** Seconds since the epoch; undefined without a `created`. */
  created: number | undefined;
  size: number;
}

/** Images with names, grouped by manifest, newest first (as dockerd returns them). */
export async function listImages(store: ContentStore): Promise<ListedImage[]> {
  const byManifest = new Map<Digest, ListedImage>();
  for (const ref of await store.listRefs()) {
    const desc = await storedManifestOf(store, ref.desc);
    let img = byManifest.get(desc.digest);
    if (img) img.names.push(ref.name);
    else byManifest.set(desc.digest, (img = { ...(await describeManifest(store, desc.digest)), names: [ref.name], indexes: new Map() }));
    if (isIndexMediaType(ref.desc.mediaType)) img.indexes.set(ref.name, ref.desc);
  }
  const images = [...byManifest.values()];
  for (const i of images) i.names.sort((a, b) => familiar(a).localeCompare(familiar(b)));
  return images.sort((a, b) => (b.created ?? -Infinity) - (a.created ?? -Infinity) || familiar(a.names[0]!).localeCompare(familiar(b.names[0]!)));
}

/** One stored manifest's ID, config, created time and unpacked size. */
async function describeManifest(store: ContentStore, digest: Digest): Promise<Omit<ListedImage, 'names' | 'indexes'>> {
  const manifest = await store.readJSON<Manifest>(digest);
  const config = await store.readJSON<ImageConfigFile>(manifest.config.digest);
  const ms = config.created ? Date.parse(config.created) : NaN;
  return {
    manifest: digest,
    id: manifest.config.digest,
    config,
    created: Number.isFinite(ms) && ms > -62135596800000 ? Math.floor(ms / 1000) : undefined,
    size: await unpackedImageSize(store, digest),
  };
}

/** A row's fields, named as docker's image formatter names them. */
interface Row {
  Containers: string;
  CreatedAt: string;
  CreatedSince: string;
  Digest: string;
  ID: string;
  Repository: string;
  SharedSize: string;
  Size: string;
  Tag: string;
  UniqueSize: string;
  VirtualSize: string;
}

const HEADERS: Record<keyof Row, string> = {
  Containers: 'CONTAINERS',
  CreatedAt: 'CREATED AT',
  CreatedSince: 'CREATED',
  Digest: 'DIGEST',
  ID: 'IMAGE ID',
  Repository: 'REPOSITORY',
  SharedSize: 'SHARED SIZE',
  Size: 'SIZE',
  Tag: 'TAG',
  UniqueSize: 'UNIQUE SIZE',
  VirtualSize: 'SIZE',
};

export async function imagesCommand(argv: string[], io: Io, now: () => number = Date.now): Promise<number> {
  const p = parseArgs(argv, FLAGS);
  if (bool(p, 'help')) return io.out(HELP), 0;
  if (p.positionals.length > 1) throw new UsageError('"tsbuild images" accepts at most 1 argument (REPOSITORY[:TAG])');
  const filters = parseFilters([...list(p, 'filter'), ...p.positionals.map((r) => `reference=${r}`)]);
  const noTrunc = bool(p, 'no-trunc');
  const template = chooseTemplate(p.flags.has('format') ? (str(p, 'format') ?? '') : undefined, bool(p, 'quiet'), bool(p, 'digests'));
  const store = await openExistingStore(p);
  const images = await listImages(store);
  const rows: Row[] = [];
  for (const img of await applyFilters(images, filters, store)) {
    const names = filters.reference.length > 0 ? img.names.filter((n) => matchesReference(n, filters.reference)) : img.names;
    for (const name of names) {
      rows.push(rowOf(img, name, noTrunc, now()));
      const index = img.indexes.get(name);
      if (!bool(p, 'tree') || bool(p, 'quiet') || !index) continue;
      for (const entry of await storedIndexEntries(store, index)) {
        const platform = entry.platform ? formatPlatform(entry.platform) : entry.digest.slice(0, 19);
        rows.push({ ...rowOf({ ...(await describeManifest(store, entry.digest)), names: [name], indexes: new Map() }, name, noTrunc, now()), Repository: `  └─ ${platform}`, Tag: '' });
      }
    }
  }
  io.out(render(template, rows));
  return 0;
}

function rowOf(img: ListedImage, name: string, noTrunc: boolean, nowMs: number): Row {
  const [repo, tag] = splitName(familiar(name));
  return {
    Containers: 'N/A',
    CreatedAt: img.created === undefined ? 'N/A' : goTimeString(img.created),
    CreatedSince: img.created === undefined ? 'N/A' : `${humanDuration(nowMs / 1000 - img.created)} ago`,
    Digest: img.manifest,
    ID: noTrunc ? img.id : img.id.slice('sha256:'.length, 'sha256:'.length + 12),
    Repository: repo,
    SharedSize: 'N/A',
    Size: humanSize(img.size, 3),
    Tag: tag,
    UniqueSize: 'N/A',
    VirtualSize: humanSize(img.size, 4),
  };
}

interface Chosen {
  table: boolean;
  template: Template | 'json';
}

function chooseTemplate(format: string | undefined, quiet: boolean, digests: boolean): Chosen {
  if (quiet) return { table: false, template: new Template('{{.ID}}') };
  if (format === 'json') return { table: false, template: 'json' };
  const wanted = format === undefined || format === '' || format === 'table' ? `table {{.Repository}}\\t{{.Tag}}\\t${digests ? '{{.Digest}}\\t' : ''}{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}` : format;
  const { table, template } = listFormat(wanted);
  return { table, template: new Template(template, { typeName: '*formatter.imageContext' }) };
}

function render(chosen: Chosen, rows: Row[]): string {
  if (chosen.template === 'json') return rows.map((r) => `${goJson(r)}\n`).join('');
  const lines = rows.map((r) => `${(chosen.template as Template).execute(r)}\n`);
  if (!chosen.table) return lines.join('');
  const header = chosen.template.execute(HEADERS);
  return alignColumns([`${header}\n`, ...lines].join(''));
}

function splitName(n: string): [string, string] {
  const i = n.lastIndexOf(':');
  return i > n.lastIndexOf('/') ? [n.slice(0, i), n.slice(i + 1)] : [n, 'latest'];
}

// ------------------------------------------------------------------ filters

interface Filters {
  reference: string[];
  dangling: boolean | undefined;
  labels: Array<[string, string | undefined]>;
  before: string[];
  since: string[];
}

const FILTER_KEYS = ['reference', 'dangling', 'label', 'before', 'since'];

export function parseFilters(specs: string[]): Filters {
  const f: Filters = { reference: [], dangling: undefined, labels: [], before: [], since: [] };
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new UsageError(`bad format of filter (expected name=value): ${spec}`);
    const key = spec.slice(0, eq);
    const value = spec.slice(eq + 1);
    if (key === 'reference') {
      if (checkGlobSyntax(value)) throw new UsageError(`invalid --filter reference=${value}: syntax error in pattern`);
      f.reference.push(value);
    } else if (key === 'dangling') {
      if (!['true', 'false', '1', '0'].includes(value)) throw new UsageError(`invalid filter 'dangling=${value}' (true or false)`);
      f.dangling = value === 'true' || value === '1';
    } else if (key === 'label') {
      const i = value.indexOf('=');
      f.labels.push(i < 0 ? [value, undefined] : [value.slice(0, i), value.slice(i + 1)]);
    } else if (key === 'before' || key === 'since') f[key].push(value);
    else throw new UsageError(`invalid filter '${key}' (${FILTER_KEYS.join(', ')})`);
  }
  return f;
}

async function applyFilters(images: ListedImage[], f: Filters, store: ContentStore): Promise<ListedImage[]> {
  const createdOf = async (ref: string): Promise<number> => {
    const found = await findStoredImage(store, ref);
    if (!found) throw new UsageError(`No such image: ${ref}`);
    const hit = images.find((i) => i.manifest === found.desc.digest);
    return hit?.created ?? -Infinity;
  };
  const before = await Promise.all(f.before.map(createdOf));
  const since = await Promise.all(f.since.map(createdOf));
  return images.filter((img) => {
    // Every image here has a name: the store keeps no untagged (dangling) images.
    if (f.dangling === true) return false;
    if (f.reference.length > 0 && !img.names.some((n) => matchesReference(n, f.reference))) return false;
    const labels = img.config.config?.Labels ?? {};
    if (!f.labels.every(([k, v]) => Object.hasOwn(labels, k) && (v === undefined || labels[k] === v))) return false;
    const created = img.created ?? -Infinity;
    if (!before.every((t) => created < t)) return false;
    return since.every((t) => created > t);
  });
}

/** docker's reference filter: the pattern (path.Match) against `repo:tag` or `repo`, familiar spelling. */
function matchesReference(name: string, patterns: string[]): boolean {
  const full = familiar(name);
  const repo = splitName(full)[0];
  return patterns.some((p) => {
    const re = globRegExp(p);
    return re.test(full) || re.test(repo);
  });
}

/** Go's path.Match as a RegExp: `*` and `?` stop at `/`, `[…]` classes, `\` escapes. */
function globRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      const body = pattern.slice(i + 1, end).replace(/\\/g, '\\\\');
      re += `[${body.startsWith('^') ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else re += c.replace(/[.+(){}|$^]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

// ------------------------------------------------------------------ times

/** Go's time.Time.String() of a Unix time, in UTC: `2026-12-03 18:15:59 +0000 UTC`. */
function goTimeString(seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** go-units HumanDuration, what docker's CREATED column says ("2 hours", "About a minute"). */
export function humanDuration(seconds: number): string {
  const s = Math.trunc(seconds);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(seconds / 3600 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(seconds / 3600 / 24 / 365)} years`;
}
