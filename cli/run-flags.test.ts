import assert from 'node:assert/strict';
import { UsageError } from './args.js';
import { canonicalIp, parseAddHost, parseAnnotations, parseAttestations, parseSecurityOpts, parseUlimit, ramInBytes } from './specs.js';
import { imagePurl } from '../builder/attestations.js';

/** --add-host: buildx's own table (build/utils_test.go), with the address as BuildKit writes it. */
describe('--add-host', () => {
  const ok: Array<[string, Array<[string, string]>]> = [
    ['myhost:192.168.0.1', [['myhost', '192.168.0.1']]],
    ['myhost=192.168.0.1', [['myhost', '192.168.0.1']]],
    ['myhost=[192.168.0.1]', [['myhost', '192.168.0.1']]],
    ['host.and.domain.invalid:10.0.2.1', [['host.and.domain.invalid', '10.0.2.1']]],
    ['anipv6host:2003:ab34:e::1', [['anipv6host', '2003:ab34:e::1']]],
    ['anipv6host:[2003:ab34:e::1]', [['anipv6host', '2003:ab34:e::1']]],
    ['anipv6host=[2003:ab34:e::1]', [['anipv6host', '2003:ab34:e::1']]],
    ['ipv6local:::1', [['ipv6local', '::1']]],
    ['ipv6local=::1', [['ipv6local', '::1']]],
    ['ipv6local=[::1]', [['ipv6local', '::1']]],
    // Go's net.IP.String() compresses: BuildKit writes ::1 into /etc/hosts
    ['ipv6local:0:0:0:0:0:0:0:1', [['ipv6local', '::1']]],
    ['ipv6local=[0:0:0:0:0:0:0:1]', [['ipv6local', '::1']]],
    ['myhost=162.242.195.82,162.242.195.83', [['myhost', '162.242.195.82'], ['myhost', '162.242.195.83']]],
    ['gw:host-gateway', [['gw', '127.0.0.1']]],
  ];
  for (const [input, want] of ok) {
    it(`${input} → ${want.map(([h, ip]) => `${ip} ${h}`).join(', ')}`, () => {
      assert.deepEqual(parseAddHost(input), want.map(([host, ip]) => ({ host, ip })));
    });
  }
  const bad: Array<[string, RegExp]> = [
    ['myhost:192.notanipaddress.1', /invalid IP address in add-host: "192.notanipaddress.1"/],
    ['myhost=192.notanipaddress.1', /invalid IP address in add-host: "192.notanipaddress.1"/],
    ['thathost-nosemicolon10.0.0.1', /bad format for add-host: "thathost-nosemicolon10.0.0.1"/],
    ['anipv6host:::::1', /invalid IP address in add-host: "::::1"/],
    ['ipv6local:::0::', /invalid IP address in add-host: "::0::"/],
    ['ipv6addr=[::1', /invalid IP address in add-host: "\[::1"/],
    ['ipv6addr=::1]', /invalid IP address in add-host: "::1\]"/],
    ['myhost.invalid:', /invalid IP address in add-host: ""/],
    ['myhost.invalid=', /invalid IP address in add-host: ""/],
    ['', /bad format for add-host: ""/],
  ];
  for (const [input, message] of bad) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assert.throws(() => parseAddHost(input), (e: unknown) => e instanceof UsageError && message.test(e.message));
    });
  }
  it('prints IPv4-mapped IPv6 addresses as IPv4, as Go does', () => {
    assert.equal(canonicalIp('::ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(canonicalIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  });
});

describe('--ulimit (docker go-units syntax)', () => {
  const ok: Array<[string, { name: string; soft: number; hard: number }]> = [
    ['nofile=1024:2048', { name: 'nofile', soft: 1024, hard: 2048 }],
    ['nofile=512', { name: 'nofile', soft: 512, hard: 512 }],
    ['core=-1', { name: 'core', soft: -1, hard: -1 }],
    ['memlock=1024:-1', { name: 'memlock', soft: 1024, hard: -1 }],
    ['nproc=0:0', { name: 'nproc', soft: 0, hard: 0 }],
  ];
  for (const [input, want] of ok) it(input, () => assert.deepEqual(parseUlimit(input), want));
  const bad: Array<[string, RegExp]> = [
    ['nofile', /invalid ulimit argument/],
    ['files=1', /invalid ulimit type: files/],
    ['nofile=2048:1024', /soft limit must be less than or equal to hard limit: 2048 > 1024/],
    ['nofile=-1:1024', /soft limit must be less than or equal to hard limit/],
    ['nofile=1:2:3', /too many limit value arguments/],
    ['nofile=abc', /invalid ulimit value "abc"/],
    ['nofile=-2', /invalid ulimit value "-2"/],
  ];
  for (const [input, message] of bad) {
    it(`rejects ${input}`, () => assert.throws(() => parseUlimit(input), (e: unknown) => e instanceof UsageError && message.test(e.message)));
  }
});

describe('--shm-size (docker RAMInBytes: binary units)', () => {
  const table: Array<[string, number]> = [
    ['67108864', 67108864],
    ['64m', 64 * 1024 ** 2],
    ['128MB', 128 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1GiB', 1024 ** 3],
    ['512k', 512 * 1024],
    ['1.5g', 1.5 * 1024 ** 3],
  ];
  for (const [input, bytes] of table) it(`${input} = ${bytes}`, () => assert.equal(ramInBytes(input, 'shm-size'), bytes));
  for (const bad of ['', 'm', '-1m', '1x', '0']) {
    it(`rejects ${JSON.stringify(bad)}`, () => assert.throws(() => ramInBytes(bad, 'shm-size'), UsageError));
  }
});

describe('--security-opt', () => {
  const profile = JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['chmod'], action: 'SCMP_ACT_ERRNO' }] });
  const read = (path: string): string => {
    if (path === 'p.json') return profile;
    if (path === 'bad.json') return '{"x": 1}';
    throw new Error(`ENOENT: ${path}`);
  };
  it('reads seccomp=unconfined, a profile file and no-new-privileges', () => {
    assert.deepEqual(parseSecurityOpts(['seccomp=unconfined', 'no-new-privileges'], read), { options: { seccomp: 'unconfined', noNewPrivileges: true }, notes: [] });
    assert.deepEqual(parseSecurityOpts(['seccomp:p.json', 'no-new-privileges=false'], read).options, { seccomp: JSON.parse(profile), noNewPrivileges: false });
  });
  it('notes apparmor= and label= (no such profiles here)', () => {
    const r = parseSecurityOpts(['apparmor=unconfined', 'label=disable'], read);
    assert.deepEqual(r.options, {});
    assert.equal(r.notes.length, 2);
    assert.match(r.notes[0]!, /apparmor=unconfined: ignored/);
  });
  const bad: Array<[string, RegExp]> = [
    ['systempaths=unconfined', /invalid --security-opt "systempaths=unconfined"/],
    ['seccomp=', /needs unconfined or a profile file/],
    ['seccomp=missing.json', /seccomp=missing.json: ENOENT/],
    ['seccomp=bad.json', /not a seccomp profile/],
    ['no-new-privileges=maybe', /takes true or false/],
  ];
  for (const [input, message] of bad) {
    it(`rejects ${input}`, () => assert.throws(() => parseSecurityOpts([input], read), (e: unknown) => e instanceof UsageError && message.test(e.message)));
  }
});

describe('--annotation (buildx prefixes)', () => {
  it('puts each key where its types say; no type is the manifest', () => {
    assert.deepEqual(parseAnnotations(['a=1', 'manifest:b=2', 'manifest-descriptor:c=3', 'index,index-descriptor:d=4', 'manifest[linux/amd64]:e=x=y', ''], 'linux/amd64'), {
      manifest: { a: '1', b: '2', e: 'x=y' },
      manifestDescriptor: { c: '3' },
      index: { d: '4' },
      indexDescriptor: { d: '4' },
    });
  });
  const bad: Array<[string, RegExp]> = [
    ['k', /expected key=value/],
    ['layer:k=v', /unknown annotation type "layer"/],
    ['Manifest:k=v', /invalid annotation type "Manifest"/],
    ['manifest[linux/arm64]:k=v', /no platform linux\/arm64/],
    ['manifest:=v', /empty key/],
  ];
  for (const [input, message] of bad) it(`rejects ${input}`, () => assert.throws(() => parseAnnotations([input], 'linux/amd64'), (e: unknown) => e instanceof UsageError && message.test(e.message)));
});

describe('--attest / --provenance / --sbom', () => {
  const table: Array<[string[], string | undefined, string | undefined, object]> = [
    [[], 'true', undefined, { provenance: { mode: 'min', version: 'v1' } }],
    [[], '1', 'true', { provenance: { mode: 'min', version: 'v1' }, sbom: true }],
    [[], 'mode=max,version=v0.2,builder-id=https://ci/1', undefined, { provenance: { mode: 'max', version: 'v0.2', builderId: 'https://ci/1' } }],
    [['type=provenance,mode=full'], undefined, undefined, { provenance: { mode: 'max', version: 'v1' } }],
    [['type=sbom'], 'false', undefined, { sbom: true }],
    [['type=provenance'], 'false', 'false', {}],
  ];
  for (const [attest, provenance, sbom, want] of table) {
    it(`${[...attest.map((a) => `--attest ${a}`), provenance !== undefined ? `--provenance ${provenance}` : '', sbom !== undefined ? `--sbom ${sbom}` : ''].filter(Boolean).join(' ')}`, () => {
      assert.deepEqual(parseAttestations(attest, provenance, sbom).options, want);
    });
  }
  it('notes a generator image (the scan is our own)', () => {
    assert.match(parseAttestations(['type=sbom,generator=docker/buildkit-syft-scanner'], undefined, undefined).notes[0]!, /scans the filesystem itself/);
  });
  for (const [attest, message] of [
    ['type=provenance,mode=huge', /invalid provenance mode/],
    ['type=provenance,version=v3', /invalid provenance SLSA version/],
    ['type=provenance,colour=red', /unknown provenance attestation attribute "colour"/],
    ['mode=max', /attestation type not specified/],
    ['type=vex', /unknown attestation type "vex"/],
  ] as const) {
    it(`rejects --attest ${attest}`, () => assert.throws(() => parseAttestations([attest], undefined, undefined), (e: unknown) => e instanceof UsageError && message.test(e.message)));
  }
});

describe('image purls (BuildKit util/purl RefToPURL)', () => {
  const table: Array<[string, string]> = [
    ['busybox:latest', 'pkg:docker/busybox@latest?platform=linux%2Famd64'],
    ['busybox', 'pkg:docker/busybox@latest?platform=linux%2Famd64'],
    ['docker.io/library/debian:bookworm', 'pkg:docker/debian@bookworm?platform=linux%2Famd64'],
    ['myorg/app:1', 'pkg:docker/myorg/app@1?platform=linux%2Famd64'],
    ['127.0.0.1:5000/x/y:2', 'pkg:docker/127.0.0.1:5000/x/y@2?platform=linux%2Famd64'],
  ];
  for (const [ref, purl] of table) it(`${ref} → ${purl}`, () => assert.equal(imagePurl(ref, { os: 'linux', architecture: 'amd64' }), purl));
});
