import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { applyLayer } from '../image/extract.js';
import type { TarSource } from '../image/tar/writer.js';

/**
 * `RUN --mount=type=cache` contents leave and enter the machine with the build
 * cache (buildkit#1512): a cache mount's directory as tar sources, and a tar
 * unpacked into a cache mount that does not exist here yet.
 */
export function cacheMountDir(stateRoot: string, id: string): string {
  return join(stateRoot, 'cache-mounts', createHash('sha256').update(id).digest('hex'));
}

/** Size of a cache mount in bytes (files only), or undefined when it does not exist. */
export async function cacheMountSize(stateRoot: string, id: string): Promise<number | undefined> {
  const dir = cacheMountDir(stateRoot, id);
  if (!existsSync(dir)) return undefined;
  let total = 0;
  for await (const e of walk(dir, '')) if (e.st.isFile()) total += e.st.size;
  return total;
}

/** The cache mount's tree as tar sources (sorted, streamed), or undefined when it does not exist. */
export function exportCacheMount(stateRoot: string, id: string): AsyncIterable<TarSource> | undefined {
  const dir = cacheMountDir(stateRoot, id);
  if (!existsSync(dir)) return undefined;
  return (async function* () {
    for await (const { rel, abs, st } of walk(dir, '')) {
      const base = { path: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isDirectory()) yield { header: { ...base, type: 'dir', size: 0 } };
      else if (st.isSymbolicLink()) yield { header: { ...base, type: 'symlink', size: 0, linkname: await readlink(abs) } };
      else if (st.isFile()) yield { header: { ...base, type: 'file', size: st.size }, body: () => createReadStream(abs) };
    }
  })();
}

/**
 * Unpacks `tar` as the cache mount `id` when this machine has none yet (local
 * contents always win). Written beside, then renamed: a reader never sees half of it.
 */
export async function importCacheMount(stateRoot: string, id: string, tar: Readable): Promise<boolean> {
  const dir = cacheMountDir(stateRoot, id);
  if (existsSync(dir)) {
    tar.resume();
    return false;
  }
  await mkdir(join(stateRoot, 'cache-mounts'), { recursive: true });
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp);
  try {
    await applyLayer(tar, tmp, { sameOwner: true });
    await rename(tmp, dir);
    return true;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

async function* walk(root: string, rel: string): AsyncGenerator<{ rel: string; abs: string; st: import('node:fs').Stats }> {
  const abs = rel ? join(root, rel) : root;
  const names = (await readdir(abs)).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1));
  for (const n of names) {
    const r = rel ? `${rel}/${n}` : n;
    const p = join(root, r);
    const st = await lstat(p);
    yield { rel: r, abs: p, st };
    if (st.isDirectory()) yield* walk(root, r);
  }
}
