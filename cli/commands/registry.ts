import { storeImage, storeIndex, writeImage, writeIndex } from '../../cache/store-image.js';
import { isIndexMediaType } from '../../image/mediatypes.js';
import type { Descriptor, Platform } from '../../image/types.js';
import { familiar, storeRefName } from '../../registry/reference.js';
import { formatPlatform, hostPlatform, indexPlatforms, parsePlatformList, selectManifest } from '../../image/platform.js';
import { login, logout, parseReference, RegistryClient } from '../../registry/index.js';
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

async function pullCommand(argv: string[], io: Io): Promise<number> {
  const flags = [
    { name: 'platform', type: 'string', valueName: 'OS/ARCH[,…]', description: 'platform(s) to pull from a multi-platform image (default: the host)' } as FlagSpec,
    { name: 'all', type: 'bool', description: 'every image of a multi-platform index (as skopeo copy --all)' } as FlagSpec,
    ...NET_FLAGS,
  ];
  const p = parseArgs(argv, flags);
  if (bool(p, 'help') || p.positionals.length !== 1) {
    io.out(helpText('tsbuild pull [OPTIONS] NAME[:TAG|@DIGEST]', 'Pull an image into the local store (of an index: the platforms asked for, and the index).', flags));
    return bool(p, 'help') ? 0 : 2;
  }
  const ref = parseReference(p.positionals[0]!);
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
    const index = await client.getIndex(ref);
    let desc: Descriptor;
    if (!index) desc = await writeImage(store, await client.getImage(ref));
    else {
      const ix = await index.indexManifest();
      const entries = bool(p, 'all') ? ix.manifests : platforms.map((want) => {
        const d = selectManifest(ix, want);
        if (!d) throw new UsageError(`${familiar(ref.toString())} has no image for ${formatPlatform(want)} (has ${indexPlatforms(ix).join(', ')})`);
        return d;
      });
      desc = await writeIndex(store, index, entries);
      io.out(`Platforms: ${entries.map((d) => (d.platform ? formatPlatform(d.platform) : d.digest)).join(', ')}\n`);
    }
    if (!ref.digest) await store.setRef(storeRefName(p.positionals[0]!), desc);
    io.out(`Digest: ${desc.digest}\nStatus: Downloaded ${familiar(ref.toString())}\n`);
  } finally {
    await client.close();
  }
  return 0;
}

async function pushCommand(argv: string[], io: Io): Promise<number> {
  const flags: FlagSpec[] = [{ name: 'platform', type: 'string', valueName: 'OS/ARCH', description: 'of a multi-platform image, push only this platform\'s (default: the whole index)' }, ...NET_FLAGS];
  const p = parseArgs(argv, flags);
  if (bool(p, 'help') || p.positionals.length < 1 || p.positionals.length > 2) {
    io.out(helpText('tsbuild push [OPTIONS] NAME[:TAG] [DEST]', 'Push an image from the local store to a registry (to DEST when given); a multi-platform image goes as its index, every image first.', flags));
    return bool(p, 'help') ? 0 : 2;
  }
  const store = await openExistingStore(p);
  const platform = str(p, 'platform');
  const named = platform === undefined ? await store.getRef(storeRefName(p.positionals[0]!)).catch(() => undefined) : undefined;
  const dest = parseReference(p.positionals[1] ?? p.positionals[0]!);
  const client = new RegistryClient({
    insecureRegistries: list(p, 'insecure-registry'),
    timeouts: networkTimeouts(p),
    onEvent: (e) => {
      if (e.type === 'retry') io.err(`retrying: ${JSON.stringify(e)}\n`);
    },
  });
  try {
    let r;
    if (named && isIndexMediaType(named.mediaType)) {
      await requireAllPlatforms(store, named, p.positionals[0]!);
      r = await client.pushIndex(storeIndex(store, named.digest), [dest]);
    } else {
      const src = await findImage(store, p.positionals[0]!, platform);
      r = await client.push(storeImage(store, src.desc.digest), [dest]);
    }
    io.out(`${dest.tag ?? 'latest'}: digest: ${r.digest} (${r.uploaded} uploaded, ${r.mounted} mounted, ${r.skipped} already present)\n`);
  } finally {
    await client.close();
  }
  return 0;
}

async function loginCommand(argv: string[], io: Io): Promise<number> {
  const flags: FlagSpec[] = [
    { name: 'username', short: 'u', type: 'string', description: 'username' },
    { name: 'password', short: 'p', type: 'string', description: 'password (prefer --password-stdin)' },
    { name: 'password-stdin', type: 'bool', description: 'read the password from stdin' },
    ...NET_FLAGS,
  ];
  const p = parseArgs(argv, flags);
  if (bool(p, 'help') || p.positionals.length > 1) {
    io.out(helpText('tsbuild login [OPTIONS] [SERVER]', 'Log in to a registry (writes ~/.docker/config.json as docker does).', flags));
    return bool(p, 'help') ? 0 : 2;
  }
  const user = str(p, 'username');
  let password = str(p, 'password');
  if (bool(p, 'password-stdin')) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  if (!user || password === undefined) throw new UsageError('tsbuild login needs --username and --password or --password-stdin');
  const server = p.positionals[0] ?? 'docker.io';
  await login(server, user, password, { insecureRegistries: list(p, 'insecure-registry'), timeouts: networkTimeouts(p) });
  io.out('Login Succeeded\n');
  return 0;
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
