import assert from 'node:assert/strict';
import { createHash, createHmac, createVerify, generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseChallenges } from './challenge.js';
import { decodeAuth, findAuthEntry, helperFor, type DockerConfigFile } from './docker-config.js';
import { DefaultKeychain } from './keychain.js';
import { createHttpClient, type HttpClient } from '../http.js';
import { AuthError } from '../errors.js';
import { parseEcrRegistry, parseIni } from './ecr.js';
import { isGoogleRegistry } from './google.js';

function listen(handler: (req: IncomingMessage, body: Buffer, res: ServerResponse) => void): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => handler(req, Buffer.concat(chunks), res));
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a ? a.port : 0 });
    });
  });
}

describe('WWW-Authenticate parsing', () => {
  const table: Array<[string, Array<{ scheme: string; params: Record<string, string> }>]> = [
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      [{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } }],
    ],
    [
      'Bearer realm="http://x/t", service="s", error="insufficient_scope", scope="repository:a:pull,push repository:b:pull"',
      [{ scheme: 'bearer', params: { realm: 'http://x/t', service: 's', error: 'insufficient_scope', scope: 'repository:a:pull,push repository:b:pull' } }],
    ],
    ['bearer realm=http://unquoted/t,service=svc', [{ scheme: 'bearer', params: { realm: 'http://unquoted/t', service: 'svc' } }]],
    ['Basic realm="a\\"b", Bearer realm="r"', [{ scheme: 'basic', params: { realm: 'a"b' } }, { scheme: 'bearer', params: { realm: 'r' } }]],
    ['', []],
  ];
  for (const [h, want] of table) it(JSON.stringify(h).slice(0, 60), () => assert.deepEqual(parseChallenges(h), want));
});

describe('docker config.json lookups', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const cfg: DockerConfigFile = {
    auths: {
      'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
      'http://myreg.example:5000/v2/': { auth: b64('u1:p1') },
      'ghcr.io': { identitytoken: 'refresh' },
    },
    credHelpers: { 'gcr.io': 'gcloud', 'index.docker.io': 'desktop' },
  };
  const table: Array<[string, string | undefined]> = [
    ['docker.io', b64('hubuser:hub:pass')],
    ['myreg.example:5000', b64('u1:p1')],
    ['myreg.example', undefined],
    ['quay.io', undefined],
  ];
  for (const [reg, auth] of table) it(`auths for ${reg}`, () => assert.equal(findAuthEntry(cfg, reg)?.auth, auth));
  it('identity token entry', () => assert.equal(findAuthEntry(cfg, 'ghcr.io')?.identitytoken, 'refresh'));
  it('helpers: credHelpers by host, then credsStore', () => {
    assert.equal(helperFor(cfg, 'gcr.io'), 'gcloud');
    assert.equal(helperFor(cfg, 'docker.io'), 'desktop');
    assert.equal(helperFor(cfg, 'quay.io'), undefined);
    assert.equal(helperFor({ ...cfg, credsStore: 'pass' }, 'quay.io'), 'pass');
  });
  it('decodes passwords containing colons', () => assert.deepEqual(decodeAuth(b64('a:b:c')), { username: 'a', password: 'b:c' }));
});

describe('keychain', () => {
  let dir: string;
  let http: HttpClient;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsb-keychain-'));
    http = createHttpClient({ retry: { attempts: 1, baseMs: 1, maxMs: 1 }, onEvent: () => {}, userAgent: 'test' });
  });
  afterEach(async () => {
    await http.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads auths from $DOCKER_CONFIG', async () => {
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { 'reg.example': { auth: Buffer.from('me:pw').toString('base64') } } }));
    const k = new DefaultKeychain({ http, env: { DOCKER_CONFIG: dir } });
    assert.deepEqual((await k.resolve('reg.example')).credential, { kind: 'basic', username: 'me', password: 'pw' });
    assert.deepEqual((await k.resolve('other.example')).credential, { kind: 'anonymous' });
  });

  it('asks credential helpers (credHelpers over auths; <token> user means identity token)', async () => {
    const bin = join(dir, 'bin');
    await (await import('node:fs/promises')).mkdir(bin);
    // A fake helper: answers for two servers, "not found" for the rest, logs what it was asked.
    const script = `#!/bin/sh
read server
echo "$1 $server" >> "${join(dir, 'helper.log')}"
case "$server" in
  reg.example) printf '{"ServerURL":"reg.example","Username":"hu","Secret":"hs"}' ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"x","Username":"<token>","Secret":"refresh-tok"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;
    await writeFile(join(bin, 'docker-credential-tsbtest'), script);
    await chmod(join(bin, 'docker-credential-tsbtest'), 0o755);
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ credsStore: 'tsbtest', auths: { 'reg.example': { auth: Buffer.from('file:pw').toString('base64') } } }),
    );
    const env = { PATH: `${bin}:${process.env['PATH'] ?? ''}`, HOME: dir };
    const k = new DefaultKeychain({ http, dockerConfigDir: dir, env });
    const r = await k.resolve('reg.example');
    assert.deepEqual(r.credential, { kind: 'basic', username: 'hu', password: 'hs' });
    assert.equal(r.source, 'docker-credential-tsbtest');
    assert.deepEqual((await k.resolve('docker.io')).credential, { kind: 'identity', username: '', token: 'refresh-tok' });
    assert.deepEqual((await k.resolve('nothere.example')).credential, { kind: 'anonymous' });
    await k.resolve('reg.example'); // cached: no second call
    const log = (await readFile(join(dir, 'helper.log'), 'utf8')).trim().split('\n');
    assert.deepEqual(log, ['get reg.example', 'get https://index.docker.io/v1/', 'get nothere.example']);
  });

  it('a missing helper is a typed error', async () => {
    await writeFile(join(dir, 'config.json'), JSON.stringify({ credsStore: 'does-not-exist-tsb' }));
    const k = new DefaultKeychain({ http, dockerConfigDir: dir, env: { PATH: dir } });
    await assert.rejects(k.resolve('x.example'), (e: Error & { code?: string }) => e.code === 'TSB_REGISTRY_CRED_HELPER' && /not found in PATH/.test(e.message));
  });

  describe('ECR', () => {
    const REG = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
    const KEY_ID = 'AKIDTESTECR';
    const SECRET = 'ecr-test-secret/very+secret';

    /** Server-side SigV4 check written from the spec, independently of the client's signer. */
    function verifySigV4(req: IncomingMessage, body: Buffer): string | undefined {
      const auth = String(req.headers['authorization'] ?? '');
      const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
      if (!m) return 'malformed authorization';
      const [, keyId, date, region, service, signed, sig] = m;
      if (keyId !== KEY_ID) return 'unknown key';
      if (region !== 'eu-west-1' || service !== 'ecr') return 'wrong scope';
      const amz = String(req.headers['x-amz-date'] ?? '');
      if (!amz.startsWith(date!)) return 'date mismatch';
      const names = signed!.split(';');
      for (const need of ['host', 'x-amz-date', 'x-amz-target', 'content-type']) if (!names.includes(need)) return `unsigned ${need}`;
      const canon = [
        req.method,
        new URL(req.url!, 'http://x').pathname,
        '',
        names.map((n) => `${n}:${String(req.headers[n] ?? '').trim()}\n`).join(''),
        signed,
        createHash('sha256').update(body).digest('hex'),
      ].join('\n');
      const sts = ['AWS4-HMAC-SHA256', amz, `${date}/${region}/${service}/aws4_request`, createHash('sha256').update(canon).digest('hex')].join('\n');
      let k: Buffer = createHmac('sha256', `AWS4${SECRET}`).update(date!).digest();
      for (const part of [region!, service!, 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
      const want = createHmac('sha256', k).update(sts).digest('hex');
      return want === sig ? undefined : 'signature mismatch';
    }

    let calls = 0;
    let server: Server;
    let port = 0;
    before(async () => {
      ({ server, port } = await listen((req, body, res) => {
        calls++;
        const bad = verifySigV4(req, body);
        if (bad || req.headers['x-amz-target'] !== 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken') {
          res.writeHead(403, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ __type: 'InvalidSignatureException', message: bad ?? 'target' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(
          JSON.stringify({
            authorizationData: [{ authorizationToken: Buffer.from('AWS:ecr-registry-password').toString('base64'), expiresAt: Date.now() / 1000 + 43200, proxyEndpoint: `https://${REG}` }],
          }),
        );
      }));
    });
    after(() => server.close());
    beforeEach(() => {
      calls = 0;
    });

    it('recognizes ECR hosts', () => {
      assert.deepEqual(parseEcrRegistry(REG), { account: '123456789012', region: 'eu-west-1', domain: 'amazonaws.com' });
      assert.equal(parseEcrRegistry('123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn')?.domain, 'amazonaws.com.cn');
      assert.equal(parseEcrRegistry('ecr.example.com'), undefined);
    });

    it('gets a token with a SigV4-signed GetAuthorizationToken (env credentials), cached', async () => {
      const env = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, AWS_ENDPOINT_URL_ECR: `http://127.0.0.1:${port}/`, HOME: dir };
      const k = new DefaultKeychain({ http, dockerConfigDir: dir, env });
      const r = await k.resolve(REG);
      assert.deepEqual(r.credential, { kind: 'basic', username: 'AWS', password: 'ecr-registry-password' });
      assert.equal(r.source, 'ecr');
      await k.resolve(REG);
      assert.equal(calls, 1);
    });

    it('reads ~/.aws/credentials with AWS_PROFILE and signs the session token', async () => {
      await (await import('node:fs/promises')).mkdir(join(dir, '.aws'));
      await writeFile(join(dir, '.aws', 'credentials'), `[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n[ci]\naws_access_key_id = ${KEY_ID}\naws_secret_access_key = ${SECRET}\naws_session_token = sess\n`);
      const k = new DefaultKeychain({ http, dockerConfigDir: dir, env: { HOME: dir, AWS_PROFILE: 'ci', AWS_ENDPOINT_URL: `http://127.0.0.1:${port}/` } });
      assert.equal((await k.resolve(REG)).source, 'ecr');
      assert.equal(parseIni('[profile x]\na = b')['x']?.['a'], 'b');
    });

    it('a wrong secret fails with AuthError naming the AWS error, never the secret', async () => {
      const env = { AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: 'not-the-secret', AWS_ENDPOINT_URL_ECR: `http://127.0.0.1:${port}/`, HOME: dir };
      const k = new DefaultKeychain({ http, dockerConfigDir: dir, env });
      await assert.rejects(k.resolve(REG), (e: unknown) => {
        assert.ok(e instanceof AuthError);
        assert.match(e.message, /InvalidSignatureException/);
        assert.doesNotMatch(e.message + JSON.stringify(e.data), /not-the-secret/);
        return true;
      });
    });

    it('no AWS credentials → anonymous', async () => {
      const k = new DefaultKeychain({ http, dockerConfigDir: dir, env: { HOME: dir } });
      assert.equal((await k.resolve(REG)).credential.kind, 'anonymous');
    });
  });

  describe('Google', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    let server: Server;
    let port = 0;
    let seen: Array<Record<string, unknown>> = [];
    before(async () => {
      ({ server, port } = await listen((req, body, res) => {
        const url = new URL(req.url!, 'http://x');
        if (url.pathname === '/computeMetadata/v1/instance/service-accounts/default/token') {
          if (req.headers['metadata-flavor'] !== 'Google') {
            res.writeHead(403).end();
            return;
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'metadata-token', expires_in: 3599, token_type: 'Bearer' }));
          return;
        }
        const form = new URLSearchParams(body.toString());
        const jwt = form.get('assertion') ?? '';
        const [h, c, s] = jwt.split('.');
        const ok =
          form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' &&
          createVerify('RSA-SHA256').update(`${h}.${c}`).verify(publicKey, Buffer.from(s ?? '', 'base64url'));
        const claims = ok ? (JSON.parse(Buffer.from(c!, 'base64url').toString()) as Record<string, unknown>) : {};
        const header = ok ? (JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>) : {};
        seen.push({ ...claims, header });
        const now = Date.now() / 1000;
        if (!ok || claims['aud'] !== `http://127.0.0.1:${port}/token` || claims['iss'] !== 'sa@proj.iam.gserviceaccount.com' || Math.abs(Number(claims['iat']) - now) > 60 || Number(claims['exp']) <= now) {
          res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant' }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'sa-access-token', expires_in: 3600, token_type: 'Bearer' }));
      }));
    });
    after(() => server.close());
    beforeEach(() => {
      seen = [];
    });

    const keyFile = async (pk: string): Promise<string> => {
      const p = join(dir, 'sa.json');
      await writeFile(
        p,
        JSON.stringify({ type: 'service_account', client_email: 'sa@proj.iam.gserviceaccount.com', private_key: pk, private_key_id: 'kid1', token_uri: `http://127.0.0.1:${port}/token` }),
      );
      return p;
    };

    it('recognizes Google registries', () => {
      for (const [h, want] of [['gcr.io', true], ['eu.gcr.io', true], ['europe-west1-docker.pkg.dev', true], ['docker.io', false], ['notgcr.io', false]] as const) {
        assert.equal(isGoogleRegistry(h), want, h);
      }
    });

    it('exchanges a service-account JWT (RS256, verified by the fake token endpoint)', async () => {
      const p = await keyFile(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
      const k = new DefaultKeychain({ http, dockerConfigDir: dir, env: { GOOGLE_APPLICATION_CREDENTIALS: p, HOME: dir } });
      const r = await k.resolve('us-docker.pkg.dev');
      assert.deepEqual(r.credential, { kind: 'basic', username: 'oauth2accesstoken', password: 'sa-access-token' });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!['scope'], 'https://www.googleapis.com/auth/cloud-platform');
      assert.deepEqual(seen[0]!['header'], { alg: 'RS256', typ: 'JWT', kid: 'kid1' });
    });

    it('a key that does not match is rejected with AuthError (invalid_grant)', async () => {
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const p = await keyFile(other);
      const k = new DefaultKeychain({ http, dockerConfigDir: dir, env: { GOOGLE_APPLICATION_CREDENTIALS: p, HOME: dir } });
      await assert.rejects(k.resolve('gcr.io'), (e: unknown) => e instanceof AuthError && /invalid_grant/.test(e.message) && !/PRIVATE KEY/.test(e.message));
    });

    it('uses the metadata server when GCE_METADATA_HOST is set', async () => {
      const k = new DefaultKeychain({ http, dockerConfigDir: dir, env: { GCE_METADATA_HOST: `127.0.0.1:${port}`, HOME: dir } });
      assert.deepEqual((await k.resolve('gcr.io')).credential, { kind: 'basic', username: 'oauth2accesstoken', password: 'metadata-token' });
    });

    it('config.json `_json_key` credentials pass through as basic', async () => {
      await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { 'gcr.io': { auth: Buffer.from('_json_key:{"type":"service_account"}').toString('base64') } } }));
      const k = new DefaultKeychain({ http, dockerConfigDir: dir, env: { HOME: dir } });
      assert.deepEqual((await k.resolve('gcr.io')).credential, { kind: 'basic', username: '_json_key', password: '{"type":"service_account"}' });
    });
  });
});
