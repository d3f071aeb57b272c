/**
 * Fault injection: an HTTP proxy between the client and a REAL docker-registry
 * drops connections mid-upload and answers 429/500/503 a few times. Pushes must
 * complete with an intact image, and the retries must show up in events.
 * Also: blob GETs redirected (307) to another origin never carry Authorization.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomImage } from '../image/random.js';
import { validateImage } from '../image/validate.js';
import { requireTools, startRegistry, type TestRegistry } from '../test/registry-server.js';
import { parseReference, RegistryClient, type RegistryEvent } from './index.js';

type Action =
  | { kind: 'status'; status: number; headers?: Record<string, string>; code: string }
  | { kind: 'reset' } // destroy the socket before answering
  | { kind: 'drop-body'; afterBytes: number; forward: boolean } // read part of the request body, then cut the connection
  | { kind: 'redirect'; to: (req: IncomingMessage) => string }
  | { kind: 'add-headers'; headers: Record<string, string> }; // forward, adding response headers

interface Rule {
  name: string;
  match: (req: IncomingMessage) => boolean;
  times: number;
  action: Action;
}

interface FaultProxy {
  port: number;
  fired: Map<string, number>;
  stop(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    }),
  );
}

async function startFaultProxy(target: number, rules: Rule[]): Promise<FaultProxy> {
  const fired = new Map<string, number>();
  const forward = (req: IncomingMessage, res: ServerResponse, cutAfter?: number, extra: Record<string, string> = {}): void => {
    const up = httpRequest({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, { ...ur.headers, ...extra });
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    if (cutAfter === undefined) {
      req.pipe(up);
      return;
    }
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      up.write(c);
      if (n >= cutAfter) {
        up.destroy();
        req.socket.destroy();
      }
    });
  };
  const server = createServer((req, res) => {
    const rule = rules.find((r) => r.times > 0 && r.match(req));
    if (!rule) {
      forward(req, res);
      return;
    }
    rule.times--;
    fired.set(rule.name, (fired.get(rule.name) ?? 0) + 1);
    const a = rule.action;
    switch (a.kind) {
      case 'status':
        req.resume();
        req.on('end', () => {
          res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
          res.end(JSON.stringify({ errors: [{ code: a.code, message: 'injected fault' }] }));
        });
        return;
      case 'reset':
        req.socket.destroy();
        return;
      case 'drop-body': {
        if (a.forward) {
          forward(req, res, a.afterBytes);
          return;
        }
        let n = 0;
        req.on('data', (c: Buffer) => {
          n += c.length;
          if (n >= a.afterBytes) req.socket.destroy();
        });
        return;
      }
      case 'add-headers':
        forward(req, res, undefined, a.headers);
        return;
      case 'redirect':
        req.resume();
        res.writeHead(307, { location: a.to(req) });
        res.end();
        return;
    }
  });
  const port = await listen(server);
  return {
    port,
    fired,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const isBlobUpload = (m: string) => (req: IncomingMessage) => req.method === m && /\/blobs\/uploads\//.test(req.url ?? '');

describe('registry client under faults (proxy in front of a real docker-registry)', function () {
  this.timeout(60_000);
  let reg: TestRegistry;
  let basic: TestRegistry;
  const cleanup: Array<() => Promise<void>> = [];
  before(async function () {
    requireTools(this, ['docker-registry', 'htpasswd', 'skopeo']);
    [reg, basic] = await Promise.all([startRegistry({ mode: 'plain' }), startRegistry({ mode: 'basic' })]);
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c();
    await Promise.all([reg?.stop(), basic?.stop()]);
  });

  it('push completes through dropped connections, 429s and 5xxs; retries are reported; the image is intact', async () => {
    const rules: Rule[] = [
      { name: 'head-503', match: (r) => r.method === 'HEAD' && /\/blobs\/sha256:/.test(r.url ?? ''), times: 2, action: { kind: 'status', status: 503, code: 'UNAVAILABLE' } },
      { name: 'post-429', match: isBlobUpload('POST'), times: 2, action: { kind: 'status', status: 429, headers: { 'retry-after': '0' }, code: 'TOOMANYREQUESTS' } },
      // Cut the second chunk of a chunked upload: the client must continue from the registry's offset.
      { name: 'patch-drop', match: (r) => isBlobUpload('PATCH')(r) && !String(r.headers['content-range']).startsWith('0-'), times: 2, action: { kind: 'drop-body', afterBytes: 1000, forward: false } },
      {
        name: 'put-drop-forwarded',
        match: (r) => isBlobUpload('PUT')(r) && Number(r.headers['content-length']) > 0,
        times: 1,
        action: { kind: 'drop-body', afterBytes: 500, forward: true },
      },
      { name: 'manifest-500', match: (r) => r.method === 'PUT' && /\/manifests\//.test(r.url ?? ''), times: 1, action: { kind: 'status', status: 500, code: 'UNKNOWN' } },
      { name: 'get-blob-500', match: (r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.url ?? ''), times: 2, action: { kind: 'status', status: 500, code: 'UNKNOWN' } },
      { name: 'get-manifest-reset', match: (r) => r.method === 'GET' && /\/manifests\//.test(r.url ?? ''), times: 1, action: { kind: 'reset' } },
    ];
    const proxy = await startFaultProxy(reg.port, rules);
    cleanup.push(() => proxy.stop());
    const events: RegistryEvent[] = [];
    // Two layers: one small (monolithic PUT), one bigger (chunked PATCHes).
    const small = await randomImage(2000, 1);
    const img = await randomImage(40_000, 2);
    const client = new RegistryClient({
      retry: { attempts: 6, baseMs: 5, maxMs: 40 },
      monolithicMax: 8_000,
      chunkSize: 16_000,
      concurrency: 2,
      onEvent: (e) => events.push(e),
    });
    try {
      const host = `127.0.0.1:${proxy.port}`;
      await client.push(small, [parseReference(`${host}/faults/small:v1`)]);
      const r = await client.push(img, [parseReference(`${host}/faults/app:v1`)]);
      assert.equal(r.digest, await img.digest());
      const pulled = await client.getImage(parseReference(`${host}/faults/app:v1`));
      assert.equal(await pulled.digest(), r.digest);
      await validateImage(pulled);
    } finally {
      await client.close();
    }
    for (const rule of rules) assert.equal(proxy.fired.get(rule.name), rule.name.endsWith('forwarded') || rule.name === 'get-manifest-reset' || rule.name === 'manifest-500' ? 1 : 2, `rule ${rule.name} fired`);
    const retries = events.filter((e): e is Extract<RegistryEvent, { type: 'retry' }> => e.type === 'retry');
    const statuses = new Set(retries.map((e) => e.status).filter((s) => s !== undefined));
    for (const s of [429, 500, 503]) assert.ok(statuses.has(s), `a retry after ${s} was reported (got ${[...statuses].join(',')})`);
    assert.ok(retries.some((e) => e.status === undefined && e.errorCode !== undefined), 'a retry after a dropped connection was reported');
    assert.ok(events.some((e) => e.type === 'upload-resumed' && e.offset > 0), 'a chunked upload resumed from the registry’s offset');
    // An independent client agrees the image is there and whole.
    const info = JSON.parse(spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/faults/app:v1`], { encoding: 'utf8' }).stdout) as { Digest: string };
    assert.equal(info.Digest, await img.digest());
  });

  it('gives up after the retry budget with the registry’s own error', async () => {
    const proxy = await startFaultProxy(reg.port, [
      { name: 'post-503', match: isBlobUpload('POST'), times: 100, action: { kind: 'status', status: 503, code: 'UNAVAILABLE' } },
    ]);
    cleanup.push(() => proxy.stop());
    const events: RegistryEvent[] = [];
    const client = new RegistryClient({ retry: { attempts: 3, baseMs: 1, maxMs: 5 }, onEvent: (e) => events.push(e) });
    try {
      await assert.rejects(client.push(await randomImage(100, 1), [parseReference(`127.0.0.1:${proxy.port}/faults/never:v1`)]), (e: Error & { registryCode?: string; temporary?: boolean }) => {
        assert.equal(e.registryCode, 'UNAVAILABLE');
        assert.equal(e.temporary, true);
        return true;
      });
    } finally {
      await client.close();
    }
    assert.ok(events.filter((e) => e.type === 'retry').length >= 2);
  });

  it('reports Docker Hub style rate-limit headers', async () => {
    const proxy = await startFaultProxy(reg.port, [
      {
        name: 'ratelimit',
        match: (r) => /\/manifests\//.test(r.url ?? ''),
        times: 100,
        action: { kind: 'add-headers', headers: { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600', 'docker-ratelimit-source': '192.0.2.1' } },
      },
    ]);
    cleanup.push(() => proxy.stop());
    const events: RegistryEvent[] = [];
    const client = new RegistryClient({ onEvent: (e) => events.push(e) });
    try {
      const ref = parseReference(`127.0.0.1:${proxy.port}/rl/app:v1`);
      await client.push(await randomImage(100, 1), [ref]);
      await client.head(ref);
    } finally {
      await client.close();
    }
    assert.ok(events.some((e) => e.type === 'rate-limit' && e.limit === '100;w=21600' && e.remaining === '76;w=21600' && e.source === '192.0.2.1'));
  });

  it('blob GETs redirected to another origin do not carry Authorization', async () => {
    const seen: Array<string | undefined> = [];
    const auth = `Basic ${Buffer.from(`${basic.user}:${basic.password}`).toString('base64')}`;
    // "Object storage" on another port: refuses requests that carry credentials, like S3 does.
    const storage = createServer((req, res) => {
      seen.push(req.headers['authorization']);
      if (req.headers['authorization']) {
        res.writeHead(400).end('credentials sent to storage');
        return;
      }
      const path = new URL(req.url!, 'http://x').searchParams.get('path')!;
      const up = httpRequest({ host: '127.0.0.1', port: basic.port, path, headers: { authorization: auth } }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.end();
    });
    const storagePort = await listen(storage);
    cleanup.push(() => new Promise((r) => storage.close(() => r())));
    const proxy = await startFaultProxy(basic.port, [
      {
        name: 'redirect',
        match: (r) => r.method === 'GET' && /\/blobs\/sha256:/.test(r.url ?? ''),
        times: 100,
        action: { kind: 'redirect', to: (r) => `http://127.0.0.1:${storagePort}/bucket?path=${encodeURIComponent(r.url!)}&X-Amz-Signature=s` },
      },
    ]);
    cleanup.push(() => proxy.stop());
    const dir = await mkdtemp(join(tmpdir(), 'tsb-redir-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [`127.0.0.1:${proxy.port}`]: { auth: Buffer.from(`${basic.user}:${basic.password}`).toString('base64') } } }));
    const client = new RegistryClient({ dockerConfigDir: dir });
    try {
      const img = await randomImage(3000, 2);
      const ref = parseReference(`127.0.0.1:${proxy.port}/redir/app:v1`);
      await client.push(img, [ref]);
      const pulled = await client.getImage(ref);
      await validateImage(pulled);
    } finally {
      await client.close();
    }
    assert.ok(seen.length >= 3, `storage served config + layers (${seen.length})`);
    assert.deepEqual(seen.filter((h) => h !== undefined), []);
  });
});
