import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, execFileP, makeTree, removeAll, tempDir } from './helpers.js';
import { requireTools } from './tools.js';

/**
 * A COPY rebuilt after a one-file change copies the unchanged gzip members of its previous layer
 * instead of deflating them again; its layer must still be byte-identical to a build of the same
 * content from scratch (and a change back gives the first layer again). Checked with skopeo, gzip
 * and GNU tar, not only our own reader.
 */
describe('incremental COPY layers: same digests as from scratch', function () {
  this.timeout(300_000);
  let ctx: string;
  let out: string;
  const roots: string[] = [];

  before(async () => {
    const files: Record<string, string> = {
      Dockerfile: 'FROM scratch\nCOPY files/ /data/files/\nCOPY note.txt /\n',
      'note.txt': 'note\n',
    };
    // ~12 MB of files: several gzip members, some text, some incompressible
    for (let i = 0; i < 3000; i++) {
      const seed = createHash('sha256').update(String(i)).digest();
      const body = i % 4 === 0 ? Buffer.concat(Array.from({ length: 60 }, (_, j) => createHash('sha256').update(`${i}/${j}`).digest())).toString('base64') : `file ${i} ${seed.toString('hex')}\n`.repeat((i * 37) % 90);
      files[`files/d${i % 30}/f${i}.txt`] = body;
    }
    ctx = await makeTree(files);
    out = await tempDir('tsb-incr-out-');
  });
  after(() => removeAll(ctx, out, ...roots));

  async function build(name: string, extra: string[] = []): Promise<{ layers: string[]; dir: string }> {
    const root = roots.at(-1)!;
    const tar = join(out, `${name}.tar`);
    const r = await cli(['build', '--root', root, '--progress=plain', ...extra, '--output', `type=oci,dest=${tar}`, ctx], { SOURCE_DATE_EPOCH: '1700000000' });
    assert.equal(r.code, 0, r.stderr);
    const { stdout } = await execFileP('skopeo', ['inspect', `oci-archive:${tar}`]);
    const dir = join(out, name);
    await mkdir(dir);
    await execFileP('tar', ['-xf', tar, '-C', dir]);
    return { layers: (JSON.parse(stdout) as { Layers: string[] }).Layers, dir };
  }

  const changed = (): Promise<void> => writeFile(join(ctx, 'files/d7/f1507.txt'), 'changed content, and longer than before\n'.repeat(40));
  const restored = async (): Promise<void> => {
    const seed = createHash('sha256').update('1507').digest();
    await writeFile(join(ctx, 'files/d7/f1507.txt'), `file 1507 ${seed.toString('hex')}\n`.repeat((1507 * 37) % 90));
  };

  it('after a one-file change and back, every layer digest equals a from-scratch build; gzip -t and tar -tz read the blobs', async function () {
    requireTools(this, ['skopeo', 'gzip', 'tar']);
    roots.push(await tempDir('tsb-incr-a-'));
    const first = await build('first');
    assert.equal(first.layers.length, 2);
    const members = await readdir(join(roots[0]!, 'meta', 'layer-members'));
    assert.ok(members.includes(`${first.layers[0]!.slice('sha256:'.length)}.json`), 'the COPY layer has a member index');

    await changed();
    const incremental = await build('incremental');
    assert.notEqual(incremental.layers[0], first.layers[0]);
    roots.push(await tempDir('tsb-incr-b-'));
    const scratch = await build('scratch');
    assert.deepEqual(incremental.layers, scratch.layers);

    // back to the first content, rebuilt (not a cache hit) from the changed layer's members
    roots.push(roots[0]!);
    await restored();
    const back = await build('back', ['--no-cache']);
    assert.deepEqual(back.layers, first.layers);

    for (const b of [incremental, back]) {
      const blob = join(b.dir, 'blobs', 'sha256', b.layers[0]!.slice('sha256:'.length));
      await execFileP('gzip', ['-t', blob]);
      const { stdout } = await execFileP('tar', ['-tzf', blob], { maxBuffer: 1 << 24 });
      assert.equal(stdout.split('\n').filter((l) => l.endsWith('.txt')).length, 3000);
    }
  });
});
