import assert from 'node:assert/strict';
import { FormatError } from './errors.js';
import { formatPlatform, hostPlatform, indexPlatforms, matchPlatform, parsePlatform, selectManifest } from './platform.js';
import type { Descriptor, Platform } from './types.js';

describe('image/platform', () => {
  it('hostPlatform maps process.arch to the image spelling', () => {
    const want: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le' };
    const p = hostPlatform();
    assert.equal(p.os, process.platform === 'win32' ? 'windows' : 'linux');
    if (want[process.arch]) assert.equal(p.architecture, want[process.arch]);
    if (process.arch === 'arm64') assert.equal(p.variant, 'v8');
    if (process.arch === 'x64') assert.equal(p.variant, undefined);
  });

  const host = hostPlatform();
  const parseCases: Array<[string, Platform]> = [
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64', variant: 'v8' }],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['Linux/X86_64', { os: 'linux', architecture: 'amd64' }],
    ['linux/aarch64', { os: 'linux', architecture: 'arm64' }],
    ['linux/armhf', { os: 'linux', architecture: 'arm', variant: 'v7' }],
    ['linux/armel', { os: 'linux', architecture: 'arm', variant: 'v6' }],
    ['linux/i386', { os: 'linux', architecture: '386' }],
    ['windows/amd64', { os: 'windows', architecture: 'amd64' }],
    ['s390x', { os: host.os, architecture: 's390x' }],
    ['linux', host],
  ];
  for (const [input, want] of parseCases) {
    it(`parsePlatform(${JSON.stringify(input)})`, () => {
      assert.deepEqual(parsePlatform(input), want);
    });
  }

  for (const bad of ['', '/', 'linux//amd64', 'a/b/c/d', 'linux/am d64', 'linux/amd64/']) {
    it(`parsePlatform rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parsePlatform(bad), FormatError);
    });
  }

  const formatCases: Array<[Platform, string]> = [
    [{ os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm/v7'],
  ];
  for (const [p, want] of formatCases) {
    it(`formatPlatform → ${want} and back`, () => {
      assert.equal(formatPlatform(p), want);
      assert.deepEqual(parsePlatform(want), p);
    });
  }

  const matchCases: Array<[string, Platform, boolean]> = [
    ['linux/amd64', { os: 'linux', architecture: 'amd64' }, true],
    ['linux/amd64', { os: 'linux', architecture: 'arm64' }, false],
    ['linux/amd64', { os: 'windows', architecture: 'amd64' }, false],
    ['linux/arm64', { os: 'linux', architecture: 'arm64', variant: 'v8' }, true],
    ['linux/arm64/v8', { os: 'linux', architecture: 'arm64' }, true],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v6' }, false],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm' }, true],
    ['linux/arm', { os: 'linux', architecture: 'arm', variant: 'v6' }, true],
  ];
  for (const [want, have, ok] of matchCases) {
    it(`matchPlatform(${want}, ${formatPlatform(have)}) = ${ok}`, () => {
      assert.equal(matchPlatform(parsePlatform(want), have), ok);
    });
  }

  describe('selectManifest: the one rule for picking from an index', () => {
    const d = (digest: string, platform?: Platform, annotations?: Record<string, string>): Descriptor => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: `sha256:${digest.padEnd(64, '0')}`,
      size: 1,
      ...(platform ? { platform } : {}),
      ...(annotations ? { annotations } : {}),
    });
    const amd = d('a1', { os: 'linux', architecture: 'amd64' });
    const arm = d('a2', { os: 'linux', architecture: 'arm64', variant: 'v8' });
    const armv7 = d('a3', { os: 'linux', architecture: 'arm', variant: 'v7' });
    const att = d('a4', { os: 'unknown', architecture: 'unknown' });
    const attAnnotated = d('a5', undefined, { 'vnd.docker.reference.type': 'attestation-manifest' });
    const bare = d('a6');
    const cases: Array<{ name: string; manifests: Descriptor[]; want: string; pick: Descriptor | undefined }> = [
      { name: 'exact platform', manifests: [arm, amd], want: 'linux/amd64', pick: amd },
      { name: 'arm64 without variant is v8', manifests: [amd, arm], want: 'linux/arm64', pick: arm },
      { name: 'variant must match when asked', manifests: [armv7], want: 'linux/arm/v6', pick: undefined },
      { name: 'first match wins', manifests: [amd, d('a7', { os: 'linux', architecture: 'amd64' })], want: 'linux/amd64', pick: amd },
      { name: 'attestations are never picked', manifests: [att, attAnnotated], want: 'unknown/unknown', pick: undefined },
      { name: 'a lone entry without platform', manifests: [bare, att], want: 'linux/s390x', pick: bare },
      { name: 'two entries without platform: ambiguous', manifests: [bare, d('a8')], want: 'linux/amd64', pick: undefined },
      { name: 'nothing fits', manifests: [amd, arm], want: 'windows/amd64', pick: undefined },
    ];
    for (const c of cases) {
      it(c.name, () => assert.equal(selectManifest({ manifests: c.manifests }, parsePlatform(c.want)), c.pick));
    }
    it('indexPlatforms names the candidates, attestations left out', () => {
      assert.deepEqual(indexPlatforms({ manifests: [amd, att, arm, bare] }), ['linux/amd64', 'linux/arm64/v8', bare.digest]);
    });
  });
});
