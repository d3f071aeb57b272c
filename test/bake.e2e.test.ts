import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startRegistry, requireTools, type TestRegistry } from './registry-server.js';
import { cli, execFileP, makeTree, removeAll, storeWithBusybox } from './helpers.js';

const DOCKERFILE = `FROM busybox:latest AS base
RUN echo shared > /shared && sleep 1
FROM base AS api
ARG VERSION=0
ENV VERSION=$VERSION
RUN echo "api $VERSION" > /role
FROM base AS worker
RUN echo worker > /role
FROM base AS web
RUN echo web > /role
`;

/** rawjson progress lines of one target. */
function events(stderr: string): Array<{ target: string; type: string; status?: string; name?: string }> {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { target: string; type: string; status?: string; name?: string });
}

/**
 * `tsbuild bake` on a three-service compose project whose services share a base stage, with a real
 * docker-registry: the shared RUN runs once, values come from the environment and .env, and --push
 * pushes exactly the selected targets, each the image `tsbuild build` gives for the same inputs.
 */
describe('tsbuild bake: a compose project', function () {
  this.timeout(240_000);
  let reg: TestRegistry;
  let root: string;
  let work: string;
  let project: string;
  const env = { SOURCE_DATE_EPOCH: '1700000000', VERSION: '7' };

  before(async function () {
    requireTools(this, ['docker-registry', 'skopeo']);
    ({ root, work } = await storeWithBusybox(this));
    reg = await startRegistry({ mode: 'plain' });
    project = await makeTree({
      Dockerfile: DOCKERFILE,
      '.env': 'TAG=from-dotenv\nVERSION=from-dotenv-loses\n',
      'compose.yaml': `name: Shop
services:
  api:
    image: ${reg.host}/shop/api:\${TAG}
    build:
      context: .
      target: api
      args:
        VERSION: \${VERSION}
  worker:
    image: ${reg.host}/shop/worker:\${TAG}
    build: {context: ., target: worker}
  web:
    image: ${reg.host}/shop/web:\${TAG}
    build: {context: ., target: web}
  db:
    image: postgres:16
`,
    });
  });
  after(async () => {
    await reg?.stop();
    await removeAll(root, work, project);
  });

  it('builds every service with a build section; the shared RUN runs once for three targets started together', async () => {
    const file = join(project, 'compose.yaml');
    const r = await cli(['bake', '--root', root, '-f', file, '--parallel', '3', '--progress', 'rawjson', '--insecure-registry', reg.host], env);
    assert.equal(r.code, 0, r.stderr);
    const shared = events(r.stderr).filter((e) => e.type === 'step' && /RUN echo shared/.test(e.name ?? ''));
    assert.deepEqual(new Set(shared.map((e) => e.target)), new Set(['api', 'worker', 'web']));
    assert.equal(shared.filter((e) => e.status === 'done').length, 1, JSON.stringify(shared));
    assert.equal(shared.filter((e) => e.status === 'cached').length, 2, JSON.stringify(shared));
    const images = await cli(['images', '--root', root]);
    for (const service of ['api', 'worker', 'web']) assert.match(images.stdout, new RegExp(`${reg.host}/shop/${service}\\s+from-dotenv`));
    assert.doesNotMatch(images.stdout, /postgres/);
  });

  it('--push api worker pushes exactly those two, each the image tsbuild build gives', async function () {
    const file = join(project, 'compose.yaml');
    const r = await cli(['bake', '--root', root, '-f', file, '--push', '--insecure-registry', reg.host, 'api', 'worker'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`api: pushed ${reg.host}/shop/api:from-dotenv@sha256:`));
    const { stdout: catalog } = await execFileP('curl', ['-sf', `http://${reg.host}/v2/_catalog`]);
    assert.deepEqual((JSON.parse(catalog) as { repositories: string[] }).repositories.sort(), ['shop/api', 'shop/worker']);
    const { stdout: config } = await execFileP('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${reg.host}/shop/api:from-dotenv`]);
    assert.ok((JSON.parse(config) as { config: { Env: string[] } }).config.Env.includes('VERSION=7'), 'the environment wins over .env');
    // The same inputs through `tsbuild build`, in a store of its own, give the same image.
    const other = await storeWithBusybox(this);
    try {
      const built = await cli(['build', '--root', other.root, '-q', '--target', 'api', '--build-arg', 'VERSION=7', project], env);
      assert.equal(built.code, 0, built.stderr);
      const { stdout: manifest } = await execFileP('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/shop/api:from-dotenv`]);
      assert.equal(built.stdout.trim(), (JSON.parse(manifest) as { config: { digest: string } }).config.digest);
    } finally {
      await removeAll(other.root, other.work);
    }
  });

  it('a failing target fails the command, named, after the others end', async () => {
    const dir = await makeTree({
      Dockerfile: 'FROM busybox:latest AS ok\nRUN echo ok > /ok\nFROM busybox:latest AS bad\nRUN echo broken >&2 && exit 3\n',
      'docker-bake.json': JSON.stringify({ group: { default: { targets: ['ok', 'bad'] } }, target: { ok: { context: '.', target: 'ok' }, bad: { target: 'bad' } } }),
    });
    try {
      const file = join(dir, 'docker-bake.json');
      const r = await cli(['bake', '--root', root, '-f', file, '--set', `*.context=${dir}`, '--progress', 'plain']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /bad: ERROR: .*exit code: 3/s);
      assert.match(r.stderr, /ERROR: target "bad" failed/);
      assert.match(r.stderr, /ok: (built sha256:|cancelled)/);
    } finally {
      await removeAll(dir);
    }
  });

  it('bad input is found before anything builds or pushes', async () => {
    const file = join(project, 'compose.yaml');
    const unknown = await cli(['bake', '--root', root, '-f', file, '--push', 'api', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown target or group "nope"; defined: api, worker, web/);
    const printed = await cli(['bake', '-f', file, '--print', 'web'], env);
    assert.equal(printed.code, 0, printed.stderr);
    assert.deepEqual(Object.keys((JSON.parse(printed.stdout) as { target: object }).target), ['web']);
    const { stdout: catalog } = await execFileP('curl', ['-sf', `http://${reg.host}/v2/_catalog`]);
    assert.ok(!(JSON.parse(catalog) as { repositories: string[] }).repositories.includes('shop/web'));
  });
});
