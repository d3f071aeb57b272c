import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { kvList, parseArgs, type FlagSpec } from './args.js';
import { cli, makeTree, removeAll, tempDir } from '../test/helpers.js';
import { writeImage } from '../cache/store-image.js';
import { ContentStore } from '../cache/store.js';
import { randomImage } from '../image/random.js';
import { parseCacheSpec, parseOutput, parseSecret, parseSpecFields, parseSsh } from './specs.js';

const SPECS: FlagSpec[] = [
  { name: 'tag', short: 't', type: 'list', description: '' },
  { name: 'file', short: 'f', type: 'string', description: '' },
  { name: 'quiet', short: 'q', type: 'bool', description: '' },
  { name: 'report', type: 'optional', description: '' },
];

describe('cli/args: docker-style flags', () => {
  const cases: Array<{ argv: string[]; flags: Record<string, string[]>; positionals: string[] }> = [
    { argv: ['-t', 'a', '-t', 'b', '.'], flags: { tag: ['a', 'b'] }, positionals: ['.'] },
    { argv: ['--tag=a', '--tag', 'b', 'ctx'], flags: { tag: ['a', 'b'] }, positionals: ['ctx'] },
    { argv: ['-ta:1', '-q', '.'], flags: { tag: ['a:1'], quiet: ['true'] }, positionals: ['.'] },
    { argv: ['-qf', 'Dockerfile.x', '.'], flags: { quiet: ['true'], file: ['Dockerfile.x'] }, positionals: ['.'] },
    { argv: ['--quiet=false', '.'], flags: { quiet: ['false'] }, positionals: ['.'] },
    { argv: ['--report', '.'], flags: { report: ['true'] }, positionals: ['.'] },
    { argv: ['--report=out.html', '.'], flags: { report: ['out.html'] }, positionals: ['.'] },
    { argv: ['--', '-t', 'x'], flags: {}, positionals: ['-t', 'x'] },
  ];
  for (const c of cases) {
    it(`parses ${c.argv.join(' ')}`, () => {
      const p = parseArgs(c.argv, SPECS);
      assert.deepEqual(Object.fromEntries(p.flags), c.flags);
      assert.deepEqual(p.positionals, c.positionals);
    });
  }
  for (const bad of [['--nope'], ['-z'], ['-t'], ['--file']]) {
    it(`rejects ${bad.join(' ')}`, () => assert.throws(() => parseArgs(bad, SPECS), /flag/));
  }
  it('takes --build-arg K from the environment when no value is given', () => {
    assert.deepEqual(kvList(['A=1', 'B', 'C'], 'build-arg', { B: 'from-env' }), { A: '1', B: 'from-env' });
  });
});

describe('--output specs', () => {
  const cases: Array<[string, unknown]> = [
    ['type=oci,dest=out.tar', { type: 'oci', dest: 'out.tar', names: [] }],
    ['type=docker,dest=d.tar,name=a:1', { type: 'docker', dest: 'd.tar', names: ['a:1'] }],
    ['type=image,name=r/a:1,push=true', { type: 'image', names: ['r/a:1'], push: true }],
    ['type=registry,name=r/a:1', { type: 'image', names: ['r/a:1'], push: true }],
    ['type=local,dest=out', { type: 'local', dest: 'out' }],
    ['outdir', { type: 'local', dest: 'outdir' }],
    ['-', { type: 'tar', dest: '-' }],
  ];
  for (const [spec, want] of cases) it(spec, () => assert.deepEqual(parseOutput(spec), want));
  for (const bad of ['type=oci', 'type=zip,dest=x']) it(`rejects ${bad}`, () => assert.throws(() => parseOutput(bad)));
});

describe('cli/specs: the one k=v,k=v reader', () => {
  it('fields: trimmed, repeats kept, bare keys are on', () => {
    assert.deepEqual([...parseSpecFields(' a = 1 ,b=2,b=3,flag,c=x=y')], [['a', ['1']], ['b', ['2', '3']], ['flag', ['']], ['c', ['x=y']]]);
  });
  const cache: Array<[string, 'from' | 'to', unknown]> = [
    ['r/cache:1', 'from', { type: 'registry', ref: 'r/cache:1' }],
    ['type=registry,ref=r/c,mode=max', 'to', { type: 'registry', ref: 'r/c', mode: 'max' }],
    ['type=local,src=/d', 'from', { type: 'local', dir: '/d' }],
    ['type=local,dest=/d,cache-mounts,cache-mounts-max=1MiB', 'to', { type: 'local', dir: '/d', cacheMounts: true, cacheMountsMax: 1024 * 1024 }],
    ['type=local,dest=/d,cache-mounts=false', 'to', { type: 'local', dir: '/d', cacheMounts: false }],
    ['type=inline', 'to', { type: 'inline' }],
  ];
  for (const [spec, dir, want] of cache) it(`--cache-${dir} ${spec}`, () => assert.deepEqual(parseCacheSpec(spec, dir), want));
  for (const [spec, dir] of [['type=registry', 'to'], ['type=local,dest=/d', 'from'], ['type=inline', 'from'], ['type=s3,ref=x', 'to'], ['ref=r,mode=all', 'to']] as const) {
    it(`--cache-${dir} rejects ${spec}`, () => assert.throws(() => parseCacheSpec(spec, dir), /cache/));
  }
  it('--secret and --ssh', () => {
    assert.deepEqual(parseSecret('id=a,src=/f'), { id: 'a', src: '/f' });
    assert.deepEqual(parseSecret('id=a,source=/f,env=E'), { id: 'a', src: '/f', env: 'E' });
    assert.throws(() => parseSecret('src=/f'), /needs id=/);
    assert.deepEqual(parseSsh(['default', 'gh=/run/gh.sock', 'x=a=b']), { default: '', gh: '/run/gh.sock', x: 'a=b' });
  });
});

describe('tsbuild CLI commands', () => {
  it('exits 2 on an unknown flag and 0 on --help', async () => {
    const bad = await cli(['build', '--frobnicate', '.']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown flag: --frobnicate/);
    const help = await cli(['build', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--build-arg K=V/);
  });

  describe('errors: exit code 2 for what the user got wrong, each message once', () => {
    const cases: Array<{ name: string; dockerfile: string; args: string[]; code: number; message: RegExp }> = [
      { name: 'an unknown instruction', dockerfile: 'FROM scratch\nRUNN x\n', args: [], code: 2, message: /Dockerfile:2:1: unknown instruction: RUNN \(did you mean RUN\?\)/ },
      { name: 'a bad variable expansion', dockerfile: 'FROM scratch\nARG A\nENV B=${A:?needs A}\n', args: [], code: 2, message: /needs A/ },
      { name: 'a misspelled --target', dockerfile: 'FROM scratch AS base\nFROM scratch AS final\n', args: ['--target', 'bsae'], code: 2, message: /target stage "bsae" could not be found \(did you mean base\?\)/ },
      { name: 'a missing COPY source', dockerfile: 'FROM scratch\nCOPY nope.txt /\n', args: [], code: 1, message: /Dockerfile:2:1: failed to compute cache key: "\/nope.txt": not found/ },
    ];
    for (const c of cases) {
      it(`${c.name}: exit ${c.code}, the message once (plain progress)`, async () => {
        const dir = await makeTree({ 'Dockerfile': c.dockerfile });
        try {
          const r = await cli(['build', '--root', join(dir, 'root'), '--progress=plain', ...c.args, dir]);
          assert.equal(r.code, c.code, r.stderr);
          assert.equal(r.stderr.match(new RegExp(c.message.source, 'g'))?.length, 1, r.stderr);
        } finally {
          await removeAll(dir);
        }
      });
    }
    it('a misspelled command is not read as a build context', async () => {
      for (const argv of [['imgaes'], ['imgaes', '-q']]) {
        const r = await cli(argv);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /unknown command "imgaes" \(did you mean images\?\)/);
      }
      // an existing directory with such a name is still a context
      const dir = await makeTree({ 'imgaes/Dockerfile': 'FROM scratch\n' });
      try {
        const saved = process.cwd();
        process.chdir(dir);
        try {
          const r = await cli(['imgaes']);
          assert.doesNotMatch(r.stderr, /unknown command/);
        } finally {
          process.chdir(saved);
        }
      } finally {
        await removeAll(dir);
      }
    });
  });

  describe('store commands', () => {
    it('rmi takes an image ID or unique prefix; an ID with several names needs -f, which removes them all', async () => {
      const dir = await makeTree({ 'Dockerfile': 'FROM scratch\nCOPY a.txt /\n', 'a.txt': 'a' });
      const root = join(dir, 'root');
      try {
        const built = await cli(['build', '--root', root, '-q', '-t', 'one:1', '-t', 'two:1', dir]);
        assert.equal(built.code, 0, built.stderr);
        const id = built.stdout.trim().slice('sha256:'.length);
        const refused = await cli(['rmi', '--root', root, id.slice(0, 12)]);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /image is referenced in multiple repositories \(one:1, two:1\)/);
        const forced = await cli(['rmi', '--root', root, '-f', id.slice(0, 8)]);
        assert.equal(forced.code, 0, forced.stderr);
        assert.deepEqual(forced.stdout.trim().split('\n').sort(), ['Untagged: one:1', 'Untagged: two:1']);
        assert.equal((await cli(['images', '--root', root, '-q'])).stdout, '');
        await cli(['build', '--root', root, '-q', '-t', 'three:1', dir]);
        const single = await cli(['rmi', '--root', root, `sha256:${id}`]);
        assert.equal(single.code, 0, single.stderr);
        assert.equal(single.stdout, 'Untagged: three:1\n');
        const missing = await cli(['rmi', '--root', root, 'nothere:1']);
        assert.equal(missing.code, 1);
        assert.match(missing.stderr, /No such image: nothere:1/);
      } finally {
        await removeAll(dir);
      }
    });

    it('read-only commands on a missing --root say so (exit 1) and create nothing; build creates the store', async () => {
      const dir = await makeTree({ 'Dockerfile': 'FROM scratch\n' });
      const root = join(dir, 'no-store');
      try {
        for (const argv of [['images'], ['inspect', 'a:1'], ['du'], ['save', '-o', join(dir, 'x.tar'), 'a:1'], ['rmi', 'a:1'], ['tag', 'a:1', 'b:1']]) {
          const r = await cli([...argv, '--root', root]);
          assert.equal(r.code, 1, `${argv[0]}: ${r.stderr}`);
          assert.match(r.stderr, new RegExp(`no tsbuild store at ${root}`), argv[0]);
          assert.equal(existsSync(root), false, `${argv[0]} created the store`);
        }
        assert.equal((await cli(['build', '--root', root, '-q', dir])).code, 0);
        assert.equal((await cli(['images', '--root', root])).code, 0);
      } finally {
        await removeAll(dir);
      }
    });

    const commands = ['build', 'images', 'tag', 'rmi', 'save', 'load', 'inspect', 'analyze', 'pull', 'push', 'login', 'logout', 'lint', 'context', 'du', 'prune', 'check-store'];
    for (const c of commands) {
      it(`${c} --help and help ${c}: usage, every flag, exit codes`, async () => {
        const a = await cli([c, '--help']);
        const b = await cli(['help', c]);
        assert.equal(a.code, 0);
        assert.equal(b.stdout, a.stdout);
        assert.match(a.stdout, new RegExp(`^Usage: tsbuild ${c}`));
        assert.match(a.stdout, /\nOptions:\n[^]*-h, --help/);
        assert.match(a.stdout, /\nExit status: 0 /);
      });
    }
  });

  it('lint reports BuildKit rules with locations; --strict fails', async () => {
    const dir = await makeTree({ 'Dockerfile': 'from scratch as Build\nMAINTAINER me\nCMD echo hi\n' });
    try {
      const r = await cli(['lint', '--rules', 'buildkit', join(dir, 'Dockerfile')]);
      assert.equal(r.code, 0);
      for (const rule of ['StageNameCasing', 'MaintainerDeprecated', 'JSONArgsRecommended']) assert.match(r.stdout, new RegExp(rule));
      assert.match(r.stdout, /Dockerfile:2:1: warning MaintainerDeprecated/);
      assert.equal((await cli(['lint', '--rules', 'buildkit', '--strict', join(dir, 'Dockerfile')])).code, 1);
      // hadolint's DL4000 (MAINTAINER) is error-level
      const all = await cli(['lint', join(dir, 'Dockerfile')]);
      assert.equal(all.code, 1);
      assert.match(all.stdout, /Dockerfile:2:1: error DL4000: MAINTAINER is deprecated/);
    } finally {
      await removeAll(dir);
    }
  });

  it('context --explain names the deciding .dockerignore line', async () => {
    const dir = await makeTree({ '.dockerignore': '# comment\ndocs\n!docs/README.md\n', 'docs/README.md': 'r', 'docs/x.md': 'x' });
    try {
      const a = await cli(['context', '--explain', 'docs/README.md', dir]);
      assert.match(a.stdout, /re-included by "!docs\/README.md" \(.*\.dockerignore:3\)/);
      const b = await cli(['context', '--explain', 'docs/x.md', dir]);
      assert.match(b.stdout, /excluded by "docs" \(.*\.dockerignore:2\)/);
      const all = await cli(['context', dir]);
      assert.match(all.stdout, /2 files\s+total/);
    } finally {
      await removeAll(dir);
    }
  });

  it('check-store exits 1 on a blob a tag needs that is gone, and 0 once --repair removed the tag', async () => {
    const root = await tempDir('tsb-check-');
    try {
      const store = await ContentStore.open(root);
      const img = await randomImage(1024, 1, 3);
      await store.setRef('app:1', await writeImage(store, img));
      assert.deepEqual(await cli(['check-store', '--root', root]), { code: 0, stdout: 'checked 3 blobs (1.845kB) and 1 image names: store OK\n', stderr: '' });
      const layer = (await img.manifest()).layers[0]!.digest;
      await store.delete(layer);
      const bad = await cli(['check-store', '--root', root]);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, new RegExp(`^broken-ref app:1: application/vnd.oci.image.layer.v1.tar\\+gzip ${layer} is missing$`, 'm'));
      assert.match(bad.stdout, /1 problems \(run with --repair/);
      const fixed = await cli(['check-store', '--repair', '--root', root]);
      assert.equal(fixed.code, 0);
      assert.match(fixed.stdout, /broken-ref app:1: .* \(removed\)\n.*repaired 1 problems/);
      assert.equal((await cli(['check-store', '--root', root])).code, 0);
      assert.deepEqual(await store.listRefs(), []);
    } finally {
      await removeAll(root);
    }
  });
});
