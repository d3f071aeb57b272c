/**
 * Git source URLs as BuildKit reads them (dfgitutil.ParseGitRef, gitutil.ParseURL), for the build
 * context and `ADD <git url>`:
 *
 * - `https://host/repo.git` and `http://…` (only with a `.git` path suffix: without it an http URL is
 *   a plain download), `git://host/repo`, `ssh://[user@]host[:port]/repo`, scp-style
 *   `user@host:path`, and (contexts only, deprecated in BuildKit) `github.com/owner/repo`;
 * - `#ref:subdir` fragments (either part optional), and the query form `?ref=…&subdir=…`
 *   (`tag=`, `branch=`, `checksum=`/`commit=`, `keep-git-dir=`, `submodules=`).
 *
 * Pure: no network, no processes (registry/git.ts fetches).
 */
import { posix } from 'node:path';
import { RegistryBaseError } from './errors.js';

export interface GitSource {
  /** The repository as git takes it: no fragment, no query. May carry credentials: print redactGitUrl(remote). */
  remote: string;
  scheme: 'https' | 'http' | 'git' | 'ssh';
  /** Branch, tag, full commit id or any ref; '' means the remote's HEAD. */
  ref: string;
  /** Directory inside the repository ('' for its root), cleaned, no leading `/`. */
  subdir: string;
  /** A commit id the fetched ref must resolve to (`checksum=`). */
  checksum?: string;
  keepGitDir?: boolean;
  /** Fetch submodules (BuildKit's default: yes). */
  submodules?: boolean;
}

/** A git URL that cannot be used (bad query, conflicting refs). */
export class GitUrlError extends RegistryBaseError {
  constructor(message: string, data: Record<string, unknown> = {}) {
    super('TSB_REGISTRY_GIT_URL', message, data);
  }
}

const PROTO = /^([a-zA-Z0-9]+):\/\//;
const SCP = /^([a-zA-Z0-9-_]+)@([a-zA-Z0-9-.]+):(.*?)(?:\?(.*?))?(?:#(.*))?$/;
const SCHEMES = new Set(['http', 'https', 'ssh', 'git']);

/**
 * The git source `spec` names, or undefined when it is no git URL (a local path, a plain http
 * download, another scheme). Throws GitUrlError for a git URL with a bad query.
 * `allowGithubShorthand`: `github.com/o/r` (BuildKit accepts it for build contexts only).
 */
export function parseGitSource(spec: string, options: { allowGithubShorthand?: boolean } = {}): GitSource | undefined {
  if (spec.startsWith('./') || spec.startsWith('../')) return undefined;
  if (options.allowGithubShorthand && spec.startsWith('github.com/')) return fromUrl(`https://${spec}`, 'https', false);
  const proto = PROTO.exec(spec)?.[1]?.toLowerCase();
  if (proto !== undefined) {
    if (!SCHEMES.has(proto)) return undefined;
    return fromUrl(spec, proto as GitSource['scheme'], proto === 'http' || proto === 'https');
  }
  const scp = SCP.exec(spec);
  if (!scp) return undefined;
  const [, user, host, path, query, fragment] = scp;
  return finish(`${user}@${host}:${path}`, 'ssh', fragment ?? '', new URLSearchParams(query ?? ''));
}

function fromUrl(spec: string, scheme: GitSource['scheme'], needsGitSuffix: boolean): GitSource | undefined {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new GitUrlError(`invalid git URL ${JSON.stringify(redactGitUrl(spec))}`);
  }
  if (needsGitSuffix && !url.pathname.endsWith('.git')) return undefined;
  const fragment = decodeURIComponent(url.hash.replace(/^#/, ''));
  const query = new URLSearchParams(url.search); // a copy: clearing url.search empties url.searchParams
  url.hash = '';
  url.search = '';
  return finish(url.toString(), scheme, fragment, query);
}

function finish(remote: string, scheme: GitSource['scheme'], fragment: string, query: URLSearchParams): GitSource {
  const colon = fragment.indexOf(':');
  const src: GitSource = {
    remote,
    scheme,
    ref: colon === -1 ? fragment : fragment.slice(0, colon),
    subdir: colon === -1 ? '' : cleanSubdir(fragment.slice(colon + 1)),
  };
  applyQuery(src, query);
  for (const [what, value] of [['remote', src.remote], ['ref', src.ref]] as const) {
    // git would read a leading '-' as an option
    if (value.startsWith('-')) throw new GitUrlError(`invalid git ${what} ${JSON.stringify(value)}`);
  }
  return src;
}

/** Go's path.Join("/", p) without the leading `/`: `..` cannot climb above the repository. */
function cleanSubdir(p: string): string {
  return posix.join('/', p).replace(/^\/+/, '').replace(/\/+$/, '');
}

/** BuildKit's loadQuery: each key once; `ref`, `tag`, `branch` must agree with the fragment. */
function applyQuery(src: GitSource, query: URLSearchParams): void {
  let tag = '';
  let branch = '';
  const setRef = (ref: string): void => {
    if (src.ref !== '' && src.ref !== ref) throw new GitUrlError(`ref conflicts: ${JSON.stringify(src.ref)} vs ${JSON.stringify(ref)}`);
    src.ref = ref;
  };
  for (const key of new Set(query.keys())) {
    const values = query.getAll(key);
    if (values.length > 1) throw new GitUrlError(`query ${JSON.stringify(key)} has multiple values`);
    const value = values[0] ?? '';
    const flag = (): boolean => {
      if (value === '') return true;
      if (/^(1|t|true)$/i.test(value)) return true;
      if (/^(0|f|false)$/i.test(value)) return false;
      throw new GitUrlError(`invalid ${key} value: ${JSON.stringify(value)}`);
    };
    if (value === '' && !['keep-git-dir', 'submodules'].includes(key)) throw new GitUrlError(`query ${JSON.stringify(key)} has no value`);
    switch (key) {
      case 'ref':
        setRef(value);
        break;
      case 'tag':
        tag = value.startsWith('refs/tags/') ? value : `refs/tags/${value}`;
        break;
      case 'branch':
        branch = value.startsWith('refs/heads/') ? value : `refs/heads/${value}`;
        break;
      case 'subdir': {
        const sub = cleanSubdir(value);
        if (src.subdir !== '' && src.subdir !== sub) throw new GitUrlError(`subdir conflicts: ${JSON.stringify(src.subdir)} vs ${JSON.stringify(sub)}`);
        src.subdir = sub;
        break;
      }
      case 'checksum':
      case 'commit':
        src.checksum = value;
        break;
      case 'keep-git-dir':
        src.keepGitDir = flag();
        break;
      case 'submodules':
        src.submodules = flag();
        break;
      default:
        throw new GitUrlError(`unexpected query ${JSON.stringify(key)} in git URL`);
    }
  }
  if (tag !== '' && branch !== '') throw new GitUrlError('branch conflicts with tag');
  if (tag !== '') setRef(tag);
  if (branch !== '') setRef(branch);
}

/** The URL without its password or token, for messages. */
export function redactGitUrl(remote: string): string {
  if (!PROTO.test(remote)) return remote; // scp-style names a user, never a secret
  try {
    const u = new URL(remote);
    if (u.password) u.password = '***';
    else if (u.username && u.protocol.startsWith('http')) u.username = '***';
    return u.toString();
  } catch {
    return remote.replace(/\/\/[^/@]*@/, '//***@');
  }
}
