/**
 * One-time checks of what this machine can do: which OCI runtime starts a container (crun needs
 * the hybrid-cgroup workaround here), and whether overlayfs gives the whiteouts and opaque dirs
 * the overlay snapshotter and its upper-only diff depend on.
 */
import { existsSync, lstatSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { xattr } from '../image/xattr.js';
import { opaqueXattr } from './diff.js';
import { RuntimeSetupError } from './errors.js';
import { exec, which } from './exec.js';
import { mountOverlay, unmountAllUnder } from './mounts.js';
import { isHybridCgroups, OciRuntime, type RuntimeName } from './oci.js';
import { buildSpec } from './spec.js';

/** A bundle whose rootfs is an empty dir with the host's /usr, /bin, /lib... bound read-only. */
async function probeBundle(dir: string, cgroupsPath: string): Promise<void> {
  await fsp.mkdir(join(dir, 'rootfs'), { recursive: true });
  const mounts = ['/usr', '/bin', '/lib', '/lib64', '/sbin']
    .filter((p) => existsSync(p))
    .map((p) => ({ destination: p, type: 'bind', source: p, options: ['rbind', 'ro'] }));
  const spec = buildSpec({
    rootfs: join(dir, 'rootfs'),
    args: ['/bin/sh', '-c', 'exit 7'],
    env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
    cwd: '/',
    user: { uid: 0, gid: 0, additionalGids: [], home: '/' },
    hostname: 'tsbuild-probe',
    network: 'none',
    security: 'sandbox',
    mounts,
    cgroupsPath,
  });
  await fsp.writeFile(join(dir, 'config.json'), JSON.stringify(spec));
}

async function tryRuntime(rt: OciRuntime, dir: string, id: string): Promise<string | undefined> {
  const r = await rt.command(['run', '--bundle', dir, id]);
  await rt.delete(id);
  if (r.code === 7) return undefined;
  return `exit ${r.code}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`;
}

export async function probeRuntime(
  want: 'auto' | RuntimeName,
  stateRoot: string,
  probeDir: string,
  buildId: string,
): Promise<OciRuntime> {
  const names: RuntimeName[] = want === 'auto' ? ['crun', 'runc'] : [want];
  const failures: string[] = [];
  await fsp.mkdir(probeDir, { recursive: true });
  await probeBundle(probeDir, `/${buildId}/${buildId}-0`);
  try {
    for (const name of names) {
      const bin = await which(name);
      if (!bin) {
        failures.push(`${name}: not found on PATH`);
        continue;
      }
      const variants = name === 'crun' && isHybridCgroups() ? [false, true] : [false];
      for (const wrap of variants) {
        const rt = new OciRuntime(name, bin, join(stateRoot, name), wrap);
        const why = await tryRuntime(rt, probeDir, `${buildId}-0`);
        if (!why) return rt;
        failures.push(`${name}${wrap ? ' (cgroup2 hidden)' : ''}: ${why}`);
      }
    }
  } finally {
    await fsp.rm(probeDir, { recursive: true, force: true });
  }
  // inside an unprivileged container (a CI pod) no runtime can start: say what can
  throw new RuntimeSetupError(
    `no working OCI runtime (${names.join(', ')}): ${failures.join('; ')} (inside an unprivileged container, use --isolation chroot)`,
    { failures },
  );
}

function isWhiteout(p: string): boolean {
  try {
    const st = lstatSync(p);
    return st.isCharacterDevice() && st.rdev === 0;
  } catch {
    return false;
  }
}

/**
 * Mounts a two-layer overlay whose top layer has a whiteout and an opaque dir, checks they hide
 * the bottom layer's entries, deletes and re-creates a dir through it, and checks the upper dir
 * got a whiteout and an opaque xattr. Returns undefined when all of it works, else the reason.
 */
export async function probeOverlay(dir: string): Promise<string | undefined> {
  await fsp.rm(dir, { recursive: true, force: true });
  const [bottom, top, upper, work, merged] = ['bottom', 'top', 'upper', 'work', 'merged'].map((d) => join(dir, d)) as [
    string, string, string, string, string,
  ];
  try {
    for (const d of [bottom, top, upper, work, merged]) await fsp.mkdir(d, { recursive: true });
    await fsp.writeFile(join(bottom, 'gone'), 'x');
    await fsp.writeFile(join(bottom, 'a'), 'x');
    await fsp.mkdir(join(bottom, 'o'));
    await fsp.writeFile(join(bottom, 'o', 'hidden'), 'x');
    await fsp.mkdir(join(bottom, 'd'));
    await fsp.writeFile(join(bottom, 'd', 'x'), 'x');
    const mk = await exec('mknod', [join(top, 'gone'), 'c', '0', '0']);
    if (mk.code !== 0) return `mknod of a whiteout failed: ${mk.stderr.trim()}`;
    await fsp.mkdir(join(top, 'o'));
    await fsp.writeFile(join(top, 'o', 'shown'), 'x');
    try {
      xattr().setAttributeSync(join(top, 'o'), opaqueXattr(), 'y');
    } catch (e) {
      return `cannot set ${opaqueXattr()}: ${(e as Error).message}`;
    }
    try {
      await mountOverlay({ cwd: dir, lowers: ['top', 'bottom'], upper, work, target: merged });
    } catch (e) {
      return `overlay mount failed: ${(e as Error).message}`;
    }
    try {
      if (existsSync(join(merged, 'gone'))) return 'a whiteout in a lower layer did not hide the file below';
      if (existsSync(join(merged, 'o', 'hidden')) || !existsSync(join(merged, 'o', 'shown'))) {
        return 'an opaque dir in a lower layer did not hide the dir below';
      }
      await fsp.rm(join(merged, 'a'));
      await fsp.rm(join(merged, 'd'), { recursive: true });
      await fsp.mkdir(join(merged, 'd'));
    } finally {
      await unmountAllUnder(merged);
    }
    if (!isWhiteout(join(upper, 'a'))) return 'deleting a lower file left no whiteout in upper';
    const opq = xattr().getAttributeSync(join(upper, 'd'), opaqueXattr());
    if (!opq || opq.toString() !== 'y') return 're-creating a deleted dir did not make it opaque';
    return undefined;
  } finally {
    await unmountAllUnder(dir);
    await fsp.rm(dir, { recursive: true, force: true });
  }
}
