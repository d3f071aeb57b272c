/**
 * Image references with Docker's normalization (distribution/reference
 * ParseNormalizedNamed): `busybox` → docker.io/library/busybox:latest.
 */
import { isDigest, type Digest } from '../image/digest.js';
import { InvalidReferenceError } from './errors.js';

export interface Reference {
  /** Registry host[:port], `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path, `library/busybox` for an official Hub image. */
  repository: string;
  tag?: string;
  digest?: Digest;
  /** Full normalized form: `docker.io/library/busybox:latest`. */
  toString(): string;
  /** The host the distribution API lives on (`registry-1.docker.io` for docker.io). */
  apiHost(): string;
}

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

// distribution/reference/regexp.go
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const NAME_TOTAL_MAX = 255;

/** Canonical registry name: the Hub's aliases collapse to docker.io. */
export function normalizeRegistry(host: string): string {
  const h = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(h) ? DOCKER_HUB : host;
}

export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

class Ref implements Reference {
  constructor(
    readonly registry: string,
    readonly repository: string,
    readonly tag: string | undefined,
    readonly digest: Digest | undefined,
  ) {}
  toString(): string {
    return `${this.registry}/${this.repository}${this.tag ? `:${this.tag}` : ''}${this.digest ? `@${this.digest}` : ''}`;
  }
  apiHost(): string {
    return registryApiHost(this.registry);
  }
}

export function makeReference(parts: { registry: string; repository: string; tag?: string; digest?: Digest }): Reference {
  return new Ref(normalizeRegistry(parts.registry), parts.repository, parts.tag, parts.digest);
}

function validDomain(d: string): boolean {
  let host = d;
  const portMatch = /^(.*):(\d+)$/.exec(d);
  if (portMatch) host = portMatch[1]!;
  if (IPV6.test(host)) return true;
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/**
 * Parses and normalizes a reference. Without a tag or digest, the tag is
 * `opts.defaultTag` (default `latest`); pass `defaultTag: ''` to leave it unset.
 */
export function parseReference(text: string, opts: { defaultTag?: string } = {}): Reference {
  if (text === '') throw new InvalidReferenceError(text, 'empty');
  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(d)) {
      throw new InvalidReferenceError(text, /^[a-z0-9]+:/.test(d) ? 'only sha256 digests of 64 lowercase hex are supported' : 'invalid digest');
    }
    digest = d;
  }
  // A tag is after the last ':' that comes after the last '/' (a port comes before a '/').
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw new InvalidReferenceError(text, `invalid tag ${JSON.stringify(tag)}`);
  }
  let registry: string;
  let path: string;
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    path = rest.slice(slash + 1);
    if (!validDomain(registry)) throw new InvalidReferenceError(text, `invalid registry ${JSON.stringify(registry)}`);
  } else {
    registry = DOCKER_HUB;
    path = rest;
  }
  registry = normalizeRegistry(registry);
  if (registry === DOCKER_HUB && path !== '' && !path.includes('/')) path = `library/${path}`;
  if (path === '') throw new InvalidReferenceError(text, 'missing repository');
  if (path !== path.toLowerCase()) throw new InvalidReferenceError(text, 'repository name must be lowercase');
  for (const c of path.split('/')) {
    if (!COMPONENT.test(c)) throw new InvalidReferenceError(text, `invalid repository component ${JSON.stringify(c)}`);
  }
  if (registry.length + 1 + path.length > NAME_TOTAL_MAX) {
    throw new InvalidReferenceError(text, `repository name longer than ${NAME_TOTAL_MAX} characters`);
  }
  if (tag === undefined && digest === undefined) {
    const dt = opts.defaultTag ?? 'latest';
    if (dt !== '') tag = dt;
  }
  return new Ref(registry, path, tag, digest);
}

/** `repository:NAME:actions` scope for the token service. */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/** Whether a registry host is on loopback (plain HTTP is allowed there, as docker does). */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}

/** The key the store uses for an image name: docker's fully normalized reference. */
export function storeRefName(name: string): string {
  return parseReference(name).toString();
}

/** Docker's short ("familiar") spelling that docker load and `images` show: `myapp:latest`, `127.0.0.1:5000/x:y`. */
export function familiar(name: string): string {
  const r = parseReference(name);
  let repo = r.repository;
  if (r.registry === DOCKER_HUB) {
    if (repo.startsWith('library/')) repo = repo.slice('library/'.length);
    return `${repo}:${r.tag ?? 'latest'}`;
  }
  return `${r.registry}/${repo}:${r.tag ?? 'latest'}`;
}
