import assert from 'node:assert/strict';
import { ContentStore } from '../cache/store.js';
import { storeImage } from '../cache/store-image.js';
import { readTar } from '../image/tar/reader.js';
import { createGunzip } from '../image/compress.js';
import { makeTree, removeAll, tempDir } from '../test/helpers.js';
import { build } from './build.js';

/** Lists a layer's entry paths. */
async function layerPaths(store: ContentStore, manifest: `sha256:${string}`, i: number): Promise<string[]> {
  const layers = await storeImage(store, manifest).layers();
  const out: string[] = [];
  for await (const { header, body } of readTar((await layers[i]!.compressed()).pipe(createGunzip()))) {
    body.resume();
    out.push(header.path);
  }
  return out;
}

describe('builder: COPY keys and the lower filesystem', function () {
  this.timeout(60_000);
  let root: string;
  let ctx: string;
  before(async () => {
    root = await tempDir('tsb-copykey-');
    const files: Record<string, string> = {
      'Dockerfile': 'FROM scratch\nCOPY many/ /app/\nCOPY one.txt /app/\n',
      'one.txt': 'one\n',
    };
    for (let i = 0; i < 50; i++) files[`many/f${i}.txt`] = `${i}\n`;
    ctx = await makeTree(files);
  });
  after(() => removeAll(root, ctx));

  it('a cached COPY never reads the layers below it; a missed one is laid onto them', async () => {
    const store = await ContentStore.open(root);
    const first = await build({ store, contextDir: ctx });
    assert.equal(first.stats.executed, 2);
    // the second COPY lands in /app, which the first made: its layer must not repeat the directory
    assert.deepEqual(await layerPaths(store, first.digest, 1), ['app/one.txt']);

    let indexReads = 0;
    const readMeta = store.readMeta.bind(store);
    store.readMeta = (async (ns: string, key: string) => {
      if (ns === 'layer-index') indexReads++;
      return readMeta(ns, key);
    }) as typeof store.readMeta;
    const second = await build({ store, contextDir: ctx });
    assert.deepEqual(second.stats, { executed: 0, cached: 2 });
    assert.equal(second.digest, first.digest);
    assert.equal(indexReads, 0, 'no layer index was loaded for a fully cached build');
  });
});
