/**
 * `login` checks credentials against the registry's /v2/ (directly for basic
 * auth, through the token service for bearer auth) and stores them the way
 * `docker login` does: in the configured credential helper, else base64 in
 * config.json. `logout` removes them from both places.
 */
import { AuthError, RegistryError } from './errors.js';
import { createHttpClient, DEFAULT_RETRY, DEFAULT_TIMEOUTS, drain, Operation } from './http.js';
import { normalizeRegistry } from './reference.js';
import { RegistrySession } from './session.js';
import { staticKeychain } from './auth/keychain.js';
import { dockerConfigDir, findAuthEntry, helperFor, hostOfKey, readDockerConfig, serverKey, writeDockerConfig } from './auth/docker-config.js';
import { helperErase, helperStore } from './auth/helper.js';
import { DEFAULT_USER_AGENT, type RegistryOptions } from './client.js';

export type LoginOptions = Pick<RegistryOptions, 'insecureRegistries' | 'dockerConfigDir' | 'env' | 'userAgent' | 'retry' | 'timeouts'>;

export async function login(registry: string, user: string, password: string, options: LoginOptions = {}): Promise<void> {
  const reg = normalizeRegistry(registry);
  const env = options.env ?? process.env;
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  const http = createHttpClient({ retry: options.retry ?? DEFAULT_RETRY, onEvent: () => {}, userAgent: options.userAgent ?? DEFAULT_USER_AGENT, env, timeouts });
  try {
    const session = new RegistrySession(reg, {
      http,
      keychain: staticKeychain({ kind: 'basic', username: user, password }),
      onEvent: () => {},
      insecure: (options.insecureRegistries ?? []).includes(reg),
    }).withOperation(new Operation(`login to ${reg}`, timeouts.deadlineMs));
    let res;
    try {
      res = await session.request({ method: 'GET', url: session.url('/v2/') }, []);
    } catch (e) {
      if (e instanceof AuthError) throw new AuthError(`login to ${reg} failed: ${e.message}`, { registry: reg }, { cause: e });
      if (e instanceof RegistryError && e.status === 401) {
        throw new AuthError(`login to ${reg} failed: unauthorized (${e.registryCode})`, { registry: reg, status: 401 }, { cause: e });
      }
      throw e;
    }
    await drain(res);
    if (res.statusCode === 401) throw new AuthError(`login to ${reg} failed: unauthorized`, { registry: reg, status: 401 });
    if (res.statusCode !== 200) throw new RegistryError({ status: res.statusCode, method: 'GET', url: session.url('/v2/') });
  } finally {
    await http.close();
  }
  const dir = dockerConfigDir({ env, ...(options.dockerConfigDir ? { dockerConfigDir: options.dockerConfigDir } : {}) });
  const cfg = await readDockerConfig(dir);
  const key = serverKey(reg);
  const helper = helperFor(cfg, reg);
  cfg.auths ??= {};
  if (helper) {
    await helperStore(helper, { ServerURL: key, Username: user, Secret: password }, env);
    cfg.auths[key] = {}; // docker keeps an empty entry so `docker info` lists the registry
  } else {
    cfg.auths[key] = { auth: Buffer.from(`${user}:${password}`).toString('base64') };
  }
  await writeDockerConfig(dir, cfg);
}

export async function logout(registry: string, options: Pick<RegistryOptions, 'dockerConfigDir' | 'env'> = {}): Promise<void> {
  const reg = normalizeRegistry(registry);
  const env = options.env ?? process.env;
  const dir = dockerConfigDir({ env, ...(options.dockerConfigDir ? { dockerConfigDir: options.dockerConfigDir } : {}) });
  const cfg = await readDockerConfig(dir);
  const helper = helperFor(cfg, reg);
  if (helper) await helperErase(helper, serverKey(reg), env);
  if (!cfg.auths || !findAuthEntry(cfg, reg)) {
    if (!helper && !Object.keys(cfg.auths ?? {}).some((k) => hostOfKey(k) === hostOfKey(serverKey(reg)))) {
      throw new AuthError(`not logged in to ${reg}`, { registry: reg });
    }
  }
  for (const k of Object.keys(cfg.auths ?? {})) {
    const h = hostOfKey(k);
    const target = hostOfKey(serverKey(reg));
    if (h === target || (reg === 'docker.io' && (h === 'docker.io' || h === 'registry-1.docker.io'))) delete cfg.auths![k];
  }
  await writeDockerConfig(dir, cfg);
}
