/**
 * Reading a Dockerfile: from a path or a stream (stdin for `-f -`), never more
 * than MAX_DOCKERFILE_BYTES (`-f /dev/zero` or an endless pipe must not fill
 * memory), with errors that say what is wrong with the path.
 */
import { open } from 'node:fs/promises';
import { dockerfileTooLarge, MAX_DOCKERFILE_BYTES } from '../parser/index.js';
import { BuildUsageError } from './errors.js';

/** The Dockerfile at `path`; `label` is how errors name it. */
export async function readDockerfile(path: string, label = path): Promise<string> {
  const fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new BuildUsageError(`failed to read dockerfile: open ${path}: ${reasonOf(e)}`);
  });
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new BuildUsageError(`failed to read dockerfile: ${path} is a directory, not a file`);
    // Not stat's size: a device or a pipe has none, and a file may grow while it is read.
    return await readBounded(fh.createReadStream({ autoClose: false }), label);
  } finally {
    await fh.close();
  }
}

/** The Dockerfile a stream carries (stdin for `-f -`), read up to the limit. */
export async function readBounded(stream: AsyncIterable<Uint8Array>, label: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > MAX_DOCKERFILE_BYTES) throw dockerfileTooLarge(label);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function reasonOf(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return e.message;
  }
}
