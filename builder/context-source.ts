/**
 * The CONTEXT argument of a build, turned into a directory the rest of the build reads like any
 * other (the same walker, COPY planning and content-hash cache keys):
 *
 * - a directory: used in place; its `.dockerignore` applies;
 * - `-`: stdin holds a tar (plain, gzip, bzip2 or xz; told apart as BuildKit does, by magic bytes
 *   or a valid tar header) or a Dockerfile, which then builds with an empty context;
 * - a local tar file (tsbuild's extension; docker takes only `-`): as a tar on stdin;
 * - an http(s) URL: a tar is unpacked; anything else is the Dockerfile, and the context holds just
 *   that file, named `context` (BuildKit's llb.HTTP);
 * - a git URL (registry/git-url.ts): a shallow fetch of `#ref`, the context is `:subdir`.
 *
 * As in BuildKit, only a local directory's `.dockerignore` is read: an unpacked tar or a git
 * checkout is used whole (docker's own frontend ignores their `.dockerignore`; checked against
 * dockerd). `-f` names a file inside a tar or git context (`sub/Dockerfile`), resolved inside it.
 * Tars go through image/extract.ts (every entry path through image/safe-path.ts); every input
 * has a size limit; downloads and git fetches go through registry/ with its deadlines.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, realpath, rename, stat } from 'node:fs/promises';
import { isAbsolute, join, posix, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { resolveInRoot } from '../image/safe-path.js';
import { dockerfileTooLarge, MAX_DOCKERFILE_BYTES } from '../parser/index.js';
import type { RegistryClient } from '../registry/client.js';
import { fetchGitSource } from '../registry/git.js';
import { parseGitSource, redactGitUrl, type GitSource } from '../registry/git-url.js';
import type { NetworkTimeouts } from '../registry/timeouts.js';
import { extractArchive, isArchiveHead, readHead } from './archive.js';
import { ContextError } from './context.js';
import { readDockerfile } from './dockerfile-source.js';
import { BuildError, BuildUsageError } from './errors.js';

export type ContextKind = 'dir' | 'stdin-dockerfile' | 'stdin-tar' | 'tar-file' | 'http' | 'git';

/** Where the build context comes from, before anything is read. */
export type ContextSpec =
  | { kind: 'dir'; dir: string }
  | { kind: 'stdin' }
  | { kind: 'tar-file'; path: string }
  | { kind: 'http'; url: string }
  | { kind: 'git'; source: GitSource; spec: string };

/** The context ready to build from, and its Dockerfile's text. */
export interface ResolvedContext {
  kind: ContextKind;
  /** The directory the build reads. */
  dir: string;
  /** Read `.dockerignore` (a local directory only). */
  readIgnore: boolean;
  /** The Dockerfile's path when it is a file (for `<Dockerfile>.dockerignore`). */
  dockerfilePath?: string;
  /** How errors name the Dockerfile. */
  fileLabel: string;
  text: string;
  /** One line for the progress output (remote contexts: what was fetched). */
  description?: string;
}

export interface ContextLimits {
  /** Most bytes read from stdin, a tar file or a download, and most bytes a tar unpacks to or a git checkout holds. */
  maxBytes: number;
  /** Most files a tar or git checkout may hold. */
  maxFiles: number;
}

/** 8 GiB, as registry/'s download limit; 1M files. `--context-limit`-less: TSBUILD_CONTEXT_MAX_BYTES (cli/). */
export const DEFAULT_CONTEXT_LIMITS: ContextLimits = { maxBytes: 8 * 1024 ** 3, maxFiles: 1_000_000 };

export interface ContextInput {
  /** The CONTEXT argument as typed. */
  spec: string;
  /** `-f` (not `-`): a host path for a directory context, a path inside a tar or git context. */
  dockerfile?: string;
  /** The Dockerfile read from stdin (`-f -`). */
  dockerfileText?: string;
  stdin?: Readable;
  /** A scratch directory the build removes afterwards; not made yet (inScratch makes it on first use). */
  scratch: string;
  registry: () => Promise<RegistryClient>;
  timeouts: NetworkTimeouts;
  limits: ContextLimits;
  /** BUILDKIT_CONTEXT_KEEP_GIT_DIR=1 */
  keepGitDir: boolean;
  /** ssh agent for git ssh URLs (--ssh default), else $SSH_AUTH_SOCK. */
  sshAuthSock?: string;
  signal?: AbortSignal;
}

/** What the CONTEXT argument names (the order of buildx's checks, then a local file). */
export async function classifyContext(spec: string): Promise<ContextSpec> {
  if (spec === '-') return { kind: 'stdin' };
  const st = await stat(spec).catch(() => undefined);
  if (st?.isDirectory()) return { kind: 'dir', dir: resolve(spec) };
  const git = parseGitSource(spec, { allowGithubShorthand: true });
  if (git) return { kind: 'git', source: git, spec };
  if (/^https?:\/\//i.test(spec)) return { kind: 'http', url: spec };
  if (st?.isFile()) return { kind: 'tar-file', path: resolve(spec) };
  throw new BuildUsageError(`unable to prepare context: path ${JSON.stringify(spec)} not found`);
}

/** Turns the CONTEXT argument into a directory and reads its Dockerfile. */
export async function resolveContext(input: ContextInput): Promise<ResolvedContext> {
  const spec = await classifyContext(input.spec);
  if (spec.kind === 'stdin' && input.dockerfileText !== undefined) {
    throw new BuildUsageError("invalid argument: can't use stdin for both build context and dockerfile");
  }
  switch (spec.kind) {
    case 'dir':
      return directoryContext(spec.dir, input);
    case 'stdin':
      return stdinContext(input);
    case 'tar-file':
      return unpackedContext('tar-file', spec.path, input.spec, input);
    case 'http':
      return httpContext(spec.url, input);
    case 'git':
      return gitContext(spec.source, input);
  }
}

async function directoryContext(dir: string, input: ContextInput): Promise<ResolvedContext> {
  const dockerfilePath = input.dockerfile ? (isAbsolute(input.dockerfile) ? input.dockerfile : resolve(input.dockerfile)) : join(dir, 'Dockerfile');
  if (input.dockerfileText !== undefined) return { kind: 'dir', dir, readIgnore: true, fileLabel: 'Dockerfile', text: input.dockerfileText };
  const fileLabel = relName(dockerfilePath);
  return { kind: 'dir', dir, readIgnore: true, dockerfilePath, fileLabel, text: await readDockerfile(dockerfilePath, fileLabel) };
}

/** `-`: peek at stdin; a tar is spooled to scratch and unpacked, anything else is the Dockerfile. */
async function stdinContext(input: ContextInput): Promise<ResolvedContext> {
  if (!input.stdin) throw new BuildUsageError('build context "-" needs stdin');
  const chunks: Buffer[] = [];
  let length = 0;
  const it = input.stdin[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let ended = false;
  while (length < 1024) {
    const next = await it.next();
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.from(next.value);
    chunks.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(chunks);
  const rest = async function* (): AsyncGenerator<Buffer> {
    yield head;
    if (ended) return;
    for (let next = await it.next(); !next.done; next = await it.next()) yield Buffer.from(next.value);
  };
  if (!isArchiveHead(head)) {
    if (input.dockerfile !== undefined) throw new BuildUsageError('ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles');
    const text = await readLimited(rest(), MAX_DOCKERFILE_BYTES, () => dockerfileTooLarge('Dockerfile'));
    const dir = await inScratch(input, 'empty');
    await mkdir(dir);
    return { kind: 'stdin-dockerfile', dir, readIgnore: false, fileLabel: 'Dockerfile', text: text.toString('utf8') };
  }
  const file = await inScratch(input, 'stdin.tar');
  await spool(rest(), file, input.limits.maxBytes, 'stdin');
  return unpackedContext('stdin-tar', file, 'stdin', input);
}

/** A path in the scratch dir, which is made on first use: a directory context needs none. */
async function inScratch(input: FetchInput, name: string): Promise<string> {
  await mkdir(input.scratch, { recursive: true });
  return join(input.scratch, name);
}

/** A tar on disk (a file, spooled stdin, a download), unpacked into scratch. */
async function unpackedContext(kind: ContextKind, archive: string, label: string, input: ContextInput, description?: string): Promise<ResolvedContext> {
  if (!isArchiveHead(await readHead(archive, 1024))) {
    throw new BuildUsageError(`unable to prepare context: ${label} is neither a directory nor a tar archive (plain, gzip, bzip2 or xz)`);
  }
  const dir = await inScratch(input, 'context');
  await mkdir(dir, { mode: 0o755 });
  try {
    await extractArchive(archive, dir, {
      maxBytes: input.limits.maxBytes,
      maxFiles: input.limits.maxFiles,
      tooLarge: (what) => tooLarge(label, what),
    });
  } catch (e) {
    if (e instanceof BuildError) throw e;
    throw new ContextError(`build context ${label}: ${(e as Error).message}`, { context: label }, e);
  }
  return { ...(await dockerfileInside(dir, input)), kind, ...(description ? { description } : {}) };
}

async function httpContext(url: string, input: ContextInput): Promise<ResolvedContext> {
  const shown = redactGitUrl(url);
  const file = await inScratch(input, 'download');
  await download(url, file, input);
  if (isArchiveHead(await readHead(file, 1024))) return unpackedContext('http', file, shown, input, `build context: ${shown} (tar)`);
  // Not an archive: BuildKit builds the file as the Dockerfile, in a context holding only it.
  const dir = await inScratch(input, 'context');
  await mkdir(dir, { mode: 0o755 });
  await rename(file, join(dir, 'context'));
  const text = await readDockerfile(join(dir, 'context'), 'context');
  return { kind: 'http', dir, readIgnore: false, fileLabel: 'context', text, description: `build context: ${shown} (Dockerfile)` };
}

/** What fetching a remote context needs besides its URL. */
export type FetchInput = Pick<ContextInput, 'scratch' | 'registry' | 'timeouts' | 'limits' | 'sshAuthSock' | 'signal'>;

/**
 * A `--build-context NAME=URL` fetched into scratch, as BuildKit's named contexts: a git URL gives
 * its checkout (subdir applied, no `.git` unless `?keep-git-dir=true`), another http(s) URL a
 * directory holding the file as `context` (not unpacked: llb.HTTP). Undefined for what is not a
 * URL (a directory, an image). As for the main context, no `.dockerignore` applies to it.
 */
export async function fetchNamedContext(value: string, input: FetchInput): Promise<string | undefined> {
  if (!/^(https?|git):\/\//i.test(value)) return undefined;
  const git = parseGitSource(value);
  await inScratch(input, '');
  const where = await mkdtemp(join(input.scratch, 'named-'));
  if (git) return (await checkoutGit(git, join(where, 'git'), gitSettings(input), { keepGitDir: git.keepGitDir ?? false, ...(input.signal ? { signal: input.signal } : {}) })).dir;
  const dir = join(where, 'context');
  await mkdir(dir, { mode: 0o755 });
  await download(value, join(dir, 'context'), input);
  return dir;
}

/** GET `url` into `file` through registry/ (its timeouts), up to the size limit. */
async function download(url: string, file: string, input: FetchInput): Promise<void> {
  const shown = redactGitUrl(url);
  const registry = await input.registry();
  let res;
  try {
    res = await registry.download(url, { maxBytes: input.limits.maxBytes, ...(input.signal ? { signal: input.signal } : {}) });
  } catch (e) {
    throw new ContextError(`failed to download build context ${shown}: ${(e as Error).message}`, { url: shown }, e);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    res.body.destroy();
    throw new ContextError(`failed to download build context ${shown}: HTTP ${res.statusCode}`, { url: shown, status: res.statusCode });
  }
  try {
    await pipeline(res.body, createWriteStream(file, { mode: 0o600 }));
  } catch (e) {
    throw new ContextError(`failed to download build context ${shown}: ${(e as Error).message}`, { url: shown }, e);
  }
}

function gitSettings(input: FetchInput): GitSettings {
  return {
    deadlineMs: input.timeouts.deadlineMs,
    idleMs: input.timeouts.bodyIdleMs,
    ...input.limits,
    ...(input.sshAuthSock ? { sshAuthSock: input.sshAuthSock } : {}),
  };
}

/** What a git fetch may take: time, bytes, files, and the ssh agent. */
export interface GitSettings {
  deadlineMs: number;
  idleMs: number;
  maxBytes: number;
  maxFiles: number;
  sshAuthSock?: string;
}

/**
 * Fetches `source` into `checkout` (a new directory) and returns the directory its `subdir`
 * names there (resolved inside the checkout) and the commit: the git context, and `ADD <git url>`.
 */
export async function checkoutGit(source: GitSource, checkout: string, settings: GitSettings, options: { keepGitDir: boolean; signal?: AbortSignal }): Promise<{ dir: string; commit: string }> {
  await mkdir(checkout, { mode: 0o755 });
  const { commit } = await fetchGitSource(source, { dir: checkout, ...settings, keepGitDir: options.keepGitDir, ...(options.signal ? { signal: options.signal } : {}) });
  const root = await realpath(checkout);
  if (source.subdir === '') return { dir: root, commit };
  const sub = resolveInRoot(root, source.subdir);
  const st = sub.exists ? await stat(sub.host).catch(() => undefined) : undefined;
  if (!st?.isDirectory()) throw new ContextError(`git source ${redactGitUrl(source.remote)}: subdirectory ${JSON.stringify(source.subdir)} not found at ${commit.slice(0, 12)}`, { subdir: source.subdir });
  return { dir: sub.host, commit };
}

async function gitContext(source: GitSource, input: ContextInput): Promise<ResolvedContext> {
  const { dir, commit } = await checkoutGit(source, await inScratch(input, 'git'), gitSettings(input), { keepGitDir: source.keepGitDir ?? input.keepGitDir, ...(input.signal ? { signal: input.signal } : {}) });
  const description = `build context: ${redactGitUrl(source.remote)}${source.ref ? `#${source.ref}` : ''} at ${commit.slice(0, 12)}${source.subdir ? `, subdirectory ${source.subdir}` : ''}`;
  return { ...(await dockerfileInside(dir, input)), kind: 'git', description };
}

/**
 * The Dockerfile of an unpacked or fetched context: `-f` (default `Dockerfile`, and `dockerfile`
 * when that is missing, as BuildKit) resolved inside the context, or the text from `-f -`.
 */
async function dockerfileInside(dir: string, input: ContextInput): Promise<Omit<ResolvedContext, 'kind'>> {
  if (input.dockerfileText !== undefined) return { dir, readIgnore: false, fileLabel: 'Dockerfile', text: input.dockerfileText };
  const name = posix.normalize(input.dockerfile ?? 'Dockerfile');
  const candidates = posix.basename(name) === 'Dockerfile' ? [name, posix.join(posix.dirname(name), 'dockerfile')] : [name];
  for (const candidate of candidates) {
    const found = resolveInRoot(dir, candidate);
    const st = found.exists ? await stat(found.host).catch(() => undefined) : undefined;
    if (st?.isFile()) return { dir, readIgnore: false, dockerfilePath: found.host, fileLabel: name, text: await readDockerfile(found.host, name) };
  }
  throw new BuildUsageError(`failed to read dockerfile: open ${name}: no such file or directory (in the build context)`);
}

/** Copies a stream to `file`, failing past `maxBytes`. */
async function spool(source: AsyncIterable<Buffer>, file: string, maxBytes: number, label: string): Promise<void> {
  let seen = 0;
  const limited = async function* (): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      seen += chunk.length;
      if (seen > maxBytes) throw tooLarge(label, `more than ${maxBytes} bytes`);
      yield chunk;
    }
  };
  await pipeline(limited(), createWriteStream(file, { mode: 0o600 }));
}

async function readLimited(source: AsyncIterable<Buffer>, maxBytes: number, tooBig: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.length;
    if (seen > maxBytes) throw tooBig();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function tooLarge(label: string, what: string): ContextError {
  return new ContextError(`build context ${label} is too large: ${what} (TSBUILD_CONTEXT_MAX_BYTES raises the limit)`, { context: label, limit: what });
}

function relName(p: string): string {
  const cwd = process.cwd();
  return p.startsWith(cwd + '/') ? p.slice(cwd.length + 1) : p;
}
