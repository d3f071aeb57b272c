import { createReadStream, readFileSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readlink } from 'node:fs/promises';
import { applyLayer } from '../../image/extract.js';
import { posix, join as joinFs } from 'node:path';
import { Readable } from 'node:stream';
import type { TarHeader } from '../../image/tar/header.js';
import { readTar } from '../../image/tar/reader.js';
import { entryParts, linkTargetParts } from '../../image/safe-path.js';
import type { TarSource } from '../../image/tar/writer.js';
import { PatternMatcher } from '../../parser/dockerignore.js';
import { walkContext, walkContextBatches, type ContextEntry } from '../context.js';
import { CopySourceError, BuildUsageError, type SourceLocation } from '../errors.js';
import type { FsView } from '../fsview.js';
import { globToRegExp, hasWildcard } from '../glob.js';
import type { ModeFn } from '../chmod.js';
import { layerXattrs } from '../../runtime/diff.js';
import { isTarArchive, openArchive } from '../archive.js';
import { parseWhiteout, WH_PREFIX } from '../../image/whiteout.js';
import type { SourceStamp } from '../../cache/copy-memo.js';

/** A directory the files of a COPY come from: the build context, or an unpacked stage/image. */
export interface CopyRoot {
  dir: string;
  /** .dockerignore patterns (context only). */
  excludes: string[];
  /** ADD extracts local archives only from the context. */
  isContext: boolean;
}

export interface CopyRequest {
  kind: 'copy' | 'add';
  root: CopyRoot;
  /** Expanded source paths (relative to the root; leading / ignored), or heredoc names. */
  sources: string[];
  /** Heredoc name → content (already expanded when the heredoc asks for it). */
  heredocs: Map<string, string>;
  /** Expanded destination; relative paths are relative to `workdir`. */
  dest: string;
  workdir: string;
  owner?: { uid: number; gid: number };
  chmod?: ModeFn;
  parents: boolean;
  link: boolean;
  exclude: string[];
  unpack: boolean;
  /** Where ADD may unpack archives (per build, removed with the build's temp files). */
  scratchDir?: string;
  /** ADD's downloaded URL sources, by the URL as written. */
  downloads?: Map<string, ContextEntry & { name: string }>;
  /** Lower filesystem (undefined with --link: BuildKit copies into an empty tree). */
  lower: FsView | undefined;
  /** Reads a file of the lower filesystem (ADD: an archive's hardlink to a file the image has). */
  readLower?: (path: string) => Promise<Buffer | undefined>;
  /** Lists a source directory (default walkContextBatches); a caller planning twice passes a memo. */
  walk?: typeof walkContextBatches;
  /** mtime of directories the copy creates (SOURCE_DATE_EPOCH or 0): deterministic layers. */
  createdTime: number;
  loc?: SourceLocation;
}

/** The sorted entries of a COPY/ADD layer plus, for FsView updates, their metadata. */
export interface CopyPlan {
  entries: TarSource[];
  /** Where each file entry's content comes from on disk (by entry path), for content hashing. */
  origins: Map<string, ContextEntry>;
}

/**
 * Resolves a COPY/ADD into layer entries, following Docker's rules: a source
 * directory copies its contents; several sources or a trailing `/` make the
 * destination a directory; a single file onto an existing directory lands
 * inside it; wildcards match per path segment. Symlinks are copied as links,
 * except a top-level source symlink, which is followed *inside* the root.
 */
export async function planCopy(req: CopyRequest): Promise<CopyPlan> {
  const out = new Map<string, TarSource>();
  const destAbs = posix.resolve('/', req.workdir || '/', req.dest);
  const destIsDirSyntax = req.dest.endsWith('/') || req.dest.endsWith('/.') || req.dest === '.';
  if (req.sources.length > 1 && !destIsDirSyntax) {
    throw new CopySourceError(
      `When using ${req.kind.toUpperCase()} with more than one source file, the destination must be a directory and end with a /`,
      req.loc,
    );
  }
  const matched = await resolveSources(req);
  // Several files matched by one wildcard land in dest as a directory.
  const multiple = matched.length > 1;
  // The real destination, with the lower filesystem's symlinks resolved (not with --link).
  const realDest = req.lower ? '/' + (req.lower.resolvePath(destAbs, true) ?? '') : destAbs;
  const destExistsAsDir = req.lower?.get(realDest)?.type === 'dir';
  const excluder = req.exclude.length ? new PatternMatcher(req.exclude) : undefined;

  const addDirChain = (absDir: string): void => {
    const parts = absDir.split('/').filter(Boolean);
    let cur = '';
    for (const p of parts) {
      cur = cur ? `${cur}/${p}` : p;
      if (out.has(cur)) continue;
      const existing = req.lower?.existingDirHeader(cur, req.createdTime);
      if (existing) {
        out.set(cur, { header: existing });
        continue;
      }
      if (req.lower?.get('/' + cur)?.type === 'dir') continue;
      out.set(cur, {
        header: dirHeader(cur, req.owner, req.createdTime),
      });
    }
  };

  const origins = new Map<string, ContextEntry>();
  const put = (destPath: string, src: TarSource, origin?: ContextEntry): void => {
    const rel = destPath.replace(/^\/+/, '');
    if (rel === '') return;
    if (origin && origin.type === 'file') origins.set(rel, origin);
    else origins.delete(rel);
    addDirChain(posix.dirname('/' + rel));
    const prev = out.get(rel);
    if (prev && prev.header.type === 'dir' && src.header.type === 'dir') {
      // a directory written twice keeps the later metadata
    }
    out.set(rel, { ...src, header: { ...src.header, path: rel } });
  };

  for (const m of matched) {
    if (m.heredoc !== undefined) {
      const target = destIsDirSyntax || destExistsAsDir ? posix.join(realDest, m.name) : realDest;
      const body = Buffer.from(m.heredoc);
      put(target, {
        header: fileHeader('', req.chmod ? req.chmod(0o644, false) : 0o644, req.owner, body.length, req.createdTime),
        body,
      });
      continue;
    }
    if (m.isDir) {
      const base = req.parents ? posix.join(realDest, m.parentsRel) : realDest;
      if (req.parents) put(base, sourceOf(m.entry!, req));
      // BuildKit copies a directory's contents into a destination it makes like any parent
      // (0755, the --chown owner or root); the source directory's own metadata is not copied.
      else if (!req.lower?.get(base)) put(base, { header: dirHeader('', req.owner, req.createdTime) });
      const dirRel = m.entry!.path;
      const narrowed = dirRel === '' ? {} : { includes: [dirRel] };
      const links = new HardlinkTracker();
      for await (const batch of (req.walk ?? walkContextBatches)(m.absRoot, { excludes: m.excludes, ...narrowed })) {
        for (const e of batch) {
          const relInDir = relUnder(e.path, dirRel);
          if (relInDir === undefined || relInDir === '') continue;
          if (excluder && excluder.matches(relInDir)) continue;
          const d = posix.join(base, relInDir);
          put(d, links.source(e, d, sourceOf(e, req)), e);
        }
      }
      continue;
    }
    // a single file (or symlink followed at top level)
    if (excluder && excluder.matches(posix.basename(m.relPath))) continue;
    let target: string;
    if (req.parents) target = posix.join(realDest, m.parentsRel);
    else if (destIsDirSyntax || destExistsAsDir || multiple) target = posix.join(realDest, posix.basename(m.relPath));
    else target = realDest;
    if (req.kind === 'add' && req.unpack && req.root.isContext && !req.downloads?.has(m.entry!.path) && (await isTarArchive(m.entry!.absPath))) {
      await addArchive(m.entry!.absPath, destIsDirSyntax || destExistsAsDir ? realDest : realDest, req, put);
      continue;
    }
    put(target, sourceOf(m.entry!, req), m.entry);
  }
  const entries = firstNameCarriesContent([...out.values()].sort((a, b) => cmpPath(a.header.path, b.header.path)), origins);
  return { entries, origins };
}

/**
 * Feeds `stamp` (cache/copy-memo.ts) everything of the file system planCopy would read for `req`:
 * the sources as resolved (a followed symlink's target included) and every entry of each source
 * directory's walk, in the plan's order. The plan is a function of the request, these entries and
 * the files' contents, so an equal stamp and unchanged contents give an equal plan.
 * Not for ADD: archives are read while planning.
 */
export async function stampCopySources(req: CopyRequest, stamp: SourceStamp): Promise<void> {
  if (req.kind !== 'copy') throw new BuildUsageError('only COPY sources can be stamped', req.loc);
  for (const m of await resolveSources(req)) {
    stamp.section(m.heredoc !== undefined ? `heredoc ${m.name}` : `${m.wildcard ? 'match' : 'source'} ${m.relPath} ${m.parentsRel} ${m.isDir}`);
    if (m.entry) stamp.add(m.entry);
    if (!m.isDir) continue;
    const dirRel = m.entry!.path;
    for await (const batch of (req.walk ?? walkContextBatches)(m.absRoot, { excludes: m.excludes, ...(dirRel === '' ? {} : { includes: [dirRel] }) })) {
      for (const e of batch) stamp.add(e);
    }
  }
}

interface MatchedSource {
  name: string;
  relPath: string;
  /** Path below the /./ pivot for --parents. */
  parentsRel: string;
  isDir: boolean;
  wildcard: boolean;
  entry?: ContextEntry;
  absRoot: string;
  excludes: string[];
  heredoc?: string;
}

async function resolveSources(req: CopyRequest): Promise<MatchedSource[]> {
  const out: MatchedSource[] = [];
  for (const raw of req.sources) {
    // The parser names a heredoc source by its delimiter (`COPY <<EOF /x` → source "EOF").
    const heredoc = req.heredocs.get(raw);
    if (heredoc !== undefined) {
      out.push({ name: raw, relPath: '', parentsRel: '', isDir: false, wildcard: false, absRoot: req.root.dir, excludes: [], heredoc });
      continue;
    }
    const dl = req.downloads?.get(raw);
    if (dl) {
      out.push({ name: dl.name, relPath: dl.name, parentsRel: dl.name, isDir: false, wildcard: false, entry: dl, absRoot: req.root.dir, excludes: [] });
      continue;
    }
    if (/^(https?|git):\/\//.test(raw) || raw.startsWith('git@')) {
      throw new CopySourceError(`remote sources are not supported by ${req.kind.toUpperCase()} yet: ${raw}`, req.loc);
    }
    // --parents: a "/./" pivot marks where the kept structure starts
    const pivot = raw.indexOf('/./');
    const cleaned = cleanRel(raw);
    const pivotBase = pivot >= 0 ? cleanRel(raw.slice(0, pivot)) : '';
    const parentsRelOf = (rel: string): string => (pivot >= 0 ? relUnder(rel, pivotBase) ?? rel : rel);
    if (hasWildcard(cleaned)) {
      let re: RegExp;
      try {
        re = globToRegExp(cleaned);
      } catch {
        throw new BuildUsageError(`invalid source pattern: ${raw}`, req.loc);
      }
      const matches = req.parents ? includePatternMatch(cleaned) : segmentMatch(cleaned, re);
      const literalPrefix = cleaned.split('/').slice(0, cleaned.split('/').findIndex(hasWildcard)).join('/');
      const matchedDirs: string[] = [];
      for await (const e of batchesOf((req.walk ?? walkContextBatches)(req.root.dir, { excludes: req.root.excludes }))) {
        if (literalPrefix && e.path !== literalPrefix && !e.path.startsWith(literalPrefix + '/')) continue;
        // a match inside a matched directory is already copied with it
        if (matchedDirs.some((d) => e.path.startsWith(d + '/')) || !matches(e.path)) continue;
        // a matched link is followed (inside the root); its target's contents are walked
        const entry = e.type === 'symlink' ? await followInRoot(req.root, e.path, req.loc) : e;
        if (entry.type === 'dir') matchedDirs.push(e.path);
        out.push({ name: posix.basename(e.path), relPath: e.path, parentsRel: parentsRelOf(e.path), isDir: entry.type === 'dir', wildcard: true, entry, absRoot: req.root.dir, excludes: req.root.excludes });
      }
      // BuildKit: a wildcard that matches nothing copies nothing (a literal path must exist).
      continue;
    }
    const entry = await findEntry(req.root, cleaned, req.loc);
    out.push({
      name: posix.basename(cleaned),
      relPath: cleaned,
      parentsRel: parentsRelOf(cleaned),
      isDir: entry.type === 'dir',
      wildcard: false,
      entry,
      absRoot: req.root.dir,
      excludes: req.root.excludes,
    });
  }
  return out;
}

/** COPY's wildcards (Go's filepath.Match on the whole path: `*` and `**` stay in one segment). */
function segmentMatch(pattern: string, re: RegExp): (path: string) => boolean {
  const depth = pattern.split('/').length;
  return (path) => path.split('/').length === depth && re.test(path);
}

/**
 * COPY --parents' wildcards: BuildKit passes them to fsutil as include patterns, matched like
 * .dockerignore lines, where `**` spans zero or more directories (so it matches src/a.txt too).
 */
function includePatternMatch(pattern: string): (path: string) => boolean {
  const matcher = new PatternMatcher([pattern]);
  return (path) => matcher.explain(path).matchedPath === path;
}

/** Finds one literal source, following a top-level symlink inside the root; excluded = not found. */
async function findEntry(root: CopyRoot, rel: string, loc?: SourceLocation): Promise<ContextEntry> {
  if (rel === '') {
    const st = await lstat(root.dir);
    return { path: '', absPath: root.dir, type: 'dir', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino };
  }
  if (root.excludes.length > 0 && new PatternMatcher(root.excludes).matches(rel)) {
    // A directory may still have re-included children; the walker decides.
    let any: ContextEntry | undefined;
    for await (const e of walkContext(root.dir, { excludes: root.excludes, includes: [rel] })) {
      if (e.path === rel) return e.type === 'symlink' ? followInRoot(root, rel, loc) : e;
      if (e.path.startsWith(rel + '/')) any = e;
    }
    if (!any) {
      // The most common COPY surprise (moby#27144): say which pattern hid the file.
      const why = new PatternMatcher(root.excludes).explain(rel);
      throw new CopySourceError(
        `failed to compute cache key: "/${rel}": not found: excluded by .dockerignore pattern ${JSON.stringify(why.pattern ?? '?')}`,
        loc,
        { path: rel, pattern: why.pattern },
      );
    }
  }
  return followInRoot(root, rel, loc);
}

async function followInRoot(root: CopyRoot, rel: string, loc?: SourceLocation): Promise<ContextEntry> {
  let parts = rel.split('/').filter(Boolean);
  let cur: string[] = [];
  let hops = 0;
  while (parts.length > 0) {
    const p = parts.shift()!;
    if (p === '.') continue; // a link target may say ./name
    if (p === '..') {
      cur.pop();
      continue;
    }
    const abs = joinFs(root.dir, ...cur, p);
    let st;
    try {
      st = await lstat(abs);
    } catch {
      throw notFound(rel, loc);
    }
    if (st.isSymbolicLink()) {
      if (++hops > 40) throw new CopySourceError(`too many levels of symbolic links: ${rel}`, loc);
      const target = await readlink(abs);
      // Resolved inside the root like a chroot: an absolute or ../ link never leaves it.
      if (target.startsWith('/')) cur = [];
      parts = [...target.split('/').filter(Boolean), ...parts];
      continue;
    }
    cur.push(p);
  }
  const abs = joinFs(root.dir, ...cur);
  const st = await lstat(abs).catch(() => undefined);
  if (!st) throw notFound(rel, loc);
  return {
    path: cur.join('/'),
    absPath: abs,
    type: st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other',
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
  };
}

function notFound(rel: string, loc?: SourceLocation): CopySourceError {
  return new CopySourceError(`failed to compute cache key: "/${rel}": not found`, loc, { path: rel });
}

/**
 * Files of one copied tree sharing an inode stay hardlinked: the first name copied carries the
 * content, later names become hardlink entries to it (fsutil's copier; BuildKit's untar).
 */
class HardlinkTracker {
  readonly #firstName = new Map<number, string>();

  /** The layer entry for `e` copied to `destPath`: `src`, or a hardlink to an earlier name. */
  source(e: ContextEntry, destPath: string, src: TarSource): TarSource {
    if (e.type !== 'file' || (e.nlink ?? 1) < 2) return src;
    const first = this.#firstName.get(e.ino);
    if (first === undefined) {
      this.#firstName.set(e.ino, destPath.replace(/^\/+/, ''));
      return src;
    }
    return { header: { ...src.header, type: 'hardlink', size: 0, linkname: first } };
  }
}

/**
 * A layer's hardlink must come after the entry it names. In path order a link may sort before
 * its target (`hl` before `keep/orig`): then the first name in the layer carries the content
 * and every other name, the old target included, links to it.
 */
function firstNameCarriesContent(sorted: TarSource[], origins: Map<string, ContextEntry>): TarSource[] {
  const index = new Map(sorted.map((e, i) => [e.header.path, i]));
  const firstLink = new Map<string, number>();
  sorted.forEach((e, i) => {
    if (e.header.type !== 'hardlink' || e.header.linkname === undefined) return;
    const t = e.header.linkname;
    if ((index.get(t) ?? -1) > i && !firstLink.has(t)) firstLink.set(t, i);
  });
  if (firstLink.size === 0) return sorted;
  const out = [...sorted];
  for (const [target, first] of firstLink) {
    const carrier = out[index.get(target)!]!;
    const newName = out[first]!.header.path;
    out[first] = { ...carrier, header: { ...carrier.header, path: newName } };
    out[index.get(target)!] = { header: { ...carrier.header, type: 'hardlink', size: 0, linkname: newName } };
    const origin = origins.get(target);
    if (origin) origins.set(newName, origin);
    origins.delete(target);
    out.forEach((e, i) => {
      if (i !== first && e.header.type === 'hardlink' && e.header.linkname === target) out[i] = { header: { ...e.header, linkname: newName } };
    });
  }
  return out;
}

/** Files up to this size are read synchronously into the tar: cheaper than a stream's round trips. */
const SMALL_FILE = 64 * 1024;

function sourceOf(e: ContextEntry, req: CopyRequest): TarSource {
  const header = fromEntryHeader(e, '', req);
  // A stage or image keeps its extended attributes (user.*, security.capability) through COPY --from.
  if (!req.root.isContext && e.absPath.startsWith(req.root.dir + '/')) {
    const xattrs = layerXattrs(e.absPath);
    if (xattrs) header.xattrs = xattrs;
  }
  if (e.type === 'file') {
    const abs = e.absPath;
    return { header, body: () => (e.size < SMALL_FILE ? Readable.from([readFileSync(abs)]) : createReadStream(abs)) };
  }
  return { header };
}

function fromEntryHeader(e: ContextEntry, path: string, req: CopyRequest): TarHeader {
  const isDir = e.type === 'dir';
  const mode = req.chmod ? req.chmod(e.mode & 0o7777, isDir) : e.mode & 0o7777;
  const type = e.type === 'dir' ? 'dir' : e.type === 'symlink' ? 'symlink' : 'file';
  if (e.type === 'other') throw new CopySourceError(`cannot copy special file ${e.path}`, req.loc);
  return {
    path,
    type,
    mode: type === 'symlink' ? 0o777 : mode,
    // files of the context belong to root; a stage's or image's keep their owners (BuildKit)
    uid: req.owner?.uid ?? (req.root.isContext ? 0 : e.uid),
    gid: req.owner?.gid ?? (req.root.isContext ? 0 : e.gid),
    size: type === 'file' ? e.size : 0,
    mtime: Math.floor(e.mtimeMs / 1000),
    linkname: type === 'symlink' ? e.linkTarget : undefined,
  };
}

function dirHeader(path: string, owner: { uid: number; gid: number } | undefined, mtime: number): TarHeader {
  return { path, type: 'dir', mode: 0o755, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0, size: 0, mtime };
}

function fileHeader(path: string, mode: number, owner: { uid: number; gid: number } | undefined, size: number, mtime: number): TarHeader {
  return { path, type: 'file', mode, uid: owner?.uid ?? 0, gid: owner?.gid ?? 0, size, mtime };
}

/**
 * ADD of a local tar (plain or gzip): unpacked once into a scratch directory
 * (with image/'s extractor, which never writes outside it), then copied like a
 * directory — streamed, nothing held in memory — keeping the archive's owners
 * unless --chown says otherwise.
 */
async function addArchive(
  abs: string,
  dest: string,
  req: CopyRequest,
  put: (destPath: string, src: TarSource, origin?: ContextEntry) => void,
): Promise<void> {
  if (!req.scratchDir) throw new CopySourceError('ADD of an archive needs a scratch directory', req.loc);
  await mkdir(req.scratchDir, { recursive: true });
  const dir = await mkdtemp(joinFs(req.scratchDir, 'archive-'));
  // BuildKit untars onto the destination: a hardlink may name a file the image already has, and
  // fifos are made. The scratch extraction can do neither, so those entries are laid in here.
  const special = await archiveSpecialEntries(abs);
  await applyLayer(await openArchive(abs), dir, { sameOwner: true, include: (p) => !special.outsideLinks.has(p) });
  const links = new HardlinkTracker();
  const owned = (h: TarHeader): TarHeader => ({ ...h, uid: req.owner?.uid ?? h.uid, gid: req.owner?.gid ?? h.gid });
  for await (const e of walkContext(dir, {})) {
    const src = sourceOf(e, req);
    const d = posix.join(dest, e.path);
    // the archive's xattrs (security.capability...), which the scratch extraction applied
    const xattrs = layerXattrs(e.absPath);
    const header = owned({ ...src.header, uid: e.uid, gid: e.gid, ...(xattrs ? { xattrs } : {}) });
    put(d, links.source(e, d, { ...src, header }), e);
  }
  for (const h of special.fifos) put(posix.join(dest, h.path), { header: owned({ ...h, path: '', size: 0 }) });
  for (const w of special.whiteouts) {
    const entry = whiteoutOverLower(posix.join(dest, w.dir), w.name, req.lower);
    if (entry !== undefined && !special.written.has(posix.join(w.dir, w.name))) put('/' + entry, { header: { path: '', type: 'file', mode: 0, uid: 0, gid: 0, size: 0, mtime: req.createdTime }, body: Buffer.alloc(0) });
  }
  for (const [path, h] of special.outsideLinks) {
    const target = posix.join(dest, h.linkname ?? '').replace(/^\/+/, '');
    const node = req.lower?.lget('/' + target);
    const content = node?.type === 'file' ? await req.readLower?.('/' + target) : undefined;
    if (!node || content === undefined) {
      throw new CopySourceError(`ADD ${posix.basename(abs)}: hardlink ${path} to ${JSON.stringify(h.linkname)}, which neither the archive nor the image has`, req.loc);
    }
    // the layer carries the linked file too (as a diff of the untar would), then the link to it
    put('/' + target, { header: { path: '', type: 'file', mode: node.mode, uid: node.uid, gid: node.gid, size: content.length, mtime: req.createdTime }, body: content });
    put(posix.join(dest, path), { header: owned({ ...h, path: '', size: 0, linkname: target }) });
  }
}

/**
 * The layer entry (`dir/.wh.name`, relative to the root) that deletes `name` from the image
 * below, or undefined when the image has nothing there. BuildKit untars onto the destination,
 * so an archive's `.wh.name` removes that file, and the layer records the removal as a
 * whiteout. The directory is resolved inside the root by the view (its symlinks followed
 * within it, as BuildKit's chrooted untar would); `name` is one plain entry name (parseWhiteout).
 */
function whiteoutOverLower(dir: string, name: string, lower: FsView | undefined): string | undefined {
  const parent = lower?.resolvePath(dir, true);
  if (parent === undefined) return undefined;
  const hidden = parent ? `${parent}/${name}` : name;
  if (!lower?.lget('/' + hidden)) return undefined;
  return parent ? `${parent}/${WH_PREFIX}${name}` : `${WH_PREFIX}${name}`;
}

interface ArchiveSpecials {
  fifos: TarHeader[];
  outsideLinks: Map<string, TarHeader>;
  /** `.wh.NAME` entries: `dir` (clean, relative to the archive root) and the checked NAME. */
  whiteouts: Array<{ dir: string; name: string }>;
  /** Every other entry's clean path. */
  written: Set<string>;
}

/**
 * One pass over an archive's headers for what the scratch extraction cannot apply: fifos,
 * hardlinks (by entry path) to paths no earlier entry of the archive wrote, and whiteouts. Paths
 * are checked and cleaned by image/safe-path and whiteout names by image/whiteout, as the
 * extraction checks them (`..`, NUL, over-long names, `.wh..` refused).
 */
async function archiveSpecialEntries(abs: string): Promise<ArchiveSpecials> {
  const fifos: TarHeader[] = [];
  const outsideLinks = new Map<string, TarHeader>();
  const whiteouts: ArchiveSpecials['whiteouts'] = [];
  const seen = new Set<string>();
  for await (const { header, body } of readTar(await openArchive(abs))) {
    body.resume();
    const parts = entryParts(header.path);
    const path = parts.join('/');
    const base = parts[parts.length - 1];
    const whiteout = base === undefined ? undefined : parseWhiteout(base, header.path);
    if (whiteout) {
      // opaque markers and AUFS metadata stay dropped, as before
      if (whiteout.kind === 'whiteout') whiteouts.push({ dir: parts.slice(0, -1).join('/'), name: whiteout.name });
      continue;
    }
    if (header.type === 'fifo') fifos.push({ ...header, path });
    else if (header.type === 'hardlink') {
      const target = linkTargetParts(header.linkname, header.path).join('/');
      if (!seen.has(target)) outsideLinks.set(path, { ...header, path, linkname: target });
    }
    seen.add(path);
  }
  return { fifos, outsideLinks, whiteouts, written: seen };
}

async function* batchesOf<T>(batches: AsyncIterable<T[]>): AsyncGenerator<T> {
  for await (const batch of batches) yield* batch;
}

function cleanRel(p: string): string {
  const n = posix.normalize('/' + p).slice(1);
  return n.endsWith('/') ? n.slice(0, -1) : n === '.' ? '' : n;
}

function relUnder(p: string, dir: string): string | undefined {
  if (dir === '') return p;
  if (p === dir) return '';
  return p.startsWith(dir + '/') ? p.slice(dir.length + 1) : undefined;
}

/** Byte order of paths, so output is the same on every machine. */
export function cmpPath(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}
