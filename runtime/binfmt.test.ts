import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { binfmtHandler, checkEmulation, installEmulators, runsNatively } from './binfmt.js';

describe('runtime/binfmt', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsb-binfmt-'));
    // what the kernel shows for a handler (Debian's qemu-user-static line, registered with and without F)
    const entry = (state: string, flags: string): string => `${state}\ninterpreter /usr/libexec/qemu-binfmt/x-binfmt-P\nflags: ${flags}\noffset 0\nmagic 7f454c46\nmask ffffffff\n`;
    await writeFile(join(dir, 'qemu-aarch64'), entry('enabled', 'POF'));
    await writeFile(join(dir, 'qemu-arm'), entry('enabled', 'PO'));
    await writeFile(join(dir, 'qemu-riscv64'), entry('disabled', 'POF'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const amd64 = { os: 'linux', architecture: 'amd64' };
  const cases: Array<{ target: { os: string; architecture: string; variant?: string }; error?: RegExp }> = [
    { target: { os: 'linux', architecture: 'amd64' } },
    { target: { os: 'linux', architecture: '386' } },
    { target: { os: 'linux', architecture: 'arm64' } },
    { target: { os: 'linux', architecture: 'arm', variant: 'v7' }, error: /linux\/arm\/v7: the binfmt_misc handler qemu-arm lacks the F \(fix-binary\) flag/ },
    { target: { os: 'linux', architecture: 'riscv64' }, error: /handler qemu-riscv64 is disabled; install qemu-user-static .*tsbuild binfmt --install riscv64/ },
    { target: { os: 'linux', architecture: 's390x' }, error: /RUN for linux\/s390x needs an emulator: no binfmt_misc handler qemu-s390x is registered/ },
    { target: { os: 'windows', architecture: 'arm64' }, error: /only linux containers run here/ },
  ];
  for (const c of cases) {
    const name = `${c.target.os}/${c.target.architecture}${c.target.variant ? '/' + c.target.variant : ''}`;
    it(`RUN for ${name} on linux/amd64: ${c.error ? 'fails' : 'runs'}`, async () => {
      const p = checkEmulation(amd64, c.target, dir);
      if (c.error) await assert.rejects(p, (e: Error & { code?: string }) => c.error!.test(e.message) && e.code === 'TSB_RUNTIME_SETUP');
      else await p;
    });
  }

  it('reads a handler: state, flags, interpreter', async () => {
    assert.deepEqual(await binfmtHandler('arm64', dir), { architecture: 'arm64', name: 'qemu-aarch64', state: 'enabled', interpreter: '/usr/libexec/qemu-binfmt/x-binfmt-P', flags: 'POF' });
    assert.equal((await binfmtHandler('ppc64le', dir)).state, 'missing');
  });

  it('installEmulators (into a stand-in binfmt_misc dir): never the host\'s own architectures; keeps a handler with F; replaces one without, adding F', async function () {
    if (process.getuid?.() !== 0) this.skip();
    await writeFile(join(dir, 'register'), '');
    const r = await installEmulators(['amd64', '386', 'arm64', 'arm'], amd64, dir);
    assert.deepEqual(r.map((x) => x.result.split(' (')[0]), ['native here', 'native here', 'kept', r[3]!.result.startsWith('no qemu') ? r[3]!.result.split(' (')[0] : 'registered']);
    if (r[3]!.result.startsWith('registered')) {
      assert.equal(await readFile(join(dir, 'qemu-arm'), 'utf8'), '-1', 'the old handler was removed first');
      assert.match(await readFile(join(dir, 'register'), 'utf8'), /^:qemu-arm:M:.*:[A-Z]*F[A-Z]*$/);
    }
  });

  it('runsNatively: the own architecture and its 32-bit sibling', () => {
    assert.equal(runsNatively(amd64, { os: 'linux', architecture: '386' }), true);
    assert.equal(runsNatively({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm', variant: 'v7' }), true);
    assert.equal(runsNatively(amd64, { os: 'linux', architecture: 'arm64' }), false);
  });
});
