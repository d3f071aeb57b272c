#!/usr/bin/env node
// token-server.mjs -- minimal Docker Registry v2 token server (for tests of bearer auth). Copied from shared/tools.
// Started by test/registry-server.ts (mode token); not meant to be run by hand (config via env):
//   TOKEN_PORT, TOKEN_KEY (EC P-256 PEM), TOKEN_CRT (matching self-signed cert PEM),
//   TOKEN_ISSUER, TOKEN_SERVICE, TOKEN_USER, TOKEN_PASS
// Endpoints (127.0.0.1 only):
//   GET  /token?service=S&scope=repository:NAME:pull,push[&scope=...]   Basic auth optional
//   POST /token  (application/x-www-form-urlencoded OAuth2: grant_type=password, username,
//                 password, service, scope, client_id)   -- used by containerd/BuildKit
//   GET  /healthz
// Authenticated callers get every action they asked for; anonymous ones get an empty access
// list (so the registry answers 401/denied). Tokens: ES256 JWT with x5c = [cert], 300 s life.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';

const env = process.env;
const port = Number(env.TOKEN_PORT || 5003);
const key = crypto.createPrivateKey(fs.readFileSync(env.TOKEN_KEY));
const certPem = fs.readFileSync(env.TOKEN_CRT, 'utf8');
const certDerB64 = certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
const b64u = (b) => Buffer.from(b).toString('base64url');

function sign(sub, access) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'ES256', typ: 'JWT', x5c: [certDerB64] };
  const claims = {
    iss: env.TOKEN_ISSUER, sub: sub || '', aud: env.TOKEN_SERVICE,
    exp: now + 300, nbf: now - 10, iat: now, jti: crypto.randomUUID(), access,
  };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  // ES256 JWS wants the raw r||s signature (ieee-p1363), not DER.
  const sig = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

function parseScopes(list) {
  const out = [];
  for (const s of list) {
    for (const one of String(s).split(' ')) {
      const m = /^([^:]+):(.+):([^:]*)$/.exec(one); // type:name(with optional host:port? no):actions
      if (!m) continue;
      out.push({ type: m[1], name: m[2], actions: m[3] ? m[3].split(',') : [] });
    }
  }
  return out;
}

function checkCreds(user, pass) {
  return user === env.TOKEN_USER && pass === env.TOKEN_PASS;
}

function reply(req, res, sub, scopes, authed) {
  const access = authed ? scopes : [];
  const token = sign(sub, access);
  const body = JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
  console.log(new Date().toISOString(), req.method, authed ? `user=${sub}` : 'anonymous', JSON.stringify(access));
}

http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/healthz') { res.end('ok'); return; }
  if (url.pathname !== '/token') { res.writeHead(404); res.end(); return; }
  if (req.method === 'GET') {
    let user = '', authed = false;
    const h = req.headers.authorization || '';
    if (h.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(h.slice(6), 'base64').toString().split(':');
      if (!checkCreds(u, p.join(':'))) { res.writeHead(401, { 'content-type': 'application/json' }); res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}'); return; }
      user = u; authed = true;
    }
    reply(req, res, user, parseScopes(url.searchParams.getAll('scope')), authed);
    return;
  }
  if (req.method === 'POST') {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      const f = new URLSearchParams(data);
      if (f.get('grant_type') !== 'password' || !checkCreds(f.get('username'), f.get('password'))) {
        // refresh_token grants are not supported: say so like an OAuth2 server would
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"invalid_grant"}');
        return;
      }
      reply(req, res, f.get('username'), parseScopes(f.getAll('scope')), true);
    });
    return;
  }
  res.writeHead(405); res.end();
}).listen(port, '127.0.0.1', () => console.log(`token server on 127.0.0.1:${port}`));
