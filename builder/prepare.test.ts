import assert from 'node:assert/strict';
import { parsePlatform } from '../image/platform.js';
import { parseDockerfile } from '../parser/index.js';
import { resolveGlobalArgs, targetPlatforms } from './prepare.js';

describe('builder/prepare: platform ARGs', () => {
  // What dockerd 20.10 (BuildKit) gave for `docker build --platform P` on this amd64 host, its
  // platform ARGs written into labels (see image/platform.test.ts for the normalization table).
  const cases: Array<{ platform: string; want: Record<string, string> }> = [
    { platform: 'linux/arm64/v8', want: { TARGETPLATFORM: 'linux/arm64', TARGETOS: 'linux', TARGETARCH: 'arm64', TARGETVARIANT: '' } },
    { platform: 'linux/arm', want: { TARGETPLATFORM: 'linux/arm/v7', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v7' } },
    { platform: 'linux/amd64/v2', want: { TARGETPLATFORM: 'linux/amd64/v2', TARGETOS: 'linux', TARGETARCH: 'amd64', TARGETVARIANT: 'v2' } },
    { platform: 'i386', want: { TARGETPLATFORM: 'linux/386', TARGETOS: 'linux', TARGETARCH: '386', TARGETVARIANT: '' } },
  ];
  const build = parsePlatform('linux/amd64');
  for (const c of cases) {
    it(`--platform ${c.platform}: TARGET* of the target, BUILD* of the host`, () => {
      const df = parseDockerfile('ARG X=$TARGETARCH-$BUILDARCH\nFROM scratch\n', { file: 'Dockerfile' });
      const args = resolveGlobalArgs(df, new Map(), targetPlatforms(c.platform)[0]!, build);
      for (const [k, v] of Object.entries(c.want)) assert.equal(args.get(k), v, k);
      assert.deepEqual([args.get('BUILDPLATFORM'), args.get('BUILDOS'), args.get('BUILDARCH'), args.get('BUILDVARIANT')], ['linux/amd64', 'linux', 'amd64', '']);
      assert.equal(args.get('X'), `${c.want.TARGETARCH}-amd64`, 'global ARG defaults see them');
    });
  }
  it('targetPlatforms: a list, normalized and deduplicated; none given is []', () => {
    assert.deepEqual(targetPlatforms('linux/amd64,linux/arm64/v8,linux/arm64').map((p) => p.architecture), ['amd64', 'arm64']);
    assert.deepEqual(targetPlatforms(undefined), []);
    assert.throws(() => targetPlatforms('linux/'), /--platform: invalid platform/);
  });
});
