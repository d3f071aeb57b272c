import { storeImage, storeIndex, writeImage, writeIndex } from '../../cache/store-image.js';
import { isIndexMediaType } from '../../image/mediatypes.js';
import type { Descriptor, Platform } from '../../image/types.js';
import { familiar, storeRefName } from '../../registry/reference.js';
import { formatPlatform, hostPlatform, indexPlatforms, parsePlatformList, selectManifest } from '../../image/platform.js';
import { login, logout, parseReference, RegistryClient } from '../../registry/index.js';
import { makeReference, type Reference } from '../../registry/reference.js';
import type { ContentStore } from '../../cache/store.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { HELP_FLAG, openExistingStore, openStore, ROOT_FLAG, type Io } from '../common.js';
import { NETWORK_TIMEOUT_FLAG, networkTimeouts } from '../network-flags.js';
import { findImage, requireAllPlatforms } from './images.js';

const NET_FLAGS: FlagSpec[] = [
  { name: 'insecure-registry', type: 'list', valueName: 'HOST', description: 'talk plain HTTP to this registry' },
  NETWORK_TIMEOUT_FLAG,
  ROOT_FLAG,
  HELP_FLAG,
];

const PULL_FLAGS: FlagSpec[] = [
  { name: 'all-tags', short: 'a', type: 'bool', description: 'pull every tag of the repository (NAME without a tag)' },
  { name: 'platform', type: 'string', valueName: 'OS/ARCH[,…]', description: 'platform(s) to pull from a multi-platform image (default: the host)' },
  { name: 'all', type: 'bool', description: 'every image of a multi-platform index (as skopeo copy --all)' },
  { name: 'quiet', short: 'q', type: 'bool', description: 'print only the pulled names' },
  ...NET_FLAGS,
];

async function pullCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, PULL_FLAGS);
  if (bool(p, 'help')) {
    return io.out(helpText('tsbuild pull [OPTIONS] NAME[:TAG|@DIGEST]', 'Pull an image (with -a every tag of a repository) into the local store, creating the store when missing;\nof a multi-platform index, the platforms asked for, and the index.', PULL_FLAGS)), 0;
  }
  if (p.positionals.length !== 1) throw new UsageError('"tsbuild pull" requires exactly 1 argument (NAME[:TAG|@DIGEST])');
  const given = p.positionals[0]!;
  const ref = parseReference(given);
  const allTags = bool(p, 'all-tags');
  const quiet = bool(p, 'quiet');
  if (allTags && (ref.digest || /:[^/]+$/.test(given))) throw new UsageError("tag can't be used with --all-tags/-a");
  const platformSpec = str(p, 'platform');
  if (platformSpec !== undefined && bool(p, 'all')) throw new UsageError('--platform and --all exclude each other');
  let platforms: Platform[];
  try {
    platforms = platformSpec !== undefined ? parsePlatformList(platformSpec) : [hostPlatform()];
  } catch (e) {
    throw new UsageError(`--platform: ${(e as Error).message}`);
  }
  const store = await openStore(p);
  const client = new RegistryClient({ insecureRegistries: list(p, 'insecure-registry'), platform: platforms[0]!, timeouts: networkTimeouts(p) });
  try {
    const refs = allTags ? (await client.listTags(ref)).sort().map((tag) => makeReference({ registry: ref.registry, repository: ref.repository, tag })) : [ref];
    for (const one of refs) {
      if (!quiet) io.out(`${one.digest ?? one.tag ?? 'latest'}: Pulling from ${ref.repository}\n`);
      const name = storeRefName(one.toString());
      const before = one.digest ? undefined : await store.getRef(name);
      const desc = await pullOne(store, client, one, { all: bool(p, 'all'), platforms, say: quiet ? () => {} : io.out });
      if (!one.digest) await store.setRef(name, desc);
      if (!quiet) io.out(`Digest: ${desc.digest}\nStatus: ${before?.digest === desc.digest ? 'Image is up to date for' : 'Downloaded newer image for'} ${one.digest ? one.toString() : familiar(name)}\n`);
      if (!allTags) io.out(`${one.toString()}\n`);
    }
    if (allTags) io.out(`${ref.registry}/${ref.repository}\n`);
  } finally {
    await client.close();
  }
  return 0;
}

/** One reference into the store: an image, or of an index the platforms asked for and the index. */
async function pullOne(store: ContentStore, client: RegistryClient, ref: Reference, o: { all: boolean; platforms: Platform[]; say: (s: string) => void }): Promise<Descriptor> {
  const index = await client.getIndex(ref);
  if (!index) return writeImage(store, await client.getImage(ref));
  const ix = await index.indexManifest();
  const entries = o.all
    ? ix.manifests
    : o.platforms.map((want) => {
        const d = selectManifest(ix, want);
        if (!d) throw new UsageError(`${familiar(ref.toString())} has no image for ${formatPlatform(want)} (has ${indexPlatforms(ix).join(', ')})`);
        return d;
      });
  const desc = await writeIndex(store, index, entries);
  o.say(`Platforms: ${entries.map((d) => (d.platform ? formatPlatform(d.platform) : d.digest)).join(', ')}\n`);
  return desc;
}

const PUSH_FLAGS: FlagSpec[] = [
  { name: 'all-tags', short: 'a', type: 'bool', description: 'push every name the store has in the repository (NAME without a tag)' },
  { name: 'platform', type: 'string', valueName: 'OS/ARCH', description: "of a multi-platform image, push only this platform's (default: the whole index)" },
  { name: 'quiet', short: 'q', type: 'bool', description: 'print only the pushed NAME@DIGEST' },
  ...NET_FLAGS,
];

async function pushCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, PUSH_FLAGS);
  if (bool(p, 'help')) {
    return io.out(helpText('tsbuild push [OPTIONS] NAME[:TAG] [DEST]', 'Push an image from the local store to a registry (to DEST when given), or with -a every tag of NAME;\na multi-platform image goes as its index, every image first.', PUSH_FLAGS)), 0;
  }
  if (p.positionals.length < 1 || p.positionals.length > 2) throw new UsageError('"tsbuild push" requires 1 or 2 arguments (NAME[:TAG] [DEST])');
  const allTags = bool(p, 'all-tags');
  const quiet = bool(p, 'quiet');
  const given = p.positionals[0]!;
  if (allTags && (p.positionals.length > 1 || /:[^/]+$/.test(given) || given.includes('@'))) throw new UsageError("tag can't be used with --all-tags/-a (nor a DEST)");
  const store = await openExistingStore(p);
  const platform = str(p, 'platform');
  const jobs: Array<{ src: string; dest: Reference }> = [];
  if (allTags) {
    const repo = parseReference(given);
    for (const r of await store.listRefs()) {
      const ref = parseReference(r.name);
      if (ref.registry === repo.registry && ref.repository === repo.repository && ref.tag) jobs.push({ src: r.name, dest: ref });
    }
    if (jobs.length === 0) throw new UsageError(`No such image: ${given} (no tags of that repository in the store)`);
    jobs.sort((x, y) => x.src.localeCompare(y.src));
  } else jobs.push({ src: given, dest: parseReference(p.positionals[1] ?? given) });
  const client = new RegistryClient({
    insecureRegistries: list(p, 'insecure-registry'),
    timeouts: networkTimeouts(p),
    onEvent: (e) => {
      if (e.type === 'retry') io.err(`retrying: ${JSON.stringify(e)}\n`);
    },
  });
  try {
    if (!quiet) io.out(`The push refers to repository [${jobs[0]!.dest.registry}/${jobs[0]!.dest.repository}]\n`);
    for (const job of jobs) {
      const named = platform === undefined ? await store.getRef(storeRefName(job.src)).catch(() => undefined) : undefined;
      let r;
      let size: number;
      if (named && isIndexMediaType(named.mediaType)) {
        await requireAllPlatforms(store, named, job.src);
        r = await client.pushIndex(storeIndex(store, named.digest), [job.dest]);
        size = named.size;
      } else {
        const src = await findImage(store, job.src, platform);
        r = await client.push(storeImage(store, src.desc.digest), [job.dest]);
        size = src.desc.size;
      }
      if (quiet) io.out(`${job.dest.toString()}@${r.digest}\n`);
      else io.out(`${job.dest.tag ?? 'latest'}: digest: ${r.digest} size: ${size} (${r.uploaded} uploaded, ${r.mounted} mounted, ${r.skipped} already present)\n`);
    }
  } finally {
    await client.close();
  }
  return 0;
}

const LOGIN_FLAGS: FlagSpec[] = [
  { name: 'username', short: 'u', type: 'string', description: 'username (asked for on a terminal when not given)' },
  { name: 'password', short: 'p', type: 'string', description: 'password (insecure: it shows in ps and shell history; prefer --password-stdin)' },
  { name: 'password-stdin', type: 'bool', description: 'read the password from stdin' },
  ...NET_FLAGS,
];

const LOGIN_HELP = helpText(
  'tsbuild login [OPTIONS] [SERVER]',
  'Log in to a registry (default docker.io): the credentials are checked against it, then written to\n$DOCKER_CONFIG/config.json (default ~/.docker) as docker writes them. On a terminal, a missing\nusername and password are asked for (the password is not echoed). Credentials are never printed.',
  LOGIN_FLAGS,
);

async function loginCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, LOGIN_FLAGS);
  if (bool(p, 'help')) return io.out(LOGIN_HELP), 0;
  if (p.positionals.length > 1) throw new UsageError('"tsbuild login" accepts at most 1 argument (SERVER)');
  let user = str(p, 'username');
  let password = str(p, 'password');
  const fromStdin = bool(p, 'password-stdin');
  if (password !== undefined) {
    if (fromStdin) throw new UsageError('--password and --password-stdin are mutually exclusive');
    io.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (fromStdin) {
    if (!user) throw new UsageError('Must provide --username with --password-stdin');
    password = await readPasswordStdin();
  }
  const server = p.positionals[0] ?? 'docker.io';
  if (!user || password === undefined) {
    if (!process.stdin.isTTY) throw new UsageError('Cannot perform an interactive login from a non TTY device (use --username with --password-stdin)');
    const { promptLine } = await import('../prompt.js');
    if (!user) user = (await promptLine('Username: ', io)).trim();
    if (!user) throw new UsageError('Non-null Username Required');
    if (password === undefined) password = await promptLine('Password: ', io, { hidden: true });
    if (!password) throw new UsageError('Password Required');
  }
  await login(server, user, password, { insecureRegistries: list(p, 'insecure-registry'), timeouts: networkTimeouts(p) });
  io.out('Login Succeeded\n');
  return 0;
}

/** The password piped in: one line at most 4 KiB, its trailing newline dropped. */
async function readPasswordStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    size += (c as Buffer).length;
    if (size > 4096) throw new UsageError('--password-stdin: more than 4096 bytes on stdin');
  }
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (!password) throw new UsageError('--password-stdin: stdin is empty');
  return password;
}

async function logoutCommand(argv: string[], io: Io): Promise<number> {
  const flags = [ROOT_FLAG, HELP_FLAG];
  const p = parseArgs(argv, flags);
  if (bool(p, 'help')) return io.out(helpText('tsbuild logout [SERVER]', 'Remove the credentials for SERVER (default docker.io) from ~/.docker/config.json.', flags)), 0;
  const server = p.positionals[0] ?? 'docker.io';
  await logout(server);
  io.out(`Removing login credentials for ${server}\n`);
  return 0;
}

export const registryCommands = {
  pull: { run: pullCommand, summary: 'Pull an image from a registry into the store' },
  push: { run: pushCommand, summary: 'Push an image to a registry' },
  login: { run: loginCommand, summary: 'Log in to a registry' },
  logout: { run: logoutCommand, summary: 'Log out from a registry' },
};
