import assert from 'node:assert/strict';
import { FsView, type LayerIndexEntry } from './fsview.js';
import { createTarStream } from '../image/tar/writer.js';
import type { TarEntryType } from '../image/tar/header.js';

const f = (path: string, type: TarEntryType = 'file', linkname: string | null = null): LayerIndexEntry => [path, type, type === 'dir' ? 0o755 : 0o644, 0, 0, 0, linkname];

/** Layers as header lists → the paths the merged view holds. */
const cases: Array<{ name: string; layers: LayerIndexEntry[][]; want: string[] }> = [
  { name: 'files and dirs stack', layers: [[f('a', 'dir'), f('a/x')], [f('a/y')]], want: ['a', 'a/x', 'a/y'] },
  { name: 'a whiteout deletes a file', layers: [[f('a', 'dir'), f('a/x'), f('a/y')], [f('a/.wh.x')]], want: ['a', 'a/y'] },
  { name: 'a whiteout deletes a whole tree', layers: [[f('a', 'dir'), f('a/b', 'dir'), f('a/b/c')], [f('a/.wh.b')]], want: ['a'] },
  {
    name: 'an opaque dir hides lower entries but keeps its own (marker after them)',
    layers: [[f('d', 'dir'), f('d/old')], [f('d', 'dir'), f('d/new'), f('d/.wh..wh..opq')]],
    want: ['d', 'd/new'],
  },
  { name: 'a file replaces a directory and its children', layers: [[f('p', 'dir'), f('p/q')], [f('p')]], want: ['p'] },
  { name: 'tar path styles are the same path', layers: [[f('./a/b'), f('/a/c')]], want: ['a/b', 'a/c'] },
];

describe('builder/fsview: merged metadata of a layer stack', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const fromIndex = FsView.empty();
      c.layers.forEach((l, i) => fromIndex.applyIndex(l, i));
      assert.deepEqual([...fromIndex.entries()].map(([p]) => p).sort(), c.want);
      // the same through real tars: the index path and the tar path agree
      const fromTar = FsView.empty();
      for (const [i, l] of c.layers.entries()) {
        const tar = createTarStream(l.map(([path, type, mode, uid, gid]) => ({ header: { path: path.replace(/^\.?\//, ''), type, mode, uid, gid, size: 0, mtime: 0 } })));
        await fromTar.applyLayer(tar, i);
      }
      assert.deepEqual([...fromTar.entries()].map(([p]) => p).sort(), c.want);
    });
  }

  it('resolves symlinks inside the root, like a chroot', () => {
    const v = FsView.empty().applyIndex([f('usr', 'dir'), f('usr/bin', 'dir'), f('usr/bin/sh'), f('bin', 'symlink', 'usr/bin'), f('abs', 'symlink', '/usr'), f('up', 'symlink', '../../..')], 0);
    assert.equal(v.get('/bin/sh')?.type, 'file');
    assert.equal(v.resolvePath('/abs/bin/sh', true), 'usr/bin/sh');
    assert.equal(v.resolvePath('/up/usr', true), 'usr', '.. never leaves the root');
    assert.equal(v.lget('/bin')?.type, 'symlink');
    assert.equal(v.get('/missing'), undefined);
    assert.equal(v.resolvePath('/bin/new/file', true), 'usr/bin/new/file');
  });
});
