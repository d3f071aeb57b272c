import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { InvalidNameError, LockTimeoutError } from './errors.js';
import { ContentStore } from './store.js';
import { listDir, runWorker, tempRoot } from './testdata/helpers.js';
import { MediaType } from '../image/mediatypes.js';

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => child.on('exit', r));
  assert.ok(child.pid);
  return child.pid;
}

describe('cache/lock (ContentStore.withLock)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let store: ContentStore;
  let lockPath: string;
  beforeEach(async () => {
    ({ root, cleanup } = await tempRoot());
    store = await ContentStore.open(root);
    lockPath = join(root, 'locks', 'x.lock');
  });
  afterEach(async () => cleanup());

  it('serialises holders and releases the file', async () => {
    let inside = 0;
    let maxInside = 0;
    let counter = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        store.withLock('x', async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          const v = counter;
          await new Promise((r) => setTimeout(r, 1));
          counter = v + 1;
          inside--;
        }),
      ),
    );
    assert.equal(counter, 20);
    assert.equal(maxInside, 1);
    assert.deepEqual(await listDir(join(root, 'locks')), []);
  });

  it('writes who holds it while held', async () => {
    await store.withLock('x', async () => {
      const h = JSON.parse(await readFile(lockPath, 'utf8')) as { pid: number; host: string };
      assert.equal(h.pid, process.pid);
      assert.equal(h.host, hostname());
    });
  });

  it('returns the value and releases on error', async () => {
    assert.equal(await store.withLock('x', async () => 42), 42);
    await assert.rejects(store.withLock('x', async () => Promise.reject(new Error('inner'))), /inner/);
    assert.equal(await store.withLock('x', async () => 'again', { timeoutMs: 200 }), 'again');
  });

  type Case = { name: string; body: () => Promise<string>; ageMs: number; takesOver: boolean };
  const cases: Case[] = [
    { name: 'a dead holder on this host', body: async () => JSON.stringify({ pid: await deadPid(), host: hostname(), nonce: 'n' }), ageMs: 0, takesOver: true },
    { name: 'a live holder (this process)', body: async () => JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'n' }), ageMs: 0, takesOver: false },
    { name: 'a holder on another host', body: async () => JSON.stringify({ pid: await deadPid(), host: 'elsewhere.invalid', nonce: 'n' }), ageMs: 0, takesOver: false },
    { name: 'a fresh unreadable file (being written)', body: async () => '', ageMs: 0, takesOver: false },
    { name: 'an old unreadable file (writer died)', body: async () => '{"pi', ageMs: 60_000, takesOver: true },
  ];
  for (const c of cases) {
    it(`${c.takesOver ? 'takes over' : 'waits for'} ${c.name}`, async () => {
      const body = await c.body();
      await writeFile(lockPath, body);
      if (c.ageMs) {
        const t = new Date(Date.now() - c.ageMs);
        await utimes(lockPath, t, t);
      }
      const p = store.withLock('x', async () => 'got it', { timeoutMs: 300 });
      if (c.takesOver) {
        assert.equal(await p, 'got it');
        assert.deepEqual(await listDir(join(root, 'locks')), []);
      } else {
        await assert.rejects(p, (e: unknown) => e instanceof LockTimeoutError && e.code === 'TSB_CACHE_LOCK_TIMEOUT');
        // Someone else's lock is left alone.
        assert.equal(await readFile(lockPath, 'utf8'), body);
        assert.deepEqual(await listDir(join(root, 'locks')), ['x.lock']);
      }
    });
  }

  it('waiters from two stores on one root racing for a stale lock: one holder at a time', async () => {
    await writeFile(lockPath, JSON.stringify({ pid: await deadPid(), host: hostname(), nonce: 'n' }));
    let inside = 0;
    let maxInside = 0;
    const other = await ContentStore.open(root);
    await Promise.all(
      [store, other, store, other].map((s) =>
        s.withLock('x', async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((r) => setTimeout(r, 5));
          inside--;
        }),
      ),
    );
    assert.equal(maxInside, 1);
    assert.deepEqual(await listDir(join(root, 'locks')), []);
  });

  it('two processes racing to take over a stale refs lock lose no update', async function () {
    this.timeout(30_000);
    const desc = await store.putJSON({ schemaVersion: 2 }, MediaType.OciManifest);
    await writeFile(join(root, 'locks', 'refs.lock'), JSON.stringify({ pid: await deadPid(), host: hostname(), nonce: 'n' }));
    await Promise.all([runWorker(['refs', root, 'p', '20', desc.digest]), runWorker(['refs', root, 'q', '20', desc.digest])]);
    assert.equal((await store.listRefs()).length, 40);
    assert.deepEqual(await listDir(join(root, 'locks')), []);
  });

  for (const bad of ['', '../x', 'a/b', '.x']) {
    it(`rejects lock name ${JSON.stringify(bad)}`, async () => {
      await assert.rejects(store.withLock(bad, async () => 1), InvalidNameError);
    });
  }
});
