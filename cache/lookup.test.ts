import assert from 'node:assert/strict';
import { randomImage } from '../image/random.js';
import { findStoredImage } from './lookup.js';
import { writeImage } from './store-image.js';
import { ContentStore } from './store.js';
import { tempStore } from './testdata/helpers.js';

describe('cache/lookup: finding a stored image as docker does', () => {
  let cleanup: () => Promise<void>;
  let store: ContentStore;
  before(async () => ({ store, cleanup } = await tempStore()));
  after(async () => cleanup());

  it('by name, manifest digest, config ID prefix; unknown names and short prefixes find nothing', async () => {
    const img = await randomImage(256, 1, 3);
    const desc = await writeImage(store, img);
    await store.setRef('docker.io/library/app:1', desc);
    const untagged = await writeImage(store, await randomImage(256, 1, 4));
    const configHex = (await img.manifest()).config.digest.slice(7);
    const cases: Array<[string, string | undefined, string | undefined]> = [
      ['app:1', 'docker.io/library/app:1', desc.digest],
      ['docker.io/library/app:1', 'docker.io/library/app:1', desc.digest],
      [configHex.slice(0, 12), 'docker.io/library/app:1', desc.digest],
      [`sha256:${configHex}`, 'docker.io/library/app:1', desc.digest],
      [desc.digest, 'docker.io/library/app:1', desc.digest],
      [untagged.digest, undefined, untagged.digest],
      ['app:2', undefined, undefined],
      [configHex.slice(0, 11), undefined, undefined],
      // a layer or config digest is no image (only a named image's config digest is its ID)
      [(await img.manifest()).layers[0]!.digest, undefined, undefined],
      [(await store.readJSON<{ config: { digest: string } }>(untagged.digest)).config.digest, undefined, undefined],
    ];
    for (const [query, name, digest] of cases) {
      const found = await findStoredImage(store, query);
      assert.deepEqual([found?.name, found?.desc.digest], [name, digest], query);
    }
  });
});
