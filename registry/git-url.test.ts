import assert from 'node:assert/strict';
import { parseGitSource, redactGitUrl, type GitSource } from './git-url.js';

type Want = Partial<GitSource> | undefined | RegExp;

/** BuildKit's dfgitutil/gitutil cases (git_ref_test.go, git_url_test.go), as far as we read them. */
const CASES: Array<[string, Want]> = [
  ['https://github.com/moby/buildkit.git', { remote: 'https://github.com/moby/buildkit.git', scheme: 'https', ref: '', subdir: '' }],
  ['https://github.com/moby/buildkit.git#main', { remote: 'https://github.com/moby/buildkit.git', ref: 'main', subdir: '' }],
  ['https://github.com/moby/buildkit.git#v1.0:docs/sub', { ref: 'v1.0', subdir: 'docs/sub' }],
  ['https://github.com/moby/buildkit.git#:sub', { ref: '', subdir: 'sub' }],
  ['https://github.com/moby/buildkit.git#main:/../../sub/', { ref: 'main', subdir: 'sub' }],
  ['https://github.com/moby/buildkit.git?ref=main&subdir=docs', { remote: 'https://github.com/moby/buildkit.git', ref: 'main', subdir: 'docs' }],
  ['https://github.com/moby/buildkit.git?tag=v1', { ref: 'refs/tags/v1' }],
  ['https://github.com/moby/buildkit.git?branch=dev', { ref: 'refs/heads/dev' }],
  ['https://github.com/moby/buildkit.git?keep-git-dir', { keepGitDir: true }],
  ['https://github.com/moby/buildkit.git?keep-git-dir=false&submodules=0', { keepGitDir: false, submodules: false }],
  ['https://github.com/moby/buildkit.git#a?ref=b', { ref: 'a?ref=b' }], // the fragment runs to the end: ?ref=b is part of it
  ['https://github.com/moby/buildkit.git?ref=a#b', /ref conflicts: "b" vs "a"/],
  ['https://github.com/moby/buildkit.git?tag=a&branch=b', /branch conflicts with tag/],
  ['https://github.com/moby/buildkit.git?foo=bar', /unexpected query "foo"/],
  ['https://github.com/moby/buildkit.git?ref=a&ref=b', /multiple values/],
  ['http://127.0.0.1:8080/repo.git', { scheme: 'http', remote: 'http://127.0.0.1:8080/repo.git' }],
  ['https://user:token@example.com/r.git#x', { remote: 'https://user:token@example.com/r.git', ref: 'x' }],
  ['git://127.0.0.1:9418/repo#v2:app', { scheme: 'git', remote: 'git://127.0.0.1:9418/repo', ref: 'v2', subdir: 'app' }],
  ['ssh://git@example.com:2222/org/repo.git#main', { scheme: 'ssh', remote: 'ssh://git@example.com:2222/org/repo.git', ref: 'main' }],
  ['git@github.com:moby/buildkit.git', { scheme: 'ssh', remote: 'git@github.com:moby/buildkit.git', ref: '', subdir: '' }],
  ['git@github.com:moby/buildkit.git#main:frontend', { scheme: 'ssh', remote: 'git@github.com:moby/buildkit.git', ref: 'main', subdir: 'frontend' }],
  ['git@github.com:moby/buildkit.git?ref=main', { remote: 'git@github.com:moby/buildkit.git', ref: 'main' }],
  // not git URLs
  ['https://example.com/context.tar.gz', undefined],
  ['https://github.com/moby/buildkit', undefined],
  ['ftp://example.com/x.git', undefined],
  ['./repo.git', undefined],
  ['../repo.git', undefined],
  ['github.com/moby/buildkit', undefined], // only for build contexts (below)
  ['context.tar', undefined],
  ['/abs/path', undefined],
  // git would read these as options
  ['https://github.com/moby/buildkit.git#--upload-pack=x', /invalid git ref/],
];

describe('parseGitSource (BuildKit git URLs)', () => {
  for (const [spec, want] of CASES) {
    it(`${spec} → ${want instanceof RegExp ? `error ${want}` : JSON.stringify(want)}`, () => {
      if (want instanceof RegExp) {
        assert.throws(() => parseGitSource(spec), (e: Error & { code?: string }) => want.test(e.message) && e.code === 'TSB_REGISTRY_GIT_URL');
        return;
      }
      const got = parseGitSource(spec);
      if (want === undefined) return assert.equal(got, undefined);
      assert.ok(got, 'a git source');
      for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof GitSource], v, k);
    });
  }

  it('github.com/o/r is a git context (https) only when asked', () => {
    assert.deepEqual(parseGitSource('github.com/moby/buildkit#v1', { allowGithubShorthand: true }), {
      remote: 'https://github.com/moby/buildkit',
      scheme: 'https',
      ref: 'v1',
      subdir: '',
    });
  });

  it('messages never show a password or token', () => {
    assert.equal(redactGitUrl('https://user:secret@example.com/r.git'), 'https://user:***@example.com/r.git');
    assert.equal(redactGitUrl('https://ghp_token@example.com/r.git'), 'https://***@example.com/r.git');
    assert.equal(redactGitUrl('git@github.com:o/r.git'), 'git@github.com:o/r.git');
  });
});
