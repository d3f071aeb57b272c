import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContentStore } from '../store.js';

export const WORKER = fileURLToPath(new URL('./store-worker.ts', import.meta.url));

/** A fresh directory per test, removed by the returned cleanup. */
export async function tempRoot(): Promise<{ root: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), 'tsbuild-store-'));
  return { root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** A store opened in a fresh tempRoot(), removed by the returned cleanup. */
export async function tempStore(): Promise<{ store: ContentStore; cleanup: () => Promise<void> }> {
  const { root, cleanup } = await tempRoot();
  return { store: await ContentStore.open(root), cleanup };
}

export async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

/** Run the store worker to completion; rejects on a non-zero exit with its stderr. */
export function runWorker(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`worker ${args.join(' ')} exited ${code ?? signal}: ${err}`));
    });
  });
}
