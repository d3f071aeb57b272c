import { createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Dispatcher, request as leanRequest } from '../../registry/undici-lean.js';
import { HashingStream, type Digest } from '../../image/digest.js';
import type { ContextEntry } from '../context.js';
import { CopySourceError, type SourceLocation } from '../errors.js';

let shared: Promise<{ dispatcher: Dispatcher; request: typeof leanRequest }> | undefined;
/** One pooled client (loaded on first use) that follows redirects and honours HTTP(S)_PROXY / NO_PROXY. */
function client(): Promise<{ dispatcher: Dispatcher; request: typeof leanRequest }> {
  return (shared ??= import('../../registry/undici-lean.js').then((u) => ({
    dispatcher: new u.EnvHttpProxyAgent().compose(u.interceptors.redirect({ maxRedirections: 10 })),
    request: u.request,
  })));
}

export function isUrlSource(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/**
 * ADD of an http(s) URL, as docker does it: the file is downloaded (streamed to
 * disk, hashed on the way), checked against `--checksum`, named after the URL's
 * last path segment, given mode 0600 and the server's Last-Modified time.
 * Remote archives are not extracted.
 */
export async function downloadSource(
  url: string,
  tmpDir: string,
  o: { checksum?: string; loc?: SourceLocation; epoch?: number; signal?: AbortSignal },
): Promise<ContextEntry & { name: string; contentDigest: Digest }> {
  if (o.checksum !== undefined && !/^sha256:[a-f0-9]{64}$/.test(o.checksum)) {
    throw new CopySourceError(`invalid checksum ${JSON.stringify(o.checksum)}: want sha256:<64 hex>`, o.loc);
  }
  await mkdir(tmpDir, { recursive: true });
  const dir = await mkdtemp(join(tmpDir, 'add-'));
  const name = posix.basename(new URL(url).pathname) || 'download';
  const file = join(dir, name);
  let res;
  try {
    const { dispatcher, request } = await client();
    res = await request(url, { method: 'GET', dispatcher, signal: o.signal, headers: { 'user-agent': 'tsbuild' } });
  } catch (e) {
    throw new CopySourceError(`failed to download ${redact(url)}: ${(e as Error).message}`, o.loc);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    res.body.resume();
    throw new CopySourceError(`failed to download ${redact(url)}: HTTP ${res.statusCode}`, o.loc, { status: res.statusCode });
  }
  const hash = new HashingStream();
  await pipeline(res.body, hash, createWriteStream(file, { mode: 0o600 }));
  if (o.checksum !== undefined && hash.digest() !== o.checksum) {
    throw new CopySourceError(`digest mismatch for ${redact(url)}: --checksum wants ${o.checksum}, got ${hash.digest()}`, o.loc, {
      expected: o.checksum,
      got: hash.digest(),
    });
  }
  const lm = res.headers['last-modified'];
  const mtime = typeof lm === 'string' && !Number.isNaN(Date.parse(lm)) ? Date.parse(lm) / 1000 : (o.epoch ?? 0);
  await utimes(file, mtime, mtime);
  const st = await lstat(file);
  return {
    name,
    contentDigest: hash.digest(),
    path: url,
    absPath: file,
    type: 'file',
    mode: 0o600,
    uid: 0,
    gid: 0,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
  };
}

/** URLs may carry credentials (`https://user:pass@host`); errors never show them. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
