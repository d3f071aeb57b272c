/**
 * The prepare phase of a build: read and parse the Dockerfile, resolve the global ARGs with
 * --build-arg and the platform ARGs, read .dockerignore, resolve named contexts; secrets and SSH
 * sockets are read here too. Nothing here touches the store, a registry or a runtime.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { hasImagePrefix } from '../image/image-spec.js';
import { hostPlatform, parsePlatformList } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import type { RegistryClient } from '../registry/client.js';
import { DEFAULT_TIMEOUTS } from '../registry/timeouts.js';
import { parseDockerfile } from '../parser/index.js';
import type { Dockerfile } from '../parser/instructions.js';
import type { BuildOptions, SecretSpec } from './build.js';
import { readDockerignore } from './context.js';
import { DEFAULT_CONTEXT_LIMITS, fetchNamedContext, resolveContext, type FetchInput, type ResolvedContext } from './context-source.js';
import { isTsbuildError } from '../errors/tsbuild-error.js';
import { BuildError, BuildUsageError } from './errors.js';
import type { EventSink } from './events.js';
import type { NamedContext } from './session.js';
import { expand, platformArgs } from './vars.js';

export interface Prepared {
  contextDir: string;
  df: Dockerfile;
  /** The platform this build targets (`--platform`, normalized; the host's by default). */
  platform: Platform;
  /** The platform RUN steps run natively on: BUILDPLATFORM. */
  buildPlatform: Platform;
  buildArgs: Map<string, string>;
  /** Global ARG values (after --build-arg), including the platform ARGs. */
  globalArgs: Map<string, string | undefined>;
  ignore: Awaited<ReturnType<typeof readDockerignore>>;
  namedContexts: Map<string, NamedContext>;
}

/** The build context (a directory by now) and the Dockerfile's text (bounded in size), before anything is parsed. */
export type DockerfileSource = ResolvedContext;

/** The context the CONTEXT argument names (unpacked or fetched into `scratch` when it is no directory), and its Dockerfile. */
export async function readSource(options: BuildOptions, scratch: string, registry: () => Promise<RegistryClient>): Promise<DockerfileSource> {
  return resolveContext({
    spec: options.contextDir,
    ...(options.dockerfile !== undefined ? { dockerfile: options.dockerfile } : {}),
    ...(options.dockerfileText !== undefined ? { dockerfileText: options.dockerfileText } : {}),
    ...(options.stdin ? { stdin: options.stdin } : {}),
    ...fetchInput(options, scratch, registry),
    keepGitDir: isTrue(options.buildArgs?.['BUILDKIT_CONTEXT_KEEP_GIT_DIR']),
  });
}

/** `--build-context NAME=URL` (git, or an http(s) file) fetched into `scratch`: NAME → its directory. */
export async function fetchNamedContexts(options: BuildOptions, scratch: string, registry: () => Promise<RegistryClient>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.namedContexts ?? {})) {
    const dir = await fetchNamedContext(value, fetchInput(options, scratch, registry)).catch((e: unknown) => {
      throw isTsbuildError(e) ? new BuildError(e.code, `named context ${name}: ${e.message}`) : e;
    });
    if (dir !== undefined) out[name] = dir;
  }
  return out;
}

function fetchInput(o: BuildOptions, scratch: string, registry: () => Promise<RegistryClient>): FetchInput {
  const ssh = sshAgent(o);
  return {
    scratch,
    registry,
    timeouts: { ...DEFAULT_TIMEOUTS, ...o.networkTimeouts },
    limits: { ...DEFAULT_CONTEXT_LIMITS, ...o.contextLimits },
    ...(ssh ? { sshAuthSock: ssh } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  };
}

/** Go's strconv.ParseBool truths, as BuildKit reads its build-arg switches. */
export function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(1|t|true)$/i.test(value);
}

/** `--ssh default=SOCKET` (or $SSH_AUTH_SOCK) also serves git ssh URLs, as buildx forwards it. */
export function sshAgent(options: BuildOptions): string | undefined {
  return options.ssh?.['default'] || process.env.SSH_AUTH_SOCK || undefined;
}

export async function prepare(options: BuildOptions, source: DockerfileSource, emit: EventSink): Promise<Prepared> {
  const { dir: contextDir, fileLabel, text } = source;
  const df = parseDockerfile(text, { file: fileLabel });
  for (const w of df.warnings) emit({ type: 'message', level: 'warn', text: `${w.rule}: ${w.message}`, loc: { file: w.loc.file, line: w.loc.line } });
  const buildPlatform = hostPlatform();
  const platform = targetPlatforms(options.platform)[0] ?? buildPlatform;
  const buildArgs = new Map(Object.entries(options.buildArgs ?? {}));
  const globalArgs = resolveGlobalArgs(df, buildArgs, platform, buildPlatform);
  // only a local directory's .dockerignore counts: BuildKit uses a tar or git context whole
  const ignore = source.readIgnore ? await readDockerignore(contextDir, source.dockerfilePath) : { patterns: [] };
  const namedContexts = await resolveNamedContexts(options.namedContexts ?? {}, options.fetchedNamedContexts ?? {});
  return { contextDir, df, platform, buildPlatform, buildArgs, globalArgs, ignore, namedContexts };
}

/** The target platforms of `--platform P1,P2` (normalized, duplicates dropped); none given: []. */
export function targetPlatforms(spec: string | undefined): Platform[] {
  if (spec === undefined || spec.trim() === '') return [];
  try {
    return parsePlatformList(spec);
  } catch (e) {
    throw new BuildUsageError(`--platform: ${(e as Error).message}`);
  }
}

/** Global ARGs (before the first FROM), with --build-arg values and the platform ARGs. */
export function resolveGlobalArgs(df: Dockerfile, buildArgs: Map<string, string>, platform: Platform, buildPlatform: Platform = platform): Map<string, string | undefined> {
  const args = new Map<string, string | undefined>(platformArgs(buildPlatform, platform));
  for (const ins of df.globalArgs) {
    for (const a of ins.args) {
      const def = a.value !== undefined ? expand(a.value, (n) => args.get(n), df.escapeToken) : undefined;
      args.set(a.key, buildArgs.has(a.key) ? buildArgs.get(a.key) : def);
    }
  }
  return args;
}

async function resolveNamedContexts(spec: Record<string, string>, fetched: Record<string, string>): Promise<Map<string, NamedContext>> {
  const out = new Map<string, NamedContext>();
  for (const [name, value] of Object.entries(spec)) {
    if (hasImagePrefix(value, 'dockerfile')) {
      out.set(name, { kind: 'image', ref: value });
      continue;
    }
    const remote = fetched[name];
    if (remote !== undefined) {
      out.set(name, { kind: 'dir', root: { dir: remote, excludes: [], isContext: true } });
      continue;
    }
    const dir = resolve(value);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new BuildUsageError(`named context ${name}: ${value} is not a directory`);
    const ignore = await readDockerignore(dir);
    out.set(name, { kind: 'dir', root: { dir, excludes: ignore.patterns, isContext: true } });
  }
  return out;
}

export async function loadSecrets(specs: SecretSpec[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const s of specs) {
    if (s.env !== undefined) {
      const v = process.env[s.env];
      if (v === undefined) throw new BuildUsageError(`secret ${s.id}: environment variable ${s.env} is not set`);
      out.set(s.id, Buffer.from(v));
    } else {
      const src = s.src ?? s.id;
      // docker: `--secret id=x` alone reads the env var x when no file is named
      const data = await readFile(src).catch(() => (process.env[s.id] !== undefined && s.src === undefined ? Buffer.from(process.env[s.id]!) : undefined));
      if (data === undefined) throw new BuildUsageError(`secret ${s.id}: cannot read ${src}`);
      out.set(s.id, data);
    }
  }
  return out;
}

export function resolveSsh(spec: Record<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [id, sock] of Object.entries(spec)) {
    const path = sock || process.env.SSH_AUTH_SOCK;
    if (!path) throw new BuildUsageError(`--ssh ${id}: no socket given and SSH_AUTH_SOCK is not set`);
    out.set(id, path);
  }
  return out;
}
