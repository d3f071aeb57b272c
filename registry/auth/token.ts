/**
 * The distribution token flow: after a `Bearer realm=...,service=...` challenge,
 * ask the realm for a token with the needed scopes. Basic credentials go as
 * GET with Authorization: Basic; an identity (refresh) token goes as an OAuth2
 * POST with grant_type=refresh_token (falling back to GET when the server has
 * no OAuth2 endpoint). Docker Hub's auth.docker.io works the same way.
 */
import { AuthError } from '../errors.js';
import { readLimited, send, type HttpClient, type Operation } from '../http.js';
import type { Credential } from './keychain.js';

export interface BearerToken {
  token: string;
  /** Epoch ms. */
  expiresAt: number;
  refreshToken?: string;
}

/** Tokens without expires_in live 60 s (the distribution token spec). */
const DEFAULT_TTL_S = 60;
export const CLIENT_ID = 'tsbuild';

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export function basicAuthorization(credential: Credential): string | undefined {
  if (credential.kind === 'basic') return basicHeader(credential.username, credential.password);
  if (credential.kind === 'identity') return basicHeader(credential.username || '<token>', credential.token);
  return undefined;
}

function parseToken(status: number, body: Buffer, realm: string, what: string): BearerToken {
  const host = safeHost(realm);
  if (status === 401 || status === 403) {
    throw new AuthError(`authentication to ${host} failed: HTTP ${status} (${what} rejected)`, { realm: host, status });
  }
  if (status !== 200) throw new AuthError(`token service ${host} answered HTTP ${status}`, { realm: host, status });
  let j: { token?: string; access_token?: string; expires_in?: number; issued_at?: string; refresh_token?: string };
  try {
    j = JSON.parse(body.toString('utf8')) as typeof j;
  } catch {
    throw new AuthError(`token service ${host} answered something that is not JSON`, { realm: host });
  }
  const token = j.token ?? j.access_token;
  if (!token) throw new AuthError(`token service ${host} returned no token`, { realm: host });
  const issued = j.issued_at ? Date.parse(j.issued_at) : NaN;
  const start = Number.isNaN(issued) ? Date.now() : Math.min(issued, Date.now());
  const ttl = typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : DEFAULT_TTL_S;
  const t: BearerToken = { token, expiresAt: start + ttl * 1000 };
  if (j.refresh_token) t.refreshToken = j.refresh_token;
  return t;
}

function safeHost(u: string): string {
  try {
    return new URL(u).host;
  } catch {
    return '(invalid realm)';
  }
}

export async function fetchBearerToken(
  http: HttpClient,
  challenge: { realm: string; service?: string },
  scopes: readonly string[],
  cred: Credential,
  op?: Operation,
): Promise<BearerToken> {
  if (cred.kind === 'registry-token') return { token: cred.token, expiresAt: Date.now() + 3600_000 };
  let realm: URL;
  try {
    realm = new URL(challenge.realm);
  } catch {
    throw new AuthError(`registry sent an invalid token realm`, {});
  }
  if (cred.kind === 'identity') {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cred.token, client_id: CLIENT_ID, access_type: 'offline' });
    if (challenge.service) form.set('service', challenge.service);
    if (scopes.length) form.set('scope', scopes.join(' '));
    const res = await send(http, { method: 'POST', url: realm.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString(), ...(op ? { op } : {}) });
    const body = await readLimited(res.body, 1 << 20, 'token response');
    // Some token services (GCR) have no OAuth2 POST: use the refresh token as a basic password instead.
    if (res.statusCode !== 404 && res.statusCode !== 405) return parseToken(res.statusCode, body, realm.toString(), 'identity token');
  }
  const url = new URL(realm.toString());
  if (challenge.service) url.searchParams.set('service', challenge.service);
  for (const s of scopes) url.searchParams.append('scope', s);
  const headers: Record<string, string> = {};
  const auth = basicAuthorization(cred);
  if (auth) headers['authorization'] = auth;
  if (cred.kind === 'basic' && cred.username) url.searchParams.set('account', cred.username);
  const res = await send(http, { method: 'GET', url: url.toString(), headers, ...(op ? { op } : {}) });
  return parseToken(res.statusCode, await readLimited(res.body, 1 << 20, 'token response'), realm.toString(), 'credentials');
}
