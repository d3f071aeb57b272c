/**
 * The only place tsbuild creates HTTP machinery: one undici Agent behind
 * EnvHttpProxyAgent (HTTP(S)_PROXY, NO_PROXY), composed with the redirect
 * interceptor (blob GETs get 307s to storage on another origin; undici drops
 * Authorization there) and, for GET/HEAD only, the retry interceptor.
 * Uploads use `plain`: their stream bodies cannot be replayed, so push.ts runs
 * its own retry loop that reopens the source.
 */
import { EnvHttpProxyAgent, interceptors, request, type Dispatcher, type EnvHttpProxyAgentOptions } from './undici-lean.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { RegistryError, TransportError, redactUrl, type RegistryErrorEntry } from './errors.js';
import type { EventSink } from './events.js';

export interface RetryPolicy {
  /** Tries in all (1 = no retry). */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 200, maxMs: 10_000 };

/** Status codes and socket errors worth another try. */
export const RETRY_STATUS = [408, 429, 500, 502, 503, 504];
export const RETRY_ERROR_CODES = [
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
];

/** Exponential backoff with full jitter, capped; Retry-After wins when the server gives one. */
export function backoffMs(policy: RetryPolicy, attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, policy.maxMs);
  const cap = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

export function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || s === '') return undefined;
  const n = Number(s);
  if (Number.isFinite(n)) return Math.max(0, n * 1000);
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

export interface HttpClient {
  /** GET/HEAD: retried by the interceptor, redirects followed. */
  readonly idempotent: Dispatcher;
  /** Everything else: redirects followed, never retried by undici. */
  readonly plain: Dispatcher;
  readonly userAgent: string;
  close(): Promise<void>;
}

export function createHttpClient(o: {
  retry: RetryPolicy;
  onEvent: EventSink;
  userAgent: string;
  connections?: number;
  env?: NodeJS.ProcessEnv;
}): HttpClient {
  const env = o.env ?? process.env;
  const proxyOpts: EnvHttpProxyAgentOptions = { connections: o.connections ?? 8 };
  // Tests and callers may pass their own env; EnvHttpProxyAgent reads process.env otherwise.
  const httpProxy = env.http_proxy ?? env.HTTP_PROXY;
  const httpsProxy = env.https_proxy ?? env.HTTPS_PROXY;
  const noProxy = env.no_proxy ?? env.NO_PROXY;
  if (httpProxy) proxyOpts.httpProxy = httpProxy;
  if (httpsProxy) proxyOpts.httpsProxy = httpsProxy;
  if (noProxy !== undefined) proxyOpts.noProxy = noProxy;
  const base = new EnvHttpProxyAgent(proxyOpts);
  const plain = base.compose(interceptors.redirect({ maxRedirections: 5 }));
  const idempotent = base.compose(
    interceptors.redirect({ maxRedirections: 5 }),
    interceptors.retry({
      throwOnError: false,
      methods: ['GET', 'HEAD'],
      statusCodes: RETRY_STATUS,
      errorCodes: RETRY_ERROR_CODES,
      maxRetries: Math.max(0, o.retry.attempts - 1),
      retry(err, { state, opts }, cb) {
        const e = err as Error & { statusCode?: number; code?: string; headers?: IncomingHttpHeaders };
        const method = opts.method;
        const retryable =
          (method === 'GET' || method === 'HEAD') &&
          (e.statusCode !== undefined
            ? RETRY_STATUS.includes(e.statusCode)
            : e.code === undefined || e.code === 'UND_ERR_REQ_RETRY' || RETRY_ERROR_CODES.includes(e.code));
        if (!retryable || state.counter >= o.retry.attempts) {
          cb(err);
          return;
        }
        const delayMs = backoffMs(o.retry, state.counter, parseRetryAfter(e.headers?.['retry-after']));
        const ev: Parameters<EventSink>[0] = {
          type: 'retry',
          method,
          url: redactUrl(`${String(opts.origin ?? '')}${opts.path}`),
          attempt: state.counter,
          delayMs,
        };
        if (e.statusCode !== undefined) ev.status = e.statusCode;
        if (e.code !== undefined && e.statusCode === undefined) ev.errorCode = e.code;
        o.onEvent(ev);
        setTimeout(() => cb(null), delayMs);
      },
    }),
  );
  return { idempotent, plain, userAgent: o.userAgent, close: () => base.close() };
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: Readable | Buffer | string;
  /** Stream bodies must not be followed through a redirect (they cannot be resent). */
  noRedirect?: boolean;
}

export type HttpResponse = Dispatcher.ResponseData<unknown>;

/** Sends one request; network failures become TransportError (no retry here). */
export async function send(http: HttpClient, req: HttpRequest): Promise<HttpResponse> {
  const dispatcher = req.method === 'GET' || req.method === 'HEAD' ? http.idempotent : http.plain;
  const headers: Record<string, string> = { 'user-agent': http.userAgent, ...req.headers };
  try {
    return await request(req.url, {
      dispatcher,
      method: req.method,
      headers,
      body: req.body ?? null,
      ...(req.noRedirect ? { maxRedirections: 0 } : {}),
    });
  } catch (e) {
    throw toTransportError(e, req.method, req.url);
  }
}

export function toTransportError(e: unknown, method: string, url: string): Error {
  if (e instanceof RegistryError || e instanceof TransportError) return e;
  const err = e as Error & { code?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code;
  return new TransportError(`${method} ${redactUrl(url)}: ${code ?? err.message}`, { method, url: redactUrl(url), errorCode: code }, { cause: e });
}

/** Whether an error (transport or registry) deserves another try. */
export function isTemporary(e: unknown): boolean {
  if (e instanceof RegistryError) return e.temporary;
  if (e instanceof TransportError) {
    const c = e.data['errorCode'];
    return typeof c !== 'string' || RETRY_ERROR_CODES.includes(c) || c.startsWith('UND_ERR');
  }
  const c = (e as { code?: string }).code;
  return typeof c === 'string' && (RETRY_ERROR_CODES.includes(c) || c.startsWith('UND_ERR') || c === 'ERR_STREAM_PREMATURE_CLOSE');
}

const MAX_ERROR_BODY = 64 * 1024;

/** Reads at most 64 KiB of a body as text (error bodies, never blobs). */
export async function readSmallText(body: Readable, limit = MAX_ERROR_BODY): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    if (n < limit) chunks.push(b.subarray(0, limit - n));
    n += b.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads a body that is small by contract (manifests, configs, tokens), refusing more than `limit`. */
export async function readLimited(body: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    const b = c as Buffer;
    n += b.length;
    if (n > limit) {
      body.destroy();
      throw new TransportError(`${what} is larger than ${limit} bytes`, { limit });
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

/** Turns a non-2xx response into a RegistryError, consuming its (small) body. */
export async function errorFromResponse(res: HttpResponse, method: string, url: string): Promise<RegistryError> {
  let errors: RegistryErrorEntry[] | undefined;
  if (method !== 'HEAD') {
    const text = await readSmallText(res.body).catch(() => '');
    try {
      const j = JSON.parse(text) as { errors?: unknown; error?: unknown; details?: unknown };
      if (Array.isArray(j.errors)) {
        errors = j.errors
          .filter((x): x is RegistryErrorEntry => typeof x === 'object' && x !== null && typeof (x as RegistryErrorEntry).code === 'string')
          .map((x) => ({ code: x.code, ...(x.message !== undefined ? { message: String(x.message) } : {}), ...(x.detail !== undefined ? { detail: x.detail } : {}) }));
      } else if (typeof j.error === 'string') {
        errors = [{ code: j.error.toUpperCase() }];
      }
    } catch {
      // not JSON: the status says it all
    }
  } else {
    res.body.resume();
  }
  const ra = parseRetryAfter(res.headers['retry-after']);
  return new RegistryError({ status: res.statusCode, method, url, ...(errors ? { errors } : {}), ...(ra !== undefined ? { retryAfterMs: ra } : {}) });
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Drains a body we do not need, so the socket goes back to the pool. */
export async function drain(res: HttpResponse): Promise<void> {
  try {
    await res.body.dump();
  } catch {
    // a broken socket is the pool's problem
  }
}
