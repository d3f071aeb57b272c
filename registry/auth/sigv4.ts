/**
 * AWS Signature Version 4 (header form), our own small signer on node:crypto:
 * enough for ECR's GetAuthorizationToken and checked against AWS's published
 * test-suite vectors. Returns the headers to add; never logs anything.
 */
import { createHash, createHmac } from 'node:crypto';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignInput {
  method: string;
  url: string;
  /** Headers to sign (host is added from the URL when absent). */
  headers?: Record<string, string>;
  body?: string | Buffer;
  region: string;
  service: string;
  credentials: AwsCredentials;
  now?: Date;
}

export interface Signed {
  /** Every header to send, including authorization, x-amz-date and (with a session token) x-amz-security-token. */
  headers: Record<string, string>;
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
}

const sha256hex = (d: string | Buffer): string => createHash('sha256').update(d).digest('hex');
const hmac = (k: Buffer | string, d: string): Buffer => createHmac('sha256', k).update(d, 'utf8').digest();

/** RFC 3986 encoding: everything but unreserved characters. */
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function canonicalPath(pathname: string): string {
  // Non-S3 services: normalize dot segments and repeated slashes, encode each segment.
  const out: string[] = [];
  for (const seg of pathname.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(uriEncode(decodeURIComponent(seg)));
  }
  const trailing = pathname.length > 1 && pathname.endsWith('/') && out.length > 0;
  return '/' + out.join('/') + (trailing ? '/' : '');
}

function canonicalQuery(search: string): string {
  if (search === '' || search === '?') return '';
  const pairs = search
    .replace(/^\?/, '')
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const i = p.indexOf('=');
      const k = i < 0 ? p : p.slice(0, i);
      const v = i < 0 ? '' : p.slice(i + 1);
      const dec = (x: string): string => decodeURIComponent(x.replace(/\+/g, ' '));
      return [uriEncode(dec(k)), uriEncode(dec(v))] as const;
    });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

export function signV4(input: SignInput): Signed {
  const url = new URL(input.url);
  const now = input.now ?? new Date();
  const stamp = amzDate(now);
  const date = stamp.slice(0, 8);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers ?? {})) headers[k.toLowerCase()] = v;
  headers['host'] ??= url.host;
  headers['x-amz-date'] = stamp;
  if (input.credentials.sessionToken) headers['x-amz-security-token'] = input.credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonHeaders = names.map((n) => `${n}:${headers[n]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    input.method.toUpperCase(),
    canonicalPath(url.pathname),
    canonicalQuery(url.search),
    canonHeaders,
    signedHeaders,
    sha256hex(input.body ?? ''),
  ].join('\n');
  const scope = `${date}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256hex(canonicalRequest)].join('\n');
  const signature = createHmac('sha256', signingKey(input.credentials.secretAccessKey, date, input.region, input.service))
    .update(stringToSign, 'utf8')
    .digest('hex');
  headers['authorization'] =
    `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return { headers, canonicalRequest, stringToSign, signature };
}
