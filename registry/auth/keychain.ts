/**
 * Where credentials for a registry come from, in order: the docker config's
 * credential helper (credHelpers, then credsStore), its `auths` entry, then
 * Google or ECR token minting for their registries, else anonymous.
 * Results are cached per registry (until expiry for minted ones).
 */
import type { HttpClient } from '../http.js';
import { decodeAuth, dockerConfigDir, findAuthEntry, helperFor, readDockerConfig, serverKey } from './docker-config.js';
import { helperGet } from './helper.js';
import { googleAccessToken, isGoogleRegistry } from './google.js';
import { ecrAuthorizationToken, parseEcrRegistry } from './ecr.js';

export type Credential =
  | { kind: 'anonymous' }
  | { kind: 'basic'; username: string; password: string }
  /** An OAuth2 refresh token (docker's identitytoken / a helper's `<token>` user). */
  | { kind: 'identity'; username: string; token: string }
  /** A bearer token to send as-is (docker's registrytoken). */
  | { kind: 'registry-token'; token: string };

export interface ResolvedCredential {
  credential: Credential;
  /** Where it came from, for events and messages (never the secret). */
  source: string;
  /** Epoch ms after which to resolve again. */
  expiresAt?: number;
}

export interface Keychain {
  resolve(registry: string): Promise<ResolvedCredential>;
  /** Forget a cached credential (after the registry rejected it). */
  invalidate(registry: string): void;
}

export const ANONYMOUS: ResolvedCredential = { credential: { kind: 'anonymous' }, source: 'anonymous' };

/** Refresh minted tokens this long before they expire. */
const EXPIRY_MARGIN_MS = 60_000;

export class DefaultKeychain implements Keychain {
  readonly #cache = new Map<string, Promise<ResolvedCredential>>();
  constructor(
    private readonly options: { http: HttpClient; dockerConfigDir?: string; env?: NodeJS.ProcessEnv },
  ) {}

  resolve(registry: string): Promise<ResolvedCredential> {
    const hit = this.#cache.get(registry);
    if (hit) {
      return hit.then((r) => {
        if (r.expiresAt !== undefined && r.expiresAt - EXPIRY_MARGIN_MS < Date.now()) {
          this.#cache.delete(registry);
          return this.resolve(registry);
        }
        return r;
      });
    }
    const p = this.#lookup(registry);
    this.#cache.set(registry, p);
    p.catch(() => this.#cache.delete(registry));
    return p;
  }

  invalidate(registry: string): void {
    this.#cache.delete(registry);
  }

  async #lookup(registry: string): Promise<ResolvedCredential> {
    const env = this.options.env ?? process.env;
    const dir = dockerConfigDir({ env, ...(this.options.dockerConfigDir ? { dockerConfigDir: this.options.dockerConfigDir } : {}) });
    const cfg = await readDockerConfig(dir);
    const helper = helperFor(cfg, registry);
    if (helper) {
      const c = await helperGet(helper, serverKey(registry), env);
      if (c) {
        const credential: Credential =
          c.Username === '<token>' ? { kind: 'identity', username: '', token: c.Secret } : { kind: 'basic', username: c.Username, password: c.Secret };
        return { credential, source: `docker-credential-${helper}` };
      }
    }
    const entry = findAuthEntry(cfg, registry);
    if (entry) {
      if (entry.registrytoken) return { credential: { kind: 'registry-token', token: entry.registrytoken }, source: 'config.json' };
      let username = entry.username ?? '';
      let password = entry.password ?? '';
      if (entry.auth) ({ username, password } = decodeAuth(entry.auth));
      if (entry.identitytoken) return { credential: { kind: 'identity', username, token: entry.identitytoken }, source: 'config.json' };
      if (username !== '' || password !== '') return { credential: { kind: 'basic', username, password }, source: 'config.json' };
    }
    if (isGoogleRegistry(registry)) {
      const t = await googleAccessToken(this.options.http, env);
      if (t) {
        return { credential: { kind: 'basic', username: 'oauth2accesstoken', password: t.accessToken }, source: 'google', expiresAt: t.expiresAt };
      }
    }
    if (parseEcrRegistry(registry)) {
      const t = await ecrAuthorizationToken(this.options.http, registry, env);
      if (t) return { credential: { kind: 'basic', username: t.username, password: t.password }, source: 'ecr', expiresAt: t.expiresAt };
    }
    return ANONYMOUS;
  }
}

/** A keychain that always answers the same credential (login's check, tests). */
export function staticKeychain(credential: Credential, source = 'static'): Keychain {
  return { resolve: async () => ({ credential, source }), invalidate: () => {} };
}
