/**
 * docker-credential-<name> helpers (the docker credential-helper protocol):
 * `get` reads the server URL on stdin and prints {ServerURL, Username, Secret};
 * `store` reads that JSON; `erase` reads the server URL. These helpers are the
 * only processes registry/ ever starts. Their output is never logged.
 */
import { spawn } from 'node:child_process';
import { CredentialHelperError } from '../errors.js';

export interface HelperCredential {
  ServerURL?: string;
  Username: string;
  Secret: string;
}

const NOT_FOUND = /credentials not found/i;
const HELPER_NAME = /^[A-Za-z0-9_.-]+$/;
const TIMEOUT_MS = 30_000;

function run(helper: string, op: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> {
  if (!HELPER_NAME.test(helper)) return Promise.reject(new CredentialHelperError(helper, op, 'invalid helper name'));
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, [op], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new CredentialHelperError(helper, op, e.code === 'ENOENT' ? 'not found in PATH' : e.code ?? e.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out: Buffer.concat(out).toString('utf8'), err: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // a helper that exits early closes the pipe
    child.stdin.end(input);
  });
}

/** Asks a helper for the credentials of `serverURL`; undefined when it has none. */
export async function helperGet(helper: string, serverURL: string, env: NodeJS.ProcessEnv = process.env): Promise<HelperCredential | undefined> {
  const r = await run(helper, 'get', serverURL, env);
  if (r.code !== 0) {
    if (NOT_FOUND.test(r.out) || NOT_FOUND.test(r.err)) return undefined;
    // The helper's own message could echo input; keep only its first line, which is never a secret in practice.
    throw new CredentialHelperError(helper, 'get', `exit ${r.code}: ${(r.err || r.out).split('\n')[0]!.slice(0, 200)}`);
  }
  let j: Partial<HelperCredential>;
  try {
    j = JSON.parse(r.out) as Partial<HelperCredential>;
  } catch {
    throw new CredentialHelperError(helper, 'get', 'output is not JSON');
  }
  if (typeof j.Secret !== 'string' || j.Secret === '') return undefined;
  return { Username: typeof j.Username === 'string' ? j.Username : '', Secret: j.Secret, ServerURL: j.ServerURL ?? serverURL };
}

export async function helperStore(helper: string, cred: HelperCredential & { ServerURL: string }, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const r = await run(helper, 'store', JSON.stringify(cred), env);
  if (r.code !== 0) throw new CredentialHelperError(helper, 'store', `exit ${r.code}`);
}

export async function helperErase(helper: string, serverURL: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const r = await run(helper, 'erase', serverURL, env);
  if (r.code !== 0 && !NOT_FOUND.test(r.out + r.err)) throw new CredentialHelperError(helper, 'erase', `exit ${r.code}`);
}
