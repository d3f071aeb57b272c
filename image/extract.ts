/**
 * Apply OCI layer tars to a plain directory (COPY --from, --output type=local, the copy snapshotter).
 *
 * Safety: entry paths, whiteout names and hardlink targets are checked and their parents resolved
 * inside rootDir by image/safe-path.ts (symlinks followed the way a chroot would), and the final
 * component is never followed: an existing entry there is removed first and files are created
 * with O_EXCL|O_NOFOLLOW. So no archive can write or delete outside rootDir, whatever it plants.
 *
 * Metadata ops use sync fs calls (a 20k-entry layer is syscall-bound; research/deps.md §2),
 * file contents are streamed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { readTar } from './tar/reader.js';
import type { TarHeader } from './tar/header.js';
import { xattr } from './xattr.js';
import { parseWhiteout } from './whiteout.js';
import { UnsafePathError } from './errors.js';
import { entryParts, linkTargetParts, resolveInRoot } from './safe-path.js';

export interface ExtractOptions {
  /** lchown entries to their uid/gid; default: process.getuid() === 0. */
  sameOwner?: boolean;
  /** Called for entries (or parts of them) that could not be applied: device nodes, fifos, refused xattrs. */
  onSkipped?: (path: string, reason: string) => void;
  /**
   * Applies only the entries this accepts (their path as in the tar, cleaned; a whiteout by its
   * own `.wh.` name). A caller that unpacks part of an image checks the result itself.
   */
  include?: (path: string) => boolean;
  /**
   * A plain archive (a build context), not a layer: `.wh.*` entries are files like any other, as
   * moby's Untar (BuildKit's unpack of a tar context) leaves them.
   */
  literalWhiteouts?: boolean;
}

/** Files up to this size are written with sync calls; larger ones with async writes. */
const SMALL_FILE = 1024 * 1024;

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

class LayerApplier {
  readonly #root: string;
  readonly #sameOwner: boolean;
  readonly #onSkipped: (path: string, reason: string) => void;
  /** Logical paths written by this layer: an opaque dir or whiteout only hides what lower layers put there. */
  readonly #written = new Set<string>();
  /** Resolved real paths of logical directories, valid until something is removed or a symlink appears. */
  readonly #dirCache = new Map<string, string>();
  /**
   * Directory mode and mtime, applied after the whole layer: writing children would change the
   * mtimes, and a read-only mode would block them. Keyed by logical path; the last entry wins.
   */
  readonly #dirMeta = new Map<string, { parts: string[]; real: string; h: TarHeader }>();

  constructor(root: string, opts: ExtractOptions) {
    this.#root = root;
    this.#sameOwner = opts.sameOwner ?? process.getuid?.() === 0;
    this.#onSkipped = opts.onSkipped ?? (() => undefined);
    this.#include = opts.include;
    this.#literalWhiteouts = opts.literalWhiteouts ?? false;
  }

  readonly #include: ((path: string) => boolean) | undefined;
  readonly #literalWhiteouts: boolean;

  /**
   * Real path of a logical directory (components), every symlink resolved inside the root,
   * creating missing directories (0755) when `create` is set. A non-directory in the way is
   * replaced when creating (a file that a later layer turns into a directory).
   */
  #resolveDir(parts: readonly string[], create: boolean): string | undefined {
    const key = parts.join('/');
    const cached = this.#dirCache.get(key);
    if (cached !== undefined) return cached;
    const makeDir = (host: string, existing: fs.Stats | undefined): void => {
      if (existing) this.#remove(host);
      fs.mkdirSync(host, { mode: 0o755 });
    };
    const r = resolveInRoot(this.#root, key, create ? { makeDir } : {});
    if (r.blocked && create) throw new UnsafePathError(key, 'too many levels of symbolic links');
    if (!r.exists) return undefined;
    this.#dirCache.set(key, r.host);
    return r.host;
  }

  #remove(real: string): void {
    fs.rmSync(real, { recursive: true, force: true });
    this.#dirCache.clear();
  }

  async apply(tar: Readable): Promise<void> {
    for await (const { header: h, body } of readTar(tar)) {
      const parts = entryParts(h.path);
      const base = parts[parts.length - 1];
      const whiteout = base === undefined || this.#literalWhiteouts ? undefined : parseWhiteout(base, h.path);
      if (this.#include && !this.#include(parts.join('/'))) {
        body.resume();
        continue;
      }
      if (base === undefined) {
        this.#applyRoot(h);
        continue;
      }
      const parentParts = parts.slice(0, -1);
      if (whiteout) {
        if (whiteout.kind === 'opaque') this.#opaque(parentParts);
        else if (whiteout.kind === 'whiteout') this.#whiteout(parentParts, whiteout.name);
        continue;
      }
      const logical = parts.join('/');
      const parent = this.#resolveDir(parentParts, true) as string;
      const real = path.join(parent, base);
      const existing = lstatOrUndefined(real);
      this.#written.add(logical);

      switch (h.type) {
        case 'dir':
          if (existing && !existing.isDirectory()) this.#remove(real);
          if (!existing?.isDirectory()) fs.mkdirSync(real, { mode: 0o700 });
          this.#dirCache.delete(logical);
          this.#owner(real, h);
          this.#xattrs(real, h);
          this.#deferDirMeta(parts, real, h);
          break;
        case 'file': {
          if (existing) this.#remove(real);
          await writeFile(real, body, h.size);
          this.#finish(real, h);
          break;
        }
        case 'symlink':
          if (existing) this.#remove(real);
          fs.symlinkSync(h.linkname ?? '', real);
          this.#dirCache.clear(); // a symlink can now stand where a cached directory was
          this.#owner(real, h);
          this.#xattrs(real, h);
          fs.lutimesSync(real, h.mtime, h.mtime);
          break;
        case 'hardlink': {
          const target = this.#resolveLinkTarget(h);
          if (target === real) break;
          if (existing) this.#remove(real);
          fs.linkSync(target, real);
          break;
        }
        case 'char':
        case 'block':
        case 'fifo':
          if (existing) this.#remove(real);
          this.#onSkipped(logical, `${h.type} device nodes cannot be created from Node`);
          break;
      }
    }
    this.#applyDirMeta();
  }

  #applyRoot(h: TarHeader): void {
    if (h.type !== 'dir') {
      this.#onSkipped('.', `root entry of type ${h.type}`);
      return;
    }
    this.#owner(this.#root, h);
    this.#xattrs(this.#root, h);
    this.#deferDirMeta([], this.#root, h);
  }

  #deferDirMeta(parts: string[], real: string, h: TarHeader): void {
    const key = parts.join('/');
    this.#dirMeta.delete(key);
    this.#dirMeta.set(key, { parts, real, h });
  }

  #applyDirMeta(): void {
    for (const { parts, real, h } of [...this.#dirMeta.values()].reverse()) {
      // Re-resolve: a later entry may have removed the directory or put a symlink on its path,
      // and chmod/utimes follow symlinks. Apply only if the same real directory is still there.
      if (this.#resolveDir(parts, false) !== real) continue;
      fs.chmodSync(real, h.mode);
      fs.utimesSync(real, h.mtime, h.mtime);
    }
  }

  #opaque(dirParts: string[]): void {
    const dir = this.#resolveDir(dirParts, false);
    if (dir !== undefined) this.#clearLower(dir, dirParts.join('/'));
  }

  /** Removes `name` (checked by parseWhiteout: one plain entry name) from the layers below. */
  #whiteout(parentParts: string[], name: string): void {
    const parentLogical = parentParts.join('/');
    const logical = parentLogical ? `${parentLogical}/${name}` : name;
    if (this.#written.has(logical)) return; // a whiteout hides lower layers only
    const parent = this.#resolveDir(parentParts, false);
    if (parent === undefined) return; // nothing below to hide
    const real = path.join(parent, name);
    if (lstatOrUndefined(real)) this.#remove(real);
  }

  /** Remove everything in a directory that this layer did not write (opaque directory). */
  #clearLower(real: string, logical: string): void {
    for (const name of fs.readdirSync(real)) {
      const childLogical = logical ? `${logical}/${name}` : name;
      const childReal = path.join(real, name);
      if (!this.#written.has(childLogical)) this.#remove(childReal);
      else if (lstatOrUndefined(childReal)?.isDirectory()) this.#clearLower(childReal, childLogical);
    }
  }

  #resolveLinkTarget(h: TarHeader): string {
    const parts = linkTargetParts(h.linkname, h.path);
    const parent = this.#resolveDir(parts.slice(0, -1), false);
    const target = parent === undefined ? undefined : path.join(parent, parts[parts.length - 1] as string);
    const st = target === undefined ? undefined : lstatOrUndefined(target);
    if (!target || !st) throw new UnsafePathError(h.path, `hardlink target ${JSON.stringify(h.linkname)} does not exist`);
    if (st.isDirectory()) throw new UnsafePathError(h.path, `hardlink target ${JSON.stringify(h.linkname)} is a directory`);
    return target;
  }

  #owner(real: string, h: TarHeader): void {
    if (this.#sameOwner) fs.lchownSync(real, h.uid, h.gid);
  }

  #xattrs(real: string, h: TarHeader): void {
    if (!h.xattrs) return;
    for (const [name, value] of Object.entries(h.xattrs)) {
      // overlayfs internals in a layer could change how a lower dir is read; never apply them.
      if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) {
        this.#onSkipped(h.path, `xattr ${name}: overlay-private`);
        continue;
      }
      try {
        xattr().setAttributeSync(real, name, value);
      } catch (e) {
        this.#onSkipped(h.path, `xattr ${name}: ${(e as Error).message}`);
      }
    }
  }

  /** Owner, then mode (chown clears setuid), then xattrs (chown clears security.capability), then times. */
  #finish(real: string, h: TarHeader): void {
    this.#owner(real, h);
    fs.chmodSync(real, h.mode);
    this.#xattrs(real, h);
    fs.utimesSync(real, h.mtime, h.mtime);
  }
}

async function writeFile(real: string, body: Readable, size: number): Promise<void> {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(real, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (size <= SMALL_FILE) writeAllSync(fd, chunk);
      else await writeAll(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function writeAllSync(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
}

async function writeAll(fd: number, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await new Promise<{ bytesWritten: number }>((resolve, reject) =>
      fs.write(fd, buf, off, buf.length - off, null, (err, n) => (err ? reject(err) : resolve({ bytesWritten: n }))),
    );
    off += bytesWritten;
  }
}

/** Apply one uncompressed layer tar on top of rootDir (which must exist). */
export async function applyLayer(tar: Readable, rootDir: string, opts: ExtractOptions = {}): Promise<void> {
  const root = fs.realpathSync(rootDir);
  await new LayerApplier(root, opts).apply(tar);
}

/** Apply layers bottom to top; each factory is called only when its turn comes. */
export async function applyLayers(
  tars: Array<() => Promise<Readable>>,
  rootDir: string,
  opts: ExtractOptions = {},
): Promise<void> {
  for (const open of tars) await applyLayer(await open(), rootDir, opts);
}
