/**
 * Child process for the store's multi-process tests (store.test.ts spawns it
 * with `node --import tsx`). Prints one JSON line with its results.
 *
 *   ingest  <root> <label> <count> <bytes>   ingest <count> blobs of content(label, i)
 *   refs    <root> <prefix> <count> <digest> setRef(`<prefix>-<i>`) <count> times
 *   hang    <root>                           ingest a stream that never ends (to be SIGKILLed)
 */
import { ContentStore } from '../store.js';
import type { Digest } from '../../image/digest.js';
import { MediaType } from '../../image/mediatypes.js';
import { content } from './content.js';

async function main(): Promise<void> {
  const [mode, root, a, b, c] = process.argv.slice(2);
  if (!mode || !root) throw new Error('usage: store-worker <mode> <root> ...');
  const store = await ContentStore.open(root);
  if (mode === 'ingest') {
    const count = Number(b);
    const bytes = Number(c);
    const out = await Promise.all(
      Array.from({ length: count }, (_, i) => store.ingest(content(`${a}-${i}`, bytes))),
    );
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else if (mode === 'refs') {
    const count = Number(b);
    const desc = { mediaType: MediaType.OciManifest, digest: c as Digest, size: Number((await store.stat(c as Digest))?.size) };
    for (let i = 0; i < count; i++) await store.setRef(`${a}-${i}`, desc);
    process.stdout.write(`${JSON.stringify({ ok: count })}\n`);
  } else if (mode === 'hang') {
    async function* forever(): AsyncGenerator<Buffer> {
      for (;;) {
        yield Buffer.alloc(64 * 1024, 7);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await store.ingest(forever());
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
