/**
 * Docker's config.json: `auths` (auth = base64 user:password, identitytoken,
 * registrytoken), `credsStore` and `credHelpers`. Read like docker reads it,
 * written like `docker login` writes it (other keys kept, mode 0600, atomic).
 */
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AuthError } from '../errors.js';
import { DOCKER_HUB } from '../reference.js';

export interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

export interface DockerConfigFile {
  auths?: Record<string, DockerAuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  [k: string]: unknown;
}

/** The key docker uses for Docker Hub in auths and in credential helpers. */
export const DOCKER_HUB_SERVER_URL = 'https://index.docker.io/v1/';

export function dockerConfigDir(options: { dockerConfigDir?: string; env?: NodeJS.ProcessEnv }): string {
  const env = options.env ?? process.env;
  return options.dockerConfigDir ?? env['DOCKER_CONFIG'] ?? join(env['HOME'] ?? homedir(), '.docker');
}

export async function readDockerConfig(dir: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await fs.readFile(join(dir, 'config.json'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw e;
  }
  if (text.trim() === '') return {};
  try {
    const j = JSON.parse(text) as unknown;
    return typeof j === 'object' && j !== null ? (j as DockerConfigFile) : {};
  } catch {
    // Do not quote the file: it holds credentials.
    throw new AuthError(`${join(dir, 'config.json')} is not valid JSON`, { path: join(dir, 'config.json') });
  }
}

/** Atomic write (temp + rename) with 0600, as docker does. */
export async function writeDockerConfig(dir: string, cfg: DockerConfigFile): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, 'config.json');
  const tmp = join(dir, `.config.json.${randomBytes(6).toString('hex')}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(cfg, null, '\t') + '\n', { mode: 0o600 });
  await fs.rename(tmp, path);
}

/** `https://index.docker.io/v1/` → `index.docker.io`; `http://host:5000/x` → `host:5000` (docker's ConvertToHostname). */
export function hostOfKey(key: string): string {
  let k = key.replace(/^https?:\/\//, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  return k;
}

/** The name docker uses for a registry in auths / helper calls. */
export function serverKey(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_SERVER_URL : registry;
}

function matchesRegistry(key: string, registry: string): boolean {
  const h = hostOfKey(key).toLowerCase();
  if (registry === DOCKER_HUB) return h === 'index.docker.io' || h === 'docker.io' || h === 'registry-1.docker.io';
  return h === registry.toLowerCase();
}

export function findAuthEntry(cfg: DockerConfigFile, registry: string): DockerAuthEntry | undefined {
  const auths = cfg.auths ?? {};
  // An exact key wins over a normalized match (docker does the same).
  const exact = auths[serverKey(registry)];
  if (exact && Object.keys(exact).length) return exact;
  for (const [k, v] of Object.entries(auths)) if (matchesRegistry(k, registry) && v && Object.keys(v).length) return v;
  return undefined;
}

/** The credential helper for a registry: credHelpers first, then credsStore. */
export function helperFor(cfg: DockerConfigFile, registry: string): string | undefined {
  const helpers = cfg.credHelpers ?? {};
  for (const [k, v] of Object.entries(helpers)) if (matchesRegistry(k, registry) && v) return v;
  return cfg.credsStore || undefined;
}

/** Splits `auth` (base64 user:password); password may contain ':'. */
export function decodeAuth(auth: string): { username: string; password: string } {
  const s = Buffer.from(auth, 'base64').toString('utf8');
  const i = s.indexOf(':');
  if (i < 0) throw new AuthError('config.json auth field is malformed (want base64 of user:password)');
  return { username: s.slice(0, i), password: s.slice(i + 1) };
}
