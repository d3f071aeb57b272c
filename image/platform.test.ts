import assert from 'node:assert/strict';
import { FormatError } from './errors.js';
import { formatPlatform, hostPlatform, indexPlatforms, matchPlatform, normalizePlatform, parsePlatform, parsePlatformList, selectManifest } from './platform.js';
import type { Descriptor, Platform } from './types.js';

describe('image/platform', () => {
  it('hostPlatform maps process.arch to the image spelling', () => {
    const want: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', ppc64: 'ppc64le' };
    const p = hostPlatform();
    assert.equal(p.os, process.platform === 'win32' ? 'windows' : 'linux');
    if (want[process.arch]) assert.equal(p.architecture, want[process.arch]);
    if (process.arch === 'arm64') assert.equal(p.variant, undefined); // normalized, as containerd's DefaultSpec
    if (process.arch === 'x64') assert.equal(p.variant, undefined);
  });

  const host = hostPlatform();
  // --platform → TARGETPLATFORM as BuildKit (dockerd 20.10) reported it for each input (docker build
  // --platform P, the platform ARGs written into labels); TARGETOS/ARCH/VARIANT are its parts.
  const parseCases: Array<[string, string]> = [
    ['linux/amd64', 'linux/amd64'],
    ['linux/arm64', 'linux/arm64'],
    ['linux/arm64/v8', 'linux/arm64'],
    ['linux/arm64/8', 'linux/arm64'],
    ['arm64', `${host.os}/arm64`],
    ['aarch64', `${host.os}/arm64`],
    ['LINUX/ARM64', 'linux/arm64'],
    ['linux/arm64/v9', 'linux/arm64/v9'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/7', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['linux/arm/v7', 'linux/arm/v7'],
    ['armhf', `${host.os}/arm/v7`],
    ['linux/armel', 'linux/arm/v6'],
    ['linux/amd64/v2', 'linux/amd64/v2'],
    ['linux/amd64/v1', 'linux/amd64'],
    ['x86_64', `${host.os}/amd64`],
    ['Linux/X86_64', 'linux/amd64'],
    ['linux/386', 'linux/386'],
    ['i386', `${host.os}/386`],
    ['linux/riscv64', 'linux/riscv64'],
    ['windows/amd64', 'windows/amd64'],
    ['linux', formatPlatform(host)],
  ];
  for (const [input, want] of parseCases) {
    it(`parsePlatform(${JSON.stringify(input)}) = ${want}`, () => {
      assert.equal(formatPlatform(parsePlatform(input)), want);
    });
  }

  it('parsePlatformList splits, normalizes and drops duplicates', () => {
    assert.deepEqual(parsePlatformList('linux/amd64, linux/arm64,linux/arm64/v8').map(formatPlatform), ['linux/amd64', 'linux/arm64']);
    assert.throws(() => parsePlatformList(' , '), FormatError);
  });

  it('normalizePlatform keeps other fields and drops a redundant variant', () => {
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm64', variant: 'v8', 'os.version': '1' }), { os: 'linux', architecture: 'arm64', 'os.version': '1' });
    assert.deepEqual(normalizePlatform({ os: 'linux', architecture: 'arm' }), { os: 'linux', architecture: 'arm', variant: 'v7' });
  });

  for (const bad of ['', '/', 'linux//amd64', 'a/b/c/d', 'linux/am d64', 'linux/amd64/']) {
    it(`parsePlatform rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parsePlatform(bad), FormatError);
    });
  }

  const formatCases: Array<[Platform, string]> = [
    [{ os: 'linux', architecture: 'amd64' }, 'linux/amd64'],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }, 'linux/arm/v7'],
    [{ os: 'linux', architecture: 'arm64' }, 'linux/arm64'],
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
    ['linux/arm64', { os: 'linux', architecture: 'arm64', variant: 'v9' }, false],
    // containerd's OnlyStrict: a variant runs the lower ones of its architecture, never higher ones
    ['linux/arm/v7', { os: 'linux', architecture: 'arm', variant: 'v6' }, true],
    ['linux/arm/v6', { os: 'linux', architecture: 'arm', variant: 'v7' }, false],
    ['linux/arm/v7', { os: 'linux', architecture: 'arm' }, true],
    ['linux/arm', { os: 'linux', architecture: 'arm', variant: 'v5' }, true],
    ['linux/amd64/v3', { os: 'linux', architecture: 'amd64' }, true],
    ['linux/amd64', { os: 'linux', architecture: 'amd64', variant: 'v2' }, false],
    ['linux/amd64', { os: 'linux', architecture: '386' }, false],
    ['linux/x86_64', { os: 'Linux', architecture: 'x86_64' }, true],
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
      { name: 'a higher variant does not fit', manifests: [armv7], want: 'linux/arm/v6', pick: undefined },
      { name: 'the own variant before a lower one', manifests: [d('b1', { os: 'linux', architecture: 'arm', variant: 'v6' }), armv7], want: 'linux/arm', pick: armv7 },
      { name: 'a lower variant when that is all', manifests: [amd, d('b2', { os: 'linux', architecture: 'arm', variant: 'v6' })], want: 'linux/arm/v7', pick: d('b2', { os: 'linux', architecture: 'arm', variant: 'v6' }) },
      { name: 'first match wins', manifests: [amd, d('a7', { os: 'linux', architecture: 'amd64' })], want: 'linux/amd64', pick: amd },
      { name: 'attestations are never picked', manifests: [att, attAnnotated], want: 'unknown/unknown', pick: undefined },
      { name: 'a lone entry without platform', manifests: [bare, att], want: 'linux/s390x', pick: bare },
      { name: 'two entries without platform: ambiguous', manifests: [bare, d('a8')], want: 'linux/amd64', pick: undefined },
      { name: 'nothing fits', manifests: [amd, arm], want: 'windows/amd64', pick: undefined },
    ];
    for (const c of cases) {
      it(c.name, () => assert.deepEqual(selectManifest({ manifests: c.manifests }, parsePlatform(c.want)), c.pick));
    }
    it('indexPlatforms names the candidates, attestations left out', () => {
      assert.deepEqual(indexPlatforms({ manifests: [amd, att, arm, bare] }), ['linux/amd64', 'linux/arm64/v8', bare.digest]);
    });
  });
});
