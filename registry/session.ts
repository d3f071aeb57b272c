/**
 * One registry as seen by a client: its base URL, how it wants to be
 * authenticated (learned by pinging /v2/), and bearer tokens per scope set,
 * cached until shortly before they expire (ggcr's transport.bearerTransport).
 */
import { AuthError, RegistryError } from './errors.js';
import type { EventSink } from './events.js';
import { drain, errorFromResponse, header, send, type HttpClient, type HttpRequest, type HttpResponse, type Operation } from './http.js';
import { isLoopbackRegistry, registryApiHost } from './reference.js';
import { parseChallenges, type Challenge } from './auth/challenge.js';
import type { Keychain, ResolvedCredential } from './auth/keychain.js';
import { basicAuthorization, fetchBearerToken, type BearerToken } from './auth/token.js';

const TOKEN_MARGIN_MS = 10_000;

type AuthMode = { scheme: 'none' } | { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string };

/** What the sessions of one registry share: the ping result and the token cache. */
interface AuthState {
  mode: Promise<AuthMode> | undefined;
  tokens: Map<string, Promise<BearerToken>>;
}

export class RegistrySession {
  readonly baseUrl: string;
  readonly #auth: AuthState;
  /** The operation whose deadline bounds this session's requests (see withOperation). */
  readonly op: Operation | undefined;

  constructor(
    readonly registry: string,
    private readonly deps: { http: HttpClient; keychain: Keychain; onEvent: EventSink; insecure: boolean },
    shared?: { auth: AuthState; op: Operation },
  ) {
    const scheme = deps.insecure || isLoopbackRegistry(registry) ? 'http' : 'https';
    this.baseUrl = `${scheme}://${registryApiHost(registry)}`;
    this.#auth = shared?.auth ?? { mode: undefined, tokens: new Map() };
    this.op = shared?.op;
  }

  /** The same registry (same tokens), with every request bounded by `op`'s deadline. */
  withOperation(op: Operation): RegistrySession {
    return new RegistrySession(this.registry, this.deps, { auth: this.#auth, op });
  }

  url(path: string): string {
    return new URL(path, this.baseUrl).toString();
  }

  /** GET /v2/ once: what auth does this registry want? */
  #ping(): Promise<AuthMode> {
    const auth = this.#auth;
    auth.mode ??= (async (): Promise<AuthMode> => {
      const url = this.url('/v2/');
      const res = await send(this.deps.http, { method: 'GET', url, ...(this.op ? { op: this.op } : {}) });
      await drain(res);
      if (res.statusCode === 200) return { scheme: 'none' };
      if (res.statusCode !== 401) throw new RegistryError({ status: res.statusCode, method: 'GET', url });
      return modeFrom(parseChallenges(res.headers['www-authenticate']), url);
    })();
    const mode = auth.mode;
    mode.catch(() => {
      if (auth.mode === mode) auth.mode = undefined;
    });
    return mode;
  }

  async #credential(): Promise<ResolvedCredential> {
    return this.deps.keychain.resolve(this.registry);
  }

  async #token(mode: Extract<AuthMode, { scheme: 'bearer' }>, scopes: readonly string[]): Promise<string> {
    const key = [...new Set(scopes)].sort().join(' ');
    const hit = this.#auth.tokens.get(key);
    if (hit) {
      const t = await hit.catch(() => undefined);
      if (t && t.expiresAt - TOKEN_MARGIN_MS > Date.now()) {
        return t.token;
      }
      if (this.#auth.tokens.get(key) === hit) this.#auth.tokens.delete(key);
    }
    let p = this.#auth.tokens.get(key);
    if (!p) {
      p = (async () => {
        const cred = await this.#credential();
        const t = await fetchBearerToken(this.deps.http, mode, key === '' ? [] : key.split(' '), cred.credential, this.op);
        this.deps.onEvent({ type: 'token', registry: this.registry, scopes: key === '' ? [] : key.split(' '), cached: false });
        return t;
      })();
      this.#auth.tokens.set(key, p);
      p.catch(() => {
        if (this.#auth.tokens.get(key) === p) this.#auth.tokens.delete(key);
      });
    }
    return (await p).token;
  }

  /** The Authorization header for a request needing `scopes`, or undefined (anonymous). */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const mode = await this.#ping();
    if (mode.scheme === 'none') return undefined;
    if (mode.scheme === 'basic') {
      const c = await this.#credential();
      const h = basicAuthorization(c.credential);
      if (!h) throw new AuthError(`${this.registry} requires credentials (run tsbuild login ${this.registry})`, { registry: this.registry });
      return h;
    }
    return `Bearer ${await this.#token(mode, scopes)}`;
  }

  /** Drop cached tokens for these scopes (after a 401): the next request fetches a new one. */
  invalidate(scopes: readonly string[]): void {
    this.#auth.tokens.delete([...new Set(scopes)].sort().join(' '));
  }

  /**
   * Sends a request with auth for `scopes`. A 401 on a replayable request
   * (no stream body) refreshes the token once and tries again.
   */
  async request(req: HttpRequest, scopes: readonly string[]): Promise<HttpResponse> {
    const replayable = req.body === undefined || typeof req.body === 'string' || Buffer.isBuffer(req.body);
    for (let attempt = 0; ; attempt++) {
      const auth = await this.authorization(scopes);
      const headers = { ...req.headers, ...(auth ? { authorization: auth } : {}) };
      const res = await send(this.deps.http, { ...req, headers, ...(this.op ? { op: this.op } : {}) });
      this.#reportRateLimit(res);
      if (res.statusCode !== 401) return res;
      const mode = await this.#ping();
      if (attempt === 0 && replayable && mode.scheme === 'bearer') {
        await drain(res);
        this.invalidate(scopes);
        continue;
      }
      if (!replayable) this.invalidate(scopes);
      throw await errorFromResponse(res, req.method, req.url);
    }
  }

  #reportRateLimit(res: HttpResponse): void {
    const limit = header(res, 'ratelimit-limit');
    const remaining = header(res, 'ratelimit-remaining');
    if (limit === undefined && remaining === undefined) return;
    const e: Parameters<EventSink>[0] = { type: 'rate-limit', registry: this.registry };
    if (limit !== undefined) e.limit = limit;
    if (remaining !== undefined) e.remaining = remaining;
    const src = header(res, 'docker-ratelimit-source');
    if (src !== undefined) e.source = src;
    this.deps.onEvent(e);
  }
}

function modeFrom(challenges: Challenge[], url: string): AuthMode {
  const bearer = challenges.find((c) => c.scheme === 'bearer');
  if (bearer) {
    const realm = bearer.params['realm'];
    if (!realm) throw new AuthError(`bearer challenge from ${new URL(url).host} has no realm`, {});
    const m: AuthMode = { scheme: 'bearer', realm };
    if (bearer.params['service'] !== undefined) m.service = bearer.params['service'];
    return m;
  }
  if (challenges.some((c) => c.scheme === 'basic')) return { scheme: 'basic' };
  throw new AuthError(`${new URL(url).host} asked for an unsupported authentication scheme`, { schemes: challenges.map((c) => c.scheme) });
}
