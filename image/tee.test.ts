import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { tee } from './tee.js';

async function drain(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('image/tee', () => {
  const data = Buffer.alloc(5 * 1024 * 1024 + 7, 'x');

  it('both branches get every byte', async () => {
    const t = tee(Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
    const [a, b] = await Promise.all([drain(t.main), drain(t.side)]);
    assert.ok(a.equals(data) && b.equals(data));
  });

  it('a detached side no longer holds the main branch back (it would stall past its buffer otherwise)', async () => {
    const t = tee(Readable.from((function* () {
      for (let i = 0; i < 40; i++) yield Buffer.alloc(256 * 1024, i);
    })()));
    t.detachSide();
    assert.equal((await drain(t.main)).length, 40 * 256 * 1024);
  });

  it('an error of the source reaches both branches', async () => {
    const src = new Readable({ read() {} });
    const t = tee(src);
    const both = Promise.allSettled([drain(t.main), drain(t.side)]);
    src.destroy(new Error('boom'));
    for (const r of await both) assert.equal(r.status === 'rejected' && (r.reason as Error).message, 'boom');
  });

  it('an error before a branch has a reader does not crash; the reader that comes later gets it', async () => {
    const src = new Readable({ read() {} });
    const t = tee(src);
    src.push(Buffer.alloc(1000));
    src.destroy(new Error('digest mismatch'));
    // let the error events fire while neither branch has a reader (this crashed the process)
    await new Promise((r) => setTimeout(r, 20));
    for (const branch of [t.main, t.side]) await assert.rejects(drain(branch), /digest mismatch/);
  });
});
