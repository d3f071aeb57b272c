import assert from 'node:assert/strict';
import {
  explain,
  goClean,
  goRegexpToJs,
  IgnorePatternError,
  NO_PARENT_INFO,
  parseIgnoreFile,
  parseIgnoreFileWithLines,
  PatternMatcher,
  type MatchInfo,
} from './dockerignore.js';

// Tables from /work/shared/research/dockerignore-cases.md (section numbers in the describe names).

/** Evaluates like a walker would: each parent first, carrying MatchInfo down. */
function matchesViaWalk(pm: PatternMatcher, path: string): boolean {
  const parts = path.split('/');
  let info: MatchInfo = NO_PARENT_INFO;
  // the parent chain as Go's filepath.Dir would give it (a trailing slash leaves an empty last part)
  const parentDirs = goClean(parts.slice(0, -1).join('/') || '.');
  if (parentDirs !== '.') {
    const segs = parentDirs.split('/');
    for (let i = 1; i <= segs.length; i++) info = pm.matchesUsingParentResults(segs.slice(0, i).join('/'), info).info;
  }
  return pm.matchesUsingParentResults(path, info).excluded;
}

describe('parser/dockerignore §1: reading the file', () => {
  const rows: Array<[line: string, pattern: string | undefined]> = [
    ['test1', 'test1'],
    ['/test2', 'test2'],
    ['/a/file/here', 'a/file/here'],
    ['', undefined],
    ['lastfile', 'lastfile'],
    ['# this is a comment', undefined],
    ['! /inverted/abs/path', '!inverted/abs/path'],
    ['!', '!'],
    ['! ', '!'],
    // the rules behind the table
    ['  # x', '# x'], // comment only when # is the very first character
    ['a//b/../c', 'a/c'],
    ['docs/', 'docs'],
    ['./x/./y', 'x/y'],
    ['//two', 'two'],
    ['/', '/'], // a lone / stays (cleaned, only stripped when longer than 1)
    ['   spaced   ', 'spaced'],
    ['\tsrc/*.ts\u00a0', 'src/*.ts'], // Unicode whitespace is trimmed like Go's TrimSpace
    ['!  keep/me ', '!keep/me'],
    ['../up', '../up'],
    ['/../up', 'up'],
  ];
  for (const [line, pattern] of rows) {
    it(`${JSON.stringify(line)} → ${pattern === undefined ? 'skipped' : JSON.stringify(pattern)}`, () => {
      assert.deepEqual(parseIgnoreFile(line + '\n'), pattern === undefined ? [] : [pattern]);
    });
  }

  it('reads the whole upstream sample file in order', () => {
    const text = 'test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! \n';
    assert.deepEqual(parseIgnoreFile(text), ['test1', 'test2', 'a/file/here', 'lastfile', '!inverted/abs/path', '!', '!']);
  });

  it('no file at all (empty text) → no patterns', () => {
    assert.deepEqual(parseIgnoreFile(''), []);
  });

  it('strips a UTF-8 BOM on the first line only, handles CRLF, keeps line numbers', () => {
    assert.deepEqual(parseIgnoreFile('\uFEFF# c\r\nfoo\r\n\uFEFFbar'), ['foo', '\uFEFFbar']);
    assert.deepEqual(parseIgnoreFileWithLines('\uFEFFa\n\n# c\n!b\n'), [
      { pattern: 'a', line: 1 },
      { pattern: '!b', line: 4 },
    ]);
  });
});

describe('parser/dockerignore §2: building the matcher', () => {
  it('drops empty patterns', () => {
    assert.equal(new PatternMatcher(['docs', 'config', '']).patterns().length, 2);
  });
  it('a lone ! is an error', () => {
    assert.throws(() => new PatternMatcher(['!']), (e: unknown) => {
      assert.ok(e instanceof IgnorePatternError);
      assert.equal(e.code, 'TSB_DOCKERFILE_IGNORE_PATTERN');
      assert.match(e.message, /illegal exclusion pattern: "!"/);
      return true;
    });
  });
  it('"! " from a file becomes "!" and is rejected', () => {
    assert.throws(() => new PatternMatcher(parseIgnoreFile('! \n')), IgnorePatternError);
  });
  for (const p of ['  !docs/README.md', '!docs/README.md  ']) {
    it(`${JSON.stringify(p)} is still an exception`, () => {
      const pm = new PatternMatcher(['docs', p]);
      assert.equal(pm.exclusions(), true);
      assert.equal(pm.matches('docs/README.md'), false);
    });
  }
  it('exclusions() is false without ! patterns', () => {
    assert.equal(new PatternMatcher(['docs']).exclusions(), false);
  });
  it('a malformed class [ is a bad pattern', () => {
    assert.throws(() => new PatternMatcher(['[']), IgnorePatternError);
  });
  it('[Local-Only]/ passes validation but fails on every match, without crashing (moby/moby#52203)', () => {
    const pm = new PatternMatcher(['[Local-Only]/']);
    for (let i = 0; i < 3; i++) assert.throws(() => pm.matches('foo'), IgnorePatternError);
    assert.throws(() => pm.matchesUsingParentResults('foo', NO_PARENT_INFO), IgnorePatternError);
  });
});

describe('parser/dockerignore §3: compiled match kinds', () => {
  const rows: Array<[pattern: string, kind: string, goRegexp?: string]> = [
    ['*', 'regexp', '^[^/]*$'],
    ['file*', 'regexp', '^file[^/]*$'],
    ['*file', 'regexp', '^[^/]*file$'],
    ['a*/b', 'regexp', '^a[^/]*/b$'],
    ['**', 'suffix'],
    ['**/**', 'regexp', '^(.*/)?.*$'],
    ['dir/**', 'prefix'],
    ['**/dir', 'suffix'],
    ['**/dir2/*', 'regexp', '^(.*/)?dir2/[^/]*$'],
    ['**/dir2/**', 'regexp', '^(.*/)?dir2/.*$'],
    ['**file', 'suffix'],
    ['**/file*txt', 'regexp', '^(.*/)?file[^/]*txt$'],
    ['**/**/*.txt', 'regexp', '^(.*/)?(.*/)?[^/]*\\.txt$'],
    ['a[b-d]e', 'regexp', '^a[b-d]e$'],
    ['.*', 'regexp', '^\\.[^/]*$'],
    ['abc.def', 'exact'],
    ['a(b)c/def', 'exact'],
    ['a.|)$(}+{bc', 'exact'],
    ['dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', 'exact'],
    ['abc?def', 'regexp', '^abc[^/]def$'],
    ['**/foo/bar', 'suffix'],
  ];
  for (const [pattern, kind, re] of rows) {
    it(`${pattern} → ${kind}${re ? ' ' + re : ''}`, () => {
      const [p] = new PatternMatcher([pattern]).patterns();
      assert.equal(p!.kind, kind);
      assert.equal(p!.goRegexp, re);
    });
  }

  // §3 token table, one probe each
  const tokens: Array<[pattern: string, path: string, excluded: boolean]> = [
    ['a*c', 'abbc', true],
    ['a*c', 'a/c', false], // * stops at /
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['[a-z]1', 'q1', true],
    ['[^a-z]1', 'q1', false],
    ['\\*', '*', true],
    ['**/x', 'x', true],
    ['**/x', 'a/b/x', true],
    ['dir/**', 'dir', false],
    ['a+b', 'a+b', true],
    ['a+b', 'aab', false],
    ['{a,b}', 'a', false],
    ['{a,b}', '{a,b}', true],
    ['$x', '$x', true],
  ];
  for (const [pattern, path, excluded] of tokens) {
    it(`token probe: ${pattern} vs ${path} → ${excluded}`, () => {
      assert.equal(new PatternMatcher([pattern]).matches(path), excluded);
    });
  }
});

describe('parser/dockerignore §4a: single-pattern cases', () => {
  const yes = (pattern: string, ...paths: string[]): Array<[string, string, boolean]> => paths.map((p) => [pattern, p, true]);
  const no = (pattern: string, ...paths: string[]): Array<[string, string, boolean]> => paths.map((p) => [pattern, p, false]);
  const wheel = 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl';
  const rows: Array<[string, string, boolean]> = [
    ...yes('**', 'file', 'file/', '/', 'dir/file', 'dir/file/'),
    ...yes('**/', 'file', 'file/', '/', 'dir/file', 'dir/file/'),
    ...yes('**/**', 'dir/file', 'dir/file/'),
    ...yes('dir/**', 'dir/file', 'dir/file/', 'dir/dir2/file', 'dir/dir2/file/'),
    ...yes('**/dir', 'dir', 'dir/file'),
    ...yes('**/dir2/*', 'dir/dir2/file', 'dir/dir2/file/'),
    ...yes('**/dir2/**', 'dir/dir2/dir3/file', 'dir/dir2/dir3/file/'),
    ...yes('**file', 'file', 'dir/file', 'dir/dir/file'),
    ...yes('**/file', 'dir/file', 'dir/dir/file'),
    ...yes('**/file*', 'dir/dir/file', 'dir/dir/file.txt'),
    ...yes('**/file*txt', 'dir/dir/file.txt'),
    ...yes('**/file*.txt', 'dir/dir/file.txt'),
    ...yes('**/file*.txt*', 'dir/dir/file.txt'),
    ...yes('**/**/*.txt', 'dir/dir/file.txt', 'file.txt'),
    ...no('**/**/*.txt2', 'dir/dir/file.txt'),
    ...yes('**/*.txt', 'file.txt'),
    ...yes('a**/*.txt', 'a/file.txt', 'a/dir/file.txt', 'a/dir/dir/file.txt'),
    ...no('a/*.txt', 'a/dir/file.txt'),
    ...yes('a/*.txt', 'a/file.txt'),
    ...yes('a/*.txt**', 'a/file.txt'),
    ...no('a[b-d]e', 'ae', 'aae'),
    ...yes('a[b-d]e', 'ace'),
    ...yes('a[^b-d]e', 'aze'),
    ...yes('.*', '.foo'),
    ...no('.*', 'foo'),
    ...no('abc.def', 'abcdef', 'abcZdef'),
    ...yes('abc.def', 'abc.def'),
    ...yes('abc?def', 'abcZdef'),
    ...no('abc?def', 'abcdef'),
    ...yes('a\\\\', 'a\\'),
    ...yes('a\\*b', 'a*b'),
    ...yes('**/foo/bar', 'foo/bar', 'dir/foo/bar', 'dir/dir2/foo/bar'),
    ...no('abc/**', 'abc'),
    ...yes('abc/**', 'abc/def', 'abc/def/ghi'),
    ...yes('**/.foo', '.foo'),
    ...no('**/.foo', 'bar.foo'),
    ...yes('a(b)c/def', 'a(b)c/def'),
    ...no('a(b)c/def', 'a(b)c/xyz'),
    ...yes('a.|)$(}+{bc', 'a.|)$(}+{bc'),
    ...yes(wheel, wheel),
    ...yes('dist/*.whl', wheel),
  ];
  for (const [pattern, path, excluded] of rows) {
    it(`${pattern} vs ${JSON.stringify(path)} → ${excluded ? 'excluded' : 'kept'}`, () => {
      const pm = new PatternMatcher([pattern]);
      assert.equal(pm.matches(path), excluded, 'matches');
      assert.equal(pm.matchesUsingParentResults(path, NO_PARENT_INFO).excluded, excluded, 'no parent info');
      assert.equal(matchesViaWalk(pm, path), excluded, 'carried parent info');
    });
  }
});

describe('parser/dockerignore §4b: multi-pattern cases', () => {
  const wheel = 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl';
  const rows: Array<[patterns: string[], path: string, excluded: boolean]> = [
    [['**', '!util/docker/web'], 'util/docker/web/foo', false],
    [['**', '!util/docker/web', 'util/docker/web/foo'], 'util/docker/web/foo', true],
    [['**', `!${wheel}`], wheel, false],
    [['**', '!dist/*.whl'], wheel, false],
    [['*.go'], 'fileutils.go', true],
    [['*'], 'fileutils.go', true],
    [['!fileutils.go', '*.go'], 'fileutils.go', true],
    [['*.go', '!fileutils.go'], 'fileutils.go', false],
    [['docs', '!docs/README.md'], 'docs/README.md', false],
    [['docs/', '!docs/README.md'], 'docs/README.md', false],
    [['docs/*', '!docs/README.md'], 'docs/README.md', false],
    [['*.go'], '.', false],
    [[], '/any/path/there', false],
    // the root can never be excluded, whatever the patterns
    [['**'], '.', false],
    [['**'], '', false],
    // anchored at the root, unlike .gitignore (moby/moby#27144)
    [['foo'], 'bar/foo', false],
    [['foo'], 'foo/bar', true],
  ];
  for (const [patterns, path, excluded] of rows) {
    it(`${JSON.stringify(patterns)} vs ${JSON.stringify(path)} → ${excluded ? 'excluded' : 'kept'}`, () => {
      const pm = new PatternMatcher(patterns);
      assert.equal(pm.matches(path), excluded);
      if (path !== '.' && path !== '') assert.equal(matchesViaWalk(pm, path), excluded, 'carried parent info');
    });
  }
  for (const bad of [['['], ['!']]) {
    it(`${JSON.stringify(bad)} → error`, () => {
      assert.throws(() => new PatternMatcher(bad).matches('anything'), IgnorePatternError);
    });
  }
});

describe('parser/dockerignore §4c: Go filepath.Match conformance', () => {
  const matches: Array<[string, string]> = [
    ['abc', 'abc'],
    ['*', 'abc'],
    ['*c', 'abc'],
    ['a*', 'a'],
    ['a*', 'abc'],
    ['a*', 'ab/c'], // via the parent rule
    ['a*/b', 'abc/b'],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f'],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/f'],
    ['a*b?c*x', 'abxbbxdbxebxczzx'],
    ['ab[c]', 'abc'],
    ['ab[b-d]', 'abc'],
    ['ab[^e-g]', 'abc'],
    ['a\\*b', 'a*b'],
    ['a?b', 'a☺b'],
    ['a[^a]b', 'a☺b'],
    ['[a-ζ]*', 'α'],
    ['[\\]a]', ']'],
    ['[\\-]', '-'],
    ['[x\\-]', 'x'],
    ['[x\\-]', '-'],
    ['[\\-x]', 'x'],
    ['[\\-x]', '-'],
    ['*x', 'xxx'],
  ];
  const nonMatches: Array<[string, string]> = [
    ['a*/b', 'a/c/b'],
    ['a*b*c*d*e*/f', 'axbxcxdxe/xxx/f'],
    ['a*b*c*d*e*/f', 'axbxcxdxexxx/fff'],
    ['a*b?c*x', 'abxbbxdbxebxczzy'],
    ['ab[e-g]', 'abc'],
    ['ab[^c]', 'abc'],
    ['ab[^b-d]', 'abc'],
    ['a\\*b', 'ab'],
    ['a???b', 'a☺b'],
    ['a[^a][^a][^a]b', 'a☺b'],
    ['*[a-ζ]', 'A'],
    ['a?b', 'a/b'],
    ['a*b', 'a/b'],
    ['[x\\-]', 'z'],
    ['[\\-x]', 'a'],
  ];
  const bad = ['[]a]', '[-]', '[x-]', '[-x]', '\\', '[a-b-c]', '[', '[^', '[^bc', 'a['];
  for (const [p, s] of matches) {
    it(`${p} matches ${s}`, () => assert.equal(new PatternMatcher([p]).matches(s), true));
  }
  for (const [p, s] of nonMatches) {
    it(`${p} does not match ${s}`, () => assert.equal(new PatternMatcher([p]).matches(s), false));
  }
  for (const p of bad) {
    it(`${p} is a bad pattern`, () => assert.throws(() => new PatternMatcher([p]), IgnorePatternError));
  }
});

describe('parser/dockerignore: Go regexp quirks kept for compatibility', () => {
  const rows: Array<[pattern: string, path: string, excluded: boolean]> = [
    ['[*]', '[', false], // * inside a class becomes [^/]* → Go reads "[[^/]*]"
    ['[*]', '^^]', true],
    ['a^b', 'a^b', true], // no glob char: an exact match
    ['a^*', 'a^b', false], // ^ is an anchor in the generated regexp, so this never matches
    ['[[:digit:]]x', '7x', true],
    ['[[:digit:]]x', 'ax', false],
    ['v\\d', 'v7', true], // \d is Go's digit class after the glob escape is passed through
    ['v\\d', 'vd', false],
    ['a\\.b', 'a.b', true],
    ['a\\.b', 'axb', false],
    ['é*', 'éa', true],
    ['**/*.ts', 'x\n/y.ts', false], // (.*/) cannot cross a newline: Go's . excludes \n
    ['**/*.ts', 'x/y.ts', true],
    ['**/*.ts', 'x\r/y.ts', true], // but it does cross \r (JS's . would not)
  ];
  for (const [pattern, path, excluded] of rows) {
    it(`${JSON.stringify(pattern)} vs ${JSON.stringify(path)} → ${excluded}`, () => {
      assert.equal(new PatternMatcher([pattern]).matches(path), excluded);
    });
  }
  it('goRegexpToJs rejects what Go rejects', () => {
    for (const re of ['^a\\', '^[b-a]$', '^[[:nope:]]$', '^a\\1$']) assert.throws(() => new RegExp(goRegexpToJs(re), 'u'), re);
  });
});

describe('parser/dockerignore: explain', () => {
  const patterns = ['docs', '!docs/README.md', '*.log', '!keep.log', 'keep.log'];
  const rows: Array<[path: string, expected: ReturnType<typeof explain>]> = [
    ['docs/a.md', { excluded: true, pattern: 'docs', index: 0, matchedPath: 'docs' }],
    ['docs/README.md', { excluded: false, pattern: '!docs/README.md', index: 1, matchedPath: 'docs/README.md' }],
    ['x.log', { excluded: true, pattern: '*.log', index: 2, matchedPath: 'x.log' }],
    ['keep.log', { excluded: true, pattern: 'keep.log', index: 4, matchedPath: 'keep.log' }],
    ['src/main.ts', { excluded: false }],
    ['.', { excluded: false }],
  ];
  for (const [path, expected] of rows) {
    it(`${path} → ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(explain(patterns, path), expected);
      assert.equal(new PatternMatcher(patterns).matches(path), expected.excluded);
    });
  }
  it('index counts the positions given to the matcher, empty ones included', () => {
    assert.equal(explain(['', 'a'], 'a').index, 1);
  });
});
