/**
 * Docker's default seccomp profile: (1) the OCI section tsbuild derives from moby's default.json
 * follows moby's setupSeccomp rules (no root needed); (2) syscall by syscall, a RUN step under
 * runc and crun gets Docker's answers, measured by a static C probe (testdata/seccomp/probe.c,
 * built with cc in `before`), with a privileged run as the control showing the filter is what says no.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createTarStream } from '../image/tar/writer.js';
import type { Layer } from '../image/image.js';
import type { Runtime } from './index.js';
import { convertSeccomp, type MobySeccompProfile, type OciSeccomp, type OciSeccompRule } from './seccomp.js';
import { DEFAULT_CAPS } from './spec.js';
import { availableRuntimes, busyboxLayout, createOrSkip, layoutLayers, REPO_ROOT, requireRuntime, tarFileLayer } from './testing.js';
import { requireTools } from '../test/tools.js';

const PROFILE_FILE = new URL('./seccomp-moby.json', import.meta.url);
const moby = JSON.parse(readFileSync(PROFILE_FILE, 'utf8')) as MobySeccompProfile;

/** The rules of `section` that name `syscall`, without the names (what decides its answer). */
function rulesFor(section: OciSeccomp, syscall: string): Array<Omit<OciSeccompRule, 'names'>> {
  return section.syscalls.filter((r) => r.names.includes(syscall)).map(({ names: _names, ...rest }) => rest);
}

const ALLOW = { action: 'SCMP_ACT_ALLOW' };
/** CLONE_NEWNS|CLONE_NEWCGROUP|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNET: must all be 0. */
const NAMESPACE_FLAGS = 0x7e020000;

describe("runtime/seccomp: moby's default.json → the OCI section", () => {
  it('is the unchanged upstream file named in seccomp-moby.LICENSE.md', () => {
    const digest = createHash('sha256').update(readFileSync(PROFILE_FILE)).digest('hex');
    assert.equal(digest, '536529b665dd0972c37bfb569f5d4ac8a53592e7b00752bc39ff063ca9864c74');
    assert.match(readFileSync(new URL('./seccomp-moby.LICENSE.md', import.meta.url), 'utf8'), new RegExp(digest));
  });

  it('default caps on amd64: deny with EPERM, x86_64 + i386 (x32 left out)', () => {
    const s = convertSeccomp(moby, DEFAULT_CAPS, 'x64', '6.1.0-18-amd64');
    assert.equal(s.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.defaultErrnoRet, 1);
    assert.deepEqual(s.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
    assert.equal(JSON.stringify(s).includes('includes'), false, 'no moby-only fields reach the spec');
  });

  // [what varies, caps, arch, kernel, syscall, its rules in the section] — no rule = the default action (EPERM)
  const table: Array<[string, readonly string[], string, string, string, Array<Omit<OciSeccompRule, 'names'>>]> = [
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'unshare', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'setns', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'mount', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'umount2', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'keyctl', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'add_key', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'request_key', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'bpf', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'kcmp', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'get_mempolicy', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'open_by_handle_at', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'io_uring_setup', []],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'clone', [{ ...ALLOW, args: [{ index: 0, value: NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }] }]],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'clone3', [{ action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'chroot', [ALLOW]],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'chmod', [ALLOW]],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'ptrace', [ALLOW]],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'process_vm_readv', [ALLOW]],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'arch_prctl', [ALLOW]],
    ['default caps', DEFAULT_CAPS, 'x64', '6.1.0', 'set_tls', []],
    [
      'default caps',
      DEFAULT_CAPS,
      'x64',
      '6.1.0',
      'socket',
      [
        { ...ALLOW, args: [{ index: 0, value: 38, op: 'SCMP_CMP_LT' }] },
        { ...ALLOW, args: [{ index: 0, value: 39, op: 'SCMP_CMP_EQ' }] },
        { ...ALLOW, args: [{ index: 0, value: 40, op: 'SCMP_CMP_GT' }] },
      ],
    ],
    [
      'default caps',
      DEFAULT_CAPS,
      'x64',
      '6.1.0',
      'personality',
      [0, 8, 0x20000, 0x20008, 0xffffffff].map((value) => ({ ...ALLOW, args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] })),
    ],
    ['kernel 4.4 (before minKernel 4.8)', DEFAULT_CAPS, 'x64', '4.4.0-210-generic', 'ptrace', []],
    ['kernel 4.8', DEFAULT_CAPS, 'x64', '4.8', 'process_vm_readv', [ALLOW]],
    ['+CAP_SYS_ADMIN', [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], 'x64', '6.1.0', 'unshare', [ALLOW]],
    ['+CAP_SYS_ADMIN', [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], 'x64', '6.1.0', 'clone', [ALLOW]],
    ['+CAP_SYS_ADMIN', [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], 'x64', '6.1.0', 'clone3', [ALLOW]],
    ['+CAP_SYS_ADMIN', [...DEFAULT_CAPS, 'CAP_SYS_ADMIN'], 'x64', '6.1.0', 'bpf', [ALLOW]],
    ['+CAP_SYS_PTRACE', [...DEFAULT_CAPS, 'CAP_SYS_PTRACE'], 'x64', '6.1.0', 'ptrace', [ALLOW, ALLOW]],
    ['+CAP_SYS_PTRACE', [...DEFAULT_CAPS, 'CAP_SYS_PTRACE'], 'x64', '6.1.0', 'kcmp', [ALLOW]],
    ['-CAP_SYS_CHROOT', DEFAULT_CAPS.filter((c) => c !== 'CAP_SYS_CHROOT'), 'x64', '6.1.0', 'chroot', []],
    ['arm64', DEFAULT_CAPS, 'arm64', '6.1.0', 'arch_prctl', []],
    ['arm64', DEFAULT_CAPS, 'arm64', '6.1.0', 'set_tls', [ALLOW]],
    ['s390x (clone flags are argument 1)', DEFAULT_CAPS, 's390x', '6.1.0', 'clone', [{ ...ALLOW, args: [{ index: 1, value: NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }] }]],
  ];
  for (const [what, caps, arch, kernel, syscall, want] of table) {
    it(`${what}, ${arch}, kernel ${kernel}: ${syscall} → ${want.length === 0 ? 'default action' : JSON.stringify(want)}`, () => {
      assert.deepEqual(rulesFor(convertSeccomp(moby, caps, arch, kernel), syscall), want);
    });
  }

  it('arm64 keeps arm as its sub-architecture', () => {
    assert.deepEqual(convertSeccomp(moby, DEFAULT_CAPS, 'arm64', '6.1.0').architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  it("moby's edge rules: excludes.minKernel, valueTwo, 'name', profile errors", () => {
    const p: MobySeccompProfile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { name: 'old_only', action: 'SCMP_ACT_ALLOW', excludes: { minKernel: '5.10' } },
        { names: ['masked'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: 4, valueTwo: 4, op: 'SCMP_CMP_MASKED_EQ' }] },
        { names: ['both_caps'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_CHOWN', 'CAP_SYS_ADMIN'] } },
      ],
    };
    assert.deepEqual(convertSeccomp(p, ['CAP_CHOWN'], 'x64', '5.4.0'), {
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['old_only'], action: 'SCMP_ACT_ALLOW' },
        { names: ['masked'], action: 'SCMP_ACT_ALLOW', args: [{ index: 2, value: 4, valueTwo: 4, op: 'SCMP_CMP_MASKED_EQ' }] },
      ],
    });
    assert.deepEqual(convertSeccomp(p, ['CAP_CHOWN'], 'x64', '5.10.1').syscalls.map((r) => r.names[0]), ['masked']);
    const bad = (q: Partial<MobySeccompProfile>, arch = 'x64') => () => convertSeccomp({ ...p, ...q }, [], arch, '6.1');
    assert.throws(bad({ syscalls: [{ name: 'a', names: ['b'], action: 'SCMP_ACT_ALLOW' }] }), { code: 'TSB_RUNTIME_SETUP' });
    assert.throws(bad({ archMap: [{ architecture: 'SCMP_ARCH_X86_64' }] }), { code: 'TSB_RUNTIME_SETUP' });
    assert.throws(bad({}, 'mips'), { code: 'TSB_RUNTIME_SETUP' });
  });
});

/**
 * Docker's answer (its runc with the default capability set) for each probe case. Where the
 * filter refuses a call, the privileged control run must answer something else.
 */
const DOCKER_ANSWERS: Array<[string, string, string]> = [
  ['unshare_user', 'EPERM', 'unshare needs CAP_SYS_ADMIN in the profile (BuildKit measured: EPERM)'],
  ['unshare_mount', 'EPERM', 'same rule (BuildKit measured: EPERM)'],
  ['unshare_uts', 'EPERM', 'same rule'],
  ['clone_fork', 'ok', 'clone without namespace flags is allowed'],
  ['clone_newuser', 'EPERM', 'clone with a namespace flag fails the masked-argument rule'],
  ['clone_newns', 'EPERM', 'same rule'],
  ['clone_newpid', 'EPERM', 'same rule'],
  ['clone3', 'ENOSYS', 'errnoRet 38 without CAP_SYS_ADMIN, so libc falls back to clone'],
  ['setns', 'EPERM', 'CAP_SYS_ADMIN rule'],
  ['keyctl', 'EPERM', 'not in the profile (BuildKit measured: EPERM)'],
  ['add_key', 'EPERM', 'not in the profile (BuildKit measured: EPERM)'],
  ['request_key', 'EPERM', 'not in the profile'],
  // dockerd 20.10's older profile gave EPERM here; this one allows it from kernel 4.8 (minKernel rule)
  ['process_vm_readv_self', 'ok', 'minKernel 4.8 rule'],
  ['ptrace_traceme', 'ok', 'minKernel 4.8 rule'],
  ['kcmp', 'EPERM', 'CAP_SYS_PTRACE rule'],
  ['pidfd_getfd', 'EPERM', 'CAP_SYS_PTRACE rule'],
  ['mount_tmpfs', 'EPERM', 'CAP_SYS_ADMIN rule (BuildKit measured: EPERM)'],
  ['umount2', 'EPERM', 'CAP_SYS_ADMIN rule'],
  ['personality_query', 'ok', 'personality(0xffffffff) is allowed'],
  ['personality_linux32', 'ok', 'PER_LINUX32 is allowed'],
  ['personality_read_implies_exec', 'EPERM', 'only five personality values are allowed'],
  ['socket_unix', 'ok', 'families below 38 are allowed'],
  ['socket_alg', 'EPERM', 'AF_ALG (38) is not'],
  ['socket_vsock', 'EPERM', 'AF_VSOCK (40) is not'],
  ['chmod', 'ok', 'unconditional'],
  ['chroot', 'ok', 'CAP_SYS_CHROOT is in the default set'],
  ['bpf', 'EPERM', 'CAP_SYS_ADMIN or CAP_BPF rule'],
  ['perf_event_open', 'EPERM', 'CAP_SYS_ADMIN or CAP_PERFMON rule'],
  ['userfaultfd', 'EPERM', 'not in the profile'],
  ['get_mempolicy', 'EPERM', 'CAP_SYS_NICE rule'],
  ['open_by_handle_at', 'EPERM', 'CAP_DAC_READ_SEARCH rule'],
  ['reboot', 'EPERM', 'CAP_SYS_BOOT rule'],
  ['init_module', 'EPERM', 'CAP_SYS_MODULE rule'],
  ['clock_settime', 'EPERM', 'CAP_SYS_TIME rule'],
  ['io_uring_setup', 'EPERM', 'not in the profile'],
];

describe('runtime/seccomp: RUN gets the answers of Docker\'s default profile, syscall by syscall', function () {
  this.timeout(120_000);
  let work: string;
  let lowers: Layer[];

  before(async function () {
    requireRuntime(this);
    requireTools(this, ['cc']);
    work = mkdtempSync(join(tmpdir(), 'tsb-seccomp-'));
    const probe = join(work, 'probe');
    execFileSync('cc', ['-static', '-O1', '-o', probe, join(REPO_ROOT, 'testdata', 'seccomp', 'probe.c')], { timeout: 60_000 });
    const body = readFileSync(probe);
    const tar = join(work, 'probe.tar');
    const header = { path: 'probe', type: 'file' as const, mode: 0o755, uid: 0, gid: 0, size: body.length, mtime: 1_700_000_000 };
    await pipeline(createTarStream([{ header, body }]), createWriteStream(tar));
    lowers = [...layoutLayers(busyboxLayout()), tarFileLayer(tar)];
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function probeAnswers(rt: Runtime, security: 'sandbox' | 'insecure'): Promise<Map<string, string>> {
    const lines: string[] = [];
    const r = await rt.runStep(
      { lowers, args: ['/probe'], env: [], cwd: '/', network: 'none', mounts: [], security, onOutput: (_s, l) => lines.push(l) },
      async () => undefined,
    );
    assert.equal(r.exitCode, 0, r.lastLines.join('\n'));
    return new Map(lines.map((l) => l.split(' ') as [string, string]));
  }

  for (const runtime of availableRuntimes()) {
    describe(runtime, function () {
      let rt: Runtime;
      let sandbox: Map<string, string>;
      let privileged: Map<string, string>;
      before(async function () {
        if (!work) return this.skip();
        rt = await createOrSkip(this, { root: join(work, `state-${runtime}`), runtime });
        sandbox = await probeAnswers(rt, 'sandbox');
        privileged = await probeAnswers(rt, 'insecure');
      });
      after(async () => rt?.close());

      it('`unshare -Urm` (the reported escape into a user namespace with full caps) fails; privileged it works', async () => {
        const run = async (security: 'sandbox' | 'insecure') => {
          const lines: string[] = [];
          const args = ['/bin/sh', '-c', 'unshare -Urm sh -c "mount -t tmpfs none /dev && echo mounted"'];
          const r = await rt.runStep({ lowers, args, env: [], cwd: '/', network: 'none', mounts: [], security, onOutput: (_s, l) => lines.push(l) }, async () => undefined);
          return { exitCode: r.exitCode, lines };
        };
        const sandboxed = await run('sandbox');
        assert.notEqual(sandboxed.exitCode, 0);
        assert.match(sandboxed.lines.join('\n'), /Operation not permitted/);
        assert.deepEqual(await run('insecure'), { exitCode: 0, lines: ['mounted'] });
      });
      it('the probe answered every case, once', () => {
        assert.deepEqual([...sandbox.keys()], DOCKER_ANSWERS.map(([name]) => name));
      });
      for (const [name, docker, why] of DOCKER_ANSWERS) {
        it(`${name} → ${docker} (${why})`, () => {
          assert.equal(sandbox.get(name), docker);
          if (docker !== 'ok') assert.notEqual(privileged.get(name), docker, 'without the filter the call gets another answer');
        });
      }
    });
  }
});
