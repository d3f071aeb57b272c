/**
 * Unpacks one OCI layer tar into an empty directory in overlay format (the way containerd's
 * overlay snapshotter stores layers): `.wh.<name>` becomes a char device 0:0 named <name>, and
 * `.wh..wh..opq` sets trusted.overlay.opaque=y on its directory. Mounted as a lowerdir, the
 * layer then hides what it deleted from the layers below.
 *
 * Path safety: entry paths, whiteout names and link targets are checked by image/safe-path.ts
 * (`..` refused), a parent that is a symlink or a file is refused (nothing is ever written
 * through a symlink), and hardlink targets must be regular entries of this same layer.
 */
import {
  chmodSync,
  closeSync,
  createWriteStream,
  fchmodSync,
  fchownSync,
  futimesSync,
  openSync,
  readFileSync,
  writeSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { xattr } from '../image/xattr.js';
import { UnsafePathError } from '../image/errors.js';
import { entryParts, linkTargetParts } from '../image/safe-path.js';
import { parseWhiteout } from '../image/whiteout.js';
import type { TarHeader } from '../image/tar/header.js';
import { readTar } from '../image/tar/reader.js';
import { opaqueXattr } from './diff.js';
import { RuntimeSetupError } from './errors.js';
import { exec, execOk } from './exec.js';

export interface PendingNode {
  host: string;
  kind: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  header?: TarHeader;
}

/** Whether xattrs from the archive may be set: overlay's own are decided by whiteouts only. */
function allowedXattr(name: string): boolean {
  return !name.startsWith('trusted.overlay.') && !name.startsWith('user.overlay.');
}

export interface UnpackStats {
  entries: number;
  whiteouts: number;
  skippedXattrs: number;
}

export interface UnpackOptions {
  /**
   * Unpacks only the entries whose layer path (no leading `/`) this accepts, plus the parent
   * directories they need, with those directories' headers from the layer: the delta of a layer
   * against a snapshot of an earlier version of it (snapshots.ts). Whiteouts are refused.
   */
  keep?: (rel: string) => boolean;
}

/** Files up to this size are gathered and written with one call; larger ones are streamed. */
const SMALL_FILE = 1 << 20;

/**
 * Writes a file entry; true when its owner, mode and mtime are set too. A small file without
 * xattrs is made through its descriptor: created with its mode where the umask keeps it, owned
 * by us already when the entry is root's (see creatorOwns), its times set by fd: 4 calls, not
 * the 6 (3 of them by path) of write-then-lchown/chmod/lutimes. 20,000 files: 80k syscalls.
 */
async function writeFileBody(body: Readable, host: string, header: TarHeader, creator: Creator): Promise<boolean> {
  if (header.size > SMALL_FILE) {
    await pipeline(body, createWriteStream(host, { flags: 'wx', mode: 0o600 }));
    return false;
  }
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (header.xattrs && Object.keys(header.xattrs).length > 0) {
    writeFileSync(host, data, { flag: 'wx', mode: 0o600 });
    return false;
  }
  const mode = hostMode(header) & 0o7777;
  // special bits are never given by open(2), and chown would clear them: chmod after chown
  const modeAtOpen = (mode & 0o7000) === 0 && creator.umask !== undefined && (mode & creator.umask) === 0;
  const fd = openSync(host, 'wx', modeAtOpen ? mode : 0o600);
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
    if (!creator.owns(header)) fchownSync(fd, header.uid, header.gid);
    if (!modeAtOpen) fchmodSync(fd, mode);
    futimesSync(fd, header.mtime, header.mtime);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Who new files in the unpack dir belong to, and the umask they are created under. */
interface Creator {
  umask: number | undefined;
  owns(header: TarHeader): boolean;
}

/**
 * A file we create is ours (euid, and egid unless its dir is setgid: the
 * unpack dir is checked, and every dir under it is made here without setgid until the end). So
 * an entry owned by our ids needs no chown. The umask is read from /proc (process.umask() with
 * no argument is deprecated); unknown, every file is chmodded.
 */
function creatorOf(dir: string): Creator {
  const uid = process.geteuid?.();
  const gid = process.getegid?.();
  const st = lstatSync(dir);
  const gidOk = gid !== undefined && (st.mode & 0o2000) === 0;
  let umask: number | undefined;
  try {
    const m = /^Umask:\s+([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) umask = parseInt(m[1]!, 8);
  } catch {
    umask = undefined;
  }
  return { umask, owns: (h) => uid !== undefined && gidOk && h.uid === uid && h.gid === gid };
}

/**
 * The target directory must be empty and private to this call: everything in it was made here,
 * which lets sync calls and in-memory bookkeeping replace an lstat per entry (20k files: ~1 s
 * instead of ~9 s with per-call promises).
 */
export async function unpackOverlayLayer(tar: Readable, dir: string, options: UnpackOptions = {}): Promise<UnpackStats> {
  const stats: UnpackStats = { entries: 0, whiteouts: 0, skippedXattrs: 0 };
  const { keep } = options;
  /** Headers of directories left out (keep): applied if a kept entry below made them anyway. */
  const skippedDirs = new Map<string, TarHeader>();
  const creator = creatorOf(dir);
  /** Relative paths of the directories made so far, and of everything else. */
  const dirs = new Set<string>(['']);
  const others = new Set<string>();
  const dirMeta: Array<{ host: string; header: TarHeader }> = [];
  const nodes = new Map<string, PendingNode>();
  const opaque = new Set<string>();

  const ensureParents = (parts: string[], path: string): void => {
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = i === 0 ? parts[0]! : `${rel}/${parts[i]}`;
      if (dirs.has(rel)) continue;
      if (others.has(rel)) throw new UnsafePathError(path, `parent ${rel} is not a directory`);
      mkdirSync(join(dir, rel), { mode: 0o755 });
      dirs.add(rel);
    }
  };

  /** Makes room for a new entry at rel: a later entry for the same path wins, like tar. */
  const clear = (rel: string, host: string, keepDir: boolean): void => {
    if (dirs.has(rel)) {
      if (keepDir) return;
      rmSync(host, { recursive: true, force: true });
      const prefix = rel + '/';
      for (const d of dirs) if (d === rel || d.startsWith(prefix)) dirs.delete(d);
      for (const o of others) if (o.startsWith(prefix)) others.delete(o);
      for (const n of nodes.keys()) if (n.startsWith(prefix)) nodes.delete(n);
      opaque.delete(rel);
    } else if (others.has(rel)) {
      rmSync(host, { force: true });
      others.delete(rel);
      nodes.delete(rel);
    }
  };

  const applyMeta = (host: string, h: TarHeader): void => {
    lchownSync(host, h.uid, h.gid);
    if (h.type !== 'symlink') chmodSync(host, hostMode(h)); // after chown, which clears setuid
    for (const [name, value] of Object.entries(h.xattrs ?? {})) {
      if (!allowedXattr(name) || h.type === 'symlink') {
        stats.skippedXattrs++;
        continue;
      }
      try {
        xattr().setAttributeSync(host, name, value);
      } catch {
        stats.skippedXattrs++;
      }
    }
    if (h.type !== 'dir') lutimesSync(host, h.mtime, h.mtime);
  };

  for await (const { header: h, body } of readTar(tar)) {
    stats.entries++;
    const parts = entryParts(h.path);
    const whiteout = parseWhiteout(parts[parts.length - 1] ?? '', h.path);
    if (whiteout) {
      body.resume();
      if (keep) throw new UnsafePathError(h.path, 'a whiteout in a partial unpack (a delta snapshot) would hide the layers below');
      ensureParents(parts, h.path);
      const parentRel = parts.slice(0, -1).join('/');
      if (whiteout.kind === 'opaque') {
        opaque.add(parentRel);
      } else if (whiteout.kind === 'whiteout') {
        const name = whiteout.name;
        const rel = parentRel === '' ? name : `${parentRel}/${name}`;
        const host = join(dir, rel);
        clear(rel, host, false);
        nodes.set(rel, { host, kind: 'c', major: 0, minor: 0 });
        others.add(rel);
        stats.whiteouts++;
      }
      continue;
    }
    if (parts.length === 0) {
      // the layer root ("./"): only its metadata matters
      body.resume();
      if (h.type === 'dir') dirMeta.push({ host: dir, header: h });
      continue;
    }
    const rel = parts.join('/');
    if (keep && !keep(rel)) {
      body.resume();
      if (h.type === 'dir') skippedDirs.set(rel, h);
      continue;
    }
    ensureParents(parts, h.path);
    const host = join(dir, rel);
    clear(rel, host, h.type === 'dir');
    switch (h.type) {
      case 'dir':
        body.resume();
        if (!dirs.has(rel)) mkdirSync(host, { mode: 0o700 });
        dirs.add(rel);
        dirMeta.push({ host, header: h });
        break;
      case 'file':
        if (!(await writeFileBody(body, host, h, creator))) applyMeta(host, h);
        others.add(rel);
        break;
      case 'symlink':
        body.resume();
        symlinkSync(h.linkname ?? '', host);
        others.add(rel);
        applyMeta(host, h);
        break;
      case 'hardlink': {
        body.resume();
        const targetRel = linkTargetParts(h.linkname, h.path).join('/');
        // only a regular entry this layer made: never through a symlink, never outside
        if (!others.has(targetRel) || nodes.has(targetRel) || !lstatSync(join(dir, targetRel)).isFile()) {
          throw new UnsafePathError(h.path, `hardlink target ${JSON.stringify(h.linkname)} is not a file of this layer`);
        }
        linkSync(join(dir, targetRel), host);
        others.add(rel);
        break;
      }
      case 'char':
      case 'block':
      case 'fifo':
        body.resume();
        nodes.set(rel, {
          host,
          kind: h.type === 'char' ? 'c' : h.type === 'block' ? 'b' : 'p',
          major: h.devmajor ?? 0,
          minor: h.devminor ?? 0,
          header: h,
        });
        others.add(rel);
        break;
    }
  }

  await makeNodes([...nodes.values()]);
  for (const n of nodes.values()) if (n.header) applyMeta(n.host, n.header);
  for (const rel of opaque) if (dirs.has(rel)) xattr().setAttributeSync(join(dir, rel), opaqueXattr(), 'y');
  // parents made for kept entries take their headers from the layer (tar order: parents first)
  for (const [rel, header] of skippedDirs) if (dirs.has(rel)) dirMeta.push({ host: join(dir, rel), header });
  // directories last: creating their entries moved their mtimes
  for (const { host, header } of dirMeta.reverse()) {
    applyMeta(host, header);
    utimesSync(host, header.mtime, header.mtime);
  }
  return stats;
}

/**
 * The mode an entry gets on the host. A char or block device from a layer keeps only its
 * owner's bits: a 0666 disk-like node from an image would otherwise let any local user reach
 * the device, should the store ever be readable to them (it is 0700, see cache/store.ts). The
 * container then sees the node 0600 (its /dev is a tmpfs of its own anyway). A fifo keeps its
 * mode: it reaches nothing but its own pipe, and RUN steps that mkfifo must see what they made.
 */
export function hostMode(header: TarHeader): number {
  return header.type === 'char' || header.type === 'block' ? header.mode & 0o700 : header.mode;
}

/** Owner, mode and mtime of a device node or fifo made by makeNodes. */
export function applyNodeMeta(host: string, header: TarHeader): void {
  lchownSync(host, header.uid, header.gid);
  chmodSync(host, hostMode(header));
  lutimesSync(host, header.mtime, header.mtime);
}

/** Node cannot mknod: one bash reads NUL-separated records and calls mknod(1) for each. */
export async function makeNodes(nodes: PendingNode[]): Promise<void> {
  if (nodes.length === 0) return;
  const script =
    'set -e; while IFS= read -r -d "" t && IFS= read -r -d "" ma && IFS= read -r -d "" mi && IFS= read -r -d "" p; do ' +
    'if [ "$t" = p ]; then mknod -m 0600 -- "$p" p; else mknod -m 0600 -- "$p" "$t" "$ma" "$mi"; fi; done';
  const input = Buffer.from(nodes.map((n) => `${n.kind}\0${n.major}\0${n.minor}\0${n.host}\0`).join(''));
  const r = await exec('bash', ['-c', script], { input });
  if (r.code === 127 && /ENOENT|not found/.test(r.stderr)) {
    for (const n of nodes) {
      const args = n.kind === 'p' ? ['-m', '0600', '--', n.host, 'p'] : ['-m', '0600', '--', n.host, n.kind, String(n.major), String(n.minor)];
      await execOk('mknod', args);
    }
    return;
  }
  if (r.code !== 0) throw new RuntimeSetupError(`mknod failed: ${r.stderr.trim()}`, { stderr: r.stderr });
}
