/**
 * Test helper: a REAL docker-registry (Docker Distribution 2.8, Debian package)
 * on 127.0.0.1 with a free port and a temp storage dir, in one of three modes:
 * plain (anonymous), basic (htpasswd bcrypt) or token (bearer tokens from
 * test/token-server.mjs, ES256 with an x5c self-signed cert). Tests stop it after.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export type RegistryMode = 'plain' | 'basic' | 'token';

export interface TestRegistry {
  mode: RegistryMode;
  /** `127.0.0.1:PORT`, usable as a reference's registry. */
  host: string;
  port: number;
  /** Storage root (docker/registry/v2/... lives under it). */
  dataDir: string;
  user: string;
  password: string;
  tokenPort?: number;
  stop(): Promise<void>;
}

const HERE = dirname(fileURLToPath(import.meta.url));

export { missingTools, requireTools } from './tools.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function answers(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

async function waitHttp(url: string, child: ChildProcess, log: () => string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before ${url} answered:\n${log()}`);
    if (await answers(url)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer in ${ms} ms:\n${log()}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args[0]} failed: ${r.stderr?.toString() ?? ''}`);
}

export async function startRegistry(o: { mode?: RegistryMode; user?: string; password?: string } = {}): Promise<TestRegistry> {
  const mode = o.mode ?? 'plain';
  const user = o.user ?? 'tsbuild';
  const password = o.password ?? 'tsbuild-secret';
  const dir = await mkdtemp(join(tmpdir(), `tsb-registry-${mode}-`));
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const children: ChildProcess[] = [];
  let authBlock = '';
  let tokenPort: number | undefined;
  const logs: string[] = [];
  const collect = (c: ChildProcess): void => {
    c.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
    c.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  };
  try {
    if (mode === 'basic') {
      run('htpasswd', ['-Bbc', join(dir, 'htpasswd'), user, password]);
      authBlock = `auth:\n  htpasswd:\n    realm: tsbuild-test-realm\n    path: ${join(dir, 'htpasswd')}\n`;
    } else if (mode === 'token') {
      tokenPort = await freePort();
      run('openssl', [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
        '-subj', '/CN=tsbuild-token-issuer', '-keyout', join(dir, 'token.key'), '-out', join(dir, 'token.crt'),
      ]);
      authBlock =
        `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: tsbuild-registry\n` +
        `    issuer: tsbuild-token-issuer\n    rootcertbundle: ${join(dir, 'token.crt')}\n`;
      const ts = spawn(process.execPath, [join(HERE, 'token-server.mjs')], {
        env: {
          PATH: process.env['PATH'] ?? '',
          TOKEN_PORT: String(tokenPort),
          TOKEN_KEY: join(dir, 'token.key'),
          TOKEN_CRT: join(dir, 'token.crt'),
          TOKEN_ISSUER: 'tsbuild-token-issuer',
          TOKEN_SERVICE: 'tsbuild-registry',
          TOKEN_USER: user,
          TOKEN_PASS: password,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(ts);
      collect(ts);
      await waitHttp(`http://127.0.0.1:${tokenPort}/healthz`, ts, () => logs.join(''));
    }
    const config =
      `version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dataDir}\n` +
      `  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n  maintenance:\n    uploadpurging:\n      enabled: false\n` +
      `http:\n  addr: 127.0.0.1:${port}\n  secret: tsbuild-test-secret\n${authBlock}`;
    await writeFile(join(dir, 'config.yml'), config);
    // REGISTRY_* variables would override the file: pass a clean environment.
    const reg = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
      env: { PATH: process.env['PATH'] ?? '', HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(reg);
    collect(reg);
    await waitHttp(`http://127.0.0.1:${port}/v2/`, reg, () => logs.join(''));
  } catch (e) {
    for (const c of children.reverse()) await stopChild(c);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const r: TestRegistry = {
    mode,
    host: `127.0.0.1:${port}`,
    port,
    dataDir,
    user,
    password,
    async stop() {
      for (const c of children.reverse()) await stopChild(c);
      await rm(dir, { recursive: true, force: true });
    },
  };
  if (tokenPort !== undefined) r.tokenPort = tokenPort;
  return r;
}
