/**
 * The seccomp filter crun would compile, compiled once per state dir instead of once per RUN.
 *
 * crun turns the spec's seccomp section into BPF with libseccomp on every `crun run`: ~40 ms of
 * the ~80 ms a `RUN true` costs here (crun 1.8 has no cache of its own; runc compiles every time
 * too). crun also takes a ready filter in the `run.oci.seccomp_bpf_data` annotation, so the filter
 * is made by crun itself: `crun create` of a minimal container with the same seccomp section
 * leaves libseccomp's output in its state dir (`seccomp.bpf`), which is kept under
 * `seccomp-bpf/`, named by a hash of everything that shapes it (the section, crun, libseccomp,
 * the kernel). The filter is the one crun compiles for the step itself: same input, same library
 * (checked in runtime.test.ts against the file `crun create` of a full step spec leaves).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { arch, release, version } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '../image/digest.js';
import type { OciRuntime } from './oci.js';
import type { OciSeccomp } from './seccomp.js';

/** The annotation crun reads a compiled filter from (base64), instead of compiling the section. */
export const SECCOMP_BPF_ANNOTATION = 'run.oci.seccomp_bpf_data';

/** Where libseccomp lives on the distributions we run on; its version changes the filter. */
const LIBSECCOMP = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib'].map((d) =>
  join(d, 'libseccomp.so.2'),
);

async function fileStamp(path: string): Promise<string> {
  const st = await fsp.stat(path).catch(() => undefined);
  return st ? `${path}:${st.size}:${st.mtimeMs}` : `${path}:-`;
}

/** What the compiled filter depends on, besides the section itself. */
async function compilerStamp(oci: OciRuntime): Promise<string> {
  return [await fileStamp(oci.binary), ...(await Promise.all(LIBSECCOMP.map(fileStamp))), release(), version(), arch()].join('\n');
}

/**
 * The compiled filter of `seccomp` for crun, from `<root>/seccomp-bpf/` or made now in `scratch`
 * (a directory of the build's, removed here) as container `id`; undefined when it cannot be had
 * (the step then lets crun compile the section, as before).
 */
export async function crunSeccompBpf(oci: OciRuntime, root: string, seccomp: OciSeccomp, scratch: { dir: string; id: string }): Promise<Buffer | undefined> {
  if (oci.name !== 'crun') return undefined;
  const key = sha256(`${await compilerStamp(oci)}\n${JSON.stringify(seccomp)}`).slice('sha256:'.length);
  const file = join(root, 'seccomp-bpf', `${key}.bpf`);
  const cached = await fsp.readFile(file).catch(() => undefined);
  if (cached && isBpf(cached)) return cached;
  const made = await compileWithCrun(oci, seccomp, scratch);
  if (!made) return undefined;
  await fsp.mkdir(join(root, 'seccomp-bpf'), { recursive: true });
  const tmp = `${file}.${randomBytes(4).toString('hex')}`;
  await fsp.writeFile(tmp, made);
  await fsp.rename(tmp, file);
  return made;
}

/** BPF is a whole number of 8-byte instructions. */
function isBpf(b: Buffer): boolean {
  return b.length > 0 && b.length % 8 === 0;
}

async function compileWithCrun(oci: OciRuntime, seccomp: OciSeccomp, scratch: { dir: string; id: string }): Promise<Buffer | undefined> {
  const rootfs = join(scratch.dir, 'rootfs');
  try {
    // crun checks /dev and the executable before it waits to be started; nothing ever runs
    await fsp.mkdir(join(rootfs, 'dev'), { recursive: true });
    await fsp.writeFile(join(rootfs, 'x'), '', { mode: 0o755 });
    const spec = {
      ociVersion: '1.0.2-dev',
      process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/x'], cwd: '/' },
      root: { path: rootfs, readonly: false },
      mounts: [],
      linux: { namespaces: [{ type: 'mount' }], seccomp },
    };
    await fsp.writeFile(join(scratch.dir, 'config.json'), JSON.stringify(spec));
    if ((await createDetached(oci, scratch.dir, scratch.id)) !== 0) return undefined;
    const bpf = await fsp.readFile(join(oci.stateDir, scratch.id, 'seccomp.bpf')).catch(() => undefined);
    return bpf && isBpf(bpf) ? bpf : undefined;
  } finally {
    if (oci.hasState(scratch.id)) await oci.delete(scratch.id);
    await fsp.rm(scratch.dir, { recursive: true, force: true });
  }
}

/** `create`, its exit code; no pipes: the waiting container init would hold them open. */
function createDetached(oci: OciRuntime, bundle: string, id: string): Promise<number> {
  const [cmd, args] = oci.argv(['create', '--bundle', bundle, id]);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', () => resolve(127));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? 1);
    });
  });
}
