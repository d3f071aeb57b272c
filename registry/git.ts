/**
 * Fetching a git source (a build context, `ADD <git url>`): the one place tsbuild runs `git`.
 * registry/ owns every transfer from a remote server; HTTP it speaks itself (http.ts), git's
 * protocols it leaves to the git binary. Each call runs `git` with a fixed argument list (the
 * URL and ref after `--end-of-options`), no shell, in its own process group that a deadline
 * kills whole, with no terminal prompt, and only the https, http, git and ssh transports
 * (GIT_ALLOW_PROTOCOL also binds submodules: no `ext::` or `file://`).
 *
 * What it does, as BuildKit's git source: a shallow fetch (depth 1) of the ref (the remote's HEAD
 * when none; a commit id the server will not serve shallowly falls back to a full fetch), a
 * detached checkout, submodules (depth 1) unless turned off, and no `.git` unless asked.
 * Limits: the fetched objects and the checked-out tree (summed from `git ls-tree` before the
 * checkout writes anything) are bounded by `maxBytes`; every process by the deadline.
 */
import { spawn } from 'node:child_process';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RegistryBaseError } from './errors.js';
import { redactGitUrl, type GitSource } from './git-url.js';

export interface GitFetchOptions {
  /** An empty directory: the checkout goes here. */
  dir: string;
  /** The whole fetch (every git process) must finish within this. */
  deadlineMs: number;
  /** A transfer slower than 1 KiB/s for this long fails (git's http.lowSpeed*). */
  idleMs: number;
  /** Most bytes fetched, and most bytes checked out. */
  maxBytes: number;
  /** Most files checked out. */
  maxFiles: number;
  /** Keep `.git` (BUILDKIT_CONTEXT_KEEP_GIT_DIR, `ADD --keep-git-dir`). */
  keepGitDir: boolean;
  /** The ssh agent for ssh URLs (default $SSH_AUTH_SOCK). */
  sshAuthSock?: string;
  signal?: AbortSignal;
}

/** A git fetch or checkout failed: unreachable remote, missing ref, too large, too slow. */
export class GitFetchError extends RegistryBaseError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_REGISTRY_GIT', message, data);
  }
}

/** stderr kept for messages. */
const STDERR_LIMIT = 16 * 1024;
/** `git ls-tree` output held to sum the tree; past it the tree has too many files anyway. */
const LS_TREE_LIMIT = 256 * 1024 * 1024;
const FULL_COMMIT = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

/** Fetches `src` into `o.dir` (checked out, `src.subdir` not applied) and returns the commit id. */
export async function fetchGitSource(src: GitSource, options: GitFetchOptions): Promise<{ commit: string }> {
  const git = new GitRunner(src, options);
  const name = `${redactGitUrl(src.remote)}${src.ref ? `#${src.ref}` : ''}`;
  try {
    await git.run(['init', '--quiet', '--template=', options.dir], { cwd: undefined });
    const fetched = await git.fetch();
    await git.checkTreeSize(fetched);
    await git.run(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', fetched, '--']);
    if (src.submodules !== false && (await exists(join(options.dir, '.gitmodules')))) {
      await git.run(['submodule', 'update', '--init', '--recursive', '--depth=1']);
    }
    const commit = (await git.run(['rev-parse', 'HEAD'])).trim();
    if (src.checksum && !commit.startsWith(src.checksum)) {
      throw new GitFetchError(`git source ${name}: commit ${commit} does not match the checksum ${src.checksum}`, { commit, checksum: src.checksum });
    }
    if (!options.keepGitDir) await rm(join(options.dir, '.git'), { recursive: true, force: true });
    return { commit };
  } catch (e) {
    if (e instanceof GitFetchError && !e.message.startsWith('git source')) {
      throw new GitFetchError(`git source ${name}: ${e.message}`, e.data as Record<string, unknown>);
    }
    throw e;
  } finally {
    git.close();
  }
}

class GitRunner {
  readonly #src: GitSource;
  readonly #o: GitFetchOptions;
  readonly #deadline: number;
  readonly #children = new Set<number>();

  constructor(src: GitSource, o: GitFetchOptions) {
    this.#src = src;
    this.#o = o;
    this.#deadline = Date.now() + o.deadlineMs;
  }

  /** The fetched commit-ish: FETCH_HEAD, or the commit id after a full fetch. */
  async fetch(): Promise<string> {
    const ref = this.#src.ref || 'HEAD';
    const shallow = ['fetch', '--quiet', '--no-tags', '--depth=1', '--recurse-submodules=no', '--end-of-options', this.#src.remote, ref];
    try {
      await this.run(shallow, { watchSize: true });
      return 'FETCH_HEAD';
    } catch (e) {
      // Servers that refuse a commit id nobody advertises still serve it in a full fetch.
      if (!FULL_COMMIT.test(ref) || !(e instanceof GitFetchError) || e.data.phase === 'timeout' || e.data.phase === 'size') throw e;
    }
    await this.run(['fetch', '--quiet', '--no-tags', '--recurse-submodules=no', '--end-of-options', this.#src.remote, '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*'], {
      watchSize: true,
    });
    await this.run(['cat-file', '-e', `${ref}^{commit}`]).catch(() => {
      throw new GitFetchError(`commit ${ref} not found`, { phase: 'ref' });
    });
    return ref;
  }

  /** Refuses a tree larger than the limits before anything is checked out. */
  async checkTreeSize(commitish: string): Promise<void> {
    const out = await this.run(['ls-tree', '-r', '-l', '-z', '--full-tree', commitish], { stdoutLimit: LS_TREE_LIMIT });
    let bytes = 0;
    let files = 0;
    for (const line of out.split('\0')) {
      if (line === '') continue;
      files++;
      const size = Number(/^\S+ \S+ \S+ +(\d+|-)\t/.exec(line)?.[1]);
      if (Number.isFinite(size)) bytes += size;
    }
    if (files > this.#o.maxFiles) throw new GitFetchError(`the tree has ${files} files, more than the ${this.#o.maxFiles} allowed`, { phase: 'size', files });
    if (bytes > this.#o.maxBytes) throw new GitFetchError(`the tree is ${bytes} bytes, more than the ${this.#o.maxBytes} allowed`, { phase: 'size', bytes });
  }

  /** Runs one git command in the checkout; resolves with its stdout, rejects with GitFetchError. */
  run(args: string[], opts: { cwd?: string | undefined; watchSize?: boolean; stdoutLimit?: number } = {}): Promise<string> {
    const remaining = this.#deadline - Date.now();
    if (remaining <= 0) return Promise.reject(this.#timeout());
    const cwd = 'cwd' in opts ? opts.cwd : this.#o.dir;
    const lowSpeedSecs = String(Math.max(1, Math.round(this.#o.idleMs / 1000)));
    const fullArgs = ['-c', 'http.lowSpeedLimit=1024', '-c', `http.lowSpeedTime=${lowSpeedSecs}`, '-c', 'core.hooksPath=/dev/null', ...args];
    return new Promise((resolve, reject) => {
      const child = spawn('git', fullArgs, { cwd, env: this.#env(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const out: Buffer[] = [];
      let outLen = 0;
      let stderr = '';
      let failure: GitFetchError | undefined;
      const stop = (why: GitFetchError): void => {
        failure ??= why;
        killGroup(child.pid);
      };
      if (child.pid !== undefined) this.#children.add(child.pid);
      const timer = setTimeout(() => stop(this.#timeout()), remaining);
      const onAbort = (): void => stop(new GitFetchError('cancelled', { phase: 'aborted' }));
      this.#o.signal?.addEventListener('abort', onAbort, { once: true });
      const sizeWatch = opts.watchSize ? setInterval(() => void this.#checkFetchedSize().catch((e: GitFetchError) => stop(e)), 250) : undefined;
      child.stdout.on('data', (b: Buffer) => {
        outLen += b.length;
        if (opts.stdoutLimit !== undefined && outLen > opts.stdoutLimit) stop(new GitFetchError(`git ${args[0]} printed more than ${opts.stdoutLimit} bytes`, { phase: 'size' }));
        else out.push(b);
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        if (stderr.length < STDERR_LIMIT) stderr += d;
      });
      child.on('error', (e: NodeJS.ErrnoException) => {
        failure ??= new GitFetchError(e.code === 'ENOENT' ? 'git is not installed (needed for git sources)' : `cannot run git: ${e.message}`, { phase: 'spawn' });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (sizeWatch) clearInterval(sizeWatch);
        this.#o.signal?.removeEventListener('abort', onAbort);
        if (child.pid !== undefined) this.#children.delete(child.pid);
        if (failure) reject(failure);
        else if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
        else reject(new GitFetchError(describeFailure(args[0]!, stderr, code), { phase: args[0], exitCode: code, stderr: stderr.slice(0, 2000) }));
      });
    });
  }

  /** Kills whatever is still running (a caller that gave up). */
  close(): void {
    for (const pid of this.#children) killGroup(pid);
    this.#children.clear();
  }

  #timeout(): GitFetchError {
    return new GitFetchError(`timed out after ${Math.round(this.#o.deadlineMs / 1000)} s`, { phase: 'timeout' });
  }

  async #checkFetchedSize(): Promise<void> {
    const bytes = await treeBytes(join(this.#o.dir, '.git', 'objects'));
    if (bytes > this.#o.maxBytes) throw new GitFetchError(`fetched more than the ${this.#o.maxBytes} bytes allowed`, { phase: 'size', bytes });
  }

  #env(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      GIT_TERMINAL_PROMPT: '0',
      GIT_ASKPASS: '',
      SSH_ASKPASS: '',
      GIT_ALLOW_PROTOCOL: 'https:http:git:ssh',
      GIT_PROTOCOL_FROM_USER: '0',
      LC_ALL: 'C',
    };
    if (this.#o.sshAuthSock) env.SSH_AUTH_SOCK = this.#o.sshAuthSock;
    // never a password or host-key prompt: the agent and known_hosts decide
    if (env.GIT_SSH_COMMAND === undefined && env.GIT_SSH === undefined) env.GIT_SSH_COMMAND = 'ssh -o BatchMode=yes';
    return env;
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** git's own last `fatal:`/`error:` line says it best ("couldn't find remote ref x"). */
function describeFailure(command: string, stderr: string, code: number | null): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  let at = lines.findLastIndex((l) => /^(fatal|error):/.test(l));
  if (at === -1) at = lines.length - 1;
  // "fatal: unable to connect to host:" continues on the next line with the reason
  const said = at >= 0 ? [lines[at]!, ...(lines[at]!.endsWith(':') && lines[at + 1] ? [lines[at + 1]!] : [])].join(' ') : '';
  return `git ${command} failed (exit ${code ?? 'signal'})${said ? `: ${said.replace(/^(fatal|error):\s*/, '')}` : ''}`;
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(p);
    else total += (await stat(p).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

async function exists(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined)) !== undefined;
}
