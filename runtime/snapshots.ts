/**
 * Read-only layer snapshots, shared by every step and every build on the same state dir.
 *
 * - LayerSnapshots (overlay): one directory per layer in overlay format, keyed by diffID, plus a
 *   short symlink `l/<12 hex>` so a lowerdir list of ~300 layers fits in one page of options.
 * - FlatSnapshots (copy): one plain directory per layer chain (keyed by chainID), each made by
 *   copying its parent chain and applying one more layer.
 *
 *   A new version of a layer may instead be a delta on its previous version's snapshot
 *   (`deltas/<hex>/fs` + `base`, see delta.ts): the layer's snapshot is then a stack of dirs.
 * Both are built in `tmp/` and renamed into place, so a half-written snapshot is never seen and
 * two builds racing to unpack the same layer both succeed (the loser discards its copy).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { digestHex, sha256, type Digest } from '../image/digest.js';
import { applyLayer } from '../image/extract.js';
import type { Layer } from '../image/image.js';
import type { TarHeader } from '../image/tar/header.js';
import { readTar } from '../image/tar/reader.js';
import type { TarSource } from '../image/tar/writer.js';
import { normalizeUpper } from './adopt.js';
import { isOpaque } from './diff.js';
import { entryParts, resolveInRoot } from '../image/safe-path.js';
import { execOk } from './exec.js';
import { RuntimeSetupError } from './errors.js';
import { applyNodeMeta, makeNodes, unpackOverlayLayer, type PendingNode } from './unpack.js';
import { planDelta, type DeltaHint, type DeltaPlan } from './delta.js';

async function renameInto(tmp: string, final: string): Promise<void> {
  try {
    await fsp.rename(tmp, final);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    await fsp.rm(tmp, { recursive: true, force: true }); // another build made it first
  }
}

export interface LayerSnapshot {
  /** Absolute path of the overlay-format directory. */
  dir: string;
  /** Name of its short symlink inside the `l/` dir. */
  short: string;
  /** The layer had `.wh..wh..opq` at its root: it hides every layer below it. */
  opaqueRoot: boolean;
}

/**
 * The part of a layer stack (bottom first) that a mount may show. overlayfs ignores the opaque
 * xattr on a lowerdir's root, so a layer with a root `.wh..wh..opq` would still show what the
 * layers below it hold: the layers below the topmost such layer are left out of the mount.
 */
export function visibleStack(snaps: readonly LayerSnapshot[]): LayerSnapshot[] {
  let from = 0;
  snaps.forEach((s, i) => {
    if (s.opaqueRoot) from = i;
  });
  return snaps.slice(from);
}

/**
 * Deltas a snapshot may stack on its base before a layer is unpacked whole again: each one is a
 * lowerdir more for every step on it (and a lookup more for each path overlay resolves).
 */
export const MAX_DELTAS = 8;

export class LayerSnapshots {
  readonly #pending = new Map<string, Promise<LayerSnapshot[]>>();
  constructor(
    readonly root: string,
    /** Prefix of temp dirs (the build id), so stale ones can be told apart. */
    readonly tmpPrefix: string,
  ) {}

  get linkDir(): string {
    return join(this.root, 'l');
  }

  /** The layer's snapshot: one overlay dir, or a base's dirs plus deltas (bottom first; see delta.ts). */
  ensure(layer: Layer): Promise<LayerSnapshot[]> {
    return layer.diffID().then((d) => {
      const hex = digestHex(d);
      let p = this.#pending.get(hex);
      if (!p) {
        p = this.#make(hex, layer);
        this.#pending.set(hex, p);
        p.catch(() => this.#pending.delete(hex));
      }
      return p;
    });
  }

  #tmpDir(): string {
    return join(this.root, 'tmp', `${this.tmpPrefix}-${randomBytes(6).toString('hex')}`);
  }

  /**
   * Builds the snapshot of a layer while the layer itself is being written
   * (the builder tees its tar here), so the next RUN does not gunzip and
   * unpack it again. The diffID is known only once the tar has ended.
   * With `hint` (the layer is a new version of one whose snapshot is here), only the entries
   * that changed are written, as a delta on the old snapshot; where a delta cannot show the
   * same tree (delta.ts), the whole layer is unpacked as before.
   */
  seed(tar: Readable, diffID: Promise<Digest>, hint?: DeltaHint): Promise<{ delta?: number; unfit?: string }> {
    const p = (async (): Promise<{ snaps: LayerSnapshot[]; delta?: number; unfit?: string }> => {
      const delta = hint ? await this.#deltaPlan(hint).catch((e: Error): DeltaPlan => ({ unfit: e.message })) : undefined;
      const tmp = this.#tmpDir();
      const keep = delta && 'keep' in delta ? delta.keep : undefined;
      await fsp.mkdir(keep ? join(tmp, 'fs') : tmp, { recursive: true });
      try {
        const stats = await unpackOverlayLayer(tar, keep ? join(tmp, 'fs') : tmp, keep ? { keep: (rel) => keep.has(rel) } : {});
        // the delta was planned from the hint's headers: a tar with other entries is not that layer
        if (keep && stats.entries !== hint?.headers.length) throw new RuntimeSetupError(`the layer has ${stats.entries} entries, its delta plan ${hint?.headers.length}`, { entries: stats.entries });
        const hex = digestHex(await diffID);
        if (keep && hint) await fsp.writeFile(join(tmp, 'base'), digestHex(hint.base));
        const kind = keep ? 'deltas' : 'snapshots';
        await fsp.mkdir(join(this.root, kind), { recursive: true });
        if (this.#has(hex)) await fsp.rm(tmp, { recursive: true, force: true });
        else await renameInto(tmp, join(this.root, kind, hex));
        const snaps = await this.#stackOf(hex);
        if (!snaps) throw new RuntimeSetupError(`snapshot ${hex} is not in place`, { diffID: hex });
        if (!this.#pending.has(hex)) this.#pending.set(hex, Promise.resolve(snaps));
        return { snaps, ...(keep ? { delta: keep.size } : {}), ...(delta && 'unfit' in delta ? { unfit: delta.unfit } : {}) };
      } catch (e) {
        await fsp.rm(tmp, { recursive: true, force: true });
        throw e;
      }
    })();
    return p.then(({ delta, unfit }) => ({ ...(delta !== undefined ? { delta } : {}), ...(unfit !== undefined ? { unfit } : {}) }));
  }

  /** Which entries go into a delta on the hint's base, or why none can be made. */
  async #deltaPlan(hint: DeltaHint): Promise<DeltaPlan> {
    const base = await this.#stackOf(digestHex(hint.base));
    if (!base) return { unfit: 'no snapshot of the previous layer' };
    if (base.length > MAX_DELTAS) return { unfit: `the previous layer is already ${base.length - 1} deltas deep` };
    return planDelta(base.map((s) => s.dir).reverse(), hint);
  }

  #has(hex: string): boolean {
    return existsSync(join(this.root, 'snapshots', hex)) || existsSync(join(this.root, 'deltas', hex));
  }

  /**
   * Takes a finished step's upper dir as the snapshot of the layer committed from it (see
   * adopt.ts). The directory is moved, not copied; an existing snapshot wins and `upper` is left
   * for the step's teardown.
   */
  async adopt(upper: string, entries: readonly TarSource[], diffID: Digest): Promise<void> {
    const hex = digestHex(diffID);
    const dir = join(this.root, 'snapshots', hex);
    if (this.#pending.has(hex) || this.#has(hex)) return;
    normalizeUpper(upper, entries);
    await fsp.mkdir(join(this.root, 'snapshots'), { recursive: true });
    await renameInto(upper, dir);
    if (!existsSync(dir)) return;
    const snaps = await this.#stackOf(hex);
    if (snaps && !this.#pending.has(hex)) this.#pending.set(hex, Promise.resolve(snaps));
  }

  async #make(hex: string, layer: Layer): Promise<LayerSnapshot[]> {
    const found = await this.#stackOf(hex);
    if (found) return found;
    const dir = join(this.root, 'snapshots', hex);
    const tmp = this.#tmpDir();
    await fsp.mkdir(tmp, { recursive: true });
    try {
      await unpackOverlayLayer(await layer.uncompressed(), tmp);
      await fsp.mkdir(join(this.root, 'snapshots'), { recursive: true });
      await renameInto(tmp, dir);
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return [await this.#snapshot(dir, hex, `../snapshots/${hex}`, '')];
  }

  /**
   * The snapshot of `hex` as it is on disk: `snapshots/<hex>` (a whole layer), else
   * `deltas/<hex>/fs` on the stack of the layer named in `deltas/<hex>/base`; undefined when
   * neither is there whole (a delta whose base is gone counts as absent).
   */
  async #stackOf(hex: string, depth = 0): Promise<LayerSnapshot[] | undefined> {
    const full = join(this.root, 'snapshots', hex);
    if (existsSync(full)) return [await this.#snapshot(full, hex, `../snapshots/${hex}`, '')];
    if (depth > MAX_DELTAS) return undefined;
    const delta = join(this.root, 'deltas', hex);
    const base = await fsp.readFile(join(delta, 'base'), 'utf8').catch(() => undefined);
    if (base === undefined || !/^[0-9a-f]{64}$/.test(base)) return undefined;
    const below = await this.#stackOf(base, depth + 1);
    if (!below) return undefined;
    return [...below, await this.#snapshot(join(delta, 'fs'), hex, `../deltas/${hex}/fs`, 'x')];
  }

  async #snapshot(dir: string, hex: string, target: string, prefix: string): Promise<LayerSnapshot> {
    return { dir, short: await this.#shortLink(hex, target, prefix), opaqueRoot: isOpaque(dir) };
  }

  /** `l/<prefix><12+ hex>` → target (a delta's prefix `x` is no hex digit: no clash with its layer's own). */
  async #shortLink(hex: string, target: string, prefix: string): Promise<string> {
    await fsp.mkdir(this.linkDir, { recursive: true });
    for (let len = 12; len <= 64; len += 4) {
      const name = prefix + hex.slice(0, len);
      const path = join(this.linkDir, name);
      const existing = await fsp.readlink(path).catch(() => undefined);
      if (existing === target) return name;
      if (existing !== undefined) continue; // prefix collision: use a longer name
      const tmp = join(this.linkDir, `.${name}-${randomBytes(4).toString('hex')}`);
      await fsp.symlink(target, tmp);
      await fsp.rename(tmp, path);
      if ((await fsp.readlink(path)) === target) return name;
    }
    return prefix + hex; // unreachable in practice: a 64-hex name cannot collide
  }
}

/** chainID per the OCI image spec: H(chainID(n-1) + " " + diffID(n)). */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIDs) out.push(out.length === 0 ? d : sha256(`${out[out.length - 1]} ${d}`));
  return out;
}

export class FlatSnapshots {
  readonly #pending = new Map<string, Promise<string>>();
  constructor(
    readonly root: string,
    readonly tmpPrefix: string,
    readonly onSkipped?: (path: string, reason: string) => void,
  ) {}

  /** A plain directory with these layers applied in order; an empty dir for no layers. */
  async ensure(layers: readonly Layer[]): Promise<string> {
    const chain = chainIDs(await Promise.all(layers.map((l) => l.diffID())));
    if (chain.length === 0) {
      const empty = join(this.root, 'flat', 'empty');
      await fsp.mkdir(empty, { recursive: true });
      return empty;
    }
    return this.#ensureAt(layers, chain, chain.length - 1);
  }

  #ensureAt(layers: readonly Layer[], chain: Digest[], i: number): Promise<string> {
    const hex = digestHex(chain[i]!);
    let p = this.#pending.get(hex);
    if (!p) {
      p = this.#make(layers, chain, i, hex);
      this.#pending.set(hex, p);
      p.catch(() => this.#pending.delete(hex));
    }
    return p;
  }

  async #make(layers: readonly Layer[], chain: Digest[], i: number, hex: string): Promise<string> {
    const dir = join(this.root, 'flat', hex);
    if (existsSync(dir)) return dir;
    const parent = i > 0 ? await this.#ensureAt(layers, chain, i - 1) : undefined;
    const tmp = join(this.root, 'tmp', `${this.tmpPrefix}-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(join(this.root, 'tmp'), { recursive: true });
    try {
      if (parent) await copyTree(parent, tmp);
      else await fsp.mkdir(tmp, { mode: 0o755 });
      await applyLayerWithDevices(await layers[i]!.uncompressed(), tmp, this.onSkipped);
      await fsp.mkdir(join(this.root, 'flat'), { recursive: true });
      await renameInto(tmp, dir);
    } catch (e) {
      await fsp.rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return dir;
  }
}

/**
 * applyLayer, plus the device nodes and fifos it cannot make from Node: a second reader on the
 * same bytes collects their headers, and mknod(1) creates them afterwards — only where the
 * path resolves inside the root without passing through a symlink. Also what `--output
 * type=local` uses, so its tree has the fifos BuildKit's local export has.
 */
export async function applyLayerWithDevices(
  tar: Readable,
  root: string,
  onSkipped?: (path: string, reason: string) => void,
): Promise<void> {
  const forApply = new PassThrough();
  const forScan = new PassThrough();
  tar.on('error', (e) => {
    forApply.destroy(e);
    forScan.destroy(e);
  });
  tar.pipe(forApply);
  tar.pipe(forScan);
  const devices: TarHeader[] = [];
  const scan = (async () => {
    for await (const { header, body } of readTar(forScan)) {
      body.resume();
      if (header.type === 'char' || header.type === 'block' || header.type === 'fifo') devices.push(header);
    }
  })();
  const skipped = new Set<string>();
  await Promise.all([
    applyLayer(forApply, root, {
      onSkipped: (path, reason) => {
        skipped.add(path);
        onSkipped?.(path, reason);
      },
    }),
    scan,
  ]);
  const nodes: PendingNode[] = [];
  for (const h of devices) {
    const path = entryParts(h.path).join('/');
    if (!skipped.has(path)) continue;
    const r = resolveInRoot(root, path, { followFinal: false });
    const parent = resolveInRoot(root, dirname('/' + path));
    if (r.path !== '/' + path || r.exists || !parent.exists || parent.path !== dirname('/' + path)) continue;
    nodes.push({
      host: r.host,
      kind: h.type === 'char' ? 'c' : h.type === 'block' ? 'b' : 'p',
      major: h.devmajor ?? 0,
      minor: h.devminor ?? 0,
      header: h,
    });
  }
  await makeNodes(nodes);
  for (const n of nodes) applyNodeMeta(n.host, n.header!);
}

/** `cp -a` (reflinks where the file system has them): owners, modes, times, xattrs, hardlinks. */
export async function copyTree(src: string, dst: string): Promise<void> {
  await execOk('cp', ['-a', '--reflink=auto', '--', src, dst]);
}
