/**
 * Mount stubs: runc/crun create every missing mount target (and a missing cwd) inside the rootfs,
 * so without cleanup `/run/secrets/x`, `/etc/resolv.conf`, `/root/.cache/go` would land in the
 * layer. Like BuildKit's MountStubsCleaner we record what was missing before the run, remove it
 * afterwards if it is still empty, and put back the parent's mtime when the step did not change
 * the parent's entries itself (so the parent drops out of the diff too).
 *
 * clean() runs on a tree the step has written: a step may have renamed a stub's parent and put
 * a symlink to any path in its place. So each stub is found with hostPathBeneath (every
 * component a real directory, no symlink anywhere), never by joining paths, and only an empty
 * directory or empty regular file there is removed. The container is gone by then, so nothing
 * can change the tree between that check and the removal.
 */
import { lstatSync, lutimesSync, readdirSync, rmdirSync, unlinkSync, type BigIntStats } from 'node:fs';
import { dirname } from 'node:path';
import { exec } from './exec.js';
import { hostPathBeneath, resolveInRoot } from '../image/safe-path.js';

interface StubParent {
  path: string;
  mtimeNs: bigint;
  names: string[];
}

export class MountStubs {
  /** In-root paths that did not exist, in creation order (top first within each target). */
  readonly #missing: string[] = [];
  readonly #parents = new Map<string, StubParent>();

  constructor(readonly rootfs: string) {}

  /** Records what runc would have to create for `target` (an in-root path). */
  record(target: string): void {
    const r = resolveInRoot(this.rootfs, target);
    if (r.exists || r.blocked || r.missing.length === 0) return;
    for (const m of r.missing) if (!this.#missing.includes(m)) this.#missing.push(m);
    const parent = dirname(r.missing[0]!);
    if (this.#parents.has(parent)) return;
    const found = hostPathBeneath(this.rootfs, parent);
    if (!found?.stat.isDirectory()) return;
    try {
      const st: BigIntStats = lstatSync(found.host, { bigint: true });
      this.#parents.set(parent, { path: parent, mtimeNs: st.mtimeNs, names: readdirSync(found.host).sort() });
    } catch {
      /* parent vanished; nothing to restore */
    }
  }

  get missing(): readonly string[] {
    return this.#missing;
  }

  /** Removes the stubs that are still empty (deepest first) and restores untouched parents' mtimes. */
  async clean(): Promise<string[]> {
    const removed: string[] = [];
    const deepestFirst = [...this.#missing].sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? 1 : -1));
    for (const p of deepestFirst) {
      const found = hostPathBeneath(this.rootfs, p);
      if (!found) continue; // gone, or reached through a symlink the step planted
      const { host, stat: st } = found;
      try {
        if (st.isDirectory()) {
          if (readdirSync(host).length > 0) continue;
          rmdirSync(host);
        } else if (st.isFile() && st.size === 0) {
          unlinkSync(host);
        } else continue;
        removed.push(p);
      } catch {
        /* already gone, or the step replaced it with something else */
      }
    }
    for (const parent of this.#parents.values()) {
      const found = hostPathBeneath(this.rootfs, parent.path);
      if (!found?.stat.isDirectory()) continue;
      const host = found.host;
      try {
        // untouched (the stub went into a mount, e.g. /dev/pts in /dev's tmpfs): leave it alone,
        // so overlay does not copy it up
        if (lstatSync(host, { bigint: true }).mtimeNs === parent.mtimeNs) continue;
        const names = readdirSync(host).sort();
        if (names.length !== parent.names.length || names.some((n, i) => n !== parent.names[i])) continue;
        await setMtime(host, parent.mtimeNs);
      } catch {
        /* parent gone */
      }
    }
    return removed;
  }
}

function stamp(ns: bigint): string {
  return `@${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** Nanosecond-exact mtime (fs.utimes takes a double and would round it); atime is not in layers. */
async function setMtime(host: string, mtimeNs: bigint): Promise<void> {
  // lutimes takes seconds as a double: exact for the whole-second and microsecond stamps layers
  // usually carry, not for every nanosecond value. Check, and let touch(1) set what it missed.
  try {
    const st = lstatSync(host, { bigint: true });
    lutimesSync(host, Number(st.atimeNs) / 1e9, Number(mtimeNs) / 1e9);
    if (lstatSync(host, { bigint: true }).mtimeNs === mtimeNs) return;
  } catch {
    /* fall through to touch */
  }
  await exec('touch', ['-h', '-m', '-d', stamp(mtimeNs), '--', host]);
}
