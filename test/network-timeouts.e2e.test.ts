/**
 * Registries and URLs that misbehave, on real loopback sockets, driven through
 * the real CLI (pull, push, login, build FROM, ADD <url>) with short timeouts:
 * a server that accepts and never answers, one that sends headers and then
 * stalls the body, one that trickles a body slowly but steadily (must succeed),
 * a token service that answers while the blob stalls, an upload nobody reads.
 * Each failure must exit non-zero quickly, name the host and the phase, and
 * leave no temp file in the store's ingest/.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomImage } from '../image/random.js';
import type { Digest } from '../image/digest.js';
import { cli, removeAll, tempDir, type CliResult } from './helpers.js';

/** What the fake registry does with the request that matters. */
interface Behaviour {
  /** Ask for a bearer token from /token first. */
  token?: boolean;
  /** Layer blob GETs: send it all, stall after the first bytes, or trickle it in small steps. */
  blob?: 'ok' | 'stall' | 'trickle';
  /** Blob uploads: accept them, or read nothing and never answer. */
  upload?: 'ok' | 'ignore';
  /** GET /file (ADD <url>): stall after headers, or claim a size over the download limit. */
  file?: 'stall' | 'huge';
}

interface Served {
  manifest: Buffer;
  blobs: Map<string, Buffer>;
  layerDigest: Digest;
}

interface Fake {
  host: string;
  stop(): Promise<void>;
}

async function listen(server: Server, sockets: Set<Socket>): Promise<Fake> {
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  const host = `127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  return {
    host,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Accepts connections and never says a word. */
function silentServer(): Promise<Fake> {
  return listen(createNetServer(() => {}), new Set());
}

/** Enough of the distribution API to pull one image and to start an upload. */
function fakeRegistry(img: Served, b: Behaviour): Promise<Fake> {
  const sockets = new Set<Socket>();
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (path === '/token') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t","expires_in":300}');
    if (b.token && !req.headers.authorization) {
      req.resume();
      return void res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="fake"` }).end();
    }
    if (path === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    if (path === '/file') {
      if (b.file === 'huge') return void res.writeHead(200, { 'content-length': String(9 * 1024 ** 3) }).flushHeaders();
      res.writeHead(200, { 'content-length': '1000' });
      return void res.write(Buffer.alloc(10)); // then nothing
    }
    if (b.upload && /\/manifests\//.test(path)) {
      // a push target: it has nothing yet, and takes manifests
      req.resume();
      return void res.writeHead(req.method === 'PUT' ? 201 : 404).end();
    }
    if (/\/manifests\//.test(path)) {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'content-length': String(img.manifest.length) });
      return void res.end(req.method === 'HEAD' ? undefined : img.manifest);
    }
    const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path);
    if (blob) {
      const data = b.upload ? undefined : img.blobs.get(blob[1]!);
      if (!data || req.method === 'HEAD') return void res.writeHead(data ? 200 : 404, data ? { 'content-length': String(data.length) } : {}).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) });
      if (blob[1] !== img.layerDigest || (b.blob ?? 'ok') === 'ok') return void res.end(data);
      if (b.blob === 'stall') return void res.write(data.subarray(0, 16));
      // trickle: 1/12 of the blob every 150 ms, ~1.8 s in all, never silent for long
      const step = Math.ceil(data.length / 12);
      let off = 0;
      const timer = setInterval(() => {
        res.write(data.subarray(off, off + step));
        off += step;
        if (off >= data.length) {
          clearInterval(timer);
          res.end();
        }
      }, 150);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (req.method === 'POST' && path.endsWith('/blobs/uploads/')) {
      req.resume();
      return void res.writeHead(202, { location: `${path}u1`, range: '0-0' }).end();
    }
    if ((req.method === 'PUT' || req.method === 'PATCH') && path.includes('/blobs/uploads/')) {
      if (b.upload === 'ignore') return void req.socket.pause(); // read nothing, answer nothing
      req.resume();
      return void req.on('end', () => res.writeHead(req.method === 'PUT' ? 201 : 202, { location: path, range: '0-0' }).end());
    }
    req.resume();
    res.writeHead(404).end();
  });
  return listen(server, sockets);
}

async function servedImage(layerBytes: number): Promise<Served> {
  const img = await randomImage(layerBytes, 1, 7);
  const [layer] = await img.layers();
  const config = await img.rawConfig();
  const m = await img.manifest();
  const chunks: Buffer[] = [];
  for await (const c of await layer!.compressed()) chunks.push(c as Buffer);
  return {
    manifest: await img.rawManifest(),
    blobs: new Map([
      [m.config.digest, config],
      [m.layers[0]!.digest, Buffer.concat(chunks)],
    ]),
    layerDigest: m.layers[0]!.digest,
  };
}

async function leftoverTemps(root: string): Promise<string[]> {
  return (await readdir(join(root, 'ingest')).catch(() => [] as string[])).filter((n) => n.endsWith('.tmp'));
}

/** Short silences so each case ends in seconds; the deadline long enough not to fire unless a case wants it. */
const IDLE = '300ms';

describe('network timeouts against misbehaving loopback servers (CLI)', function () {
  this.timeout(60_000);
  let small: Served;
  let big: Served;
  let root: string;
  const fakes: Fake[] = [];
  const start = async (f: Promise<Fake>): Promise<string> => {
    const fake = await f;
    fakes.push(fake);
    return fake.host;
  };

  before(async () => {
    small = await servedImage(64 * 1024);
    // incompressible, bigger than loopback socket buffers: an unread upload must stall
    big = await servedImage(24 << 20);
  });
  beforeEach(async () => {
    root = await tempDir('tsb-timeouts-');
  });
  afterEach(async () => {
    await Promise.all(fakes.splice(0).map((f) => f.stop()));
    await removeAll(root);
  });

  async function run(argv: string[], deadline = '30s'): Promise<CliResult & { ms: number }> {
    const t0 = Date.now();
    const r = await cli([...argv, '--root', root], { TSBUILD_NETWORK_TIMEOUT: deadline, TSBUILD_NETWORK_IDLE_TIMEOUT: IDLE });
    return { ...r, ms: Date.now() - t0 };
  }

  async function assertFailed(r: CliResult & { ms: number }, host: string, phase: RegExp, maxMs: number): Promise<void> {
    assert.notEqual(r.code, 0, `exit code (stderr: ${r.stderr})`);
    assert.ok(r.stderr.includes(host), `names the host ${host}: ${r.stderr}`);
    assert.match(r.stderr, phase);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
    assert.ok(r.ms < maxMs, `failed in ${r.ms} ms, want < ${maxMs}`);
    assert.deepEqual(await leftoverTemps(root), [], 'no temp file left in ingest/');
  }

  // [name, server, argv(host), phase in the message, most it may take]
  const failures: Array<[string, () => Promise<Fake>, (h: string) => string[], RegExp, number]> = [
    ['pull: accepts but never answers (headers timeout, after GET retries)', silentServer, (h) => ['pull', `${h}/app:1`], /timed out waiting for response headers \(GET http:\/\/127\.0\.0\.1:\d+\/v2\/\): no response for 300ms/, 15_000],
    ['pull: headers, then the blob body stalls', () => fakeRegistry(small, { blob: 'stall' }), (h) => ['pull', `${h}/app:1`], /timed out reading body of blob sha256:[a-f0-9]{64} of app: no progress for 300ms/, 15_000],
    ['pull: the token service answers, the blob stalls', () => fakeRegistry(small, { token: true, blob: 'stall' }), (h) => ['pull', `${h}/app:1`], /timed out reading body of blob sha256:[a-f0-9]{64} of app/, 15_000],
    ['login: accepts but never answers', silentServer, (h) => ['login', '-u', 'u', '-p', 'p', h], /timed out waiting for response headers \(GET http:\/\/127\.0\.0\.1:\d+\/v2\/\)/, 15_000],
  ];
  for (const [name, server, argv, phase, maxMs] of failures) {
    it(name, async () => {
      const host = await start(server());
      await assertFailed(await run(argv(host)), host, phase, maxMs);
    });
  }

  it('pull: the deadline (--network-timeout) ends a registry that never answers, and says so', async () => {
    const host = await start(silentServer());
    const t0 = Date.now();
    const r = await cli(['pull', '--network-timeout', '1s', `${host}/app:1`, '--root', root], { TSBUILD_NETWORK_IDLE_TIMEOUT: '60s' });
    await assertFailed({ ...r, ms: Date.now() - t0 }, host, new RegExp(`pull of ${host}/app:1 exceeded its 1s deadline \\(--network-timeout\\) while waiting for GET http://${host}/v2/`), 5_000);
  });

  it('pull: a body that trickles slowly but steadily succeeds (slower than the idle timeout in all)', async () => {
    const host = await start(fakeRegistry(small, { token: true, blob: 'trickle' }));
    const r = await run(['pull', `${host}/app:1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.ms > 1500, `the trickle took ${r.ms} ms, longer than several idle timeouts`);
    assert.match(r.stdout, /Digest: sha256:/);
  });

  it('pull: the deadline also covers a trickling body', async () => {
    const host = await start(fakeRegistry(small, { blob: 'trickle' }));
    const r = await run(['pull', `${host}/app:1`], '800ms');
    await assertFailed(r, host, /exceeded its 800ms deadline \(--network-timeout\) while reading blob sha256:[a-f0-9]{64} of app/, 5_000);
  });

  it('build: FROM a registry whose blob stalls', async () => {
    const host = await start(fakeRegistry(small, { blob: 'stall' }));
    const ctx = await tempDir('tsb-timeouts-ctx-');
    try {
      await writeFile(join(ctx, 'Dockerfile'), `FROM ${host}/app:1\nENV A=1\n`);
      await assertFailed(await run(['build', '--progress', 'plain', ctx]), host, /timed out reading body of blob sha256:[a-f0-9]{64} of app/, 15_000);
    } finally {
      await removeAll(ctx);
    }
  });

  const addCases: Array<[string, Behaviour, RegExp]> = [
    ['ADD <url>: headers, then the body stalls', { file: 'stall' }, /failed to download http:\/\/127\.0\.0\.1:\d+\/file: 127\.0\.0\.1:\d+: timed out reading body of GET http:\/\/127\.0\.0\.1:\d+\/file: no progress for 300ms/],
    ['ADD <url>: a Content-Length over the download limit fails before reading', { file: 'huge' }, /is 9663676416 bytes, more than the 8589934592 allowed/],
  ];
  for (const [name, behaviour, want] of addCases) {
    it(name, async () => {
      const host = await start(fakeRegistry(small, behaviour));
      const ctx = await tempDir('tsb-timeouts-ctx-');
      try {
        await writeFile(join(ctx, 'Dockerfile'), `FROM scratch\nADD http://${host}/file /f\n`);
        await assertFailed(await run(['build', '--progress', 'plain', ctx]), host, want, 15_000);
      } finally {
        await removeAll(ctx);
      }
    });
  }

  it('push: an upload the registry never reads fails as a stalled upload, not a hang', async () => {
    const good = await start(fakeRegistry(big, {}));
    const pulled = await run(['pull', `${good}/app:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const host = await start(fakeRegistry(big, { upload: 'ignore' }));
    const r = await run(['push', `${good}/app:1`, `${host}/app:1`]);
    await assertFailed(r, host, /timed out sending blob upload (of sha256:[a-f0-9]{64} )?to app: no progress for 300ms/, 30_000);
  });

  it('push: the deadline cuts the retries of a stalled upload', async () => {
    const good = await start(fakeRegistry(big, {}));
    assert.equal((await run(['pull', `${good}/app:1`])).code, 0);
    const host = await start(fakeRegistry(big, { upload: 'ignore' }));
    const r = await run(['push', `${good}/app:1`, `${host}/app:1`], '1500ms');
    await assertFailed(r, host, new RegExp(`push of ${host}/app:1 exceeded its 1.5s deadline`), 6_000);
  });
});
