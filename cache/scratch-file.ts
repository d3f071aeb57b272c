/**
 * Archives are files: docker-archive and OCI tars are written and read by seeking. To stream one
 * to stdout or from stdin it goes through a file in a store scratch dir (removed afterwards, or
 * by the next command when this process is killed).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ContentStore } from './store.js';

/** `write` makes the file; its bytes then go to `out`. */
export async function streamViaScratchFile(store: ContentStore, write: (file: string) => Promise<void>, out: Writable): Promise<void> {
  await withScratchFile(store, async (file) => {
    await write(file);
    await pipeline(createReadStream(file), out, { end: false });
  });
}

/** `input` saved to a scratch file that `use` reads. */
export async function readViaScratchFile<T>(store: ContentStore, input: Readable, use: (file: string) => Promise<T>): Promise<T> {
  return withScratchFile(store, async (file) => {
    await pipeline(input, createWriteStream(file));
    return use(file);
  });
}

async function withScratchFile<T>(store: ContentStore, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await store.makeTempDir();
  try {
    return await fn(join(dir, 'archive.tar'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
