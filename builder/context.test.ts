import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { IgnorePatternError } from '../parser/dockerignore.js';
import { compareNames, ContextError, readDockerignore, walkContext, type ContextEntry, type WalkOptions } from './context.js';

/** Tree spec: "dir/" = directory, "file" = content, { link } = symlink. */
type Tree = Record<string, string | null | { link: string }>;

const temps: string[] = [];
after(() => {
  for (const t of temps) {
    chmodAll(t);
    rmSync(t, { recursive: true, force: true });
  }
});

function chmodAll(root: string): void {
  // undo chmod 000 of the non-root tests so cleanup works
  try {
    chmodSync(root, 0o755);
  } catch {
    /* ignore */
  }
}

function makeTree(tree: Tree): string {
  const root = mkdtempSync(join(tmpdir(), 'tsb-ctx-'));
  temps.push(root);
  for (const [p, v] of Object.entries(tree)) {
    const abs = join(root, p);
    if (p.endsWith('/')) {
      mkdirSync(abs, { recursive: true });
      continue;
    }
    mkdirSync(dirname(abs), { recursive: true });
    if (v !== null && typeof v === 'object') symlinkSync(v.link, abs);
    else writeFileSync(abs, v ?? '');
  }
  return root;
}

async function collect(root: string, opts: WalkOptions): Promise<ContextEntry[]> {
  const out: ContextEntry[] = [];
  for await (const e of walkContext(root, opts)) out.push(e);
  return out;
}

const paths = (es: ContextEntry[]): string[] => es.map((e) => e.path);

/** A hook making the given relative directories unreadable, and recording what was opened. */
function unreadable(root: string, rels: string[]): { opened: string[]; hook: (abs: string) => void } {
  const opened: string[] = [];
  return {
    opened,
    hook: (abs) => {
      const rel = abs === root ? '' : abs.slice(root.length + 1);
      opened.push(rel);
      if (rels.includes(rel)) throw Object.assign(new Error(`EACCES: permission denied, scandir '${abs}'`), { code: 'EACCES' });
    },
  };
}

describe('builder/context: walker table (§5)', () => {
  interface Row {
    name: string;
    excludes: string[];
    tree: Tree;
    unreadable?: string[];
    yields: string[];
    error?: RegExp;
    notOpened?: string[];
  }
  const rows: Row[] = [
    {
      name: 'excluded dir entered for a literal exception; its entry emitted lazily',
      excludes: ['foo*', '!foo/bar2'],
      tree: { bar: 'b', 'foo/': null, foo2: 'f', 'foo/bar2': 'x' },
      yields: ['bar', 'foo', 'foo/bar2'],
    },
    {
      name: 'excluded dirs are not opened, so their permission errors do not matter',
      excludes: ['**/bar'],
      tree: { 'foo/bar/': null },
      unreadable: ['foo/bar'],
      yields: ['foo'],
      notOpened: ['foo/bar'],
    },
    {
      name: 'an exception inside an unreadable excluded dir: still no error',
      excludes: ['**/bar', '!foo/bar/baz'],
      tree: { 'foo/bar/': null },
      unreadable: ['foo/bar'],
      yields: ['foo'],
    },
    {
      name: 'a re-included dir must be read: permission error',
      excludes: ['**/bar', '!foo/bar'],
      tree: { 'foo/bar/': null },
      unreadable: ['foo/bar'],
      yields: ['foo', 'foo/bar'],
      error: /permission denied/,
    },
    {
      name: 'alternating re-include / exclude depths',
      excludes: ['foo', '!foo/bar', 'foo/bar/baz', '!foo/bar/baz/x'],
      tree: { 'foo/bar/baz/x': 'x', 'foo/bar/baz/y': 'y' },
      yields: ['foo', 'foo/bar', 'foo/bar/baz', 'foo/bar/baz/x'],
    },
  ];

  for (const r of rows) {
    it(`${r.name}: ${JSON.stringify(r.excludes)}`, async () => {
      const root = makeTree(r.tree);
      const u = unreadable(root, r.unreadable ?? []);
      const got: string[] = [];
      let error: unknown;
      try {
        for await (const e of walkContext(root, { excludes: r.excludes, beforeReadDir: u.hook })) got.push(e.path);
      } catch (e) {
        error = e;
      }
      assert.deepEqual(got, r.yields);
      if (r.error) {
        assert.ok(error instanceof ContextError, `expected a ContextError, got ${String(error)}`);
        assert.match(error.message, r.error);
        assert.equal(error.code, 'TSB_BUILD_CONTEXT');
        assert.equal(error.data['errno'], 'EACCES');
      } else {
        assert.equal(error, undefined);
      }
      for (const p of r.notOpened ?? []) assert.ok(!u.opened.includes(p), `${p} was opened`);
    });
  }

  // The same unreadable-directory rows with a real chmod 000. As root, chmod does not stop
  // reads, so these only run as an ordinary user; the hook-based rows above cover root.
  const isRoot = process.getuid?.() === 0;
  for (const r of rows.filter((x) => x.unreadable)) {
    it(`(real chmod 000; skipped when running as root, where chmod 000 does not stop reads) ${r.name}`, async function () {
      if (isRoot) this.skip();
      const root = makeTree(r.tree);
      for (const d of r.unreadable!) chmodSync(join(root, d), 0);
      const got: string[] = [];
      let error: unknown;
      try {
        for await (const e of walkContext(root, { excludes: r.excludes })) got.push(e.path);
      } catch (e) {
        error = e;
      } finally {
        for (const d of r.unreadable!) chmodSync(join(root, d), 0o755);
      }
      assert.deepEqual(got, r.yields);
      assert.equal(error !== undefined, r.error !== undefined, String(error));
    });
  }
});

describe('builder/context: filtering and pruning', () => {
  it('with only literal exceptions, excluded dirs that cannot contain them are not opened', async () => {
    const root = makeTree({ 'node_modules/a/b': 'x', 'keep/dir/f': 'y', 'src/main.ts': 'z' });
    const u = unreadable(root, []);
    const got = await collect(root, { excludes: ['node_modules', 'keep', '!keep/dir'], beforeReadDir: u.hook });
    assert.deepEqual(paths(got), ['keep', 'keep/dir', 'keep/dir/f', 'src', 'src/main.ts']);
    assert.deepEqual(u.opened.sort(), ['', 'keep', 'keep/dir', 'src']);
  });

  it('a wildcard exception makes the walker descend everything (* + !**/*.py, docker/cli#2919)', async () => {
    const root = makeTree({ 'a.py': '', 'b.txt': '', 'd/c.py': '', 'd/e.txt': '', 'd/f/g.py': '', 'h/i.txt': '' });
    const u = unreadable(root, []);
    const got = await collect(root, { excludes: ['*', '!**/*.py'], beforeReadDir: u.hook });
    assert.deepEqual(paths(got), ['a.py', 'd', 'd/c.py', 'd/f', 'd/f/g.py']);
    assert.ok(u.opened.includes('h'), 'h must be searched for .py files');
  });

  it('includes narrow the walk, and only dirs that can hold a literal include are opened', async () => {
    const root = makeTree({ a: '', 'sub/x': '', 'sub/y/z': '', subway: '', 'other/o': '' });
    const u = unreadable(root, []);
    const got = await collect(root, { includes: ['sub'], beforeReadDir: u.hook });
    assert.deepEqual(paths(got), ['sub', 'sub/x', 'sub/y', 'sub/y/z']);
    assert.deepEqual(u.opened.sort(), ['', 'sub', 'sub/y']);
  });

  it('a nested include reports its parents lazily', async () => {
    const root = makeTree({ 'a/b/c.txt': '', 'a/b/d.txt': '', 'a/e': '' });
    const got = await collect(root, { includes: ['a/b/c.txt'] });
    assert.deepEqual(paths(got), ['a', 'a/b', 'a/b/c.txt']);
    assert.deepEqual(got.map((e) => e.type), ['dir', 'dir', 'file']);
  });

  it('includes and excludes together: include wins nothing back from an exclude', async () => {
    const root = makeTree({ 'app/src/x.ts': '', 'app/src/x.test.ts': '', 'app/README': '', lib: '' });
    const got = await collect(root, { includes: ['app/**/*.ts'], excludes: ['**/*.test.ts'] });
    assert.deepEqual(paths(got), ['app', 'app/src', 'app/src/x.ts']);
  });

  it('the root is never reported nor excluded; ** excludes everything else without opening dirs', async () => {
    const root = makeTree({ a: '', 'b/c': '' });
    const u = unreadable(root, []);
    assert.deepEqual(paths(await collect(root, { excludes: ['**'], beforeReadDir: u.hook })), []);
    assert.deepEqual(u.opened, ['']);
    assert.deepEqual(paths(await collect(root, { excludes: ['.'] })), ['a', 'b', 'b/c']);
  });

  it('an invalid pattern fails before anything is read', async () => {
    const root = makeTree({ a: '' });
    await assert.rejects(collect(root, { excludes: ['!'] }), IgnorePatternError);
    await assert.rejects(collect(root, { includes: ['['] }), IgnorePatternError);
  });

  it('a missing or non-directory root is a ContextError', async () => {
    const root = makeTree({ f: '' });
    await assert.rejects(collect(join(root, 'nope'), {}), ContextError);
    await assert.rejects(collect(join(root, 'f'), {}), ContextError);
  });
});

describe('builder/context: entries', () => {
  it('symlinks are reported as symlinks with their target and never followed', async () => {
    const root = makeTree({ 'real/x': 'x', link: { link: 'real' }, abs: { link: '/etc' }, dangling: { link: 'nowhere' } });
    const got = await collect(root, {});
    assert.deepEqual(paths(got), ['abs', 'dangling', 'link', 'real', 'real/x']);
    const byPath = new Map(got.map((e) => [e.path, e]));
    assert.equal(byPath.get('link')!.type, 'symlink');
    assert.equal(byPath.get('link')!.linkTarget, 'real');
    assert.equal(byPath.get('abs')!.linkTarget, '/etc');
    assert.equal(byPath.get('dangling')!.size, 0);
  });

  it('metadata: type, permission bits, size, absPath', async () => {
    const root = makeTree({ 'd/f': 'hello', x: '' });
    chmodSync(join(root, 'd/f'), 0o4751);
    const got = await collect(root, {});
    const f = got.find((e) => e.path === 'd/f')!;
    assert.equal(f.type, 'file');
    assert.equal(f.mode, 0o4751);
    assert.equal(f.size, 5);
    assert.ok(f.absPath.endsWith('/d/f'));
    assert.ok(f.ino > 0 && f.mtimeMs > 0 && f.ctimeMs > 0);
    const d = got.find((e) => e.path === 'd')!;
    assert.equal(d.type, 'dir');
    assert.equal(d.size, 0);
  });

  it('entries come in path-component byte order (UTF-8), depth first', async () => {
    const names = ['a/x', 'a.txt', 'a-b', 'Z', 'b', '\u{e000}', '\u{1F600}', 'é'];
    const root = makeTree(Object.fromEntries(names.map((n) => [n, ''])));
    const got = paths(await collect(root, {}));
    assert.deepEqual(got, ['Z', 'a', 'a/x', 'a-b', 'a.txt', 'b', 'é', '\u{e000}', '\u{1F600}']);
  });

  it('compareNames agrees with UTF-8 byte order', () => {
    const names = ['\u{1F600}', '\u{e000}', 'z', 'a', '', 'ab', '\u{ffff}', '\u{10000}', 'é'];
    const bytes = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    assert.deepEqual([...names].sort(compareNames), bytes);
  });
});

describe('builder/context: ignore file lookup and the end-to-end case (§6)', () => {
  it('ba*, Dockerfile, !bay, .dockerignore → only foo and bay are sent', async () => {
    const root = makeTree({
      Dockerfile: 'FROM scratch\nCOPY . .\n',
      '.dockerignore': 'ba*\nDockerfile\n!bay\n.dockerignore\n',
      foo: 'foo',
      bar: 'bar',
      baz: 'baz',
      bay: 'bay',
    });
    const ignore = await readDockerignore(root, join(root, 'Dockerfile'));
    assert.equal(ignore.file, join(root, '.dockerignore'));
    assert.deepEqual(ignore.patterns, ['ba*', 'Dockerfile', '!bay', '.dockerignore']);
    assert.deepEqual(paths(await collect(root, { excludes: ignore.patterns })), ['bay', 'foo']);
  });

  it('<dockerfile>.dockerignore next to the Dockerfile wins over the context one', async () => {
    const root = makeTree({
      Dockerfile: '',
      'Dockerfile.dockerignore': 'bar\n',
      Dockerfile2: '',
      'Dockerfile2.dockerignore': 'foo\n',
      '.dockerignore': 'Dockerfile*\n',
      foo: '',
      bar: '',
    });
    const one = await readDockerignore(root, join(root, 'Dockerfile'));
    assert.equal(one.file, join(root, 'Dockerfile.dockerignore'));
    const sent1 = paths(await collect(root, { excludes: one.patterns }));
    assert.ok(sent1.includes('foo') && !sent1.includes('bar'), sent1.join(','));
    const two = await readDockerignore(root, join(root, 'Dockerfile2'));
    const sent2 = paths(await collect(root, { excludes: two.patterns }));
    assert.ok(sent2.includes('bar') && !sent2.includes('foo'), sent2.join(','));
  });

  it('a Dockerfile outside the context still brings its own ignore file; none at all → no patterns', async () => {
    const ctx = makeTree({ '.dockerignore': 'a\n' });
    const elsewhere = makeTree({ 'build/Dockerfile': '', 'build/Dockerfile.dockerignore': '# c\nb\n' });
    assert.deepEqual(await readDockerignore(ctx, join(elsewhere, 'build/Dockerfile')), {
      patterns: ['b'],
      file: join(elsewhere, 'build/Dockerfile.dockerignore'),
    });
    assert.deepEqual((await readDockerignore(ctx, join(elsewhere, 'Dockerfile'))).patterns, ['a']);
    assert.deepEqual(await readDockerignore(elsewhere), { patterns: [] });
  });

  it('an ignore file with only "!" fails the walk promptly', async () => {
    const root = makeTree({ '.dockerignore': '!\n', a: '' });
    const { patterns } = await readDockerignore(root);
    await assert.rejects(collect(root, { excludes: patterns }), IgnorePatternError);
  });
});

describe('builder/context: a 20,000-file tree', function () {
  this.timeout(120_000);
  const DIRS = 100;
  const PER_DIR = 200;
  let root = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'tsb-ctx-big-'));
    temps.push(root);
    for (let d = 0; d < DIRS; d++) {
      const dir = join(root, `d${String(d).padStart(3, '0')}`);
      mkdirSync(dir);
      for (let f = 0; f < PER_DIR; f++) writeFileSync(join(dir, `f${String(f).padStart(3, '0')}.txt`), '');
    }
  });

  it('streams every entry in order with flat memory', async () => {
    global.gc?.();
    const base = process.memoryUsage().heapUsed;
    let peak = base;
    let count = 0;
    let prev = '';
    let openedAtFirst = -1;
    let opened = 0;
    const t0 = Date.now();
    for await (const e of walkContext(root, { beforeReadDir: () => void opened++ })) {
      if (count === 0) openedAtFirst = opened;
      assert.ok(prev === '' || prev < e.path, `order: ${prev} then ${e.path}`);
      prev = e.path;
      count++;
      if (count % 1000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    }
    const growthMiB = (peak - base) / 2 ** 20;
    console.log(`      walked ${count} entries in ${Date.now() - t0} ms; heap growth ${growthMiB.toFixed(1)} MiB`);
    assert.equal(count, DIRS + DIRS * PER_DIR);
    // streaming: the first entry comes after listing only the root (not the whole tree)
    assert.equal(openedAtFirst, 1);
    assert.equal(opened, DIRS + 1);
    // generous bound: holding all entries would not break it, but a leak per entry would
    assert.ok(growthMiB < 64, `heap grew by ${growthMiB.toFixed(1)} MiB`);
  });

  it('an excluded directory costs nothing: d00* pruned without being opened', async () => {
    let opened = 0;
    let count = 0;
    for await (const _ of walkContext(root, { excludes: ['d00*'], beforeReadDir: () => void opened++ })) count++;
    assert.equal(count, 90 + 90 * PER_DIR);
    assert.equal(opened, 91);
  });
});
