import assert from 'node:assert/strict';
import { whiteoutOf } from './whiteout.js';

describe('image/whiteout whiteoutOf', () => {
  const cases: Array<[string, ReturnType<typeof whiteoutOf>]> = [
    ['etc/passwd', undefined],
    ['etc/.wh.passwd', { kind: 'whiteout', path: 'etc/passwd' }],
    ['.wh.home', { kind: 'whiteout', path: 'home' }],
    ['var/lib/.wh..wh..opq', { kind: 'opaque', path: 'var/lib' }],
    ['.wh..wh..opq', { kind: 'opaque', path: '' }],
    ['a/.wh..wh.plnk', { kind: 'aufs', path: 'a/.wh..wh.plnk' }],
    ['a/not.wh.x', undefined],
  ];
  for (const [path, want] of cases) it(`${path} → ${JSON.stringify(want)}`, () => assert.deepEqual(whiteoutOf(path), want));
  // a name that joined to its directory would be the directory itself or its parent
  for (const path of ['.wh.', '.wh..', '.wh...', 'a/.wh...', 'a/.wh..', 'a/.wh.', '.wh.x\0y', `.wh.${'n'.repeat(256)}`]) {
    it(`${JSON.stringify(path)} → TSB_IMAGE_UNSAFE_PATH`, () => assert.throws(() => whiteoutOf(path), { code: 'TSB_IMAGE_UNSAFE_PATH' }));
  }
});
