import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { busyboxLayout } from '../runtime/testing.js';
import { execFileP, makeTree, removeAll, tempDir } from './helpers.js';
import { startRegistry, type TestRegistry } from './registry-server.js';
import { requireRoot, requireTools } from './tools.js';

/**
 * The CLI as it ships: scripts/bundle.mjs (what `npm run build` runs) bundles it with esbuild.
 * The other tests call main() in-process from the sources; these run the bundle as a process,
 * so a module the bundler got wrong (undici's CommonJS, lazy chunks, the seccomp profile's
 * path) fails here.
 */
describe('the bundled CLI (scripts/bundle.mjs)', function () {
  this.timeout(180_000);
  let out: string;
  let work: string;
  const run = (args: string[]) => execFileP(process.execPath, [join(out, 'main.js'), ...args], { cwd: work });

  before(async () => {
    out = await tempDir('tsb-bundle-');
    work = await tempDir('tsb-bundle-work-');
    await execFileP(process.execPath, ['scripts/bundle.mjs', out]);
  });
  after(async () => removeAll(out, work));

  it('needs no node_modules: every import of every chunk is a node: builtin or a sibling chunk, and the xattr binding ships beside them', async () => {
    const files = await readdir(out);
    assert.ok(files.includes('xattr.node'), files.join(' '));
    const bare = new Set<string>();
    for (const f of files.filter((name) => name.endsWith('.js'))) {
      const text = await readFile(join(out, f), 'utf8');
      const specifiers = /^(?:import|export)\b[^;\n]*?\bfrom\s*"([^"]+)"|\b(?:import|require)\("([^"]+)"\)/gm;
      for (const m of text.matchAll(specifiers)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith('./')) continue;
        if (!isBuiltin(spec)) bare.add(`${f}: ${spec}`);
      }
    }
    assert.deepEqual([...bare], []);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    const { stdout } = await run(['--version']);
    assert.equal(stdout.trim(), `tsbuild ${pkg.version}`);
  });

  it('builds FROM scratch to a tar that tar(1) lists', async function () {
    requireTools(this, ['tar']);
    const ctx = await makeTree({ 'Dockerfile': 'FROM scratch\nCOPY hello.txt /srv/hello.txt\n', 'hello.txt': 'hi\n' }, join(work, 'ctx'));
    const tar = join(work, 'fs.tar');
    await run(['build', '--root', join(work, 'root'), '-q', '--output', `type=tar,dest=${tar}`, ctx]);
    const { stdout } = await execFileP('tar', ['-tf', tar]);
    assert.ok(stdout.split('\n').includes('srv/hello.txt'), stdout);
  });

  describe('with a registry (undici inside the bundle)', () => {
    let reg: TestRegistry;
    before(async function () {
      requireTools(this, ['docker-registry', 'skopeo', 'umoci', 'busybox']);
      reg = await startRegistry({ mode: 'plain' });
      await execFileP('skopeo', ['copy', '--dest-tls-verify=false', `oci:${busyboxLayout()}:latest`, `docker://${reg.host}/library/busybox:b`]);
    });
    after(async () => reg?.stop());

    it('pulls an image and pushes it under another name; skopeo sees the same digest', async () => {
      const root = join(work, 'root-reg');
      await run(['pull', '--root', root, `${reg.host}/library/busybox:b`]);
      await run(['tag', '--root', root, `${reg.host}/library/busybox:b`, `${reg.host}/copy/busybox:c`]);
      await run(['push', '--root', root, `${reg.host}/copy/busybox:c`]);
      const digest = async (ref: string) =>
        (JSON.parse((await execFileP('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])).stdout) as { Digest: string }).Digest;
      assert.equal(await digest(`${reg.host}/copy/busybox:c`), await digest(`${reg.host}/library/busybox:b`));
    });

    it('runs a RUN step (the runtime chunk finds its seccomp profile) on a freshly pulled base', async function () {
      requireRoot(this, 'RUN');
      const ctx = await makeTree({ 'Dockerfile': `FROM ${reg.host}/library/busybox:b\nRUN echo ran > /ran\n` }, join(work, 'ctx-run'));
      const dest = join(work, 'run-out');
      await run(['build', '--root', join(work, 'root-run'), '-q', '--output', `type=local,dest=${dest}`, ctx]);
      assert.equal(await readFile(join(dest, 'ran'), 'utf8'), 'ran\n');
    });
  });
});
