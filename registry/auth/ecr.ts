/**
 * Amazon ECR: `<account>.dkr.ecr.<region>.amazonaws.com`. Credentials come from
 * GetAuthorizationToken (SigV4-signed POST) using AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE).
 * The endpoint honours AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL, as the AWS SDKs do.
 */
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AuthError } from '../errors.js';
import { header, readLimited, send, type HttpClient } from '../http.js';
import { signV4, type AwsCredentials } from './sigv4.js';

const ECR_RE = /^(\d{12})\.dkr(?:-fips)?\.ecr\.([a-z0-9-]+)\.(amazonaws\.com(?:\.cn)?)$/;

export function parseEcrRegistry(registry: string): { account: string; region: string; domain: string } | undefined {
  const m = ECR_RE.exec(registry.toLowerCase());
  return m ? { account: m[1]!, region: m[2]!, domain: m[3]! } : undefined;
}

/** Parses an INI file into sections of key → value (enough for ~/.aws/credentials). */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let cur: Record<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (sec) {
      const name = sec[1]!.replace(/^profile\s+/, '');
      cur = out[name] ??= {};
      continue;
    }
    const i = line.indexOf('=');
    if (cur && i > 0) cur[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return out;
}

export async function loadAwsCredentials(env: NodeJS.ProcessEnv): Promise<AwsCredentials | undefined> {
  const id = env['AWS_ACCESS_KEY_ID'];
  const secret = env['AWS_SECRET_ACCESS_KEY'];
  if (id && secret) {
    const c: AwsCredentials = { accessKeyId: id, secretAccessKey: secret };
    if (env['AWS_SESSION_TOKEN']) c.sessionToken = env['AWS_SESSION_TOKEN'];
    return c;
  }
  const file = env['AWS_SHARED_CREDENTIALS_FILE'] ?? join(env['HOME'] ?? homedir(), '.aws', 'credentials');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const prof = parseIni(text)[env['AWS_PROFILE'] ?? env['AWS_DEFAULT_PROFILE'] ?? 'default'];
  const pid = prof?.['aws_access_key_id'];
  const psecret = prof?.['aws_secret_access_key'];
  if (!pid || !psecret) return undefined;
  const c: AwsCredentials = { accessKeyId: pid, secretAccessKey: psecret };
  if (prof['aws_session_token']) c.sessionToken = prof['aws_session_token'];
  return c;
}

export function ecrEndpoint(region: string, domain: string, env: NodeJS.ProcessEnv): string {
  return env['AWS_ENDPOINT_URL_ECR'] ?? env['AWS_ENDPOINT_URL'] ?? `https://api.ecr.${region}.${domain}/`;
}

export interface EcrToken {
  username: string;
  password: string;
  expiresAt: number;
}

export async function ecrAuthorizationToken(http: HttpClient, registry: string, env: NodeJS.ProcessEnv, now: () => number = Date.now): Promise<EcrToken | undefined> {
  const parsed = parseEcrRegistry(registry);
  if (!parsed) return undefined;
  const credentials = await loadAwsCredentials(env);
  if (!credentials) return undefined;
  const url = ecrEndpoint(parsed.region, parsed.domain, env);
  const body = JSON.stringify({});
  const signed = signV4({
    method: 'POST',
    url,
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken',
    },
    body,
    region: parsed.region,
    service: 'ecr',
    credentials,
    now: new Date(now()),
  });
  const { host: _host, ...headers } = signed.headers; // undici sets Host from the URL, identically
  const res = await send(http, { method: 'POST', url, headers, body });
  const text = (await readLimited(res.body, 1 << 20, 'ECR response')).toString('utf8');
  if (res.statusCode !== 200) {
    let type = '';
    try {
      type = String((JSON.parse(text) as { __type?: string }).__type ?? '');
    } catch {
      // no JSON: the status is enough
    }
    throw new AuthError(`ECR GetAuthorizationToken for ${registry} failed: HTTP ${res.statusCode}${type ? ` ${type}` : ''}`, {
      registry,
      status: res.statusCode,
      awsError: type,
      requestId: header(res, 'x-amzn-requestid'),
    });
  }
  const j = JSON.parse(text) as { authorizationData?: Array<{ authorizationToken?: string; expiresAt?: number }> };
  const d = j.authorizationData?.[0];
  if (!d?.authorizationToken) throw new AuthError(`ECR GetAuthorizationToken for ${registry} returned no token`, { registry });
  const decoded = Buffer.from(d.authorizationToken, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) throw new AuthError(`ECR authorization token for ${registry} is malformed`, { registry });
  // expiresAt is epoch seconds (a float); default to ECR's 12 hours.
  const expiresAt = typeof d.expiresAt === 'number' ? d.expiresAt * 1000 : now() + 12 * 3600_000;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1), expiresAt };
}
