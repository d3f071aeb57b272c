/**
 * Delta snapshots (delta.ts): a RUN on a layer whose snapshot was made as a delta on its previous
 * version's snapshot sees exactly what it sees on a whole unpack of the layer, and makes the same
 * layer — over a table of edits, with a layer below whose files the delta must not hide. Edits a
 * delta cannot show (removed entries, type changes, hardlinks) fall back to a whole unpack.
 * Real runc, real overlayfs: needs root (failing under CI=true without it).
 */
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sha256, type Digest } from '../image/digest.js';
import type { Layer } from '../image/image.js';
import type { TarHeader } from '../image/tar/header.js';
import { createTarStream, type TarSource } from '../image/tar/writer.js';
import type { DeltaHint } from './delta.js';
import { Runtime, type RunRequest } from './index.js';
import { busyboxLayout, layoutLayers, requireRuntime, tarFileLayer } from './testing.js';

type Entry = { header: TarHeader; body?: Buffer };

const T0 = 1_700_000_000;
const dir = (path: string, extra: Partial<TarHeader> = {}): Entry => ({ header: { path, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: T0, ...extra } });
const file = (path: string, text: string, extra: Partial<TarHeader> = {}): Entry => ({
  header: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: Buffer.byteLength(text), mtime: T0, ...extra },
  body: Buffer.from(text),
});
const link = (path: string, target: string, extra: Partial<TarHeader> = {}): Entry => ({
  header: { path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: T0, linkname: target, ...extra },
});

/** The previous version of the COPY layer. */
const OLD: Entry[] = [
  dir('data/'),
  dir('data/files/'),
  file('data/files/a.txt', 'aa'),
  file('data/files/b.txt', 'bbb'),
  dir('data/files/sub/'),
  file('data/files/sub/c.txt', 'c'),
  link('data/files/link', 'a.txt'),
];

/** The layer below both versions: what it has under the same dirs must stay visible. */
const BELOW: Entry[] = [dir('data/'), dir('data/files/'), file('data/files/below.txt', 'below'), dir('data/files/sub/'), file('data/files/sub/below.txt', 'sub below')];

const edit = (f: (entries: Entry[]) => Entry[]) => f(OLD.map((e) => ({ header: { ...e.header }, ...(e.body ? { body: e.body } : {}) })));
const at = (entries: Entry[], path: string): Entry => entries.find((e) => e.header.path === path)!;

const CASES: Array<{ name: string; next: Entry[]; delta: boolean }> = [
  { name: 'content change, same size and mtime', next: edit((es) => es.map((e) => (e.header.path === 'data/files/a.txt' ? file('data/files/a.txt', 'ab') : e))), delta: true },
  { name: 'mode change', next: edit((es) => (at(es, 'data/files/b.txt').header.mode = 0o755, es)), delta: true },
  { name: 'mtime-only change', next: edit((es) => (at(es, 'data/files/sub/c.txt').header.mtime = T0 + 5, es)), delta: true },
  { name: 'owner change of a directory', next: edit((es) => (Object.assign(at(es, 'data/files/sub/').header, { uid: 1000, gid: 1000 }), es)), delta: true },
  { name: 'new file in a new dir', next: edit((es) => [...es, dir('data/files/new/', { mode: 0o700, uid: 1000 }), file('data/files/new/d.txt', 'dd', { uid: 1000 })]), delta: true },
  { name: 'changed symlink', next: edit((es) => es.map((e) => (e.header.path === 'data/files/link' ? link('data/files/link', 'b.txt') : e))), delta: true },
  { name: 'a removed file (falls back)', next: edit((es) => es.filter((e) => e.header.path !== 'data/files/b.txt')), delta: false },
  { name: 'file becomes a directory (falls back)', next: edit((es) => [...es.filter((e) => e.header.path !== 'data/files/a.txt'), dir('data/files/a.txt/'), file('data/files/a.txt/x', 'x')]), delta: false },
  { name: 'a hardlink (falls back)', next: edit((es) => [...es, { header: { path: 'data/files/hl', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: T0, linkname: 'data/files/b.txt' } }]), delta: false },
];

/** The builder's side of the hint: same header but mtime, same content. */
function hintFor(base: Digest, old: Entry[], next: Entry[]): DeltaHint {
  const key = (e: Entry) => JSON.stringify({ ...e.header, path: undefined, mtime: undefined, body: e.body?.toString('base64') });
  const was = new Map(old.map((e) => [e.header.path.replace(/\/$/, ''), key(e)]));
  return { base, headers: next.map((e) => e.header), sameAsBase: (rel) => was.get(rel) === key(next.find((e) => e.header.path.replace(/\/$/, '') === rel)!) };
}

let work: string;
let base: Layer[];
let counter = 0;

async function tarFile(entries: Entry[]): Promise<{ path: string; diffID: Digest }> {
  const path = join(work, `layer-${++counter}.tar`);
  await pipeline(createTarStream(entries as TarSource[]), createWriteStream(path));
  return { path, diffID: sha256(readFileSync(path)) };
}

/** Listing and content hashes of /data, as the container sees them, and the layer a RUN on it makes. */
const LIST =
  'cd /data && busybox find . -exec busybox stat -c "%n|%f|%u:%g|%s|%Y|%N" {} + | busybox sort && busybox find . -type f -exec busybox sha256sum {} + | busybox sort' +
  ' && echo changed > files/sub/c.txt && rm -f files/below.txt && mkdir -p files/run';

async function observe(rt: Runtime, lowers: Layer[]): Promise<{ lines: string[]; diff: string[] }> {
  const req: RunRequest = { lowers, args: ['/bin/sh', '-c', LIST], env: [], cwd: '/', network: 'none', mounts: [] };
  const r = await rt.runStep(req, async (diff) => {
    const out: string[] = [];
    for await (const e of diff) out.push(`${e.header.path}|${e.header.type}|${e.header.mode.toString(8)}|${e.header.size}`);
    return out;
  });
  assert.equal(r.exitCode, 0, r.lastLines.join('\n'));
  return { lines: readFileSync(r.logFile, 'utf8').split('\n').filter((l) => l !== ''), diff: r.committed!.sort() };
}

describe('runtime: delta snapshots show the same tree as a whole unpack', function () {
  this.timeout(120_000);
  before(function () {
    requireRuntime(this);
    work = mkdtempSync(join(tmpdir(), 'tsb-delta-'));
    base = layoutLayers(busyboxLayout());
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.delta ? 'a delta' : 'a whole unpack'}, same listing, contents and RUN layer`, async () => {
      const below = await tarFile(BELOW);
      const old = await tarFile(OLD);
      const next = await tarFile(c.next);
      const deltaRt = await Runtime.create({ root: join(work, `delta-${counter}`), snapshotter: 'overlay' });
      const fullRt = await Runtime.create({ root: join(work, `full-${counter}`), snapshotter: 'overlay' });
      try {
        await deltaRt.seedLayer(createReadStream(old.path), Promise.resolve(old.diffID));
        const seeded = await deltaRt.seedLayer(createReadStream(next.path), Promise.resolve(next.diffID), hintFor(old.diffID, OLD, c.next));
        assert.equal(seeded.delta !== undefined, c.delta, JSON.stringify(seeded));
        if (c.delta) assert.ok(seeded.delta! < c.next.length, `${seeded.delta} of ${c.next.length} entries written`);
        const lowers = [...base, tarFileLayer(below.path), tarFileLayer(next.path)];
        const viaDelta = await observe(deltaRt, lowers);
        const whole = await observe(fullRt, lowers);
        assert.deepEqual(viaDelta.lines, whole.lines);
        assert.deepEqual(viaDelta.diff, whole.diff);
        assert.ok(whole.lines.some((l) => l.startsWith('./files/sub/below.txt|')), 'the layer below shows through');
      } finally {
        await deltaRt.close();
        await fullRt.close();
      }
    });
  }

  it('a tar that is not the one the delta was planned from is refused, and leaves nothing behind', async () => {
    const old = await tarFile(OLD);
    const next = await tarFile(CASES[0]!.next);
    const root = join(work, 'mismatch');
    const rt = await Runtime.create({ root, snapshotter: 'overlay' });
    try {
      await rt.seedLayer(createReadStream(old.path), Promise.resolve(old.diffID));
      const hint = hintFor(old.diffID, OLD, [...CASES[0]!.next, file('data/files/extra', 'x')]);
      await assert.rejects(rt.seedLayer(createReadStream(next.path), Promise.resolve(next.diffID), hint), { code: 'TSB_RUNTIME_SETUP' });
      assert.equal(existsSync(join(root, 'deltas')) ? readdirSync(join(root, 'deltas')).length : 0, 0);
      assert.deepEqual(readdirSync(join(root, 'tmp')), []);
    } finally {
      await rt.close();
    }
  });

  it('a delta on a delta on a delta (a chain of edits), and gc keeps the bases a kept delta stacks on', async () => {
    const versions = [OLD, CASES[0]!.next, CASES[1]!.next.map((e) => (e.header.path === 'data/files/a.txt' ? file('data/files/a.txt', 'ab') : e)), CASES[4]!.next];
    const root = join(work, 'chain');
    const rt = await Runtime.create({ root, snapshotter: 'overlay' });
    const fullRt = await Runtime.create({ root: join(work, 'chain-full'), snapshotter: 'overlay' });
    const tars: Array<{ path: string; diffID: Digest }> = [];
    try {
      for (const [i, v] of versions.entries()) {
        const t = await tarFile(v);
        const hint = i > 0 ? hintFor(tars[i - 1]!.diffID, versions[i - 1]!, v) : undefined;
        const r = await rt.seedLayer(createReadStream(t.path), Promise.resolve(t.diffID), hint);
        assert.equal(r.delta !== undefined, i > 0, JSON.stringify(r));
        tars.push(t);
      }
      const lowers = [...base, tarFileLayer(tars[tars.length - 1]!.path)];
      assert.deepEqual((await observe(rt, lowers)).lines, (await observe(fullRt, lowers)).lines);
    } finally {
      await rt.close();
      await fullRt.close();
    }
    const { pruneSnapshots } = await import('./snapshot-gc.js');
    await pruneSnapshots(root, [tars[tars.length - 1]!.diffID]);
    const hex = (d: Digest) => d.slice(7);
    assert.deepEqual(readdirSync(join(root, 'snapshots')), [hex(tars[0]!.diffID)]);
    assert.deepEqual(readdirSync(join(root, 'deltas')).sort(), tars.slice(1).map((t) => hex(t.diffID)).sort());
    await pruneSnapshots(root, []);
    assert.ok(!existsSync(join(root, 'deltas', hex(tars[1]!.diffID))));
    assert.deepEqual(readdirSync(join(root, 'l')), [], 'short links of removed snapshots go too');
  });
});
