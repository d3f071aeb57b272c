import { existsSync } from 'node:fs';
import { storeImage, storeIndex } from '../../cache/store-image.js';
import { familiar, storeRefName } from '../../registry/reference.js';
import { writeDockerArchive } from '../../image/docker-archive.js';
import { writeOciIndexLayout, writeOciLayout, readOciLayout } from '../../image/oci-layout.js';
import { readDockerArchive } from '../../image/docker-archive.js';
import { detectArchiveFormat, dockerArchiveTags } from '../../image/image-spec.js';
import { writeImage } from '../../cache/store-image.js';
import { readViaScratchFile, streamViaScratchFile } from '../../cache/scratch-file.js';
import type { ContentStore } from '../../cache/store.js';
import { findStoredImage, storedManifestOf } from '../../cache/lookup.js';
import { isIndexMediaType } from '../../image/mediatypes.js';
import { formatPlatform, parsePlatform } from '../../image/platform.js';
import type { Platform } from '../../image/types.js';
import type { Descriptor, Index, Manifest } from '../../image/types.js';
import type { Image } from '../../image/image.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { HELP_FLAG, openExistingStore, openStore, ROOT_FLAG, type Io } from '../common.js';

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

function splitName(n: string): [string, string] {
  const i = n.lastIndexOf(':');
  return i > n.lastIndexOf('/') ? [n.slice(0, i), n.slice(i + 1)] : [n, 'latest'];
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
  { name: 'output', short: 'o', type: 'string', valueName: 'FILE', description: 'write to FILE instead of stdout (stdout must then not be a terminal)' },
  { name: 'format', type: 'string', valueName: 'FORMAT', description: 'docker or oci', default: 'docker' },
  { name: 'platform', type: 'string', valueName: 'OS/ARCH', description: "of a multi-platform image, save only this platform's (oci saves the whole index otherwise)" },
  ROOT_FLAG,
  HELP_FLAG,
];

const SAVE_HELP = helpText(
  'tsbuild save [OPTIONS] IMAGE [IMAGE...]',
  'Save images (names, IDs or unique ID prefixes) to a docker-archive (docker load reads it) or an OCI\narchive, written to -o FILE or, when stdout is not a terminal, to stdout (tsbuild save app | gzip > app.tgz).',
  SAVE_FLAGS,
);

export async function saveCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, SAVE_FLAGS);
  if (bool(p, 'help')) return io.out(SAVE_HELP), 0;
  if (p.positionals.length === 0) throw new UsageError('"tsbuild save" requires at least 1 argument (IMAGE)');
  const format = str(p, 'format') ?? 'docker';
  if (format !== 'docker' && format !== 'oci') throw new UsageError(`unknown --format ${format} (docker or oci)`);
  const file = str(p, 'output');
  if ((file === undefined || file === '-') && process.stdout.isTTY) throw new UsageError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  const store = await openExistingStore(p);
  const platform = str(p, 'platform');
  const toDest = async (write: (dest: string) => Promise<void>): Promise<void> => {
    if (file === undefined || file === '-') await streamViaScratchFile(store, write, process.stdout);
    else await write(file);
  };
  if (format === 'oci' && platform === undefined && p.positionals.length === 1) {
    // a multi-platform name: the whole index, as `skopeo copy --all` would (every platform must be here)
    const named = await store.getRef(storeRefName(p.positionals[0]!)).catch(() => undefined);
    if (named && isIndexMediaType(named.mediaType)) {
      await requireAllPlatforms(store, named, p.positionals[0]!);
      await toDest((dest) => writeOciIndexLayout({ tarFile: dest }, storeIndex(store, named.digest), splitName(familiar(storeRefName(p.positionals[0]!)))[1]));
      return 0;
    }
  }
  const imgs: Array<{ image: Image; name: string | undefined }> = [];
  for (const n of p.positionals) {
    const f = await findImage(store, n, platform);
    // by name: the archive carries that name; by ID or digest: none, as docker saves it
    imgs.push({ image: storeImage(store, f.desc.digest), name: f.name !== undefined && f.name === nameOf(n) ? f.name : undefined });
  }
  const write = (dest: string): Promise<void> =>
    format === 'docker'
      ? writeDockerArchive(dest, imgs.map((i) => ({ image: i.image, tags: i.name ? [familiar(i.name)] : [] })))
      : writeOciLayout({ tarFile: dest }, imgs.map((i) => ({ image: i.image, refName: i.name ? splitName(familiar(i.name))[1] : undefined })));
  await toDest(write);
  return 0;
}

/** The store name an argument spells, or undefined when it is no name (an ID, a digest). */
function nameOf(arg: string): string | undefined {
  try {
    return storeRefName(arg);
  } catch {
    return undefined;
  }
}

/** Fails unless every platform a stored index lists is in the store (a pull without --all keeps only some). */
export async function requireAllPlatforms(store: ContentStore, index: Descriptor, name: string): Promise<void> {
  const listed = (await store.readJSON<Index>(index.digest)).manifests;
  const missing = [];
  for (const d of listed) if (!(await store.has(d.digest))) missing.push(d.platform ? formatPlatform(d.platform) : d.digest);
  if (missing.length > 0) throw new UsageError(`${name}: the store lacks its images for ${missing.join(', ')} (pull --all first, or pick one with --platform)`);
}

const LOAD_FLAGS: FlagSpec[] = [
  { name: 'input', short: 'i', type: 'string', valueName: 'FILE', description: 'docker-archive, OCI archive or OCI layout dir to load (default: stdin)' },
  { name: 'tag', short: 't', type: 'list', valueName: 'NAME', description: 'tag the loaded image (needed for OCI input without a name)' },
  { name: 'quiet', short: 'q', type: 'bool', description: 'print nothing' },
  ROOT_FLAG,
  HELP_FLAG,
];

const LOAD_HELP = helpText(
  'tsbuild load [OPTIONS]',
  'Load an image from a docker-archive (docker save), an OCI archive or an OCI layout directory: -i FILE,\nor stdin (tsbuild load < app.tar). Creates the store when it is missing.',
  LOAD_FLAGS,
);

export async function loadCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, LOAD_FLAGS);
  if (bool(p, 'help')) return io.out(LOAD_HELP), 0;
  const file = str(p, 'input') ?? p.positionals[0];
  if ((file === undefined || file === '-') && process.stdin.isTTY) throw new UsageError('requested load from stdin, but stdin is empty (use -i FILE or redirect)');
  if (file !== undefined && file !== '-' && !existsSync(file)) throw new UsageError(`open ${file}: no such file or directory`);
  const store = await openStore(p);
  const quiet = bool(p, 'quiet');
  const say: Io = quiet ? { out: () => {}, err: io.err } : io;
  if (file === undefined || file === '-') await readViaScratchFile(store, process.stdin, (f) => loadFile(store, f, list(p, 'tag'), say));
  else await loadFile(store, file, list(p, 'tag'), say);
  return 0;
}

async function loadFile(store: ContentStore, file: string, tags: string[], io: Io): Promise<void> {
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
}
