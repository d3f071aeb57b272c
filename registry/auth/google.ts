/**
 * Google registries (gcr.io, *.gcr.io, *-docker.pkg.dev). Users `_json_key`
 * (password = a service-account key file) and `oauth2accesstoken` (password =
 * an access token) are passed through as basic credentials; Google's token
 * service understands both. Without stored credentials we mint an access token:
 * from GOOGLE_APPLICATION_CREDENTIALS (service-account JWT bearer grant, RS256,
 * or an authorized_user refresh token), or from the metadata server when
 * GCE_METADATA_HOST is set or the machine is a Google Compute Engine VM.
 */
import { createSign } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { AuthError } from '../errors.js';
import { readLimited, send, type HttpClient } from '../http.js';

export const GOOGLE_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';

export function isGoogleRegistry(registry: string): boolean {
  const h = registry.toLowerCase().replace(/:\d+$/, '');
  return h === 'gcr.io' || h.endsWith('.gcr.io') || h.endsWith('-docker.pkg.dev') || h === 'pkg.dev';
}

export interface GoogleToken {
  accessToken: string;
  expiresAt: number;
}

interface KeyFile {
  type?: string;
  client_email?: string;
  private_key?: string;
  private_key_id?: string;
  token_uri?: string;
  client_id?: string;
  client_secret?: string;
  refresh_token?: string;
}

const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** The signed JWT assertion of the OAuth2 JWT-bearer grant (RFC 7523). */
export function serviceAccountAssertion(key: { client_email: string; private_key: string; private_key_id?: string; token_uri: string }, nowSec: number, scope = GOOGLE_SCOPE): string {
  const hdr: Record<string, string> = { alg: 'RS256', typ: 'JWT' };
  if (key.private_key_id) hdr['kid'] = key.private_key_id;
  const claims = { iss: key.client_email, scope, aud: key.token_uri, iat: nowSec, exp: nowSec + 3600 };
  const input = `${b64u(JSON.stringify(hdr))}.${b64u(JSON.stringify(claims))}`;
  const sig = createSign('RSA-SHA256').update(input).sign(key.private_key);
  return `${input}.${b64u(sig)}`;
}

async function postForm(http: HttpClient, url: string, form: Record<string, string>): Promise<GoogleToken> {
  const res = await send(http, {
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return parseTokenResponse(res.statusCode, await readLimited(res.body, 1 << 20, 'token response'), url);
}

function parseTokenResponse(status: number, body: Buffer, url: string): GoogleToken {
  let j: { access_token?: string; expires_in?: number; error?: string } = {};
  try {
    j = JSON.parse(body.toString('utf8')) as typeof j;
  } catch {
    // handled below
  }
  if (status !== 200 || !j.access_token) {
    throw new AuthError(`Google token request to ${new URL(url).host} failed: HTTP ${status}${j.error ? ` ${j.error}` : ''}`, { status, oauthError: j.error });
  }
  return { accessToken: j.access_token, expiresAt: Date.now() + (j.expires_in ?? 3600) * 1000 };
}

async function onGce(): Promise<boolean> {
  try {
    const name = await fs.readFile('/sys/class/dmi/id/product_name', 'utf8');
    return /Google/.test(name);
  } catch {
    return false;
  }
}

export async function googleAccessToken(http: HttpClient, env: NodeJS.ProcessEnv): Promise<GoogleToken | undefined> {
  const file = env['GOOGLE_APPLICATION_CREDENTIALS'];
  if (file) {
    let key: KeyFile;
    try {
      key = JSON.parse(await fs.readFile(file, 'utf8')) as KeyFile;
    } catch (e) {
      throw new AuthError(`GOOGLE_APPLICATION_CREDENTIALS (${file}) is not a readable JSON key file`, { path: file }, { cause: (e as NodeJS.ErrnoException).code });
    }
    if (key.type === 'authorized_user' && key.refresh_token && key.client_id && key.client_secret) {
      return postForm(http, key.token_uri ?? DEFAULT_TOKEN_URI, {
        grant_type: 'refresh_token',
        refresh_token: key.refresh_token,
        client_id: key.client_id,
        client_secret: key.client_secret,
      });
    }
    if (!key.client_email || !key.private_key) {
      throw new AuthError(`GOOGLE_APPLICATION_CREDENTIALS (${file}) has no client_email/private_key`, { path: file });
    }
    const tokenUri = key.token_uri ?? DEFAULT_TOKEN_URI;
    const assertion = serviceAccountAssertion(
      { client_email: key.client_email, private_key: key.private_key, token_uri: tokenUri, ...(key.private_key_id ? { private_key_id: key.private_key_id } : {}) },
      Math.floor(Date.now() / 1000),
    );
    return postForm(http, tokenUri, { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion });
  }
  // Only talk to a metadata server that is known to exist: never probe the network blindly.
  const host = env['GCE_METADATA_HOST'] ?? ((await onGce()) ? 'metadata.google.internal' : undefined);
  if (!host) return undefined;
  const url = `http://${host}/computeMetadata/v1/instance/service-accounts/default/token`;
  const res = await send(http, { method: 'GET', url, headers: { 'metadata-flavor': 'Google' } });
  return parseTokenResponse(res.statusCode, await readLimited(res.body, 1 << 20, 'metadata token'), url);
}
