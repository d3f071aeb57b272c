import { createHash } from 'node:crypto';
import type { Digest } from '../../image/digest.js';

/** Deterministic content, produced in 64 KiB chunks so the store sees a real stream. */
export async function* content(label: string, bytes: number): AsyncGenerator<Buffer> {
  let left = bytes;
  for (let j = 0; left > 0; j++) {
    const seed = createHash('sha256').update(`${label}:${j}`).digest();
    const chunk = Buffer.alloc(Math.min(left, 64 * 1024));
    for (let o = 0; o < chunk.length; o += seed.length) seed.copy(chunk, o);
    left -= chunk.length;
    yield chunk;
    await new Promise((r) => setImmediate(r));
  }
}

/** The digest content(label, bytes) will have. */
export async function contentDigest(label: string, bytes: number): Promise<Digest> {
  const h = createHash('sha256');
  for await (const c of content(label, bytes)) h.update(c);
  return `sha256:${h.digest('hex')}`;
}
