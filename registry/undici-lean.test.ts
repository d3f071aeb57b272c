import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as undici from 'undici';
import { EnvHttpProxyAgent, interceptors, request } from './undici-lean.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

describe('registry/undici-lean', () => {
  it('hands out undici’s own classes and interceptors (the same objects as its entry point)', () => {
    assert.equal(EnvHttpProxyAgent, undici.EnvHttpProxyAgent);
    assert.equal(interceptors.redirect, undici.interceptors.redirect);
    assert.equal(interceptors.retry, undici.interceptors.retry);
  });

  it('loads neither undici’s entry point nor fetch/WebSocket/cache (what it exists to avoid)', () => {
    const script = `
      await import('./registry/undici-lean.ts');
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('/node_modules/undici/'));
      console.log(JSON.stringify(loaded));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
    const loaded = JSON.parse(out.trim().split('\n').pop()!) as string[];
    assert.ok(loaded.some((p) => p.endsWith('/lib/dispatcher/env-http-proxy-agent.js')), 'the agent is loaded');
    const heavy = loaded.filter((p) => /\/undici\/index\.js$|\/lib\/web\/|\/lib\/mock\/|\/lib\/cache\//.test(p));
    assert.deepEqual(heavy, []);
  });

  describe('request', () => {
    let server: Server;
    let base: string;
    before(async () => {
      server = createServer((req, res) => {
        if (req.url === '/moved?x=1') {
          res.writeHead(307, { location: '/target?y=2' }).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`${req.method} ${req.url} ${req.headers['user-agent'] ?? ''}`);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    const cases: Array<[string, string, string]> = [
      ['path and query reach the server', '/a/b?c=d', 'GET /a/b?c=d ua'],
      ['a redirect is followed through the interceptor', '/moved?x=1', 'GET /target?y=2 ua'],
    ];
    for (const [name, path, want] of cases) {
      it(name, async () => {
        const agent = new EnvHttpProxyAgent();
        try {
          const res = await request(base + path, {
            dispatcher: agent.compose(interceptors.redirect({ maxRedirections: 2 })),
            method: 'GET',
            headers: { 'user-agent': 'ua' },
          });
          assert.equal(res.statusCode, 200);
          assert.equal(await res.body.text(), want);
        } finally {
          await agent.close();
        }
      });
    }
  });
});
