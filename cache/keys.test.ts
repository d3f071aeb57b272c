import assert from 'node:assert/strict';
import { sha256, type Digest } from '../image/digest.js';
import { CacheKeyError } from './errors.js';
import { canonicalJson, fileDigest, KEY_EXCLUSIONS, keyOf, stripExcluded, treeDigest, type KeyPreimage } from './keys.js';

const HELLO = sha256('hello\n'); // sha256:5891b5b5…
const OTHER = sha256('other\n');

describe('cache/keys', () => {
  describe('canonicalJson', () => {
    it('sorts keys at every level, so insertion order does not matter', () => {
      const a = { b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } };
      const b = { a: { c: 'x', d: [3, { y: 2, z: 1 }] }, b: 1 };
      assert.equal(canonicalJson(a), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
      assert.equal(canonicalJson(a), canonicalJson(b));
    });

    it('keeps array order and drops undefined members', () => {
      assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
      assert.equal(canonicalJson({ a: 1, b: undefined }), canonicalJson({ a: 1 }));
    });

    const refused: Array<[string, unknown]> = [
      ['NaN', { a: NaN }],
      ['Infinity', [Infinity]],
      ['bigint', { a: 1n }],
      ['function', { f: () => 1 }],
      ['Date', { d: new Date(0) }],
      ['Buffer', { b: Buffer.from('x') }],
      ['undefined array element', [1, undefined]],
      ['array hole', [1, , 3]], // eslint-disable-line no-sparse-arrays
    ];
    for (const [name, v] of refused) {
      it(`refuses ${name} instead of hashing a lossy value`, () => {
        assert.throws(() => canonicalJson(v), CacheKeyError);
      });
    }

    it('refuses cycles', () => {
      const o: Record<string, unknown> = {};
      o['self'] = o;
      assert.throws(() => canonicalJson(o), /cyclic/);
    });
  });

  describe('fileDigest (golden values: the rule must not drift)', () => {
    const golden: Array<{ name: string; digest: Digest; json: string; make: () => Digest }> = [
      {
        name: 'regular file 0644 root',
        json: `{"content":"${HELLO}","gid":0,"mode":420,"size":6,"type":"file","uid":0,"v":1}`,
        digest: 'sha256:c1bb65f59d36dfa96a968783bbbd7600d6307ea74f0fb4e0cc8437e8d56f8dc6',
        make: () => fileDigest({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 6 }, HELLO),
      },
      {
        name: 'file with xattr and owner',
        json: `{"content":"${HELLO}","gid":1000,"mode":493,"size":6,"type":"file","uid":1000,"v":1,"xattrs":{"user.a":"Yg=="}}`,
        digest: 'sha256:cdca12f082212c40c8c1c345ec430492f1867fbbcbcea69c35c74df4c0f27dfc',
        make: () => fileDigest({ type: 'file', mode: 0o755, uid: 1000, gid: 1000, size: 6, xattrs: { 'user.a': Buffer.from('b') } }, HELLO),
      },
      {
        name: 'directory',
        json: '{"gid":0,"mode":493,"size":0,"type":"dir","uid":0,"v":1}',
        digest: 'sha256:2bc018b63e429ea01c5adfc2ab148ad097105304f157d4e781743e9366ed6717',
        make: () => fileDigest({ type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 }),
      },
      {
        name: 'symlink',
        json: '{"gid":0,"linkname":"target","mode":511,"size":0,"type":"symlink","uid":0,"v":1}',
        digest: 'sha256:9bba4476a71e29962729dee23a3813bad35a89ae84c14ebc096ee63030c07345',
        make: () => fileDigest({ type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkname: 'target' }),
      },
    ];
    for (const g of golden) {
      it(g.name, () => {
        assert.equal(sha256(g.json), g.digest, 'the documented preimage hashes to the pinned digest');
        assert.equal(g.make(), g.digest);
      });
    }

    it('ignores mtime-like noise: file-type bits in mode, size of non-files', () => {
      const base = fileDigest({ type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
      assert.equal(fileDigest({ type: 'dir', mode: 0o40755, uid: 0, gid: 0, size: 4096 }), base);
    });

    const changes: Array<[string, Digest]> = [
      ['mode', fileDigest({ type: 'file', mode: 0o600, uid: 0, gid: 0, size: 6 }, HELLO)],
      ['uid', fileDigest({ type: 'file', mode: 0o644, uid: 1, gid: 0, size: 6 }, HELLO)],
      ['gid', fileDigest({ type: 'file', mode: 0o644, uid: 0, gid: 1, size: 6 }, HELLO)],
      ['content', fileDigest({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 6 }, OTHER)],
      ['xattr', fileDigest({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 6, xattrs: { 'user.x': Buffer.alloc(0) } }, HELLO)],
    ];
    for (const [what, d] of changes) {
      it(`changes when ${what} changes`, () => assert.notEqual(d, golden[0]!.digest));
    }

    // fileDigest writes the JSON of records without xattrs directly: it must equal canonicalJson's
    const records: Array<[string, Parameters<typeof fileDigest>[0], Digest | undefined, Record<string, unknown>]> = [
      ['file', { type: 'file', mode: 0o4755, uid: 7, gid: 8, size: 6 }, HELLO, { v: 1, type: 'file', mode: 0o4755, uid: 7, gid: 8, size: 6, content: HELLO }],
      ['hardlink', { type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size: 9, linkname: 'a "quoted"\\path' }, undefined, { v: 1, type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size: 0, linkname: 'a "quoted"\\path' }],
      ['symlink, unicode target', { type: 'symlink', mode: 0o777, uid: 1, gid: 2, size: 0, linkname: 'ünï\u2028cödé' }, undefined, { v: 1, type: 'symlink', mode: 0o777, uid: 1, gid: 2, size: 0, linkname: 'ünï\u2028cödé' }],
      ['char device', { type: 'char', mode: 0o666, uid: 0, gid: 0, size: 0, devmajor: 1, devminor: 3 }, undefined, { v: 1, type: 'char', mode: 0o666, uid: 0, gid: 0, size: 0, devmajor: 1, devminor: 3 }],
      ['fifo', { type: 'fifo', mode: 0o600, uid: 0, gid: 0, size: 0 }, undefined, { v: 1, type: 'fifo', mode: 0o600, uid: 0, gid: 0, size: 0 }],
    ];
    for (const [name, h, content, record] of records) {
      it(`${name}: the digest is sha256 of canonicalJson of the documented record`, () => {
        assert.equal(fileDigest(h, content), sha256(canonicalJson(record)));
      });
    }

    it('requires content for files and refuses it for others', () => {
      assert.throws(() => fileDigest({ type: 'file', mode: 0o644, uid: 0, gid: 0, size: 6 }), CacheKeyError);
      assert.throws(() => fileDigest({ type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 }, HELLO), CacheKeyError);
    });
  });

  describe('treeDigest', () => {
    it('is order-independent and pinned', () => {
      const a = treeDigest([{ path: 'a', digest: HELLO }, { path: 'b/c', digest: HELLO }]);
      const b = treeDigest([{ path: 'b/c', digest: HELLO }, { path: 'a', digest: HELLO }]);
      assert.equal(a, b);
      assert.equal(a, 'sha256:28a69d80385ee7843ea9d244d2bdac9f66cf6632b6d216229dc522e12b78b602');
    });
    it('is sha256 of canonicalJson({ v, tree: [[path, digest]...] }) sorted by path, for any path text', () => {
      const files = [{ path: 'z"q', digest: HELLO }, { path: 'ä/\u2028/b', digest: OTHER }, { path: 'a\\b', digest: HELLO }];
      const pairs = [...files].sort((x, y) => (x.path < y.path ? -1 : 1)).map((f) => [f.path, f.digest]);
      assert.equal(treeDigest(files), sha256(canonicalJson({ v: 1, tree: pairs })));
    });
    it('sees renames and content changes; refuses duplicate paths', () => {
      const a = treeDigest([{ path: 'a', digest: HELLO }]);
      assert.notEqual(treeDigest([{ path: 'b', digest: HELLO }]), a);
      assert.notEqual(treeDigest([{ path: 'a', digest: OTHER }]), a);
      assert.throws(() => treeDigest([{ path: 'a', digest: HELLO }, { path: 'a', digest: OTHER }]), /twice/);
    });
  });

  describe('keyOf', () => {
    const run: KeyPreimage = { type: 'run', parent: null, op: { cmd: ['sh', '-c', 'make'], args: { VERSION: '1.2' } } };

    it('golden keys', () => {
      assert.equal(keyOf(run), 'sha256:3f20902ebc90c419f02a718be2d1b2f2f2647971e3ffec47f85943331f236e2c');
      assert.equal(
        keyOf({ type: 'copy', parent: HELLO, op: { dest: '/app' }, inputs: [{ name: 'src:0', digest: HELLO }] }),
        'sha256:c626774cc30110228b4ea52b71621c4149f71273b04aa94f13ba98889645699c',
      );
    });

    it('does not depend on key order in op, nor on files', () => {
      const reordered: KeyPreimage = { op: { args: { VERSION: '1.2' }, cmd: ['sh', '-c', 'make'] }, parent: null, type: 'run' };
      assert.equal(keyOf(reordered), keyOf(run));
      assert.equal(keyOf({ ...run, files: [{ path: 'x', digest: HELLO }] }), keyOf(run));
    });

    const real: Array<[string, KeyPreimage]> = [
      ['type', { ...run, type: 'copy' }],
      ['parent', { ...run, parent: HELLO }],
      ['a command', { ...run, op: { ...run.op, cmd: ['sh', '-c', 'make test'] } }],
      ['a build arg', { ...run, op: { ...run.op, args: { VERSION: '1.3' } } }],
      ['an input', { ...run, inputs: [{ name: 'mount:/src', digest: HELLO }] }],
      ['an input digest', { ...run, inputs: [{ name: 'mount:/src', digest: OTHER }] }],
      ['a cache mount target', { ...run, op: { ...run.op, mounts: [{ type: 'cache', target: '/root/.npm' }] } }],
    ];
    for (const [what, p] of real) {
      it(`changes when ${what} changes`, () => assert.notEqual(keyOf(p), keyOf(run)));
    }
    it('input digests are compared, not just names', () => {
      assert.notEqual(keyOf(real[4]![1]), keyOf(real[5]![1]));
    });

    it('refuses malformed preimages', () => {
      assert.throws(() => keyOf({ ...run, parent: 'sha256:abc' as Digest }), CacheKeyError);
      assert.throws(() => keyOf({ ...run, inputs: [{ name: 'a', digest: HELLO }, { name: 'a', digest: OTHER }] }), /twice/);
      assert.throws(() => keyOf({ ...run, type: '' }), CacheKeyError);
    });
  });

  describe('KEY_EXCLUSIONS', () => {
    it('every entry documents why', () => {
      assert.ok(KEY_EXCLUSIONS.length >= 10);
      for (const e of KEY_EXCLUSIONS) assert.ok(e.why.length > 20, e.field);
    });

    /**
     * For each exclusion: an op that has the field, and the same op with it
     * changed; plus a real change next to it that must still change the key.
     */
    const base = (): Record<string, unknown> => ({
      cmd: ['make'],
      args: { VERSION: '1.2' },
      mounts: [
        { type: 'cache', target: '/root/.cache', id: 'npm', sharing: 'shared' },
        { type: 'secret', target: '/run/secrets/token', id: 'token', source: '/home/me/token' },
        { type: 'bind', target: '/src', id: 'bind-id', source: 'ctx' },
      ],
    });
    const mutate: Record<string, (op: Record<string, unknown>) => void> = {
      secrets: (op) => (op['secrets'] = { token: 'hunter2' }),
      'mounts[type=secret].source': (op) => ((op['mounts'] as Array<Record<string, unknown>>)[1]!['source'] = '/elsewhere'),
      'mounts[type=cache].id': (op) => ((op['mounts'] as Array<Record<string, unknown>>)[0]!['id'] = 'other'),
      'mounts[type=cache].sharing': (op) => ((op['mounts'] as Array<Record<string, unknown>>)[0]!['sharing'] = 'locked'),
      proxyEnv: (op) => (op['proxyEnv'] = { httpProxy: 'http://proxy:3128' }),
      created: (op) => (op['created'] = '2024-01-01T00:00:00Z'),
    };
    for (const e of KEY_EXCLUSIONS) {
      it(`excludes ${e.field}`, () => {
        const m = e.field.startsWith('args.')
          ? (op: Record<string, unknown>) => ((op['args'] as Record<string, unknown>)[e.field.slice(5)] = 'http://proxy.corp:3128')
          : mutate[e.field];
        assert.ok(m, `no test mutation for ${e.field}: add one`);
        const withField = base();
        m(withField);
        const p: KeyPreimage = { type: 'run', parent: null, op: withField };
        assert.equal(keyOf(p), keyOf({ type: 'run', parent: null, op: base() }), 'changing an excluded field keeps the key');
        assert.equal(canonicalJson(stripExcluded(withField)), canonicalJson(stripExcluded(base())));
        // A real field next to it still counts.
        const real = base();
        m(real);
        real['cmd'] = ['make', 'test'];
        assert.notEqual(keyOf({ type: 'run', parent: null, op: real }), keyOf(p));
      });
    }

    it('keeps fields of the same name on other mount types, and does not modify its argument', () => {
      const op = base();
      const stripped = stripExcluded(op) as { mounts: Array<Record<string, unknown>> };
      assert.equal(stripped.mounts[2]!['id'], 'bind-id');
      assert.equal(stripped.mounts[2]!['source'], 'ctx');
      assert.equal(stripped.mounts[1]!['id'], 'token', 'a secret id is a name, not the secret');
      assert.equal(stripped.mounts[0]!['id'], undefined);
      assert.equal((op['mounts'] as Array<Record<string, unknown>>)[0]!['id'], 'npm');
    });
  });
});
