/** The network's time limits, apart from http.ts so that a caller can read them without loading undici. */

/** How long the network may stay silent, and how long one operation may take. */
export interface NetworkTimeouts {
  /** TCP (and TLS) connect. */
  connectMs: number;
  /** Request sent (or its upload stalled) until the response headers arrive. */
  headersMs: number;
  /** Longest silence between two chunks of a response body. */
  bodyIdleMs: number;
  /** One whole pull, push, login or download, retries included. */
  deadlineMs: number;
}

/** Generous but finite: a multi-GiB pull on a slow link fits in 30 minutes; a dead registry fails in about a minute per try. */
export const DEFAULT_TIMEOUTS: NetworkTimeouts = { connectMs: 30_000, headersMs: 60_000, bodyIdleMs: 60_000, deadlineMs: 30 * 60_000 };
