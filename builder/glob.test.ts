import assert from 'node:assert/strict';
import { globToRegExp, hasWildcard } from './glob.js';

/** Go's filepath.Match semantics (what BuildKit uses for COPY sources), case by case. */
describe('builder/glob: COPY source wildcards', () => {
  const cases: Array<[pattern: string, path: string, match: boolean]> = [
    ['*.txt', 'a.txt', true],
    ['*.txt', 'dir/a.txt', false], // * never crosses /
    ['dir/*.txt', 'dir/a.txt', true],
    ['*/*.txt', 'dir/a.txt', true],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false], // ? never matches /
    ['a?c', 'ac', false],
    ['[abc].go', 'b.go', true],
    ['[abc].go', 'd.go', false],
    ['[a-c].go', 'c.go', true],
    ['[^a-c].go', 'd.go', true],
    ['[!a-c].go', 'a.go', false],
    ['[^a].go', '/.go', false], // a negated class does not match /
    ['\\*.go', '*.go', true], // escaped metacharacter
    ['\\*.go', 'x.go', false],
    ['file.tar.gz', 'file.tar.gz', true],
    ['file.tar.gz', 'fileXtarXgz', false], // . is literal
    ['a+b(c)', 'a+b(c)', true], // regex metacharacters are literal
    ['*', '.hidden', true], // Go matches dotfiles with *
    ['', '', true],
  ];
  for (const [pattern, path, match] of cases) {
    it(`${JSON.stringify(pattern)} ${match ? 'matches' : 'does not match'} ${JSON.stringify(path)}`, () => {
      assert.equal(globToRegExp(pattern).test(path), match);
    });
  }
  for (const bad of ['[', '[]', 'a[b', '[^]']) {
    it(`rejects the malformed pattern ${JSON.stringify(bad)}`, () => assert.throws(() => globToRegExp(bad), /syntax error in pattern/));
  }
  it('hasWildcard', () => {
    assert.deepEqual(['a*', 'a?', 'a[b]', 'a\\b', 'plain/path.txt'].map(hasWildcard), [true, true, true, true, false]);
  });
});
