/**
 * RegistryClient: the public face of registry/ (ggcr remote + transport in one
 * object). One HTTP client and one keychain per RegistryClient; one session
 * (ping result, token cache) per registry host.
 */
import type { Digest } from '../image/digest.js';
import type { Image, ImageIndex } from '../image/image.js';
import { hostPlatform } from '../image/platform.js';
import type { Descriptor, Platform } from '../image/types.js';
import { DefaultKeychain, type Keychain } from './auth/keychain.js';
import { RegistryBaseError, TransportError, redactUrl } from './errors.js';
import type { EventSink, RegistryEvent } from './events.js';
import { createHttpClient, DEFAULT_RETRY, DEFAULT_TIMEOUTS, Operation, send, type HttpClient, type HttpResponse, type NetworkTimeouts, type RetryPolicy } from './http.js';
import { getImage, getIndex, getPlatformImage, headManifest, listTags, type FetchedManifest } from './pull.js';
import { pushImage, pushIndexTo, type PushResult, type PushTuning } from './push.js';
import type { Reference } from './reference.js';
import { RegistrySession } from './session.js';

export interface RegistryOptions {
  /** Registries spoken to over plain HTTP (loopback registries always are). */
  insecureRegistries?: string[];
  /** Where config.json lives (default $DOCKER_CONFIG or ~/.docker). */
  dockerConfigDir?: string;
  retry?: RetryPolicy;
  /** Blobs pushed at once (default 4). */
  concurrency?: number;
  /** Platform chosen from an index on pull (default: this machine's). */
  platform?: Platform;
  userAgent?: string;
  onEvent?: (e: RegistryEvent) => void;
  /** Environment for proxies, DOCKER_CONFIG, AWS_*, GOOGLE_APPLICATION_CREDENTIALS, endpoints (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Blobs up to this many bytes are pushed in one PUT (default 16 MiB). */
  monolithicMax?: number;
  /** PATCH size for larger blobs (default 16 MiB). */
  chunkSize?: number;
  /** Replaces the docker-config/Google/ECR keychain (tests, embedding). */
  keychain?: Keychain;
  /** Connect / header / body-idle timeouts and the per-operation deadline (default DEFAULT_TIMEOUTS). */
  timeouts?: Partial<NetworkTimeouts>;
}

/** Downloads of unknown size (ADD <url>) stop here unless the caller says otherwise. */
export const MAX_DOWNLOAD_BYTES = 8 * 1024 ** 3;

export interface PushOptions {
  /** Repositories on the same registry to try cross-repo mounts from. */
  mountFrom?: Reference[];
}

export const DEFAULT_USER_AGENT = 'tsbuild/0.1';

export class RegistryClient {
  readonly #http: HttpClient;
  readonly #keychain: Keychain;
  readonly #sessions = new Map<string, RegistrySession>();
  readonly #onEvent: EventSink;
  readonly #o: RegistryOptions;
  readonly #tuning: PushTuning;
  readonly #timeouts: NetworkTimeouts;

  constructor(options: RegistryOptions = {}) {
    this.#o = options;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const listener = options.onEvent;
    // A listener that throws must not break a push.
    this.#onEvent = (e) => {
      try {
        listener?.(e);
      } catch {
        // ignored on purpose
      }
    };
    const retry = options.retry ?? DEFAULT_RETRY;
    this.#http = createHttpClient({
      retry,
      onEvent: this.#onEvent,
      userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
      connections: Math.max(4, (options.concurrency ?? 4) * 2),
      timeouts: this.#timeouts,
      ...(options.env ? { env: options.env } : {}),
    });
    this.#keychain =
      options.keychain ??
      new DefaultKeychain({ http: this.#http, ...(options.dockerConfigDir ? { dockerConfigDir: options.dockerConfigDir } : {}), ...(options.env ? { env: options.env } : {}) });
    this.#tuning = {
      retry,
      concurrency: options.concurrency ?? 4,
      monolithicMax: options.monolithicMax ?? 16 << 20,
      chunkSize: options.chunkSize ?? 16 << 20,
      onEvent: this.#onEvent,
    };
  }

  /** A new operation: its deadline starts now and covers everything it does, lazy layer reads included. */
  #operation(label: string): Operation {
    return new Operation(label, this.#timeouts.deadlineMs);
  }

  #session(registry: string, op: Operation): RegistrySession {
    return this.#registrySession(registry).withOperation(op);
  }

  #registrySession(registry: string): RegistrySession {
    let s = this.#sessions.get(registry);
    if (!s) {
      s = new RegistrySession(registry, {
        http: this.#http,
        keychain: this.#keychain,
        onEvent: this.#onEvent,
        insecure: (this.#o.insecureRegistries ?? []).includes(registry),
      });
      this.#sessions.set(registry, s);
    }
    return s;
  }

  /** The image a reference names; an index resolves to the configured platform. Layers stream lazily, verified. */
  getImage(ref: Reference): Promise<Image> {
    return getImage(this.#session(ref.registry, this.#operation(`pull of ${ref.toString()}`)), ref, this.#o.platform ?? hostPlatform());
  }

  /** getImage for `platform` (the configured one by default), with the index the reference named, if any. */
  getPlatformImage(ref: Reference, platform?: Platform): Promise<{ image: Image; index?: FetchedManifest }> {
    return getPlatformImage(this.#session(ref.registry, this.#operation(`pull of ${ref.toString()}`)), ref, platform ?? this.#o.platform ?? hostPlatform());
  }

  /** The index a reference names, or undefined when it names a single image. */
  getIndex(ref: Reference): Promise<ImageIndex | undefined> {
    return getIndex(this.#session(ref.registry, this.#operation(`pull of ${ref.toString()}`)), ref);
  }

  /** Every tag of the reference's repository. */
  listTags(ref: Reference): Promise<string[]> {
    return listTags(this.#session(ref.registry, this.#operation(`tag list of ${ref.registry}/${ref.repository}`)), ref.repository);
  }

  /** The manifest descriptor (HEAD, which Docker Hub does not count against rate limits), or undefined if absent. */
  head(ref: Reference): Promise<Descriptor | undefined> {
    return headManifest(this.#session(ref.registry, this.#operation(`lookup of ${ref.toString()}`)), ref.repository, ref.digest ?? ref.tag ?? 'latest');
  }

  /**
   * Pushes `img` to every reference (grouped by repository: blobs once per
   * repository, then the manifest under each tag). Counts are per blob.
   */
  async push(img: Image, refs: Reference[], options: PushOptions = {}): Promise<PushResult> {
    return this.#pushEach(refs, options, (session, repo, tags, mountFrom) => pushImage(session, repo, img, tags, { mountFrom, tuning: this.#tuning }));
  }

  /** Pushes a multi-platform index: each child image by digest, then the index under each tag. */
  async pushIndex(idx: ImageIndex, refs: Reference[], options: PushOptions = {}): Promise<PushResult> {
    return this.#pushEach(refs, options, (session, repo, tags, mountFrom) => pushIndexTo(session, repo, idx, tags, { mountFrom, tuning: this.#tuning }));
  }

  async #pushEach(
    refs: Reference[],
    o: PushOptions,
    one: (s: RegistrySession, repo: string, tags: string[], mountFrom: string[]) => Promise<PushResult>,
  ): Promise<PushResult> {
    if (refs.length === 0) throw new RegistryBaseError('TSB_REGISTRY_NO_REFERENCE', 'push needs at least one reference');
    const groups = new Map<string, { registry: string; repository: string; tags: string[] }>();
    for (const r of refs) {
      const key = `${r.registry}/${r.repository}`;
      const g = groups.get(key) ?? { registry: r.registry, repository: r.repository, tags: [] };
      if (r.tag) g.tags.push(r.tag);
      groups.set(key, g);
    }
    const op = this.#operation(`push of ${refs.map((r) => r.toString()).join(', ')}`);
    const total = { uploaded: 0, mounted: 0, skipped: 0 };
    let digest: Digest | undefined;
    const pushed: string[] = [];
    for (const g of groups.values()) {
      // Later repositories on the same registry can mount from the ones already pushed.
      const mountFrom = [
        ...(o.mountFrom ?? []).filter((m) => m.registry === g.registry).map((m) => m.repository),
        ...pushed.filter((p) => p.startsWith(`${g.registry}/`)).map((p) => p.slice(g.registry.length + 1)),
      ];
      const r = await one(this.#session(g.registry, op), g.repository, g.tags, mountFrom);
      digest = r.digest;
      total.uploaded += r.uploaded;
      total.mounted += r.mounted;
      total.skipped += r.skipped;
      pushed.push(`${g.registry}/${g.repository}`);
    }
    return { digest: digest!, ...total };
  }

  /**
   * GET of any http(s) URL (ADD <url>) through the same agent, proxies and
   * timeouts, bounded by its own deadline and `signal`. The body fails past
   * `maxBytes`; a Content-Length over it fails before reading.
   */
  async download(url: string, options: { signal?: AbortSignal; maxBytes?: number; headers?: Record<string, string> } = {}): Promise<HttpResponse> {
    const maxBytes = options.maxBytes ?? MAX_DOWNLOAD_BYTES;
    const op = new Operation(`download of ${redactUrl(url)}`, this.#timeouts.deadlineMs, options.signal);
    const res = await send(this.#http, { method: 'GET', url, op, maxBodyBytes: maxBytes, ...(options.headers ? { headers: options.headers } : {}) });
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.body.destroy();
      throw new TransportError(`${redactUrl(url)} is ${declared} bytes, more than the ${maxBytes} allowed`, { limit: maxBytes, size: declared });
    }
    return res;
  }

  async close(): Promise<void> {
    await this.#http.close();
  }
}
