import assert from 'node:assert/strict';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DOCKER, requireDockerd } from './dockerd.js';
import { cli, execFileP, makeTree, removeAll } from '../helpers.js';

const NS = 'tsbuild-oracle-cmd';
const NOW = Math.floor(Date.now() / 1000);


async function docker(args: string[]): Promise<string> {
  return (await execFileP(DOCKER, args, { timeout: 120_000 })).stdout;
}

/**
 * `images` and `inspect` against docker's own output for the same images (saved by tsbuild,
 * `docker load`ed, tagged alike). An oracle check: `npm run test:oracle` next to a dockerd.
 */
describe('images and inspect print what docker prints for the same images', function () {
  this.timeout(300_000);
  let dir: string;
  let root: string;

  before(async () => {
    requireDockerd('commands');
    dir = await makeTree({
      'a/Dockerfile': 'FROM scratch\nLABEL team=web version=1\nCOPY app /app\nCOPY more /more\n',
      'a/app/a.txt': 'hello\n',
      'a/app/big.bin': 'x'.repeat(300_000),
      'a/more/deep/file': 'y'.repeat(12_345),
      'b/Dockerfile': 'FROM scratch\nCOPY b.txt /\n',
      'b/b.txt': 'bbbb\n',
    });
    await symlink('a.txt', join(dir, 'a/app/link'));
    await symlink('/app/big.bin', join(dir, 'a/more/abs-link'));
    root = join(dir, 'root');
    const names = { a: [`${NS}/app:1`, `${NS}/app:latest`, `${NS}/other:2`], b: [`${NS}/base:1`] };
    for (const [ctx, epoch, tags] of [['a', NOW - 7500, names.a], ['b', NOW - 3 * 86400 - 100, names.b]] as Array<[string, number, string[]]>) {
      const built = await cli(['build', '--root', root, '-q', ...tags.flatMap((t) => ['-t', t]), join(dir, ctx)], { SOURCE_DATE_EPOCH: String(epoch) });
      assert.equal(built.code, 0, built.stderr);
      const archive = join(dir, `${ctx}.tar`);
      assert.equal((await cli(['save', '--root', root, '-o', archive, tags[0]!])).code, 0);
      await docker(['load', '-i', archive]);
      for (const t of tags.slice(1)) await docker(['tag', tags[0]!, t]);
    }
  });
  after(async () => {
    await docker(['rmi', '-f', `${NS}/app:1`, `${NS}/app:latest`, `${NS}/other:2`, `${NS}/base:1`]).catch(() => '');
    await removeAll(dir);
  });

  const imagesCases: string[][] = [
    [`${NS}/*`],
    ['-q', `${NS}/*`],
    ['-q', '--no-trunc', `${NS}/*`],
    ['--format', '{{.Repository}}|{{.Tag}}|{{.ID}}|{{.Size}}|{{.VirtualSize}}|{{.CreatedSince}}|{{.CreatedAt}}', `${NS}/*`],
    ['--format', 'table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}', `${NS}/*`],
    ['--format', '{{json .}}', `${NS}/base`],
    ['--filter', `reference=${NS}/*`, '--filter', 'label=team=web'],
    ['--filter', `reference=${NS}/*`, '--filter', 'label=version'],
    ['--filter', `reference=${NS}/*`, '--filter', `since=${NS}/base:1`],
    ['--filter', `reference=${NS}/*`, '--filter', `before=${NS}/app:1`],
    [`${NS}/app`],
    [`${NS}/app:1`],
    ['-a', `${NS}/other`],
  ];
  for (const args of imagesCases) {
    it(`images ${args.join(' ')}`, async () => {
      const theirs = await docker(['images', ...args]);
      const ours = await cli(['images', '--root', root, ...args]);
      assert.equal(ours.code, 0, ours.stderr);
      // docker names a loaded image's digest <none>; we name the stored manifest's (README)
      const mine = ours.stdout.replace(/"Digest":"sha256:[0-9a-f]{64}"/g, '"Digest":"\\u003cnone\\u003e"');
      // docker's rows of one image come in a random order of repositories (a Go map in the CLI):
      // compare the rows as a multiset, and the order of images by their newest-first IDs
      const rows = (out: string): string[] => out.split('\n').slice(args.some((a) => a === '-q' || a.startsWith('{{') || a === '--format') && !args.some((a) => a.startsWith('table')) ? 0 : 1);
      assert.deepEqual([...rows(mine)].sort(), [...rows(theirs)].sort());
      assert.equal(mine.split('\n')[0], theirs.split('\n')[0]);
    });
  }

  const inspectFormats = [
    '{{.Id}}',
    '{{json .RepoTags}}',
    '{{.Size}} {{.VirtualSize}}',
    '{{.Created}}',
    '{{.Config.Labels}}',
    '{{index .Config.Labels "team"}}',
    '{{json .Config}}',
    '{{json .RootFS}}',
    '{{.Os}}/{{.Architecture}} {{.Comment}} {{.Parent}}|{{.Author}}',
    '{{range .RootFS.Layers}}{{.}} {{end}}',
    '{{join .RepoTags ","}} {{len .RootFS.Layers}}',
  ];
  for (const format of inspectFormats) {
    it(`inspect -f ${format}`, async () => {
      const theirs = await docker(['image', 'inspect', '-f', format, `${NS}/app:1`]);
      const ours = await cli(['inspect', '--root', root, '-f', format, `${NS}/app:1`]);
      assert.equal(ours.code, 0, ours.stderr);
      assert.equal(ours.stdout, theirs);
    });
  }

  it('inspect: the same object, but for RepoDigests, Metadata.LastTagTime and GraphDriver', async () => {
    const strip = (o: Record<string, unknown>): Record<string, unknown> => {
      const { RepoDigests: _d, Metadata: _m, GraphDriver: _g, ...rest } = o;
      return rest;
    };
    const theirs = JSON.parse(await docker(['image', 'inspect', `${NS}/app:1`, `${NS}/base:1`])) as Array<Record<string, unknown>>;
    const ours = JSON.parse((await cli(['inspect', '--root', root, `${NS}/app:1`, `${NS}/base:1`])).stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(ours.map(strip), theirs.map(strip));
    assert.deepEqual(Object.keys(ours[0]!), Object.keys(theirs[0]!).filter((k) => k !== 'GraphDriver'));
  });
});
