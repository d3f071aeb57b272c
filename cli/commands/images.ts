import { storeImage, storeIndex } from '../../cache/store-image.js';
import { familiar, storeRefName } from '../../registry/reference.js';
import { writeDockerArchive } from '../../image/docker-archive.js';
import { writeOciIndexLayout, writeOciLayout, readOciLayout } from '../../image/oci-layout.js';
import { readDockerArchive } from '../../image/docker-archive.js';
import { detectArchiveFormat, dockerArchiveTags } from '../../image/image-spec.js';
import { writeImage } from '../../cache/store-image.js';
import type { ContentStore } from '../../cache/store.js';
import { findStoredImage, storedIndexEntries, storedManifestOf, storedPlatforms } from '../../cache/lookup.js';
import { isIndexMediaType } from '../../image/mediatypes.js';
import { formatPlatform, parsePlatform } from '../../image/platform.js';
import type { Platform } from '../../image/types.js';
import type { Descriptor, ImageConfigFile, Index, Manifest } from '../../image/types.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { HELP_FLAG, humanSize, openExistingStore, openStore, ROOT_FLAG, type Io } from '../common.js';

/** The manifest (not index) descriptor an image name or digest points at in the store (cache/lookup.ts). */
export async function findImage(store: ContentStore, nameOrId: string, platform?: string): Promise<{ name?: string; desc: Descriptor }> {
  const found = await findStoredImage(store, nameOrId, platform !== undefined ? parsePlatformFlag(platform) : undefined);
  if (!found) throw new UsageError(`No such image: ${nameOrId}`);
  return found;
}

/** `--platform os/arch[/variant]` of inspect, analyze, save and push, normalized; a bad one is a usage error. */
export function parsePlatformFlag(value: string): Platform {
  try {
    return parsePlatform(value);
  } catch (e) {
    throw new UsageError(`--platform: ${(e as Error).message}`);
  }
}

/** The --platform flag of the commands that pick one image of a multi-platform (index) name. */
export const PLATFORM_FLAG: FlagSpec = { name: 'platform', type: 'string', valueName: 'OS/ARCH', description: "of a multi-platform image, this platform's (default: the host's)" };

const LIST_FLAGS: FlagSpec[] = [
  { name: 'quiet', short: 'q', type: 'bool', description: 'only show image IDs' },
  { name: 'digests', type: 'bool', description: 'show manifest digests' },
  { name: 'tree', type: 'bool', description: 'under a multi-platform image, a row for each platform in the store' },
  ROOT_FLAG,
  HELP_FLAG,
];

export async function imagesCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, LIST_FLAGS);
  if (bool(p, 'help')) return io.out(helpText('tsbuild images [OPTIONS]', 'List images in the local store.', LIST_FLAGS)), 0;
  const store = await openExistingStore(p);
  const rows: string[][] = [];
  for (const r of (await store.listRefs()).sort((a, b) => a.name.localeCompare(b.name))) {
    const m = await storedManifestOf(store, r.desc);
    const manifest = await store.readJSON<Manifest>(m.digest);
    const cfg = await store.readJSON<ImageConfigFile>(manifest.config.digest);
    const size = manifest.layers.reduce((n, l) => n + l.size, 0);
    const [repo, tag] = splitName(familiar(r.name));
    const id = manifest.config.digest.slice(7, 19);
    if (bool(p, 'quiet')) rows.push([id]);
    else rows.push([repo, tag, ...(bool(p, 'digests') ? [m.digest] : []), id, cfg.created ?? '', humanSize(size)]);
    if (!bool(p, 'tree') || bool(p, 'quiet')) continue;
    for (const e of await storedIndexEntries(store, r.desc)) {
      const em = await store.readJSON<Manifest>(e.digest);
      const ecfg = await store.readJSON<ImageConfigFile>(em.config.digest);
      const plat = e.platform ? formatPlatform(e.platform) : e.digest.slice(0, 19);
      rows.push([`  └─ ${plat}`, '', ...(bool(p, 'digests') ? [e.digest] : []), em.config.digest.slice(7, 19), ecfg.created ?? '', humanSize(em.layers.reduce((n, l) => n + l.size, 0))]);
    }
  }
  if (!bool(p, 'quiet')) rows.unshift(['REPOSITORY', 'TAG', ...(bool(p, 'digests') ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE']);
  io.out(table(rows));
  return 0;
}

function splitName(n: string): [string, string] {
  const i = n.lastIndexOf(':');
  return i > n.lastIndexOf('/') ? [n.slice(0, i), n.slice(i + 1)] : [n, 'latest'];
}

export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('') + '\n').join('');
}

const TAG_FLAGS: FlagSpec[] = [ROOT_FLAG, HELP_FLAG];

export async function tagCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, TAG_FLAGS);
  if (bool(p, 'help')) return io.out(helpText('tsbuild tag SOURCE_IMAGE[:TAG]|IMAGE_ID TARGET_IMAGE[:TAG]', 'Give an image (by name, ID or unique ID prefix) another name.', TAG_FLAGS)), 0;
  if (p.positionals.length !== 2) throw new UsageError('"tsbuild tag" requires exactly 2 arguments');
  const store = await openExistingStore(p);
  const src = await findImage(store, p.positionals[0]!);
  await store.setRef(storeRefName(p.positionals[1]!), src.desc);
  return 0;
}

const RMI_FLAGS: FlagSpec[] = [
  { name: 'force', short: 'f', type: 'bool', description: 'with an image ID: remove every name it has' },
  ROOT_FLAG,
  HELP_FLAG,
];

export async function rmiCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, RMI_FLAGS);
  if (bool(p, 'help')) return io.out(helpText('tsbuild rmi [OPTIONS] IMAGE [IMAGE...]', 'Remove image names (NAME[:TAG], an image ID or a unique ID prefix) from the store; prune frees the space.', RMI_FLAGS)), 0;
  if (p.positionals.length === 0) throw new UsageError('"tsbuild rmi" requires at least 1 argument');
  const store = await openExistingStore(p);
  let rc = 0;
  for (const n of p.positionals) {
    try {
      for (const name of await namesToRemove(store, n, bool(p, 'force'))) {
        await store.deleteRef(name);
        io.out(`Untagged: ${familiar(name)}\n`);
      }
    } catch (e) {
      io.err(`Error: ${(e as Error).message}\n`);
      rc = 1;
    }
  }
  return rc;
}

/**
 * The names `rmi ARG` removes: ARG itself when it is a name; for an image ID (or unique prefix)
 * its only name, or with force all of them (docker: "image is referenced in multiple repositories").
 */
async function namesToRemove(store: ContentStore, arg: string, force: boolean): Promise<string[]> {
  const name = storeRefName(arg);
  if (await store.getRef(name)) return [name];
  const hex = arg.replace(/^sha256:/, '');
  if (!/^[a-f0-9]{1,64}$/.test(hex)) throw new UsageError(`No such image: ${arg}`);
  const byId = new Map<string, string[]>();
  for (const r of await store.listRefs()) {
    const m = await storedManifestOf(store, r.desc);
    const id = (await store.readJSON<Manifest>(m.digest)).config.digest.slice(7);
    if (id.startsWith(hex)) byId.set(id, [...(byId.get(id) ?? []), r.name]);
  }
  if (byId.size === 0) throw new UsageError(`No such image: ${arg}`);
  if (byId.size > 1) throw new UsageError(`image ID prefix ${arg} is ambiguous: ${[...byId.keys()].map((i) => i.slice(0, 12)).join(', ')}`);
  const [id, names] = [...byId][0]!;
  if (names.length > 1 && !force) {
    throw new UsageError(`conflict: unable to delete ${id.slice(0, 12)} (must be forced) - image is referenced in multiple repositories (${names.map(familiar).join(', ')})`);
  }
  return names;
}

const SAVE_FLAGS: FlagSpec[] = [
  { name: 'output', short: 'o', type: 'string', valueName: 'FILE', description: 'write to FILE (required)' },
  { name: 'format', type: 'string', valueName: 'FORMAT', description: 'docker or oci', default: 'docker' },
  { name: 'platform', type: 'string', valueName: 'OS/ARCH', description: "of a multi-platform image, save only this platform's (oci saves the whole index otherwise)" },
  ROOT_FLAG,
  HELP_FLAG,
];

export async function saveCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, SAVE_FLAGS);
  if (bool(p, 'help')) return io.out(helpText('tsbuild save [OPTIONS] IMAGE [IMAGE...]', 'Save images to a tar archive.', SAVE_FLAGS)), 0;
  const file = str(p, 'output');
  if (!file) throw new UsageError('tsbuild save needs -o FILE');
  if (p.positionals.length === 0) throw new UsageError('tsbuild save needs at least one image');
  const format = str(p, 'format') ?? 'docker';
  const store = await openExistingStore(p);
  const platform = str(p, 'platform');
  if (format === 'oci' && platform === undefined && p.positionals.length === 1) {
    // a multi-platform name: the whole index, as `skopeo copy --all` would (every platform must be here)
    const named = await store.getRef(storeRefName(p.positionals[0]!)).catch(() => undefined);
    if (named && isIndexMediaType(named.mediaType)) {
      await requireAllPlatforms(store, named, p.positionals[0]!);
      await writeOciIndexLayout({ tarFile: file }, storeIndex(store, named.digest), splitName(familiar(storeRefName(p.positionals[0]!)))[1]);
      return 0;
    }
  }
  const imgs = [];
  for (const n of p.positionals) {
    const f = await findImage(store, n, platform);
    imgs.push({ image: storeImage(store, f.desc.digest), name: f.name });
  }
  if (format === 'docker') await writeDockerArchive(file, imgs.map((i) => ({ image: i.image, tags: i.name ? [familiar(i.name)] : [] })));
  else if (format === 'oci') await writeOciLayout({ tarFile: file }, imgs.map((i) => ({ image: i.image, refName: i.name ? splitName(familiar(i.name))[1] : undefined })));
  else throw new UsageError(`unknown --format ${format} (docker or oci)`);
  return 0;
}

/** Fails unless every platform a stored index lists is in the store (a pull without --all keeps only some). */
export async function requireAllPlatforms(store: ContentStore, index: Descriptor, name: string): Promise<void> {
  const listed = (await store.readJSON<Index>(index.digest)).manifests;
  const missing = [];
  for (const d of listed) if (!(await store.has(d.digest))) missing.push(d.platform ? formatPlatform(d.platform) : d.digest);
  if (missing.length > 0) throw new UsageError(`${name}: the store lacks its images for ${missing.join(', ')} (pull --all first, or pick one with --platform)`);
}

const LOAD_FLAGS: FlagSpec[] = [
  { name: 'input', short: 'i', type: 'string', valueName: 'FILE', description: 'docker-archive or OCI tar/dir to load' },
  { name: 'tag', short: 't', type: 'list', valueName: 'NAME', description: 'tag the loaded image (needed for OCI input without a name)' },
  ROOT_FLAG,
  HELP_FLAG,
];

export async function loadCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, LOAD_FLAGS);
  if (bool(p, 'help')) return io.out(helpText('tsbuild load [OPTIONS]', 'Load an image from a docker-archive or OCI tar.', LOAD_FLAGS)), 0;
  const file = str(p, 'input') ?? p.positionals[0];
  if (!file) throw new UsageError('tsbuild load needs -i FILE');
  const store = await openStore(p);
  const tags = list(p, 'tag');
  if ((await detectArchiveFormat(file)) === 'docker-archive') {
    const img = await readDockerArchive(file);
    const desc = await writeImage(store, img);
    const names = tags.length ? tags : await dockerArchiveTags(file);
    for (const n of names) {
      await store.setRef(storeRefName(n), desc);
      io.out(`Loaded image: ${familiar(storeRefName(n))}\n`);
    }
    if (names.length === 0) io.out(`Loaded image ID: ${(await img.manifest()).config.digest}\n`);
  } else {
    const img = await readOciLayout(file);
    const desc = await writeImage(store, img);
    for (const n of tags) {
      await store.setRef(storeRefName(n), desc);
      io.out(`Loaded image: ${familiar(storeRefName(n))}\n`);
    }
    if (tags.length === 0) io.out(`Loaded image: ${desc.digest} (untagged: pass -t NAME to name it)\n`);
  }
  return 0;
}

export async function inspectCommand(argv: string[], io: Io): Promise<number> {
  const flags: FlagSpec[] = [{ name: 'format', short: 'f', type: 'string', description: 'manifest, config or all (JSON)', default: 'all' }, PLATFORM_FLAG, ROOT_FLAG, HELP_FLAG];
  const p = parseArgs(argv, flags);
  if (bool(p, 'help') || p.positionals.length === 0) return io.out(helpText('tsbuild inspect [OPTIONS] IMAGE', 'Show an image\'s manifest and config.', flags)), 0;
  const store = await openExistingStore(p);
  const out = [];
  for (const n of p.positionals) {
    const f = await findImage(store, n, str(p, 'platform'));
    const manifest = await store.readJSON<Manifest>(f.desc.digest);
    const config = await store.readJSON<ImageConfigFile>(manifest.config.digest);
    const what = str(p, 'format') ?? 'all';
    const named = f.name ? await store.getRef(f.name) : undefined;
    const platforms = named ? await storedPlatforms(store, named) : [];
    if (what === 'manifest') out.push(manifest);
    else if (what === 'config') out.push(config);
    else out.push({ Name: f.name ? familiar(f.name) : undefined, Id: manifest.config.digest, Digest: f.desc.digest, ...(platforms.length > 0 ? { Index: named!.digest, Platforms: platforms } : {}), Manifest: manifest, Config: config });
  }
  io.out(JSON.stringify(out, null, 2) + '\n');
  return 0;
}
