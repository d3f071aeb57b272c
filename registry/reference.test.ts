import assert from 'node:assert/strict';
import { familiar, parseReference, isLoopbackRegistry, storeRefName } from './reference.js';
import { InvalidReferenceError } from './errors.js';

const D = 'sha256:' + 'ab'.repeat(32);

describe('parseReference (docker normalization)', () => {
  // input → [registry, repository, tag, digest, toString, apiHost]
  const table: Array<[string, string, string, string | undefined, string | undefined, string, string]> = [
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'docker.io/library/busybox:latest', 'registry-1.docker.io'],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined, 'docker.io/library/busybox:1.36', 'registry-1.docker.io'],
    ['library/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'docker.io/library/busybox:latest', 'registry-1.docker.io'],
    ['docker.io/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'docker.io/library/busybox:latest', 'registry-1.docker.io'],
    ['index.docker.io/library/busybox', 'docker.io', 'library/busybox', 'latest', undefined, 'docker.io/library/busybox:latest', 'registry-1.docker.io'],
    ['registry-1.docker.io/foo/bar:x', 'docker.io', 'foo/bar', 'x', undefined, 'docker.io/foo/bar:x', 'registry-1.docker.io'],
    ['user/app', 'docker.io', 'user/app', 'latest', undefined, 'docker.io/user/app:latest', 'registry-1.docker.io'],
    ['localhost/app', 'localhost', 'app', 'latest', undefined, 'localhost/app:latest', 'localhost'],
    ['localhost:5000/a/b:t', 'localhost:5000', 'a/b', 't', undefined, 'localhost:5000/a/b:t', 'localhost:5000'],
    ['127.0.0.1:5000/app', '127.0.0.1:5000', 'app', 'latest', undefined, '127.0.0.1:5000/app:latest', '127.0.0.1:5000'],
    ['gcr.io/proj/img:v1', 'gcr.io', 'proj/img', 'v1', undefined, 'gcr.io/proj/img:v1', 'gcr.io'],
    ['us-docker.pkg.dev/p/r/i', 'us-docker.pkg.dev', 'p/r/i', 'latest', undefined, 'us-docker.pkg.dev/p/r/i:latest', 'us-docker.pkg.dev'],
    ['123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1', '123456789012.dkr.ecr.eu-west-1.amazonaws.com', 'app', '1', undefined, '123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1', '123456789012.dkr.ecr.eu-west-1.amazonaws.com'],
    [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D, `docker.io/library/busybox@${D}`, 'registry-1.docker.io'],
    [`busybox:1@${D}`, 'docker.io', 'library/busybox', '1', D, `docker.io/library/busybox:1@${D}`, 'registry-1.docker.io'],
    [`host:5000/a@${D}`, 'host:5000', 'a', undefined, D, `host:5000/a@${D}`, 'host:5000'],
    ['Foo/bar', 'Foo', 'bar', 'latest', undefined, 'Foo/bar:latest', 'Foo'],
    ['a/b_c/d__e/f-g---h.i:T_a.g-1', 'docker.io', 'a/b_c/d__e/f-g---h.i', 'T_a.g-1', undefined, 'docker.io/a/b_c/d__e/f-g---h.i:T_a.g-1', 'registry-1.docker.io'],
    ['[::1]:5000/x', '[::1]:5000', 'x', 'latest', undefined, '[::1]:5000/x:latest', '[::1]:5000'],
  ];
  for (const [input, registry, repository, tag, digest, str, api] of table) {
    it(input, () => {
      const r = parseReference(input);
      assert.equal(r.registry, registry);
      assert.equal(r.repository, repository);
      assert.equal(r.tag, tag);
      assert.equal(r.digest, digest);
      assert.equal(r.toString(), str);
      assert.equal(r.apiHost(), api);
    });
  }

  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Busybox', /lowercase/],
    ['docker.io/Library/busybox', /lowercase/],
    ['busybox:', /invalid tag/],
    ['busybox:-x', /invalid tag/],
    [`busybox:${'t'.repeat(129)}`, /invalid tag/],
    ['busybox@sha256:abc', /invalid digest|sha256/],
    ['busybox@md5:' + 'a'.repeat(32), /sha256/],
    ['a//b', /component/],
    ['a/-b', /component/],
    ['a/b_', /component/],
    ['host:5000/', /missing repository/],
    [`${'a'.repeat(250)}/${'b'.repeat(10)}`, /longer than 255/],
    ['bad_host.com/x', /invalid registry/],
  ];
  for (const [input, re] of bad) {
    it(`rejects ${JSON.stringify(input.length > 40 ? input.slice(0, 40) + '…' : input)}`, () => {
      assert.throws(() => parseReference(input), (e: unknown) => e instanceof InvalidReferenceError && re.test(e.message) && e.code === 'TSB_REGISTRY_BAD_REFERENCE');
    });
  }

  it('defaultTag option', () => {
    assert.equal(parseReference('a', { defaultTag: 'edge' }).tag, 'edge');
    assert.equal(parseReference('a', { defaultTag: '' }).tag, undefined);
  });

  it('loopback registries', () => {
    for (const [h, want] of [['localhost:5000', true], ['127.0.0.1:1', true], ['[::1]:5000', true], ['example.com', false], ['docker.io', false]] as const) {
      assert.equal(isLoopbackRegistry(h), want, h);
    }
  });
});

describe('storeRefName and familiar: the store key and the name docker shows', () => {
  const table: Array<[string, string, string]> = [
    ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['library/busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
    ['docker.io/me/app:v1', 'docker.io/me/app:v1', 'me/app:v1'],
    ['127.0.0.1:5000/x/y:z', '127.0.0.1:5000/x/y:z', '127.0.0.1:5000/x/y:z'],
    ['localhost/app', 'localhost/app:latest', 'localhost/app:latest'],
  ];
  for (const [input, key, short] of table) {
    it(`${input} → ${key} → ${short}`, () => {
      assert.equal(storeRefName(input), key);
      assert.equal(familiar(storeRefName(input)), short);
    });
  }
});
