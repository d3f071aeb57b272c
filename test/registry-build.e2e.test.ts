import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry, requireTools, type TestRegistry } from './registry-server.js';
import { cli, execFileP, makeTree, removeAll, tempDir } from './helpers.js';

/**
 * FROM an image in a real docker-registry, and --push of the result,
 * checked with skopeo (an independent client) and by pulling into a second store.
 */
describe('build with a registry: FROM pull and --push', function () {
  this.timeout(180_000);
  let reg: TestRegistry;
  let work: string;
  let root: string;
  let ctx: string;

  before(async function () {
    requireTools(this, ['docker-registry', 'skopeo', 'umoci', 'busybox']);
    reg = await startRegistry({ mode: 'plain' });
    work = await tempDir('tsb-reg-');
    root = await tempDir('tsb-root-');
    // The base image is made and pushed by other tools (umoci, skopeo), not by us.
    await execFileP('bash', ['testdata/busybox/build.sh', join(work, 'bb')]);
    await execFileP('skopeo', ['copy', '--dest-tls-verify=false', `oci:${join(work, 'bb')}:latest`, `docker://${reg.host}/library/busybox:latest`]);
    ctx = await makeTree({
      'Dockerfile': `FROM ${reg.host}/library/busybox:latest\nCOPY hello.txt /srv/hello.txt\nCMD ["cat", "/srv/hello.txt"]\n`,
      'hello.txt': 'hello registry\n',
    });
  });

  after(async () => {
    await reg?.stop();
    await removeAll(work, root, ctx);
  });

  it('pulls the base, pushes the result, and skopeo sees the same digest', async () => {
    const meta = join(work, 'meta.json');
    const r = await cli(['build', '--root', root, '--progress=plain', '--push', '-t', `${reg.host}/team/hello:1`, '--metadata-file', meta, ctx]);
    assert.equal(r.code, 0, r.stderr);
    const digest = (JSON.parse(await readFile(meta, 'utf8')) as Record<string, string>)['containerimage.digest'];
    const { stdout } = await execFileP('skopeo', ['inspect', '--tls-verify=false', `docker://${reg.host}/team/hello:1`]);
    const info = JSON.parse(stdout) as { Digest: string; Layers: string[] };
    assert.equal(info.Digest, digest);
    assert.equal(info.Layers.length, 2);
    assert.match(r.stderr, new RegExp(`pushed ${reg.host}/team/hello:1@${digest}`));
  });

  it('a second store pulls what was pushed, with equal digests', async () => {
    const root2 = await tempDir('tsb-root2-');
    try {
      const pulled = await cli(['pull', '--root', root2, `${reg.host}/team/hello:1`]);
      assert.equal(pulled.code, 0, pulled.stderr);
      const first = await cli(['images', '--root', root, '--digests']);
      const second = await cli(['images', '--root', root2, '--digests']);
      const digestOf = (out: string): string | undefined => /team\/hello\s+1\s+(sha256:[a-f0-9]{64})/.exec(out)?.[1];
      assert.ok(digestOf(second.stdout), second.stdout);
      assert.equal(digestOf(second.stdout), digestOf(first.stdout));
    } finally {
      await removeAll(root2);
    }
  });

  it('fails with the registry\'s error for a base that does not exist', async () => {
    const bad = await makeTree({ 'Dockerfile': `FROM ${reg.host}/library/nope:latest\n` });
    try {
      const r = await cli(['build', '--root', root, '--progress=quiet', bad]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /Dockerfile:1:1/);
      assert.match(r.stderr, /MANIFEST_UNKNOWN|NAME_UNKNOWN|not found/i);
    } finally {
      await removeAll(bad);
    }
  });

  it('analyze reads docker:// images and gates fail with exit code 3', async () => {
    const ok = await cli(['analyze', '--format', 'json', `docker://${reg.host}/team/hello:1`]);
    assert.equal(ok.code, 0, ok.stderr);
    const rep = JSON.parse(ok.stdout) as { layers: unknown[]; totals: { files: number } };
    assert.equal(rep.layers.length, 2);
    assert.ok(rep.totals.files > 200);
    const gated = await cli(['analyze', '--root', root, '--max-size', '1kB', `${reg.host}/team/hello:1`]);
    assert.equal(gated.code, 3, gated.stderr);
    assert.match(gated.stderr, /gate maxSize: FAIL \(size \d+\.\d [KM]iB exceeds the limit 1000 B\)/);
  });
});
