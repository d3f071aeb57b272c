/**
 * Running RUN steps for a foreign architecture: the kernel's binfmt_misc hands a foreign ELF to a
 * registered emulator (qemu-user-static). Inside a container the emulator's path does not exist,
 * so the handler needs the F (fix-binary) flag: the kernel opens the interpreter at registration.
 * This module reads the handlers' status and, as root, registers Debian's qemu handlers the way
 * tonistiigi/binfmt does (one line per architecture written to binfmt_misc/register).
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Platform } from '../image/types.js';
import { RuntimeSetupError } from './errors.js';

export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';
const BINFMT_CONF_DIR = '/usr/lib/binfmt.d';

/** GOARCH → qemu's name for it (the handler is `qemu-<name>`, as Debian and tonistiigi/binfmt name them). */
const QEMU_ARCH: Readonly<Record<string, string>> = {
  amd64: 'x86_64',
  '386': 'i386',
  arm64: 'aarch64',
  arm: 'arm',
  riscv64: 'riscv64',
  ppc64le: 'ppc64le',
  s390x: 's390x',
  mips64le: 'mips64el',
  loong64: 'loongarch64',
};

/** Architectures a host runs without emulation besides its own (the 32-bit ABI of its family). */
const NATIVE_ALSO: Readonly<Record<string, readonly string[]>> = { amd64: ['386'], arm64: ['arm'] };

/** Magic and mask of the two handlers when no /usr/lib/binfmt.d file has them (QEMU's qemu-binfmt-conf.sh values). */
const FALLBACK_MAGIC: Readonly<Record<string, string>> = {
  aarch64: '\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff',
  arm: '\\x7f\\x45\\x4c\\x46\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff',
};

export interface BinfmtHandler {
  /** GOARCH of the binaries it runs. */
  architecture: string;
  /** `qemu-aarch64` */
  name: string;
  state: 'enabled' | 'disabled' | 'missing';
  interpreter?: string;
  flags?: string;
}

/** Whether a machine of `host` runs `target` binaries itself (no emulator needed). */
export function runsNatively(host: Platform, target: Platform): boolean {
  if (host.os !== target.os) return false;
  return host.architecture === target.architecture || (NATIVE_ALSO[host.architecture] ?? []).includes(target.architecture);
}

/** The architectures tsbuild knows an emulator name for. */
export function emulatedArchitectures(): string[] {
  return Object.keys(QEMU_ARCH);
}

/** The status of the handler for one architecture, read from binfmt_misc. */
export async function binfmtHandler(architecture: string, dir = BINFMT_DIR): Promise<BinfmtHandler> {
  const qemu = QEMU_ARCH[architecture];
  const name = `qemu-${qemu ?? architecture}`;
  const text = qemu ? await readFile(`${dir}/${name}`, 'utf8').catch(() => undefined) : undefined;
  if (text === undefined) return { architecture, name, state: 'missing' };
  const field = (k: string): string | undefined => new RegExp(`^${k}:? (.*)$`, 'm').exec(text)?.[1]?.trim();
  return {
    architecture,
    name,
    state: text.startsWith('enabled') ? 'enabled' : 'disabled',
    ...(field('interpreter') !== undefined ? { interpreter: field('interpreter')! } : {}),
    flags: field('flags') ?? '',
  };
}

/** How to make RUN for `architecture` work here, for error messages. */
function enableHint(architecture: string): string {
  return `install qemu-user-static (Debian: apt-get install qemu-user-static) and run \`tsbuild binfmt --install ${architecture}\` as root (or tonistiigi/binfmt)`;
}

/**
 * Fails unless RUN for `target` can work on `host`: natively, or through an enabled binfmt_misc
 * handler with the F flag (without it the emulator's path is looked up inside the container).
 */
export async function checkEmulation(host: Platform, target: Platform, dir = BINFMT_DIR): Promise<void> {
  if (runsNatively(host, target)) return;
  const t = `${target.os}/${target.architecture}${target.variant ? `/${target.variant}` : ''}`;
  if (target.os !== 'linux') throw new RuntimeSetupError(`cannot run ${t} binaries on ${host.os}/${host.architecture}: only linux containers run here`, { platform: t });
  const h = await binfmtHandler(target.architecture, dir);
  const data = { platform: t, handler: h.name, state: h.state, flags: h.flags ?? '' };
  if (h.state === 'missing') {
    throw new RuntimeSetupError(`RUN for ${t} needs an emulator: no binfmt_misc handler ${h.name} is registered (${dir}); ${enableHint(target.architecture)}`, data);
  }
  if (h.state === 'disabled') throw new RuntimeSetupError(`RUN for ${t}: the binfmt_misc handler ${h.name} is disabled; ${enableHint(target.architecture)}`, data);
  if (!(h.flags ?? '').includes('F')) {
    throw new RuntimeSetupError(`RUN for ${t}: the binfmt_misc handler ${h.name} lacks the F (fix-binary) flag, so containers cannot find ${h.interpreter ?? 'its interpreter'}; ${enableHint(target.architecture)}`, data);
  }
}

/** The register line for qemu-<name>: Debian's /usr/lib/binfmt.d file, else QEMU's magic with the static binary; F always. */
async function registerLine(qemu: string): Promise<string | undefined> {
  const conf = await readFile(`${BINFMT_CONF_DIR}/qemu-${qemu}.conf`, 'utf8').catch(() => undefined);
  let line = conf?.split('\n').find((l) => l.startsWith(`:qemu-${qemu}:`));
  if (!line) {
    const magic = FALLBACK_MAGIC[qemu];
    const interp = `/usr/bin/qemu-${qemu}-static`;
    if (!magic || !(await readFile(interp).then(() => true, () => false))) return undefined;
    line = `:qemu-${qemu}:M::${magic}:${interp}:`;
  }
  const flags = line.slice(line.lastIndexOf(':') + 1);
  return flags.includes('F') ? line : `${line}F`;
}

/**
 * Registers (as root) the qemu handlers for `architectures` with the F flag, mounting binfmt_misc
 * first if needed. A handler already enabled with F is kept; one without F is replaced. Returns
 * what happened to each, for `tsbuild binfmt --install`.
 */
export async function installEmulators(architectures: string[], host: Platform, dir = BINFMT_DIR): Promise<Array<{ architecture: string; result: string }>> {
  if (process.getuid?.() !== 0) throw new RuntimeSetupError('registering binfmt_misc handlers needs root');
  if (!(await readdir(dir).then((names) => names.includes('register'), () => false))) {
    await promisify(execFile)('mount', ['-t', 'binfmt_misc', 'binfmt_misc', dir]).catch((e: unknown) => {
      throw new RuntimeSetupError(`cannot mount binfmt_misc on ${dir}: ${(e as Error).message}`);
    });
  }
  const out: Array<{ architecture: string; result: string }> = [];
  for (const architecture of architectures) {
    const qemu = QEMU_ARCH[architecture];
    if (!qemu) throw new RuntimeSetupError(`no emulator known for ${architecture} (known: ${emulatedArchitectures().join(', ')})`);
    // a handler for the host's own binaries would send every native program through qemu
    if (runsNatively(host, { os: 'linux', architecture })) {
      out.push({ architecture, result: `native here (${host.architecture} host): no emulator registered` });
      continue;
    }
    const h = await binfmtHandler(architecture, dir);
    if (h.state === 'enabled' && (h.flags ?? '').includes('F')) {
      out.push({ architecture, result: `kept (${h.name}, flags ${h.flags})` });
      continue;
    }
    const line = await registerLine(qemu);
    if (!line) {
      out.push({ architecture, result: `no qemu-${qemu}-static found: apt-get install qemu-user-static` });
      continue;
    }
    if (h.state !== 'missing') await writeFile(`${dir}/${h.name}`, '-1'); // re-registered below with F
    await writeFile(`${dir}/register`, line).catch((e: unknown) => {
      throw new RuntimeSetupError(`cannot register ${h.name}: ${(e as Error).message}`);
    });
    const now = await binfmtHandler(architecture, dir);
    out.push({ architecture, result: `registered (${now.name}, flags ${now.flags ?? '?'}, interpreter ${now.interpreter ?? '?'})` });
  }
  return out;
}
