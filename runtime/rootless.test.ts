import assert from 'node:assert/strict';
import { planRootless, subordinateRange, unshareArgs, type RootlessFacts } from './rootless.js';
import { isIdentityMap } from './userns.js';

const OK: RootlessFacts = {
  user: 'alice',
  uid: 1500,
  gid: 1500,
  subuid: 'bob:100000:65536\nalice:200000:65536\n',
  subgid: '1500:300000:70000\n',
  newuidmap: '/usr/bin/newuidmap',
  newgidmap: '/usr/bin/newgidmap',
  helpersPrivileged: true,
  unshare: '/usr/bin/unshare',
  unprivilegedUsernsClone: undefined,
  maxUserNamespaces: '15000',
  apparmorRestrictUserns: undefined,
};

describe('rootless: what keeps it from starting, one line each', () => {
  const cases: Array<[string, Partial<RootlessFacts>, RegExp]> = [
    ['Debian sysctl off', { unprivilegedUsernsClone: '0' }, /sysctl -w kernel\.unprivileged_userns_clone=1"$/],
    ['no user namespaces at all', { maxUserNamespaces: '0' }, /sysctl -w user\.max_user_namespaces=15000"$/],
    ['Ubuntu AppArmor restriction', { apparmorRestrictUserns: '1' }, /sysctl -w kernel\.apparmor_restrict_unprivileged_userns=0"$/],
    ['newuidmap missing', { newuidmap: undefined }, /newuidmap\/newgidmap not found: install them as root \("apt-get install uidmap"/],
    ['newgidmap missing', { newgidmap: undefined }, /apt-get install uidmap/],
    ['helpers not setuid', { helpersPrivileged: false }, /must be setuid root or have file capabilities/],
    ['no subuid range', { subuid: 'bob:100000:65536\n' }, /has no subordinate id range in \/etc\/subuid: as root, run "usermod --add-subuids/],
    ['no subgid range', { subgid: '' }, /in \/etc\/subgid:/],
    ['neither', { subuid: '', subgid: '' }, /in \/etc\/subuid and \/etc\/subgid:/],
    ['a zero-length range is none', { subuid: 'alice:200000:0\n' }, /no subordinate id range/],
  ];
  for (const [name, change, message] of cases) {
    it(name, () => {
      const plan = planRootless({ ...OK, ...change });
      assert.equal(typeof plan, 'string');
      assert.match(plan as string, /^rootless: /);
      assert.doesNotMatch(plan as string, /\n/);
      assert.match(plan as string, message);
    });
  }

  it('maps root to the user and 1…65536 to the first range, found by name or by uid', () => {
    const plan = planRootless(OK);
    assert.notEqual(typeof plan, 'string');
    if (typeof plan === 'string') return;
    assert.deepEqual(plan.subuid, { start: 200000, count: 65536 });
    assert.deepEqual(plan.subgid, { start: 300000, count: 70000 });
    const args = unshareArgs(plan, ['/usr/bin/tsbuild', 'build', '.']);
    assert.deepEqual(args.slice(0, 4), ['--user', '--map-root-user', '--map-users=200000,1,65536', '--map-groups=300000,1,65536']);
    assert.deepEqual(args.slice(args.indexOf('--')), ['--', '/usr/bin/tsbuild', 'build', '.']);
    assert.ok(args.includes('--kill-child'));
  });

  it('reads /etc/subuid lines as owner:start:count', () => {
    assert.deepEqual(subordinateRange('# c\nalice:x:1\nalice:5:10\n', 'alice', 1), { start: 5, count: 10 });
    assert.equal(subordinateRange('alicia:5:10\n', 'alice', 1), undefined);
  });

  it('tells the host from a user namespace by its uid map', () => {
    assert.equal(isIdentityMap('         0          0 4294967295\n'), true);
    assert.equal(isIdentityMap('         0       1500          1\n         1     200000      65536\n'), false);
  });
});

describe('rootless: --snapshotter overlay where overlay does not mount', () => {
  it('says in one line what to use instead', async () => {
    const { overlayUnavailable } = await import('./index.js');
    const text = overlayUnavailable('overlay mount failed: EPERM', true);
    assert.doesNotMatch(text, /\n/);
    assert.match(text, /needs Linux >= 5\.11 \(fuse-overlayfs is not supported\); use --snapshotter copy, or run as root$/);
    assert.equal(overlayUnavailable('x', false), 'overlay snapshotter unavailable: x');
  });
});
