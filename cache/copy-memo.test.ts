import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../image/digest.js';
import { CopyMemo, pruneCopyMemos, SourceStamp, type StampedEntry } from './copy-memo.js';
import { RACY_MARGIN_MS } from './context-hash.js';
import { ContentStore } from './store.js';
import { tempRoot } from './testdata/helpers.js';

const entry = (over: Partial<StampedEntry> = {}): StampedEntry => ({ path: 'a', absPath: '/ctx/a', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 1, mtimeMs: 1000, ctimeMs: 1000, ino: 7, ...over });
const stampOf = (request: unknown, ...entries: StampedEntry[]): ReturnType<SourceStamp['finish']> => {
  const stamp = new SourceStamp(request);
  for (const e of entries) stamp.add(e);
  return stamp.finish();
};

describe('cache/copy-memo', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let store: ContentStore;
  let ctx: string;
  beforeEach(async () => {
    ({ root, cleanup } = await tempRoot());
    store = await ContentStore.open(join(root, 'store'));
    ctx = join(root, 'ctx');
    await mkdir(ctx);
  });
  afterEach(async () => cleanup());

  it('a stamp changes with every stat field, the request and the order', () => {
    const base = stampOf('req', entry(), entry({ path: 'b', absPath: '/ctx/b', ino: 8 }));
    const variants: Array<[string, ReturnType<typeof stampOf>]> = [
      ['request', stampOf('other', entry(), entry({ path: 'b', absPath: '/ctx/b', ino: 8 }))],
      ['order', stampOf('req', entry({ path: 'b', absPath: '/ctx/b', ino: 8 }), entry())],
      ...(['mode', 'uid', 'gid', 'size', 'mtimeMs', 'ctimeMs', 'ino', 'nlink'] as const).map((k): [string, ReturnType<typeof stampOf>] => [k, stampOf('req', entry({ [k]: 2 }), entry({ path: 'b', absPath: '/ctx/b', ino: 8 }))]),
      ['type', stampOf('req', entry({ type: 'dir' }), entry({ path: 'b', absPath: '/ctx/b', ino: 8 }))],
      ['link target', stampOf('req', entry({ type: 'symlink', linkTarget: 'x' }), entry({ path: 'b', absPath: '/ctx/b', ino: 8 }))],
    ];
    for (const [what, s] of variants) assert.notEqual(s.digest, base.digest, what);
    assert.equal(base.newestMs, 1000);
  });

  it('remembers a key per stamp, never a racy one, and writes nothing when it already knows it', async () => {
    let now = 10_000;
    const memo = new CopyMemo(store, { now: () => now });
    const settled = stampOf('req', entry({ mtimeMs: now - RACY_MARGIN_MS - 1, ctimeMs: now - RACY_MARGIN_MS - 1 }));
    const racy = stampOf('req', entry({ ctimeMs: now - 10 }));
    const key = sha256('key');
    assert.equal(await memo.remember(ctx, 'Dockerfile#0#1', racy, key, now), false);
    assert.equal(await memo.keyFor(ctx, 'Dockerfile#0#1', racy.digest), undefined);
    assert.equal(await memo.remember(ctx, 'Dockerfile#0#1', settled, key, now), true);
    assert.equal(await memo.keyFor(ctx, 'Dockerfile#0#1', settled.digest), key);
    assert.equal(await memo.remember(ctx, 'Dockerfile#0#1', settled, key, now), false, 'already known: no write');
    assert.equal(await memo.keyFor(ctx, 'Dockerfile#0#2', settled.digest), undefined, 'another step');
    // a newer stamp keeps the older ones (the platforms of one build)
    now += 60_000;
    const other = stampOf('req2', entry());
    assert.equal(await memo.remember(ctx, 'Dockerfile#0#1', other, sha256('key2'), now), true);
    assert.equal(await memo.keyFor(ctx, 'Dockerfile#0#1', settled.digest), key);
    assert.equal(await memo.keyFor(ctx, 'Dockerfile#0#1', other.digest), sha256('key2'));
  });

  it('a damaged memo is a miss; prune drops the memos of directories that are gone', async () => {
    const memo = new CopyMemo(store, { now: () => 1e12 });
    const stamp = stampOf('req', entry());
    assert.equal(await memo.remember(ctx, 'Dockerfile#0#1', stamp, sha256('k'), 1e12), true);
    const [name] = await store.listMeta('copy-memo');
    await writeFile(join(root, 'store', 'meta', 'copy-memo', `${name}.json`), '{"format":1,"dir":');
    assert.equal(await memo.keyFor(ctx, 'Dockerfile#0#1', stamp.digest), undefined);
    assert.equal(await memo.remember(ctx, 'Dockerfile#0#1', stamp, sha256('k'), 1e12), true);
    assert.deepEqual(await pruneCopyMemos(store, { minAgeMs: 0 }).then((r) => r.removed), 0, 'its directory exists');
    await rm(ctx, { recursive: true });
    assert.equal((await pruneCopyMemos(store, { minAgeMs: 0 })).removed, 1);
    assert.deepEqual(await store.listMeta('copy-memo'), []);
  });
});
