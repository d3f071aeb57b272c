/**
 * Errors of registry/. All carry the tsbuild brand, a stable `code` and `data`.
 * No credential ever goes into a message or into `data`: callers pass only
 * registry hosts, repositories, digests, HTTP statuses and the registry's own codes.
 */
import { TsbuildError } from '../image/errors.js';

export class RegistryBaseError extends TsbuildError {}

/** One entry of a registry's `{"errors":[...]}` body. */
export interface RegistryErrorEntry {
  code: string;
  message?: string;
  detail?: unknown;
}

/** Statuses that are worth trying again (ggcr's transport.Error.Temporary). */
const TEMPORARY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const TEMPORARY_CODES = new Set(['TOOMANYREQUESTS', 'UNAVAILABLE']);

/**
 * An HTTP error answered by a registry. `registryCode` is the registry's own
 * first error code (BLOB_UNKNOWN, DENIED, TOOMANYREQUESTS...), or `HTTP_<status>`
 * when the body had none. `code` is the stable tsbuild code `TSB_REGISTRY_<registryCode>`.
 */
export class RegistryError extends RegistryBaseError {
  readonly status: number;
  readonly registryCode: string;
  readonly errors: readonly RegistryErrorEntry[];
  readonly temporary: boolean;
  constructor(details: { status: number; method: string; url: string; errors?: RegistryErrorEntry[]; retryAfterMs?: number }) {
    const errors = details.errors ?? [];
    const first = errors[0];
    const registryCode = first?.code ?? `HTTP_${details.status}`;
    const what = errors.length
      ? errors.map((e) => `${e.code}${e.message ? `: ${e.message}` : ''}`).join('; ')
      : `HTTP ${details.status}`;
    super(`TSB_REGISTRY_${registryCode}`, `${details.method} ${redactUrl(details.url)}: ${what}`, {
      status: details.status,
      method: details.method,
      url: redactUrl(details.url),
      registryCode,
      errors,
      retryAfterMs: details.retryAfterMs,
    });
    this.status = details.status;
    this.registryCode = registryCode;
    this.errors = errors;
    this.temporary = TEMPORARY_STATUS.has(details.status) || errors.some((e) => TEMPORARY_CODES.has(e.code));
  }
}

/** Credentials missing, rejected, or a token service that said no. */
export class AuthError extends RegistryBaseError {
  constructor(message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('TSB_REGISTRY_AUTH', message, data, options);
  }
}

export class InvalidReferenceError extends RegistryBaseError {
  constructor(ref: string, reason: string) {
    super('TSB_REGISTRY_BAD_REFERENCE', `invalid image reference ${JSON.stringify(ref)}: ${reason}`, { ref, reason });
  }
}

/** The manifest or index has no image for the wanted platform. */
export class PlatformNotFoundError extends RegistryBaseError {
  constructor(ref: string, platform: string, available: string[]) {
    super('TSB_REGISTRY_NO_PLATFORM', `${ref} has no image for ${platform} (has ${available.join(', ') || 'none'})`, {
      ref,
      platform,
      available,
    });
  }
}

/** The network failed (reset, refused, timeout) after every retry. */
export class TransportError extends RegistryBaseError {
  constructor(message: string, data: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('TSB_REGISTRY_TRANSPORT', message, data, options);
  }
}

/** What a request was doing when it ran out of time. */
export type TimeoutPhase = 'connect' | 'headers' | 'upload' | 'body' | 'deadline';

/**
 * The network went quiet for too long (`connect`, `headers`, `upload`, `body`:
 * no progress for `limitMs`) or a whole operation outlived its deadline.
 * The message names the host and what was under way; `temporary` says whether
 * another try may help (a stall may; a spent deadline does not).
 */
export class NetworkTimeoutError extends RegistryBaseError {
  readonly phase: TimeoutPhase;
  readonly temporary: boolean;
  constructor(details: { host: string; phase: TimeoutPhase; activity: string; limitMs: number; operation?: string }, options?: { cause?: unknown }) {
    const limit = formatMs(details.limitMs);
    const message =
      details.phase === 'deadline'
        ? `${details.operation ?? 'operation'} exceeded its ${limit} deadline (--network-timeout) while ${details.activity} (${details.host})`
        : `${details.host}: timed out ${details.activity}: ${details.phase === 'connect' ? 'no connection' : details.phase === 'headers' ? 'no response' : 'no progress'} for ${limit}`;
    super('TSB_REGISTRY_TIMEOUT', message, { host: details.host, phase: details.phase, activity: details.activity, limitMs: details.limitMs, operation: details.operation }, options);
    this.phase = details.phase;
    this.temporary = details.phase !== 'deadline';
  }
}

/** 1500 -> "1.5s", 1_800_000 -> "30m" (for messages). */
export function formatMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${Math.round(ms / 100) / 10}s`;
  return `${ms}ms`;
}

/** A credential helper (docker-credential-*) failed or is missing. */
export class CredentialHelperError extends RegistryBaseError {
  constructor(helper: string, op: string, reason: string) {
    super('TSB_REGISTRY_CRED_HELPER', `docker-credential-${helper} ${op}: ${reason}`, { helper, op, reason });
  }
}

/** Query parameters that can carry secrets (upload state is opaque but not secret; tokens are). */
const SECRET_PARAMS = /([?&](?:access_token|token|password|refresh_token|X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|sig|signature)=)[^&]*/gi;

/** A URL safe to show: no userinfo, no token-like query values. */
export function redactUrl(rawUrl: string): string {
  try {
    const url = new URL(rawUrl);
    url.username = '';
    url.password = '';
    return url.toString().replace(SECRET_PARAMS, '$1REDACTED');
  } catch {
    return rawUrl.replace(SECRET_PARAMS, '$1REDACTED');
  }
}
