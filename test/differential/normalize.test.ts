import assert from 'node:assert/strict';
import { pack } from 'tar-stream';
import { diffFromBase, mergeLayers, readLayer, type Tree } from './normalize.js';

type Spec = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string; mode?: number; uid?: number };

/** An uncompressed layer tar from a table of entries. */
async function layer(entries: Spec[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), uid: e.uid ?? 0, gid: 0, linkname: e.linkname };
    if (type === 'file') p.entry(header, e.body ?? '');
    else p.entry(header);
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function merged(...layers: Spec[][]): Promise<Tree> {
  return mergeLayers(await Promise.all(layers.map(async (l) => readLayer(await layer(l), false))));
}

describe('differential normalizer: merging layers', () => {
  it('applies whiteouts and opaque dirs to lower layers only, and replaces a dir by a file', async () => {
    const tree = await merged(
      [{ name: 'a/', type: 'directory' }, { name: 'a/f', body: 'f' }, { name: 'a/g', body: 'g' }, { name: 'b/', type: 'directory' }, { name: 'b/old', body: 'o' }, { name: 'c/', type: 'directory' }, { name: 'c/x', body: 'x' }],
      [{ name: 'a/.wh.f' }, { name: 'b/.wh..wh..opq' }, { name: 'b/new', body: 'n' }, { name: 'c', body: 'now a file' }],
    );
    assert.deepEqual(Object.keys(tree).sort(), ['a', 'a/g', 'b', 'b/new', 'c']);
    assert.equal(tree['c']!.type, 'file');
    assert.equal(tree['c']!.size, 10);
  });

  it('groups hardlinks by their smallest path, whatever the tar order', async () => {
    const tree = await merged([{ name: 'z', body: 'same' }, { name: 'a', type: 'link', linkname: 'z' }, { name: 'm', type: 'link', linkname: 'z' }, { name: 'solo', body: 'same' }]);
    assert.deepEqual([tree['a']!.link, tree['m']!.link, tree['z']!.link, tree['solo']!.link], ['a', 'a', 'a', undefined]);
    assert.equal(tree['m']!.sha256, tree['solo']!.sha256);
  });

  it('keeps setuid bits, symlink targets and owners; diffs against a base with absent entries', async () => {
    const base = await merged([{ name: 'etc/', type: 'directory' }, { name: 'etc/passwd', body: 'root' }, { name: 'keep', body: 'k' }]);
    const tree = await merged(
      [{ name: 'etc/', type: 'directory' }, { name: 'etc/passwd', body: 'root' }, { name: 'keep', body: 'k' }],
      [{ name: 'etc/.wh.passwd' }, { name: 'suid', body: 's', mode: 0o4755, uid: 33 }, { name: 'l', type: 'symlink', linkname: '/etc/passwd' }],
    );
    assert.deepEqual(diffFromBase(tree, base), {
      'etc/passwd': { type: 'absent' },
      'l': { type: 'symlink', uid: 0, gid: 0, target: '/etc/passwd' },
      'suid': { type: 'file', uid: 33, gid: 0, mode: '4755', size: 1, sha256: '043a718774c572bd8a25adbeb1bfcd5c0256ae11cecf9f9c3f925d0e52beaf89' },
    });
  });
});
