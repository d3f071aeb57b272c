/**
 * How long tsbuild waits on the network: `--network-timeout DURATION` (or
 * $TSBUILD_NETWORK_TIMEOUT) is the deadline of each pull, push, login and
 * ADD <url> download; $TSBUILD_NETWORK_IDLE_TIMEOUT is how long a connection
 * may stay silent (connect, response headers, gaps in a body). Durations are
 * Go-style (`90s`, `30m`, `1h`) or plain seconds.
 */
import { parseDuration } from '../parser/duration.js';
import type { NetworkTimeouts } from '../registry/http.js';
import { str, UsageError, type FlagSpec, type Parsed } from './args.js';

export const NETWORK_TIMEOUT_FLAG: FlagSpec = {
  name: 'network-timeout',
  type: 'string',
  valueName: 'DURATION',
  description: 'deadline for each pull, push, login or ADD <url> download (default 30m; $TSBUILD_NETWORK_TIMEOUT)',
};

/** The timeouts the flag and environment ask for (unset ones keep registry/'s defaults). */
export function networkTimeouts(parsed: Parsed, env: NodeJS.ProcessEnv = process.env): Partial<NetworkTimeouts> {
  const out: Partial<NetworkTimeouts> = {};
  const deadline = str(parsed, 'network-timeout') ?? env['TSBUILD_NETWORK_TIMEOUT'];
  if (deadline !== undefined && deadline !== '') out.deadlineMs = durationMs(deadline, '--network-timeout');
  const idle = env['TSBUILD_NETWORK_IDLE_TIMEOUT'];
  if (idle !== undefined && idle !== '') {
    const ms = durationMs(idle, 'TSBUILD_NETWORK_IDLE_TIMEOUT');
    Object.assign(out, { connectMs: ms, headersMs: ms, bodyIdleMs: ms });
  }
  return out;
}

function durationMs(text: string, what: string): number {
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else {
    try {
      ms = parseDuration(text) / 1e6;
    } catch {
      ms = NaN;
    }
  }
  // undici wants whole milliseconds; timers cap at 2^31-1 ms (~24.8 days).
  if (!Number.isFinite(ms) || ms < 1 || ms > 2 ** 31 - 1) throw new UsageError(`invalid ${what} ${JSON.stringify(text)}: want a positive duration such as 90s, 30m or 1h`);
  return Math.round(ms);
}
