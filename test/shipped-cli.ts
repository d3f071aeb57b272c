import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxLayout, REPO_ROOT } from '../runtime/testing.js';
import { execFileP, makeTree, removeAll, tempDir } from './helpers.js';
import { startRegistry, type TestRegistry } from './registry-server.js';
import { requireRoot, requireTools } from './tools.js';

/** How to start one shipped form of the CLI: a program and the arguments before tsbuild's own. */
export interface Launcher {
  file: string;
  prefix: string[];
  /**
   * Run with the build tree's dist/bin, runtime/ and node_modules/ hidden (empty tmpfs over them,
   * in a mount namespace of its own; root only): the compiled executable must read its seccomp
   * profile and xattr binding from inside itself, not from the tree it was built in (a rootless
   * user who cannot read that tree got "seccomp-moby.json is missing").
   */
  hideBuildTree?: boolean;
}

const BUILD_TREE = ['dist/bin', 'runtime', 'node_modules'].map((dir) => join(REPO_ROOT, dir));

function launch(launcher: Launcher, args: string[]): [string, string[]] {
  if (!launcher.hideBuildTree || process.getuid?.() !== 0) return [launcher.file, [...launcher.prefix, ...args]];
  const script = 'for d in $HIDDEN_DIRS; do mount -t tmpfs tsb-hidden "$d"; done; exec "$@"';
  return ['env', [`HIDDEN_DIRS=${BUILD_TREE.join(' ')}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', launcher.file, ...launcher.prefix, ...args]];
}

/**
 * The behaviours every shipped form of the CLI must keep, run as a process from an empty
 * working directory: the esbuild bundle under Node (test/bundle.e2e) and the compiled
 * executable dist/tsbuild (test/executable.e2e). Each catches what in-process tests cannot:
 * a module the bundler got wrong (undici's CommonJS, lazy chunks), the seccomp profile or the
 * xattr binding not found beside the code, an entry check that does not fire.
 */
export function shippedCliBehaviours(prepare: () => Promise<Launcher>): void {
  let launcher: Launcher;
  let work: string;
  const run = (args: string[]) => {
    const [file, argv] = launch(launcher, args);
    return execFileP(file, argv, { cwd: work });
  };
  /** Runs a command that must fail; returns its exit code and stderr. */
  const runFailing = async (args: string[]) => {
    try {
      await run(args);
    } catch (err) {
      const failed = err as { code: number; stderr: string };
      return { code: failed.code, stderr: failed.stderr };
    }
    assert.fail(`tsbuild ${args.join(' ')} exited 0`);
  };

  before(async () => {
    launcher = await prepare();
    work = await tempDir('tsb-shipped-work-');
  });
  after(async () => removeAll(work));

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

  it('rejects a bad Dockerfile with exit 2 and file:line:column, no stack trace', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM scratch\nFROBNICATE now\n' }, join(work, 'ctx-bad'));
    const { code, stderr } = await runFailing(['build', '--root', join(work, 'root'), ctx]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /ctx-bad\/Dockerfile:2:1: unknown instruction: FROBNICATE/);
    assert.doesNotMatch(stderr, /\n\s+at /);
  });

  describe('with a registry (undici inside)', () => {
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

    it('runs a RUN step (the runtime finds its seccomp profile, the layer diff its xattr binding) on a freshly pulled base', async function () {
      requireRoot(this, 'RUN');
      const ctx = await makeTree({ 'Dockerfile': `FROM ${reg.host}/library/busybox:b\nRUN echo ran > /ran\n` }, join(work, 'ctx-run'));
      const dest = join(work, 'run-out');
      await run(['build', '--root', join(work, 'root-run'), '-q', '--output', `type=local,dest=${dest}`, ctx]);
      assert.equal(await readFile(join(dest, 'ran'), 'utf8'), 'ran\n');
    });
  });
}
