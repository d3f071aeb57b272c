/**
 * Build contexts other than a directory (builder/context-source.ts): `-` (a tar or a Dockerfile on
 * stdin), a local tar, an http(s) tar or Dockerfile, and git URLs served by a `git daemon` on
 * loopback. Each build COPYs its context into the image and the test reads the result from
 * `--output type=local`; bad inputs must end in one clear error.
 *
 * What the expectations rest on (checked against dockerd 20.10's BuildKit with `docker build -`):
 * a tar context is used whole (its .dockerignore is not applied), `-f` names a file inside it, and
 * a Dockerfile on stdin builds with an empty context.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createConnection, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { cli, cliWithInput, execFileP, makeTree, removeAll, storeWithBusybox, tempDir, type CliResult } from './helpers.js';
import { requireRoot, requireTools } from './tools.js';

const CONTEXT_FILES = {
  Dockerfile: 'FROM scratch\nCOPY . /ctx/\n',
  'a.txt': 'a\n',
  'ign/x': 'ignored by docker? no\n',
  '.dockerignore': 'ign\n',
  'sub/Dockerfile': 'FROM scratch\nCOPY . /sub/\n',
};

/** Every path under `dir`, sorted, `/`-separated. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      if (existsSync(join(dir, r)) && readdirSafe(join(dir, r))) walk(r);
    }
  };
  walk('');
  return out;
}

function readdirSafe(p: string): boolean {
  try {
    readdirSync(p);
    return true;
  } catch {
    return false;
  }
}

function assertBuilt(r: CliResult): void {
  assert.equal(r.code, 0, r.stderr);
}

/** One error, said once: exit `code`, one `ERROR:` line matching `message`, no stack trace. */
function assertOneError(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('ERROR'));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0]!, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

async function tarOf(entries: Array<{ name: string; body?: string | Buffer; type?: 'file' | 'directory' | 'symlink'; linkname?: string }>): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => void chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    await new Promise<void>((resolve, reject) =>
      pack.entry({ name: e.name, type, mode: type === 'directory' ? 0o755 : 0o644, mtime: new Date(1e12), ...(e.linkname ? { linkname: e.linkname } : {}) }, type === 'file' ? (e.body ?? '') : '', (err) => (err ? reject(err) : resolve())),
    );
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

describe('build contexts: stdin, tar files, http(s), git', function () {
  this.timeout(120_000);
  let root = '';
  let work = '';
  let ctxDir = '';
  const tars: Record<string, string> = {};
  let outCount = 0;
  const outDir = (): string => join(work, `out-${outCount++}`);

  before(async function () {
    requireTools(this, ['tar', 'gzip', 'bzip2', 'xz']);
    root = await tempDir('tsb-root-');
    work = await tempDir('tsb-contexts-');
    ctxDir = await makeTree(CONTEXT_FILES, join(work, 'ctx'));
    tars.plain = join(work, 'ctx.tar');
    await execFileP('tar', ['-C', ctxDir, '-cf', tars.plain, '.']);
    for (const [kind, tool, ext] of [['gzip', 'gzip', 'tar.gz'], ['bzip2', 'bzip2', 'tar.bz2'], ['xz', 'xz', 'tar.xz']] as const) {
      tars[kind] = join(work, `ctx.${ext}`);
      await execFileP('sh', ['-c', `${tool} -c < "$1" > "$2"`, 'sh', tars.plain, tars[kind]]);
    }
  });
  after(() => removeAll(root, work));

  const build = (args: string[], input?: Buffer | string, env: Record<string, string | undefined> = {}): Promise<CliResult> =>
    input === undefined ? cli(['build', '--root', root, '--progress', 'plain', ...args], env) : cliWithInput(['build', '--root', root, '--progress', 'plain', ...args], input, env);

  describe('- (stdin)', () => {
    for (const kind of ['plain', 'gzip', 'bzip2', 'xz']) {
      it(`a ${kind} tar is the context, used whole (its .dockerignore is not applied, as BuildKit)`, async () => {
        const out = outDir();
        const r = await build(['-o', `type=local,dest=${out}`, '-'], readFileSync(tars[kind]!));
        assertBuilt(r);
        assert.deepEqual(tree(out), ['ctx', 'ctx/.dockerignore', 'ctx/Dockerfile', 'ctx/a.txt', 'ctx/ign', 'ctx/ign/x', 'ctx/sub', 'ctx/sub/Dockerfile']);
        assert.equal(await readFile(join(out, 'ctx/a.txt'), 'utf8'), 'a\n');
      });
    }

    it('gives the image a directory with the same files gives (same image ID), .wh.* files included', async () => {
      const dir = await makeTree({ Dockerfile: 'FROM scratch\nCOPY . /c/\n', x: 'x\n', '.wh.y': 'not a whiteout here\n', 'd/.wh..wh..opq': '' }, join(work, 'wh'));
      const tar = join(work, 'wh.tar');
      await execFileP('tar', ['-C', dir, '-cf', tar, '.']);
      const fromDir = await build(['-q', dir]);
      const fromTar = await build(['-q', '-'], readFileSync(tar));
      assertBuilt(fromDir);
      assertBuilt(fromTar);
      assert.match(fromTar.stdout, /^sha256:[0-9a-f]{64}\n$/);
      assert.equal(fromTar.stdout, fromDir.stdout);
    });

    it('-f names a Dockerfile inside the tar', async () => {
      const out = outDir();
      assertBuilt(await build(['-f', 'sub/Dockerfile', '-o', `type=local,dest=${out}`, '-'], readFileSync(tars.plain!)));
      assert.ok(existsSync(join(out, 'sub/a.txt')));
      assert.ok(!existsSync(join(out, 'ctx')));
    });

    it('a rebuild from the same tar reuses the cache (content keys, not the scratch path)', async () => {
      assertBuilt(await build(['-'], readFileSync(tars.gzip!)));
      const again = await build(['-'], readFileSync(tars.xz!));
      assertBuilt(again);
      assert.match(again.stderr, /COPY \. \/ctx\/\n#\S+ CACHED/);
    });

    it('a Dockerfile on stdin builds with an empty context', async () => {
      const out = outDir();
      assertBuilt(await build(['-o', `type=local,dest=${out}`, '-'], 'FROM scratch\nCOPY . /e/\n'));
      assert.deepEqual(tree(out), ['e']);
    });

    it('a Dockerfile on stdin and -f: "ambiguous Dockerfile source" (docker\'s words), exit 2', async () => {
      assertOneError(await build(['-f', 'Dockerfile', '-'], 'FROM scratch\n'), 2, /ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles/);
    });

    it('-f - with context -: stdin cannot be both, exit 2', async () => {
      assertOneError(await build(['-f', '-', '-'], 'FROM scratch\n'), 2, /can't use stdin for both build context and dockerfile/);
    });

    it('a tar without a Dockerfile: which file was looked for', async () => {
      assertOneError(await build(['-f', 'nope/Dockerfile', '-'], readFileSync(tars.plain!)), 2, /failed to read dockerfile: open nope\/Dockerfile: no such file or directory/);
    });
  });

  describe('a local tar file', () => {
    it('ctx.tar.gz as the context path', async () => {
      const out = outDir();
      assertBuilt(await build(['-o', `type=local,dest=${out}`, tars.gzip!]));
      assert.equal(await readFile(join(out, 'ctx/a.txt'), 'utf8'), 'a\n');
    });

    it('with -f - the Dockerfile comes from stdin and the context from the tar', async () => {
      const out = outDir();
      assertBuilt(await build(['-f', '-', '-o', `type=local,dest=${out}`, tars.bzip2!], 'FROM scratch\nCOPY a.txt /from-stdin/\n'));
      assert.deepEqual(tree(out), ['from-stdin', 'from-stdin/a.txt']);
    });

    it('a file that is no archive: one clear error', async () => {
      const notTar = join(work, 'notes.txt');
      await writeFile(notTar, 'hello\n'.repeat(300));
      assertOneError(await build([notTar]), 2, /notes\.txt is neither a directory nor a tar archive/);
    });

    it('a path that does not exist: "unable to prepare context"', async () => {
      assertOneError(await build([join(work, 'missing')]), 2, /unable to prepare context: path ".*missing" not found/);
    });
  });

  describe('hostile and oversized tars', () => {
    it('an entry ../escape is refused by image/safe-path.ts, and nothing is written outside', async () => {
      const evil = await tarOf([{ name: 'Dockerfile', body: 'FROM scratch\nCOPY . /\n' }, { name: '../escape', body: 'x' }]);
      const r = await build(['-'], evil);
      assertOneError(r, 1, /build context stdin: .*\.\.\/escape.*path component "\.\."/);
      const tmp = join(root, 'tmp');
      assert.deepEqual(existsSync(tmp) ? readdirSync(tmp) : [], [], 'scratch dirs removed');
      assert.ok(!existsSync(join(work, 'escape')) && !existsSync(join(root, 'escape')));
    });

    it('a Dockerfile that is a symlink to a host file (/etc/hostname) is looked up inside the context, not on the host', async () => {
      const evil = await tarOf([{ name: 'Dockerfile', type: 'symlink', linkname: '/etc/hostname' }, { name: 'a', body: 'a' }]);
      assertOneError(await build(['-'], evil), 2, /failed to read dockerfile: open Dockerfile: no such file or directory/);
    });

    it('stdin over TSBUILD_CONTEXT_MAX_BYTES stops there', async () => {
      const big = await tarOf([{ name: 'Dockerfile', body: 'FROM scratch\n' }, { name: 'big', body: Buffer.alloc(256 * 1024, 7) }]);
      assertOneError(await build(['-'], big, { TSBUILD_CONTEXT_MAX_BYTES: '64KiB' }), 1, /build context stdin is too large: more than 65536 bytes/);
    });

    it('a small gzip that unpacks past the limit (a bomb) stops while unpacking', async () => {
      const bomb = join(work, 'bomb.tar.gz');
      const tar = await tarOf([{ name: 'Dockerfile', body: 'FROM scratch\n' }, { name: 'zeros', body: Buffer.alloc(8 * 1024 * 1024) }]);
      await writeFile(join(work, 'bomb.tar'), tar);
      await execFileP('sh', ['-c', 'gzip -9 -c < "$1" > "$2"', 'sh', join(work, 'bomb.tar'), bomb]);
      const r = await build([bomb], undefined, { TSBUILD_CONTEXT_MAX_BYTES: '1MiB' });
      assertOneError(r, 1, /is too large: more than 1048576 bytes unpacked/);
    });

    it('a non-archive stdin over the Dockerfile limit (4 MiB) is a Dockerfile too large', async () => {
      const r = await build(['-'], 'RUN true\n'.repeat(500_000));
      assertOneError(r, 1, /the Dockerfile is larger than the 4194304-byte limit/);
    });
  });

  describe('http(s)', () => {
    let server: Server;
    let base = '';
    let refused = '';
    before(async () => {
      const files: Record<string, Buffer> = {
        '/ctx.tar.gz': readFileSync(tars.gzip!),
        '/Dockerfile': Buffer.from('FROM scratch\nCOPY . /remote/\n'),
      };
      server = createServer((req, res) => {
        const body = files[req.url ?? ''];
        if (!body) return void res.writeHead(404).end('not here');
        res.writeHead(200, { 'content-length': body.length, 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' }).end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // a port nothing listens on: bound, then closed
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      refused = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/ctx.tar.gz`;
      await new Promise((resolve) => closed.close(resolve));
    });
    after(() => new Promise((resolve) => server?.close(resolve)));

    it('a tar URL is unpacked as the context', async () => {
      const out = outDir();
      assertBuilt(await build(['-o', `type=local,dest=${out}`, `${base}/ctx.tar.gz`]));
      assert.equal(await readFile(join(out, 'ctx/a.txt'), 'utf8'), 'a\n');
      assert.ok(existsSync(join(out, 'ctx/ign/x')), '.dockerignore not applied');
    });

    it('-f names a Dockerfile inside the downloaded tar', async () => {
      const out = outDir();
      assertBuilt(await build(['-f', 'sub/Dockerfile', '-o', `type=local,dest=${out}`, `${base}/ctx.tar.gz`]));
      assert.ok(existsSync(join(out, 'sub/a.txt')));
    });

    it('a plain file URL is the Dockerfile; the context holds only it, named "context" (BuildKit)', async () => {
      const out = outDir();
      assertBuilt(await build(['-o', `type=local,dest=${out}`, `${base}/Dockerfile`]));
      assert.deepEqual(tree(out), ['remote', 'remote/context']);
      assert.equal(await readFile(join(out, 'remote/context'), 'utf8'), 'FROM scratch\nCOPY . /remote/\n');
    });

    it('a 404: one error with the status', async () => {
      assertOneError(await build([`${base}/missing.tar.gz`]), 1, /failed to download build context http:\/\/127\.0\.0\.1:\d+\/missing\.tar\.gz: HTTP 404/);
    });

    it('an unreachable URL: one error, within the retry budget', async () => {
      const t0 = Date.now();
      assertOneError(await build([refused]), 1, /failed to download build context .*ECONNREFUSED|failed to download build context .*refused/i);
      assert.ok(Date.now() - t0 < 60_000);
    });

    it('--build-context NAME=<http url>: the file, not unpacked, named "context" (BuildKit)', async () => {
      const out = outDir();
      const r = await build(['--build-context', `remote=${base}/ctx.tar.gz`, '-f', '-', '-o', `type=local,dest=${out}`, ctxDir], 'FROM scratch\nCOPY --from=remote context /h/ctx.tar.gz\n');
      assertBuilt(r);
      assert.deepEqual(readFileSync(join(out, 'h/ctx.tar.gz')), readFileSync(tars.gzip!));
    });

    it('a download over the limit stops', async () => {
      assertOneError(await build([`${base}/ctx.tar.gz`], undefined, { TSBUILD_CONTEXT_MAX_BYTES: '100' }), 1, /more than the 100 allowed|more than 100/);
    });
  });

  describe('git (a git daemon on loopback)', () => {
    let daemon: ChildProcess | undefined;
    let url = '';
    let firstCommit = '';

    before(async function () {
      requireTools(this, ['git']);
      const repos = join(work, 'repos');
      const repo = join(repos, 'repo.git');
      await mkdir(repo, { recursive: true });
      const git = (...args: string[]): Promise<{ stdout: string }> =>
        execFileP('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', '-C', repo, ...args]);
      await git('init', '-q');
      await makeTree({ ...CONTEXT_FILES, 'a.txt': 'v1\n', 'sub/s.txt': 's\n' }, repo);
      await symlink('/etc', join(repo, 'escape')); // a hostile repository: a subdir that leaves it
      await git('add', '-A');
      await git('commit', '-q', '-m', 'one');
      await git('tag', 'v1');
      firstCommit = (await git('rev-parse', 'HEAD')).stdout.trim();
      await writeFile(join(repo, 'a.txt'), 'v2\n');
      await git('commit', '-q', '-am', 'two');
      await git('checkout', '-q', '-b', 'other');
      await writeFile(join(repo, 'b.txt'), 'other\n');
      await git('add', 'b.txt');
      await git('commit', '-q', '-m', 'three');
      await git('checkout', '-q', 'main');
      const port = await freePort();
      daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${repos}`, '--listen=127.0.0.1', `--port=${port}`, repos], { stdio: 'ignore' });
      await waitForPort(port);
      url = `git://127.0.0.1:${port}/repo.git`;
    });
    after(() => {
      daemon?.kill();
    });

    const cases: Array<{ name: string; ref: string; args?: string[]; want: (out: string) => void }> = [
      {
        name: 'no ref: the remote HEAD, without .git, .dockerignore not applied',
        ref: '',
        want: (out) => {
          assert.equal(readFileSync(join(out, 'ctx/a.txt'), 'utf8'), 'v2\n');
          assert.ok(!existsSync(join(out, 'ctx/.git')), 'no .git');
          assert.ok(existsSync(join(out, 'ctx/ign/x')));
        },
      },
      { name: '#v1 (a tag)', ref: '#v1', want: (out) => assert.equal(readFileSync(join(out, 'ctx/a.txt'), 'utf8'), 'v1\n') },
      { name: '#other (a branch)', ref: '#other', want: (out) => assert.equal(readFileSync(join(out, 'ctx/b.txt'), 'utf8'), 'other\n') },
      { name: '#<full commit id>', ref: '#FIRST', want: (out) => assert.equal(readFileSync(join(out, 'ctx/a.txt'), 'utf8'), 'v1\n') },
      { name: '#main:sub (its Dockerfile, its files)', ref: '#main:sub', want: (out) => assert.deepEqual(tree(out), ['sub', 'sub/Dockerfile', 'sub/s.txt']) },
      { name: '?ref=v1&subdir=sub (the query form)', ref: '?ref=v1&subdir=sub', want: (out) => assert.deepEqual(tree(out), ['sub', 'sub/Dockerfile', 'sub/s.txt']) },
      { name: '-f sub/Dockerfile is inside the checkout', ref: '#v1', args: ['-f', 'sub/Dockerfile'], want: (out) => assert.equal(readFileSync(join(out, 'sub/a.txt'), 'utf8'), 'v1\n') },
      {
        name: 'BUILDKIT_CONTEXT_KEEP_GIT_DIR=1 keeps .git',
        ref: '#v1',
        args: ['--build-arg', 'BUILDKIT_CONTEXT_KEEP_GIT_DIR=1'],
        want: (out) => assert.ok(existsSync(join(out, 'ctx/.git/HEAD')), '.git kept'),
      },
    ];
    for (const c of cases) {
      it(c.name, async () => {
        const out = outDir();
        const r = await build([...(c.args ?? []), '-o', `type=local,dest=${out}`, `${url}${c.ref.replace('FIRST', firstCommit)}`]);
        assertBuilt(r);
        assert.match(r.stderr, /build context: git:\/\/127\.0\.0\.1:\d+\/repo\.git\S* at [0-9a-f]{12}/);
        c.want(out);
      });
    }

    it('a RUN step reads the checked-out files', async function () {
      requireRoot(this, 'RUN steps');
      const dirs = await storeWithBusybox(this);
      try {
        // the Dockerfile comes from stdin; the context from git
        const out = join(dirs.work, 'out');
        const r = await cliWithInput(['build', '--root', dirs.root, '--progress', 'plain', '-f', '-', '-o', `type=local,dest=${out}`, `${url}#v1`], 'FROM busybox:latest\nCOPY a.txt /src/\nRUN cat /src/a.txt /src/a.txt > /ran\n');
        assertBuilt(r);
        assert.equal(await readFile(join(out, 'ran'), 'utf8'), 'v1\nv1\n');
      } finally {
        await removeAll(dirs.root, dirs.work);
      }
    });

    const adds: Array<{ name: string; dockerfile: string; want: (out: string) => void }> = [
      {
        name: 'ADD <git url>#v1 /src: the checkout\'s files, no .git',
        dockerfile: 'ADD URL#v1 /src',
        want: (out) => {
          assert.equal(readFileSync(join(out, 'src/a.txt'), 'utf8'), 'v1\n');
          assert.ok(!existsSync(join(out, 'src/.git')));
        },
      },
      { name: 'ADD <git url>#main:sub /s/: the subdirectory', dockerfile: 'ADD URL#main:sub /s/', want: (out) => assert.deepEqual(tree(out), ['s', 's/Dockerfile', 's/s.txt']) },
      { name: 'ADD --keep-git-dir=true keeps .git', dockerfile: 'ADD --keep-git-dir=true URL#v1 /src', want: (out) => assert.ok(existsSync(join(out, 'src/.git/HEAD'))) },
      { name: 'ADD --checksum=<commit> with the matching commit', dockerfile: 'ADD --checksum=FIRST URL#v1 /src', want: (out) => assert.equal(readFileSync(join(out, 'src/a.txt'), 'utf8'), 'v1\n') },
    ];
    for (const c of adds) {
      it(c.name, async () => {
        const out = outDir();
        const dockerfile = `FROM scratch\n${c.dockerfile.replace('URL', url).replace('FIRST', firstCommit)}\n`;
        assertBuilt(await build(['-f', '-', '-o', `type=local,dest=${out}`, ctxDir], dockerfile));
        c.want(out);
      });
    }

    it('ADD <git url> errors: at the ADD line, one each', async () => {
      const cases: Array<[string, number, RegExp]> = [
        [`ADD ${url}#nosuch /src`, 1, /Dockerfile:2:1: git source .*#nosuch: .*couldn't find remote ref nosuch/],
        [`ADD --checksum=${'0'.repeat(40)} ${url}#v1 /src`, 1, /Dockerfile:2:1: .*does not match the checksum 0{40}/],
        [`COPY ${url} /src`, 2, /Dockerfile:2:1: source can't be a git ref for COPY/],
      ];
      for (const [line, code, message] of cases) assertOneError(await build(['-f', '-', ctxDir], `FROM scratch\n${line}\n`), code, message);
    });

    it('a missing ref: one error naming it', async () => {
      assertOneError(await build([`${url}#nosuch`]), 1, /git source git:\/\/127\.0\.0\.1:\d+\/repo\.git#nosuch: git fetch failed \(exit 128\): couldn't find remote ref nosuch/);
    });

    it('a missing subdirectory: one error naming it', async () => {
      assertOneError(await build([`${url}#main:nope`]), 1, /subdirectory "nope" not found/);
    });

    it('#main:escape, a symlink to /etc, resolves inside the checkout (no host /etc as the context)', async () => {
      assertOneError(await build([`${url}#main:escape`]), 1, /subdirectory "escape" not found/);
    });

    it('--build-context NAME=<git url>#ref: COPY --from=NAME reads the checkout', async () => {
      const out = outDir();
      assertBuilt(await build(['--build-context', `src=${url}#v1`, '-f', '-', '-o', `type=local,dest=${out}`, ctxDir], 'FROM scratch\nCOPY --from=src a.txt sub/s.txt /n/\n'));
      assert.deepEqual(tree(out), ['n', 'n/a.txt', 'n/s.txt']);
      assert.equal(readFileSync(join(out, 'n/a.txt'), 'utf8'), 'v1\n');
    });

    it('an ssh URL (git@host:repo) never prompts: an unreachable host is one error', async () => {
      const t0 = Date.now();
      const r = await build(['git@127.0.0.1:nope/repo.git'], undefined, { SSH_AUTH_SOCK: undefined });
      assertOneError(r, 1, /git source git@127\.0\.0\.1:nope\/repo\.git: git fetch failed/);
      assert.ok(Date.now() - t0 < 60_000);
    });

    it('an unreachable git server: one error', async () => {
      const port = await freePort();
      assertOneError(await build([`git://127.0.0.1:${port}/repo.git`]), 1, /git fetch failed .*(unable to connect|Connection refused)/i);
    });

    it('a tree over TSBUILD_CONTEXT_MAX_BYTES is refused before the checkout', async () => {
      assertOneError(await build([url], undefined, { TSBUILD_CONTEXT_MAX_BYTES: '10' }), 1, /the tree is \d+ bytes, more than the 10 allowed|fetched more than the 10 bytes allowed/);
    });
  });
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ host: '127.0.0.1', port }, () => {
        c.end();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`git daemon did not listen on ${port}`);
}
