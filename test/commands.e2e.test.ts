/**
 * The docker-shaped commands: images, inspect, save/load through pipes, du, login at a terminal,
 * pull -a/-q and push -a. Expected outputs are docker's for the same images (checked against a
 * real dockerd by test/oracle/commands.oracle.ts); here they are fixed tables, so CI checks them
 * without a dockerd.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, execFileP, makeTree, removeAll, tempDir } from './helpers.js';
import { requireTools, startRegistry, type TestRegistry } from './registry-server.js';

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
// resolved from the working directory (the repository), as npm test runs it
const TSX = 'tsx';
const NOW = Math.floor(Date.now() / 1000);
/** A: 2 h 5 min old ("2 hours ago"); B: 3 days old. */
const EPOCH_A = NOW - 7500;
const EPOCH_B = NOW - 3 * 86400 - 100;

/** The command line that runs tsbuild as a process (the compiled executable under TSBUILD_CLI). */
function tsbuildArgv(args: string[]): [string, string[]] {
  const exe = process.env['TSBUILD_CLI'];
  return exe ? [exe, args] : [process.execPath, ['--import', TSX, MAIN, ...args]];
}

/** Runs a shell pipeline where `$TSBUILD` is the tsbuild command line. */
async function sh(script: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, args] = tsbuildArgv([]);
  const tsbuild = [cmd, ...args].join(' ');
  return execFileP('bash', ['-c', script], { env: { ...process.env, TSBUILD: tsbuild, ...env }, maxBuffer: 64 << 20 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

describe('docker-shaped commands', function () {
  this.timeout(120_000);
  let dir: string;
  let root: string;
  let idA: string;
  let idB: string;
  let manifestB: string;

  before(async () => {
    dir = await makeTree({
      'a/Dockerfile': 'FROM scratch\nLABEL team=web version=1\nCOPY app /app\n',
      'a/app/a.txt': 'hello\n',
      'a/app/big.bin': 'x'.repeat(3000),
      'b/Dockerfile': 'FROM scratch\nCOPY b.txt /\n',
      'b/b.txt': 'bbbb\n',
    });
    await symlink('a.txt', join(dir, 'a/app/link'));
    root = join(dir, 'root');
    const a = await cli(['build', '--root', root, '-q', '-t', 'cmd/app:1', '-t', 'cmd/app:latest', '-t', 'other:2', join(dir, 'a')], { SOURCE_DATE_EPOCH: String(EPOCH_A) });
    assert.equal(a.code, 0, a.stderr);
    idA = a.stdout.trim().slice('sha256:'.length);
    const b = await cli(['build', '--root', root, '-q', '-t', 'cmd/base:1', join(dir, 'b')], { SOURCE_DATE_EPOCH: String(EPOCH_B) });
    assert.equal(b.code, 0, b.stderr);
    idB = b.stdout.trim().slice('sha256:'.length);
    manifestB = (await cli(['inspect', '--root', root, '--manifest', '-f', '{{.Digest}}', 'cmd/base:1'])).stdout.trim();
  });
  after(() => removeAll(dir));

  describe('images', () => {
    const a = (): string => idA.slice(0, 12);
    const b = (): string => idB.slice(0, 12);
    const goTime = (s: number): string => `${new Date(s * 1000).toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
    // SIZE: files unpacked (6 + 3000 bytes) plus the symlink's target (5), 3 significant digits.
    const cases: Array<[string[], () => string]> = [
      [[], () => `REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\ncmd/app      1         ${a()}   2 hours ago   3.01kB\ncmd/app      latest    ${a()}   2 hours ago   3.01kB\nother        2         ${a()}   2 hours ago   3.01kB\ncmd/base     1         ${b()}   3 days ago    5B\n`],
      [['-q'], () => `${a()}\n${a()}\n${a()}\n${b()}\n`],
      [['-q', '--no-trunc'], () => `sha256:${idA}\nsha256:${idA}\nsha256:${idA}\nsha256:${idB}\n`],
      [['-a', '-q', 'cmd/base'], () => `${b()}\n`],
      [['--format', '{{.Repository}}:{{.Tag}}', 'cmd/app'], () => 'cmd/app:1\ncmd/app:latest\n'],
      [['--format', '{{.Repository}}:{{.Tag}}', 'cmd/*'], () => 'cmd/app:1\ncmd/app:latest\ncmd/base:1\n'],
      [['--format', '{{.Repository}}:{{.Tag}}', '*/app:1'], () => 'cmd/app:1\n'],
      [['--format', '{{.Repository}}:{{.Tag}}', '--filter', 'reference=other'], () => 'other:2\n'],
      [['--format', '{{.Repository}}:{{.Tag}}', '--filter', 'label=team=web'], () => 'cmd/app:1\ncmd/app:latest\nother:2\n'],
      [['-q', '--filter', 'label=version'], () => `${a()}\n${a()}\n${a()}\n`],
      [['-q', '--filter', 'label=team=ops'], () => ''],
      [['-q', '--filter', 'label=team', '--filter', 'reference=cmd/*'], () => `${a()}\n${a()}\n`],
      [['-q', '--filter', 'dangling=true'], () => ''],
      [['--filter', 'dangling=true'], () => 'REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n'],
      [['-q', '--filter', 'dangling=false', 'cmd/base'], () => `${b()}\n`],
      [['--format', '{{.Repository}}', '--filter', 'before=cmd/app:1'], () => 'cmd/base\n'],
      [['--format', '{{.Repository}}:{{.Tag}}', '--filter', "since=cmd/base:1"], () => 'cmd/app:1\ncmd/app:latest\nother:2\n'],
      [['--format', '{{.ID}} {{.Size}} {{.CreatedSince}}', 'other'], () => `${a()} 3.01kB 2 hours ago\n`],
      [['--format', 'table {{.Repository}}\\t{{.Size}}', 'cmd/base'], () => 'REPOSITORY   SIZE\ncmd/base     5B\n'],
      [['--format', 'table {{.ID}}\\t{{.CreatedAt}}', 'cmd/base'], () => `IMAGE ID       CREATED AT\n${b()}   ${goTime(EPOCH_B)}\n`],
      [['--format', 'json', 'cmd/base'], () => `{"Containers":"N/A","CreatedAt":"${goTime(EPOCH_B)}","CreatedSince":"3 days ago","Digest":"${manifestB}","ID":"${b()}","Repository":"cmd/base","SharedSize":"N/A","Size":"5B","Tag":"1","UniqueSize":"N/A","VirtualSize":"5B"}\n`],
      [['--format', '{{json .}}', 'cmd/base'], () => `{"Containers":"N/A","CreatedAt":"${goTime(EPOCH_B)}","CreatedSince":"3 days ago","Digest":"${manifestB}","ID":"${b()}","Repository":"cmd/base","SharedSize":"N/A","Size":"5B","Tag":"1","UniqueSize":"N/A","VirtualSize":"5B"}\n`],
      [['--format', '{{.VirtualSize}}', 'other'], () => '3.011kB\n'],
      [['--digests', 'cmd/base'], () => `REPOSITORY   TAG       DIGEST${' '.repeat(68)}IMAGE ID       CREATED      SIZE\ncmd/base     1         ${manifestB}   ${b()}   3 days ago   5B\n`],
    ];
    for (const [args, want] of cases) {
      it(`images ${args.join(' ')}`, async () => {
        const r = await cli(['images', '--root', root, ...args]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, want());
      });
    }
    const errors: Array<[string[], RegExp]> = [
      [['--filter', 'nope=1'], /invalid filter 'nope'/],
      [['--filter', 'dangling=maybe'], /invalid filter 'dangling=maybe'/],
      [['--filter', 'before=nothere:1'], /No such image: nothere:1/],
      [['--format', '{{.Nope}}'], /can't evaluate field Nope in type \*formatter\.imageContext/],
      [['--format', '{{.ID'], /template parsing error: .*unclosed action/],
      [['a', 'b'], /at most 1 argument/],
    ];
    for (const [args, message] of errors) {
      it(`images ${args.join(' ')}: exit 2`, async () => {
        const r = await cli(['images', '--root', root, ...args]);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, message);
        assert.equal(r.stdout, '');
      });
    }
  });

  describe('inspect', () => {
    it("prints docker image inspect's object", async () => {
      const r = await cli(['inspect', '--root', root, 'cmd/app:1']);
      assert.equal(r.code, 0, r.stderr);
      const [obj] = JSON.parse(r.stdout) as Array<Record<string, unknown> & { Config: Record<string, unknown>; RootFS: { Type: string; Layers: string[] } }>;
      assert.deepEqual(Object.keys(obj!), ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Container', 'ContainerConfig', 'DockerVersion', 'Author', 'Config', 'Architecture', 'Os', 'Size', 'VirtualSize', 'RootFS', 'Metadata']);
      assert.equal(obj!.Id, `sha256:${idA}`);
      assert.deepEqual(obj!.RepoTags, ['cmd/app:1', 'cmd/app:latest', 'other:2']);
      assert.equal(obj!.Created, new Date(EPOCH_A * 1000).toISOString().replace('.000Z', 'Z'));
      assert.equal(obj!.Size, 3011);
      assert.equal(obj!.Comment, 'buildkit.dockerfile.v0');
      assert.deepEqual(Object.keys(obj!.Config), ['Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'Tty', 'OpenStdin', 'StdinOnce', 'Env', 'Cmd', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild', 'Labels']);
      assert.deepEqual(obj!.Config.Labels, { team: 'web', version: '1' });
      assert.equal(obj!.RootFS.Type, 'layers');
      assert.equal(obj!.RootFS.Layers.length, 1);
    });
    const cases: Array<[string, () => string]> = [
      ['{{.Id}}', () => `sha256:${idA}`],
      ['{{.Config.Labels}}', () => 'map[team:web version:1]'],
      ['{{index .Config.Labels "team"}}', () => 'web'],
      ['{{json .Config.Labels}}', () => '{"team":"web","version":"1"}'],
      ['{{.Config.Entrypoint}} {{.Config.Cmd}} {{json .Config.Cmd}}', () => '[] [] null'],
      ['{{.Size}} {{join .RepoTags ","}}', () => '3011 cmd/app:1,cmd/app:latest,other:2'],
      ['{{range .RepoTags}}[{{.}}]{{end}}', () => '[cmd/app:1][cmd/app:latest][other:2]'],
      ['{{.Os}} {{len .RootFS.Layers}} {{if .Config.User}}user{{else}}root{{end}}', () => 'linux 1 root'],
    ];
    for (const [format, want] of cases) {
      it(`-f ${format}`, async () => {
        const r = await cli(['inspect', '--root', root, '-f', format, `${idA.slice(0, 12)}`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `${want()}\n`);
      });
    }
    it('--manifest: our view (the stored manifest and config), through the same templates', async () => {
      const r = await cli(['inspect', '--root', root, '--manifest', '-f', '{{.Manifest.config.digest}} {{index .Config.config.Labels "team"}}', 'cmd/app:1']);
      assert.equal(r.stdout, `sha256:${idA} web\n`);
    });
    it('a missing image is an error on stderr (exit 1); the others still print', async () => {
      const r = await cli(['inspect', '--root', root, '-f', '{{.Id}}', 'cmd/base:1', 'missing:1']);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, `sha256:${idB}\n`);
      assert.match(r.stderr, /No such image: missing:1/);
    });
    it('a layer digest is no image', async () => {
      const layer = (await cli(['inspect', '--root', root, '--manifest', '-f', '{{(index .Manifest.layers 0).digest}}', 'cmd/base:1'])).stdout.trim();
      assert.match(layer, /^sha256:[0-9a-f]{64}$/);
      const r = await cli(['inspect', '--root', root, layer]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /No such image/);
    });
    it('an unknown field or function is a clear error, exit 2', async () => {
      const r = await cli(['inspect', '--root', root, '-f', '{{.Nope}}', 'cmd/app:1']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /map has no entry for key "Nope"/);
      const f = await cli(['inspect', '--root', root, '-f', '{{bogus .}}', 'cmd/app:1']);
      assert.equal(f.code, 2);
      assert.match(f.stderr, /function "bogus" not defined/);
    });
  });

  describe('save and load through pipes', () => {
    it('save writes to stdout when it is not a terminal, load reads stdin; the image ID survives', async () => {
      const root2 = join(dir, 'root2');
      const r = await sh(`$TSBUILD save --root '${root}' cmd/base:1 | $TSBUILD load --root '${root2}' && $TSBUILD images --root '${root2}' -q --no-trunc`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `Loaded image: cmd/base:1\nsha256:${idB}\n`);
      // by ID, as docker: the archive names no tag
      const byId = await sh(`$TSBUILD save --root '${root}' ${idB.slice(0, 12)} | $TSBUILD load --root '${join(dir, 'root4')}'`);
      assert.equal(byId.stdout, `Loaded image ID: sha256:${idB}\n`);
      const oci = await sh(`$TSBUILD save --format oci --root '${root}' cmd/base:1 | tar -t | sort`);
      assert.match(oci.stdout, /^index\.json$/m);
    });
    it('refuses a terminal: save to one, load from one (docker says the same)', async function () {
      requireTools(this, ['script']);
      const [cmd, args] = tsbuildArgv(['save', '--root', root, 'cmd/base:1']);
      const save = await sh(`script -qec "${[cmd, ...args].join(' ')}" /dev/null`);
      assert.equal(save.code, 2, save.stdout);
      assert.match(save.stdout, /cowardly refusing to save to a terminal\. Use the -o flag or redirect/);
      const [lcmd, largs] = tsbuildArgv(['load', '--root', join(dir, 'root3')]);
      const load = await sh(`script -qec "${[lcmd, ...largs].join(' ')}" /dev/null`);
      assert.equal(load.code, 2, load.stdout);
      assert.match(load.stdout, /requested load from stdin, but stdin is empty/);
      assert.equal(existsSync(join(dir, 'root3')), false);
    });
  });

  describe('du', () => {
    it('counts everything on disk: the total is du -sb of the store, the table and JSON agree', async () => {
      const json = await cli(['du', '--root', root, '--format', 'json']);
      assert.equal(json.code, 0, json.stderr);
      const u = JSON.parse(json.stdout) as { types: Array<{ type: string; count: number | null; bytes: number; reclaimable: number }>; total: number };
      const duSb = Number((await execFileP('du', ['-sb', root])).stdout.split('\t')[0]);
      assert.equal(u.total, duSb);
      assert.equal(u.types.reduce((n, t) => n + t.bytes, 0), duSb);
      assert.deepEqual(u.types.map((t) => t.type), ['images', 'build-cache', 'unreferenced', 'snapshots', 'cache-mounts', 'runtime', 'metadata', 'temp', 'other']);
      // two images of one layer each: 2 manifests, 2 configs, 2 layers
      assert.equal(u.types.find((t) => t.type === 'images')!.count, 6);
      const table = await cli(['du', '--root', root]);
      assert.match(table.stdout, /^TYPE\s+TOTAL\s+SIZE\s+RECLAIMABLE\n/);
      assert.match(table.stdout, /^Images\s+6\s+/m);
      const total = /^Total\s+(\S+)/m.exec(table.stdout)?.[1];
      const { humanSize } = await import('../cli/common.js');
      assert.equal(total, humanSize(duSb));
    });
  });

  describe('a read-only command on a missing store', () => {
    const commands: string[][] = [
      ['images'], ['inspect', 'a:1'], ['du'], ['save', '-o', '/dev/null', 'a:1'], ['rmi', 'a:1'], ['tag', 'a:1', 'b:1'],
      ['push', 'a:1'], ['prune'], ['check-store'], ['analyze', 'a:1'],
    ];
    for (const argv of commands) {
      it(`${argv[0]}: exit 1, no store made`, async () => {
        const missing = join(dir, 'no-store');
        const r = await cli([...argv, '--root', missing]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /no tsbuild store at /);
        assert.equal(existsSync(missing), false);
      });
    }
  });
});

describe('registry commands: login at a terminal, push -a, pull -a/-q', function () {
  this.timeout(120_000);
  let reg: TestRegistry;
  let plain: TestRegistry;
  let dir: string;

  before(async function () {
    requireTools(this, ['docker-registry', 'htpasswd', 'script']);
    reg = await startRegistry({ mode: 'basic' });
    plain = await startRegistry({ mode: 'plain' });
    dir = await tempDir('tsb-cmd-reg-');
  });
  after(async () => {
    await reg?.stop();
    await plain?.stop();
    await removeAll(dir);
  });

  /** Runs `tsbuild login SERVER` in a pty (script), answering the prompts as they appear. */
  async function interactiveLogin(server: string, user: string, password: string, dockerConfig: string): Promise<string> {
    const [cmd, args] = tsbuildArgv(['login', server]);
    const child = spawn('script', ['-qec', [cmd, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], { env: { ...process.env, DOCKER_CONFIG: dockerConfig }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let stage = 0;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (stage === 0 && out.includes('Username: ')) {
        stage = 1;
        child.stdin.write(`${user}\r`);
      }
      if (stage === 1 && out.includes('Password: ')) {
        stage = 2;
        child.stdin.write(`${password}\r`);
      }
    });
    const code = await new Promise<number>((settle) => child.on('close', (c) => settle(c ?? 1)));
    assert.equal(code, 0, out);
    return out;
  }

  it('login prompts for the username, then the password without echoing it', async () => {
    const config = join(dir, 'docker-interactive');
    await mkdir(config);
    const out = await interactiveLogin(reg.host, reg.user, reg.password, config);
    assert.match(out, /Username: /);
    assert.match(out, /Password: /);
    assert.match(out, /Login Succeeded/);
    assert.ok(!out.includes(reg.password), `the password was echoed: ${out}`);
    const cfg = JSON.parse(await readFile(join(config, 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(cfg.auths[reg.host]!.auth, Buffer.from(`${reg.user}:${reg.password}`).toString('base64'));
  });

  it('-p warns as docker does; --password-stdin needs -u; no terminal and no credentials is an error', async () => {
    const config = join(dir, 'docker-flags');
    await mkdir(config);
    const env = { DOCKER_CONFIG: config };
    const p = await cli(['login', '-u', reg.user, '-p', reg.password, reg.host], env);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.stderr, 'WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    assert.equal(p.stdout, 'Login Succeeded\n');
    const stdin = await sh(`printf '%s\\n' '${reg.password}' | $TSBUILD login -u '${reg.user}' --password-stdin ${reg.host}`, env);
    assert.equal(stdin.code, 0, stdin.stderr);
    assert.equal(stdin.stdout, 'Login Succeeded\n');
    assert.ok(!stdin.stdout.includes(reg.password) && !stdin.stderr.includes(reg.password));
    const noUser = await sh(`echo pw | $TSBUILD login --password-stdin ${reg.host}`, env);
    assert.equal(noUser.code, 2);
    assert.match(noUser.stderr, /Must provide --username with --password-stdin/);
    const noTty = await sh(`$TSBUILD login ${reg.host} < /dev/null`, env);
    assert.equal(noTty.code, 2);
    assert.match(noTty.stderr, /Cannot perform an interactive login from a non TTY device/);
    const bad = await cli(['login', '-u', reg.user, '-p', 'wrong-password-123', reg.host], env);
    assert.equal(bad.code, 1);
    assert.ok(!bad.stderr.includes('wrong-password-123'));
  });

  it('push -a pushes every tag of a repository; pull -a fetches them all; pull -q prints only the name', async () => {
    const ctx = await makeTree({ 'Dockerfile': 'FROM scratch\nCOPY f /\n', 'f': 'f' }, join(dir, 'ctx'));
    const root = join(dir, 'root');
    const repo = `${plain.host}/team/app`;
    const built = await cli(['build', '--root', root, '-q', '-t', `${repo}:1`, '-t', `${repo}:2`, '-t', `${plain.host}/team/other:1`, ctx]);
    assert.equal(built.code, 0, built.stderr);
    const pushed = await cli(['push', '--root', root, '-a', repo]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, new RegExp(`^The push refers to repository \\[${plain.host}/team/app\\]\n1: digest: sha256:[0-9a-f]{64} size: \\d+ .*\n2: digest: sha256:`));
    assert.equal((await cli(['push', '--root', root, '-a', `${repo}:1`])).code, 2, 'a tag with -a is a usage error');
    const root2 = join(dir, 'root2');
    const all = await cli(['pull', '--root', root2, '-a', repo]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^1: Pulling from team\/app\nDigest: sha256:[0-9a-f]{64}\nStatus: Downloaded newer image for .*team\/app:1\n2: Pulling from/);
    assert.ok(all.stdout.endsWith(`\n${repo}\n`), all.stdout);
    const names = await cli(['images', '--root', root2, '--format', '{{.Repository}}:{{.Tag}}']);
    assert.equal(names.stdout, `${repo}:1\n${repo}:2\n`);
    const quiet = await cli(['pull', '--root', root2, '-q', `${repo}:2`]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, `${repo}:2\n`);
    const again = await cli(['pull', '--root', root2, `${repo}:2`]);
    assert.match(again.stdout, /Status: Image is up to date for /);
  });
});


