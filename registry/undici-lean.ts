/**
 * The parts of undici we use, loaded without undici's entry point. `import 'undici'`
 * loads all of it — fetch, WebSocket, the caches, the mock agents — which costs
 * ~65 ms of start-up on these machines (node alone: ~58 ms); the dispatcher, the
 * request API and the two interceptors cost ~22 ms. Every pull, push and cold build
 * pays this. The pieces are wired as undici's index.js wires them (its request
 * API on Dispatcher.prototype). undici is pinned in the lockfile;
 * registry/undici-lean.test.ts checks this module against the real entry point.
 */
import type * as Undici from 'undici';
import type { Dispatcher } from 'undici';
import DispatcherClass from 'undici/lib/dispatcher/dispatcher.js';
import EnvHttpProxyAgentClass from 'undici/lib/dispatcher/env-http-proxy-agent.js';
import api from 'undici/lib/api/index.js';
import redirect from 'undici/lib/interceptor/redirect.js';
import retry from 'undici/lib/interceptor/retry.js';

Object.assign((DispatcherClass as { prototype: object }).prototype, api);

export type { Dispatcher };
export const EnvHttpProxyAgent = EnvHttpProxyAgentClass as unknown as typeof Undici.EnvHttpProxyAgent;
export type EnvHttpProxyAgentOptions = Undici.EnvHttpProxyAgent.Options;
export const interceptors = { redirect, retry } as unknown as Pick<typeof Undici.interceptors, 'redirect' | 'retry'>;

/** undici's `request(url, { dispatcher, ... })`, always with an explicit dispatcher (never the global one). */
export function request(
  url: string,
  opts: { dispatcher: Dispatcher } & Omit<Dispatcher.RequestOptions, 'origin' | 'path'>,
): Promise<Dispatcher.ResponseData<unknown>> {
  const u = new URL(url);
  const { dispatcher, ...rest } = opts;
  return dispatcher.request({ ...rest, origin: u.origin, path: `${u.pathname}${u.search}` } as Dispatcher.RequestOptions);
}
