/**
 * The only place tsbuild creates HTTP machinery: one undici Agent behind
 * EnvHttpProxyAgent (HTTP(S)_PROXY, NO_PROXY), composed with the redirect
 * interceptor (blob GETs get 307s to storage on another origin; undici drops
 * Authorization there) and, for GET/HEAD only, the retry interceptor.
 * Uploads use `plain`: their stream bodies cannot be replayed, so push.ts runs
 * its own retry loop that reopens the source.
 *
 * Nothing waits forever: the agent has connect, header and body-idle timeouts
 * (progress-aware: a slow blob that keeps moving is fine, a silent one fails;
 * undici refreshes the header timer while an upload drains, so a stalled
 * upload fails the same way), and every request belongs to an Operation whose
 * deadline covers all its requests, retries and body reads.
 */
import { EnvHttpProxyAgent, interceptors, request, type Dispatcher, type EnvHttpProxyAgentOptions } from './undici-lean.js';
import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import { NetworkTimeoutError, RegistryBaseError, RegistryError, TransportError, redactUrl, type RegistryErrorEntry } from './errors.js';
import type { EventSink } from './events.js';
import { DEFAULT_TIMEOUTS, type NetworkTimeouts } from './timeouts.js';

export { DEFAULT_TIMEOUTS, type NetworkTimeouts } from './timeouts.js';

const DEADLINE_CODE = 'TSB_REGISTRY_DEADLINE';

/**
 * One pull, push, login or download. Its signal aborts every request (and body
 * read, and retry sleep) once the deadline passes or the caller's signal fires.
 */
export class Operation {
  readonly signal: AbortSignal;
  #expired = false;
  constructor(
    readonly label: string,
    readonly deadlineMs: number,
    outer?: AbortSignal,
  ) {
    const ac = new AbortController();
    // unref: a finished operation's timer must not keep the process alive.
    setTimeout(() => {
      this.#expired = true;
      ac.abort(Object.assign(new Error(`${label}: deadline`), { code: DEADLINE_CODE }));
    }, deadlineMs).unref();
    this.signal = outer ? AbortSignal.any([ac.signal, outer]) : ac.signal;
  }

  /** True once the deadline has passed (not when the caller aborted). */
  get expired(): boolean {
    return this.#expired;
  }

  /** The error for "the deadline hit while doing `activity` with `host`". */
  deadlineError(host: string, activity: string, cause?: unknown): NetworkTimeoutError {
    return new NetworkTimeoutError({ host, phase: 'deadline', activity, limitMs: this.deadlineMs, operation: this.label }, { cause });
  }
}

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

export function parseRetryAfter(header: string | string[] | undefined): number | undefined {
  const s = Array.isArray(header) ? header[0] : header;
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
  readonly timeouts: NetworkTimeouts;
  /** Waits briefly for requests in flight, then cuts them (a failed operation may leave stalled ones). */
  close(): Promise<void>;
}

/** How long close() lets requests in flight finish before destroying their sockets. */
const CLOSE_GRACE_MS = 1000;

export function createHttpClient(options: {
  retry: RetryPolicy;
  onEvent: EventSink;
  userAgent: string;
  connections?: number;
  env?: NodeJS.ProcessEnv;
  timeouts?: NetworkTimeouts;
}): HttpClient {
  const env = options.env ?? process.env;
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  const proxyOpts: EnvHttpProxyAgentOptions = {
    connections: options.connections ?? 8,
    connectTimeout: timeouts.connectMs,
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyIdleMs,
  };
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
      maxRetries: Math.max(0, options.retry.attempts - 1),
      retry(err, { state, opts }, cb) {
        const e = err as Error & { statusCode?: number; code?: string; headers?: IncomingHttpHeaders };
        const method = opts.method;
        const retryable =
          (method === 'GET' || method === 'HEAD') &&
          (opts as { signal?: AbortSignal }).signal?.aborted !== true &&
          e.code !== DEADLINE_CODE &&
          (e.statusCode !== undefined
            ? RETRY_STATUS.includes(e.statusCode)
            : e.code === undefined || e.code === 'UND_ERR_REQ_RETRY' || RETRY_ERROR_CODES.includes(e.code));
        // Remembered so that a failed resume (UND_ERR_REQ_RETRY) reports the stall that caused it.
        const trace = (opts as { tsbTrace?: RequestTrace }).tsbTrace;
        if (trace && e.code !== 'UND_ERR_REQ_RETRY') trace.cause = err;
        if (!retryable || state.counter >= options.retry.attempts) {
          cb(err);
          return;
        }
        const delayMs = backoffMs(options.retry, state.counter, parseRetryAfter(e.headers?.['retry-after']));
        const ev: Parameters<EventSink>[0] = {
          type: 'retry',
          method,
          url: redactUrl(`${String(opts.origin ?? '')}${opts.path}`),
          attempt: state.counter,
          delayMs,
        };
        if (e.statusCode !== undefined) ev.status = e.statusCode;
        if (e.code !== undefined && e.statusCode === undefined) ev.errorCode = e.code;
        options.onEvent(ev);
        setTimeout(() => cb(null), delayMs);
      },
    }),
  );
  const close = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
    const closed = base.close().then(() => 'closed' as const);
    try {
      if ((await Promise.race([closed, grace])) !== 'closed') await base.destroy();
    } finally {
      clearTimeout(timer);
    }
  };
  return { idempotent, plain, userAgent: options.userAgent, timeouts, close };
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: Readable | Buffer | string;
  /** Stream bodies must not be followed through a redirect (they cannot be resent). */
  noRedirect?: boolean;
  /** The operation this request belongs to: its deadline (and its caller's abort) cut the request. */
  op?: Operation;
  /** Fail the body read past this many bytes (downloads of unknown size). */
  maxBodyBytes?: number;
}

/** A response whose body errors are already tsbuild errors (timeouts name host and phase). */
export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

/** The last network error the retry interceptor saw for one request. */
interface RequestTrace {
  cause?: unknown;
}

/** Sends one request; network failures become NetworkTimeoutError or TransportError (GET/HEAD retried by undici). */
export async function send(http: HttpClient, req: HttpRequest): Promise<HttpResponse> {
  const dispatcher = req.method === 'GET' || req.method === 'HEAD' ? http.idempotent : http.plain;
  const headers: Record<string, string> = { 'user-agent': http.userAgent, ...req.headers };
  const signal = req.op?.signal;
  const trace: RequestTrace = {};
  try {
    signal?.throwIfAborted();
    const res = await request(req.url, {
      dispatcher,
      method: req.method,
      headers,
      body: req.body ?? null,
      ...(signal ? { signal } : {}),
      ...(req.noRedirect ? { maxRedirections: 0 } : {}),
      // undici hands unknown options through to the retry interceptor's callback
      ...({ tsbTrace: trace } as object),
    });
    return { statusCode: res.statusCode, headers: res.headers, body: guardBody(res.body, http, req, trace) };
  } catch (e) {
    throw networkError(e, http, req, 'request', trace);
  }
}

/** What a request is about, for messages: "manifest repo:tag", "blob sha256:…", else the method and URL. */
export function describeRequest(method: string, url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `${method} ${redactUrl(url)}`;
  }
  const m = /^\/v2\/(.+)\/(manifests|blobs)\/(uploads\/?.*|[^/]+)$/.exec(u.pathname);
  if (!m) return `${method} ${redactUrl(url)}`;
  const [, repo, kind, rest] = m as unknown as [string, string, string, string];
  if (kind === 'manifests') return `manifest ${repo}${rest.startsWith('sha256:') ? '@' : ':'}${rest}`;
  if (rest.startsWith('uploads')) {
    const digest = u.searchParams.get('digest') ?? u.searchParams.get('mount');
    return `blob upload${digest ? ` of ${digest}` : ''} to ${repo}`;
  }
  return `blob ${rest} of ${repo}`;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Maps a failure of `req` to a tsbuild error: the deadline, undici's connect /
 * headers / body timeouts (naming host and phase), anything else a TransportError.
 */
function networkError(e: unknown, http: HttpClient, req: HttpRequest, stage: 'request' | 'body', trace: RequestTrace): Error {
  if (e instanceof RegistryBaseError) return e;
  // A resume that failed (no Range support, changed ETag) is not the story: the stall before it is.
  if ((e as { code?: string }).code === 'UND_ERR_REQ_RETRY' && trace.cause !== undefined) {
    const first = (trace.cause as { code?: string }).code;
    if (first === 'UND_ERR_BODY_TIMEOUT' || first === 'UND_ERR_HEADERS_TIMEOUT' || first === 'UND_ERR_CONNECT_TIMEOUT') e = trace.cause;
  }
  const host = hostOf(req.url);
  const what = describeRequest(req.method, req.url);
  const t = http.timeouts;
  if (req.op?.expired) return req.op.deadlineError(host, stage === 'body' ? `reading ${what}` : `waiting for ${what}`, e);
  const err = e as Error & { code?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code;
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return new NetworkTimeoutError({ host, phase: 'connect', activity: `connecting (for ${what})`, limitMs: t.connectMs }, { cause: e });
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    // undici's header timer also runs while an upload's socket cannot drain.
    const body = req.body as Readable | undefined;
    const uploading = body !== undefined && typeof body === 'object' && 'readableEnded' in body && !body.readableEnded;
    return uploading
      ? new NetworkTimeoutError({ host, phase: 'upload', activity: `sending ${what}`, limitMs: t.headersMs }, { cause: e })
      : new NetworkTimeoutError({ host, phase: 'headers', activity: `waiting for response headers (${what})`, limitMs: t.headersMs }, { cause: e });
  }
  if (code === 'UND_ERR_BODY_TIMEOUT') return new NetworkTimeoutError({ host, phase: 'body', activity: `reading body of ${what}`, limitMs: t.bodyIdleMs }, { cause: e });
  return toTransportError(e, req.method, req.url);
}

/**
 * The response body as the caller sees it: errors mapped by networkError, an
 * optional byte limit, and destroying it early releases undici's stream.
 */
function guardBody(body: Readable, http: HttpClient, req: HttpRequest, trace: RequestTrace): Readable {
  const out = new PassThrough();
  let bytes = 0;
  const limit = req.maxBodyBytes;
  body.on('error', (e) => out.destroy(networkError(e, http, req, 'body', trace)));
  if (limit !== undefined) {
    body.on('data', (c: Buffer) => {
      bytes += c.length;
      if (bytes > limit) {
        out.destroy(new TransportError(`${describeRequest(req.method, req.url)} from ${hostOf(req.url)} is larger than ${limit} bytes`, { limit, url: redactUrl(req.url) }));
      }
    });
  }
  out.on('close', () => {
    if (!body.destroyed) body.destroy();
  });
  // Readers (for await, pipeline) still get the error; a body nobody reads any more must not crash the process.
  out.on('error', () => {});
  body.pipe(out);
  return out;
}

export function toTransportError(error: unknown, method: string, url: string): Error {
  if (error instanceof RegistryError || error instanceof TransportError) return error;
  const err = error as Error & { code?: string; cause?: { code?: string } };
  const code = err.code ?? err.cause?.code;
  return new TransportError(`${method} ${redactUrl(url)}: ${code ?? err.message}`, { method, url: redactUrl(url), errorCode: code }, { cause: error });
}

/** Whether an error (transport or registry) deserves another try. */
export function isTemporary(error: unknown): boolean {
  if (error instanceof RegistryError || error instanceof NetworkTimeoutError) return error.temporary;
  if (error instanceof TransportError) {
    const c = error.data['errorCode'];
    return typeof c !== 'string' || RETRY_ERROR_CODES.includes(c) || c.startsWith('UND_ERR');
  }
  const c = (error as { code?: string }).code;
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

/** Past this much, a body we do not need is cut (the socket is closed, not reused). */
const MAX_DRAIN = 128 * 1024;

/** Drains a body we do not need, so the socket goes back to the pool. */
export async function drain(res: HttpResponse): Promise<void> {
  let n = 0;
  try {
    for await (const c of res.body) {
      n += (c as Buffer).length;
      if (n > MAX_DRAIN) {
        res.body.destroy();
        return;
      }
    }
  } catch {
    // a broken socket is the pool's problem
  }
}
