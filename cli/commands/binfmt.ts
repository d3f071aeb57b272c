import { hostPlatform } from '../../image/platform.js';
import { binfmtHandler, emulatedArchitectures, installEmulators, runsNatively } from '../../runtime/binfmt.js';
import { bool, helpText, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { HELP_FLAG, type Io } from '../common.js';

const FLAGS: FlagSpec[] = [
  { name: 'install', type: 'string', valueName: 'ARCH,…|all', description: 'register the qemu handlers (with the F flag) for these architectures (root; needs qemu-user-static)' },
  HELP_FLAG,
];

/** `tsbuild binfmt [--install arm64,arm|all]`: which foreign platforms RUN can emulate here, and registering more. */
async function binfmtCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, FLAGS);
  if (bool(p, 'help') || p.positionals.length > 0) {
    io.out(helpText('tsbuild binfmt [--install ARCH,…|all]', 'Show the binfmt_misc emulators RUN uses for foreign platforms; as root, register them.', FLAGS));
    return bool(p, 'help') ? 0 : 2;
  }
  const host = hostPlatform();
  const foreign = emulatedArchitectures().filter((a) => !runsNatively(host, { os: 'linux', architecture: a }));
  const install = str(p, 'install');
  if (install !== undefined) {
    const wanted = install === 'all' ? foreign : install.split(',').map((a) => a.trim()).filter(Boolean);
    const unknown = wanted.filter((a) => !emulatedArchitectures().includes(a));
    if (unknown.length > 0 || wanted.length === 0) throw new UsageError(`--install: unknown architecture ${unknown.join(', ') || '(none)'} (known: ${emulatedArchitectures().join(', ')}, or all)`);
    let missing = 0;
    for (const r of await installEmulators(wanted, host)) {
      io.out(`linux/${r.architecture}: ${r.result}\n`);
      if (r.result.startsWith('no qemu')) missing++;
    }
    return missing > 0 ? 1 : 0;
  }
  io.out(`host: linux/${host.architecture} (runs ${[host.architecture, ...emulatedArchitectures().filter((a) => a !== host.architecture && runsNatively(host, { os: 'linux', architecture: a }))].join(', ')} natively)\n`);
  for (const a of foreign) {
    const h = await binfmtHandler(a);
    const usable = h.state === 'enabled' && (h.flags ?? '').includes('F');
    const detail = h.state === 'missing' ? 'no handler' : `${h.name} ${h.state}, flags ${h.flags || '-'}${usable ? '' : h.state === 'enabled' ? ' (no F: containers cannot find the interpreter)' : ''}, interpreter ${h.interpreter ?? '?'}`;
    io.out(`linux/${a.padEnd(9)} ${usable ? 'yes' : 'no '}  ${detail}\n`);
  }
  return 0;
}

export const binfmtCommands = { binfmt: { run: binfmtCommand } };
