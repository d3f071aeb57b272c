import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDockerArchive } from './docker-archive.js';
import { detectArchiveFormat, dockerArchiveTags, openImageSpec, parseImageSpec, type ImageSpec } from './image-spec.js';
import { writeOciLayout } from './oci-layout.js';
import { randomImage } from './random.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('image/image-spec', () => {
  const table: Array<[string, 'dockerfile' | 'cli', ImageSpec]> = [
    ['busybox', 'cli', { kind: 'name', name: 'busybox' }],
    ['oci:1.0', 'dockerfile', { kind: 'name', name: 'oci:1.0' }],
    ['oci:1.0', 'cli', { kind: 'oci-layout', path: '1.0' }],
    ['oci:/tmp/dir:v1', 'cli', { kind: 'oci-layout', path: '/tmp/dir', tag: 'v1' }],
    ['oci-archive:/tmp/x.tar', 'cli', { kind: 'oci-layout', path: '/tmp/x.tar' }],
    ['docker-archive:/tmp/x.tar:app', 'cli', { kind: 'docker-archive', path: '/tmp/x.tar', tag: 'app' }],
    ['docker-archive:/tmp/x.tar', 'dockerfile', { kind: 'name', name: 'docker-archive:/tmp/x.tar' }],
    ['oci-layout:///l:t', 'dockerfile', { kind: 'oci-layout', path: '/l', tag: 't' }],
    [`oci-layout://rel/l:t@${D}`, 'dockerfile', { kind: 'oci-layout', path: 'rel/l', tag: 't', digest: D }],
    [`oci-layout://rel/l@${D}`, 'cli', { kind: 'oci-layout', path: 'rel/l', digest: D }],
    ['oci-layout://dir:with:colons', 'dockerfile', { kind: 'oci-layout', path: 'dir:with', tag: 'colons' }],
    ['docker-image://alpine:3', 'dockerfile', { kind: 'registry', reference: 'alpine:3' }],
    ['docker://alpine:3', 'cli', { kind: 'registry', reference: 'alpine:3' }],
    ['docker://alpine:3', 'dockerfile', { kind: 'name', name: 'docker://alpine:3' }],
    // one tag rule: at most 128 characters, starting with a word character
    [`oci:/p:${'t'.repeat(128)}`, 'cli', { kind: 'oci-layout', path: '/p', tag: 't'.repeat(128) }],
    [`oci:/p:${'t'.repeat(129)}`, 'cli', { kind: 'oci-layout', path: `/p:${'t'.repeat(129)}` }],
    ['oci:/p:.hidden', 'cli', { kind: 'oci-layout', path: '/p:.hidden' }],
  ];
  for (const [spec, syntax, want] of table) {
    it(`${syntax}: ${spec.length > 60 ? spec.slice(0, 60) + '…' : spec}`, () => assert.deepEqual(parseImageSpec(spec, syntax), want));
  }
  it('a path is required', () => assert.throws(() => parseImageSpec('oci:', 'cli'), /invalid image source path/));

  describe('files', () => {
    let tmp: string;
    before(async () => {
      tmp = await mkdtemp(join(tmpdir(), 'tsb-spec-'));
    });
    after(() => rm(tmp, { recursive: true, force: true }));

    it('detects the archive format: directory, OCI tar, docker-archive, not a tar', async () => {
      const img = await randomImage(64, 1);
      await writeOciLayout({ dir: join(tmp, 'dir') }, [{ image: img, refName: 'v1' }]);
      await writeOciLayout({ tarFile: join(tmp, 'oci.tar') }, [{ image: img, refName: 'v1' }]);
      await writeDockerArchive(join(tmp, 'docker.tar'), [{ image: img, tags: ['app:1', 'docker.io/library/app:2'] }]);
      await writeFile(join(tmp, 'junk'), 'not a tar at all');
      await mkdir(join(tmp, 'empty'));
      const formats = await Promise.all(['dir', 'oci.tar', 'docker.tar', 'junk', 'empty'].map((f) => detectArchiveFormat(join(tmp, f))));
      assert.deepEqual(formats, ['oci-layout', 'oci-layout', 'docker-archive', 'oci-layout', 'oci-layout']);
      assert.deepEqual(await dockerArchiveTags(join(tmp, 'docker.tar')), ['app:1', 'app:2']);
      // every file kind opens to the same image
      const fail = async (): Promise<never> => assert.fail('not a file spec');
      for (const spec of [`oci:${join(tmp, 'dir')}:v1`, `oci-archive:${join(tmp, 'oci.tar')}`, `docker-archive:${join(tmp, 'docker.tar')}`]) {
        const back = await openImageSpec(spec, { registry: fail, name: fail });
        assert.equal((await back.manifest()).config.digest, (await img.manifest()).config.digest, spec);
      }
    });
  });
});
