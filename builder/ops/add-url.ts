import { createWriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { RegistryClient } from '../../registry/client.js';
import { HashingStream, type Digest } from '../../image/digest.js';
import type { ContextEntry } from '../context.js';
import { CopySourceError, type SourceLocation } from '../errors.js';

export function isUrlSource(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/**
 * ADD of an http(s) URL, as docker does it: the file is downloaded (streamed to
 * disk, hashed on the way), checked against `--checksum`, named after the URL's
 * last path segment, given mode 0600 and the server's Last-Modified time.
 * Remote archives are not extracted. The HTTP goes through registry/ (its
 * agent, proxies, timeouts, deadline and size limit), like every request.
 */
export async function downloadSource(
  http: Pick<RegistryClient, 'download'>,
  url: string,
  tmpDir: string,
  options: { checksum?: string; loc?: SourceLocation; epoch?: number; signal?: AbortSignal; maxBytes?: number },
): Promise<ContextEntry & { name: string; contentDigest: Digest }> {
  if (options.checksum !== undefined && !/^sha256:[a-f0-9]{64}$/.test(options.checksum)) {
    throw new CopySourceError(`invalid checksum ${JSON.stringify(options.checksum)}: want sha256:<64 hex>`, options.loc);
  }
  await mkdir(tmpDir, { recursive: true });
  const dir = await mkdtemp(join(tmpDir, 'add-'));
  const name = posix.basename(new URL(url).pathname) || 'download';
  const file = join(dir, name);
  const failed = (e: unknown): CopySourceError =>
    new CopySourceError(`failed to download ${redact(url)}: ${(e as Error).message}`, options.loc, { cause: (e as { code?: string }).code });
  let res;
  try {
    res = await http.download(url, { ...(options.signal ? { signal: options.signal } : {}), ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}) });
  } catch (e) {
    throw failed(e);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) {
    res.body.destroy();
    throw new CopySourceError(`failed to download ${redact(url)}: HTTP ${res.statusCode}`, options.loc, { status: res.statusCode });
  }
  const hash = new HashingStream();
  try {
    await pipeline(res.body, hash, createWriteStream(file, { mode: 0o600 }));
  } catch (e) {
    throw failed(e);
  }
  if (options.checksum !== undefined && hash.digest() !== options.checksum) {
    throw new CopySourceError(`digest mismatch for ${redact(url)}: --checksum wants ${options.checksum}, got ${hash.digest()}`, options.loc, {
      expected: options.checksum,
      got: hash.digest(),
    });
  }
  const lm = res.headers['last-modified'];
  const mtime = typeof lm === 'string' && !Number.isNaN(Date.parse(lm)) ? Date.parse(lm) / 1000 : (options.epoch ?? 0);
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
