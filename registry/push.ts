/**
 * Writing to a registry (ggcr remote.Write): blobs first (HEAD to skip what is
 * there, cross-repo mount when a source repository may have it, else upload),
 * in parallel; then the manifest, once per tag. Uploads are monolithic for
 * small blobs and chunked (PATCH + Content-Range) for large ones. A failed
 * upload is retried with backoff: a chunked one asks the registry how far it
 * got (GET on the upload URL) and continues from there, reopening the source.
 */
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import type { Digest } from '../image/digest.js';
import type { Image, ImageIndex, Layer } from '../image/image.js';
import { RegistryError } from './errors.js';
import type { EventSink, RegistryEvent } from './events.js';
import { backoffMs, describeRequest, drain, errorFromResponse, header, isTemporary, type HttpResponse, type RetryPolicy } from './http.js';
import { remoteSourceOf } from './pull.js';
import { repositoryScope } from './reference.js';
import type { RegistrySession } from './session.js';

export interface PushTuning {
  retry: RetryPolicy;
  concurrency: number;
  /** Blobs up to this size go in one PUT. */
  monolithicMax: number;
  /** PATCH size for larger blobs. */
  chunkSize: number;
  onEvent: EventSink;
}

export interface PushResult {
  digest: Digest;
  uploaded: number;
  mounted: number;
  skipped: number;
}

/** A blob to make present in the target repository. */
interface BlobJob {
  digest: Digest;
  size: number;
  open: () => Promise<Readable>;
  /** Repositories on the same registry that may hold it. */
  mountFrom: string[];
}

type Outcome = 'uploaded' | 'mounted' | 'skipped';

class Pusher {
  constructor(
    readonly session: RegistrySession,
    readonly repository: string,
    readonly scopes: readonly string[],
    readonly t: PushTuning,
  ) {}

  #emit(e: RegistryEvent): void {
    this.t.onEvent(e);
  }

  async #req(req: Parameters<RegistrySession['request']>[0]): Promise<HttpResponse> {
    return this.session.request(req, this.scopes);
  }

  async #expect(res: HttpResponse, method: string, url: string, ok: number[]): Promise<void> {
    if (!ok.includes(res.statusCode)) throw await errorFromResponse(res, method, url);
  }

  async blobExists(repository: string, digest: Digest): Promise<boolean> {
    const url = this.session.url(`/v2/${repository}/blobs/${digest}`);
    const res = await this.#req({ method: 'HEAD', url });
    await drain(res);
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await errorFromResponse(res, 'HEAD', url);
  }

  /** Retries `fn` on temporary errors (and one 401, for an expired token) with backoff + jitter. */
  async withRetry<T>(what: { method: string; url: string }, fn: (attempt: number) => Promise<T>): Promise<T> {
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (e) {
        const unauthorized = e instanceof RegistryError && e.status === 401 && !authRetried;
        if (unauthorized) authRetried = true;
        if ((!isTemporary(e) && !unauthorized) || attempt >= this.t.retry.attempts) throw e;
        const ra = e instanceof RegistryError ? (e.data['retryAfterMs'] as number | undefined) : undefined;
        const delayMs = backoffMs(this.t.retry, attempt, ra);
        const ev: RegistryEvent = { type: 'retry', method: what.method, url: what.url, attempt, delayMs };
        if (e instanceof RegistryError) ev.status = e.status;
        else {
          const code = (e as { data?: { errorCode?: unknown }; code?: unknown }).data?.errorCode ?? (e as { code?: unknown }).code;
          if (typeof code === 'string') ev.errorCode = code;
        }
        this.#emit(ev);
        await this.#pause(delayMs, what, e);
      }
    }
  }

  /** Backoff that the operation's deadline cuts short (its error names what was being retried). */
  async #pause(ms: number, what: { method: string; url: string }, last: unknown): Promise<void> {
    const op = this.session.op;
    try {
      await sleep(ms, undefined, op ? { signal: op.signal } : {});
    } catch (e) {
      if (op?.expired) throw op.deadlineError(new URL(what.url).host, `retrying ${describeRequest(what.method, what.url)} after: ${(last as Error).message}`, last);
      throw e;
    }
  }

  async pushBlob(job: BlobJob): Promise<Outcome> {
    const { digest } = job;
    const base = this.session.url(`/v2/${this.repository}/blobs/${digest}`);
    if (await this.withRetry({ method: 'HEAD', url: base }, () => this.blobExists(this.repository, digest))) {
      this.#emit({ type: 'blob-skipped', repository: this.repository, digest });
      return 'skipped';
    }
    // Pick a mount source: with one candidate just try it; with several, ask which has the blob.
    let from: string | undefined;
    const candidates = [...new Set(job.mountFrom)].filter((r) => r !== this.repository);
    if (candidates.length === 1) from = candidates[0];
    else {
      for (const c of candidates) {
        if (await this.blobExists(c, digest).catch(() => false)) {
          from = c;
          break;
        }
      }
    }
    const uploadsUrl = this.session.url(`/v2/${this.repository}/blobs/uploads/`);
    const chunked = job.size > this.t.monolithicMax;
    let location: string | undefined;
    let offset = 0;
    let mountTried = false;
    const start = async (): Promise<'mounted' | string> => {
      const url = new URL(uploadsUrl);
      if (from && !mountTried) {
        url.searchParams.set('mount', digest);
        url.searchParams.set('from', from);
      }
      const res = await this.#req({ method: 'POST', url: url.toString(), headers: { 'content-length': '0' } });
      const wasMount = from !== undefined && !mountTried;
      mountTried = true;
      if (res.statusCode === 201 && wasMount) {
        await drain(res);
        return 'mounted';
      }
      await this.#expect(res, 'POST', uploadsUrl, [202]);
      await drain(res);
      const loc = header(res, 'location');
      if (!loc) throw new RegistryError({ status: 202, method: 'POST', url: uploadsUrl, errors: [{ code: 'NO_LOCATION', message: 'upload started without a Location' }] });
      return this.session.url(loc);
    };

    return this.withRetry({ method: 'PUT', url: base }, async (attempt) => {
      if (attempt > 1 && location !== undefined && chunked) {
        const resumed = await this.#uploadStatus(location);
        if (resumed) {
          location = resumed.location;
          offset = resumed.offset;
          this.#emit({ type: 'upload-resumed', repository: this.repository, digest, offset });
        } else {
          location = undefined;
          offset = 0;
          this.#emit({ type: 'upload-restarted', repository: this.repository, digest, reason: 'upload session gone' });
        }
      } else if (attempt > 1 && location !== undefined) {
        location = undefined;
        offset = 0;
        this.#emit({ type: 'upload-restarted', repository: this.repository, digest, reason: 'monolithic upload failed' });
      }
      if (location === undefined) {
        const r = await start();
        if (r === 'mounted') {
          this.#emit({ type: 'blob-mounted', repository: this.repository, digest, from: from! });
          return 'mounted' as const;
        }
        location = r;
        offset = 0;
        this.#emit({ type: 'blob-upload-start', repository: this.repository, digest, size: job.size, chunked });
      }
      if (!chunked) {
        await this.#putMonolithic(location, job);
      } else {
        const r = await this.#patchFrom(location, offset, job, (loc, off) => {
          location = loc;
          offset = off;
        });
        await this.#commit(r, digest);
      }
      location = undefined;
      this.#emit({ type: 'blob-uploaded', repository: this.repository, digest, size: job.size });
      return 'uploaded' as const;
    });
  }

  #withDigest(location: string, digest: Digest): string {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    return u.toString();
  }

  async #putMonolithic(location: string, job: BlobJob): Promise<void> {
    const url = this.#withDigest(location, job.digest);
    const body = await job.open();
    try {
      const res = await this.#req({
        method: 'PUT',
        url,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(job.size) },
        body,
        noRedirect: true,
      });
      await this.#expect(res, 'PUT', location, [201]);
      await drain(res);
    } finally {
      body.destroy();
    }
  }

  /** PATCHes the blob from `offset` in chunks; returns the location to commit to. */
  async #patchFrom(location: string, offset: number, job: BlobJob, progress: (loc: string, off: number) => void): Promise<string> {
    const src = await job.open();
    try {
      const reader = new ByteReader(src);
      if (offset > 0) await reader.skip(offset);
      let loc = location;
      let off = offset;
      while (off < job.size) {
        const n = Math.min(this.t.chunkSize, job.size - off);
        const res = await this.#req({
          method: 'PATCH',
          url: loc,
          headers: {
            'content-type': 'application/octet-stream',
            'content-length': String(n),
            'content-range': `${off}-${off + n - 1}`,
          },
          body: Readable.from(reader.take(n)),
          noRedirect: true,
        });
        await this.#expect(res, 'PATCH', loc, [202, 204]);
        await drain(res);
        off += n;
        const next = header(res, 'location');
        loc = next ? this.session.url(next) : loc;
        progress(loc, off);
        this.#emit({ type: 'blob-upload-progress', repository: this.repository, digest: job.digest, bytes: off, size: job.size });
      }
      return loc;
    } finally {
      src.destroy();
    }
  }

  async #commit(location: string, digest: Digest): Promise<void> {
    const url = this.#withDigest(location, digest);
    const res = await this.#req({ method: 'PUT', url, headers: { 'content-length': '0' } });
    await this.#expect(res, 'PUT', location, [201]);
    await drain(res);
  }

  /** GET on an upload URL: where to continue, or undefined if the session is gone. */
  async #uploadStatus(location: string): Promise<{ location: string; offset: number } | undefined> {
    try {
      const res = await this.#req({ method: 'GET', url: location });
      await drain(res);
      if (res.statusCode !== 204 && res.statusCode !== 202) return undefined;
      const range = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '');
      // "0-0" means nothing (distribution cannot say one byte); chunks are far bigger than one byte.
      const end = range ? Number(range[1]) : -1;
      const offset = end > 0 ? end + 1 : 0;
      const next = header(res, 'location');
      return { location: next ? this.session.url(next) : location, offset };
    } catch {
      return undefined;
    }
  }

  async putManifest(reference: string, raw: Buffer, mediaType: string, digest: Digest): Promise<void> {
    const url = this.session.url(`/v2/${this.repository}/manifests/${reference}`);
    await this.withRetry({ method: 'PUT', url }, async () => {
      const res = await this.#req({ method: 'PUT', url, headers: { 'content-type': mediaType }, body: raw });
      await this.#expect(res, 'PUT', url, [201, 200, 202]);
      await drain(res);
      const got = header(res, 'docker-content-digest');
      if (got && got !== digest) {
        throw new RegistryError({ status: res.statusCode, method: 'PUT', url, errors: [{ code: 'DIGEST_MISMATCH', message: `registry stored ${got}, expected ${digest}` }] });
      }
    });
    this.#emit({ type: 'manifest-pushed', repository: this.repository, reference, digest, mediaType });
  }
}

/**
 * Reads exact byte counts from a stream, one chunk at a time (memory stays at
 * one stream chunk): `take(n)` yields the next n bytes, `skip(n)` drops them.
 */
export class ByteReader {
  readonly #it: AsyncIterator<Buffer>;
  #left: Buffer | undefined;
  constructor(src: Readable) {
    this.#it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }
  async #next(): Promise<Buffer> {
    if (this.#left && this.#left.length) {
      const b = this.#left;
      this.#left = undefined;
      return b;
    }
    const r = await this.#it.next();
    if (r.done) throw Object.assign(new Error('blob source ended early'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    return r.value;
  }
  async *take(count: number): AsyncGenerator<Buffer> {
    let need = count;
    while (need > 0) {
      const b = await this.#next();
      if (b.length > need) {
        this.#left = b.subarray(need);
        yield b.subarray(0, need);
        return;
      }
      need -= b.length;
      yield b;
    }
  }
  async skip(count: number): Promise<void> {
    for await (const _ of this.take(count)) {
      // discard
    }
  }
}

function pushScopes(repository: string, mountRepos: Iterable<string>): string[] {
  const s = [repositoryScope(repository, ['pull', 'push'])];
  for (const r of mountRepos) if (r !== repository) s.push(repositoryScope(r, ['pull']));
  return s;
}

/** Pushes one image to one repository, tagging every reference in `tags`. */
export async function pushImage(
  session: RegistrySession,
  repository: string,
  img: Image,
  tags: string[],
  options: { mountFrom: string[]; tuning: PushTuning },
): Promise<PushResult> {
  const [manifest, layers, rawManifest, digest, mediaType] = await Promise.all([img.manifest(), img.layers(), img.rawManifest(), img.digest(), img.mediaType()]);
  const jobs = new Map<Digest, BlobJob>();
  const sourceRepos = new Set<string>(options.mountFrom);
  layers.forEach((layer: Layer, i) => {
    const desc = manifest.layers[i]!;
    if (jobs.has(desc.digest)) return;
    const src = remoteSourceOf(layer);
    const from = [...(src && src.registry === session.registry ? [src.repository] : []), ...options.mountFrom];
    for (const r of from) sourceRepos.add(r);
    jobs.set(desc.digest, { digest: desc.digest, size: desc.size, open: () => layer.compressed(), mountFrom: from });
  });
  const scopes = pushScopes(repository, sourceRepos);
  const p = new Pusher(session, repository, scopes, options.tuning);
  const limit = pLimit(Math.max(1, options.tuning.concurrency));
  const counts = { uploaded: 0, mounted: 0, skipped: 0 };
  const tally = (r: Outcome): void => {
    counts[r]++;
  };
  await Promise.all([...jobs.values()].map((j) => limit(() => p.pushBlob(j).then(tally))));
  // The config goes after the layers (ggcr does the same: a registry may check references).
  const cfg = manifest.config;
  if (!jobs.has(cfg.digest)) {
    tally(
      await p.pushBlob({
        digest: cfg.digest,
        size: cfg.size,
        open: async () => Readable.from([await img.rawConfig()]),
        // An image that came from this registry has its config next to its layers.
        mountFrom: [...sourceRepos],
      }),
    );
  }
  const refs = tags.length ? tags : [digest];
  for (const t of refs) await p.putManifest(t, rawManifest, mediaType, digest);
  return { digest, ...counts };
}

/** Pushes an index: every child image by digest, then the index under each tag. */
export async function pushIndexTo(
  session: RegistrySession,
  repository: string,
  idx: ImageIndex,
  tags: string[],
  options: { mountFrom: string[]; tuning: PushTuning },
): Promise<PushResult> {
  const [ix, raw, digest, mediaType] = await Promise.all([idx.indexManifest(), idx.rawManifest(), idx.digest(), idx.mediaType()]);
  const counts = { uploaded: 0, mounted: 0, skipped: 0 };
  for (const d of ix.manifests) {
    const child = await idx.image(d);
    const r = await pushImage(session, repository, child, [], options);
    counts.uploaded += r.uploaded;
    counts.mounted += r.mounted;
    counts.skipped += r.skipped;
  }
  const p = new Pusher(session, repository, pushScopes(repository, options.mountFrom), options.tuning);
  for (const t of tags.length ? tags : [digest]) await p.putManifest(t, raw, mediaType, digest);
  return { digest, ...counts };
}
