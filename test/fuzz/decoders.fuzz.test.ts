/**
 * Fuzz targets (see harness.ts): the Dockerfile parser, shell expansion, the
 * tar reader and the manifest / index / config decoders. Each runs for
 * FUZZ_SECONDS (3 by default) with FUZZ_SEED, and fails with the input that
 * broke the contract: success or a branded tsbuild error, quickly.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expandWord, expandWords, parseDockerfile } from '../../parser/index.js';
import { readTar } from '../../image/tar/reader.js';
import { createTarStream, encodeHeader, type TarSource } from '../../image/tar/writer.js';
import { imageFromCore, indexFromCore, layerFromOpener, parseIndex } from '../../image/partial.js';
import { randomImage } from '../../image/random.js';
import { hostPlatform } from '../../image/platform.js';
import type { Digest } from '../../image/digest.js';
import { selectManifest } from '../../image/platform.js';
import { FUZZ_SECONDS, FUZZ_SEED, fuzz, mutateBytes, type Rng } from './harness.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

function filesNamed(dir: string, name: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...filesNamed(p, name));
    else if (e === name) out.push(p);
  }
  return out;
}

async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function report(name: string, r: Awaited<ReturnType<typeof fuzz>>): void {
  if (r.finding) {
    assert.fail(
      `${name}: FUZZ_SEED=${FUZZ_SEED} iteration ${r.finding.iteration} broke the contract:\n${r.finding.error}\ninput (base64): ${r.finding.input}`,
    );
  }
  assert.ok(r.iterations > 0);
}

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64');

describe(`fuzz (FUZZ_SEED=${FUZZ_SEED}, ${FUZZ_SECONDS}s per target)`, function () {
  this.timeout(FUZZ_SECONDS * 1000 * 4 + 30_000);

  describe('Dockerfile parser and shell expansion', () => {
    const dockerfiles = [
      ...filesNamed(join(REPO, 'testdata/conformance/buildkit-parser'), 'Dockerfile'),
      ...filesNamed(join(REPO, 'testdata/example'), 'Dockerfile'),
    ].map((f) => readFileSync(f));
    const tokens = [
      '\\\n', '`\n', '<<EOF\n', '<<-EOF\nx\n\tEOF\n', '\nEOF\n', '${', '}', ':-', ':+', '#', '%%', '//', '$', '"', "'", '[', ']', '[]', '["a",', '=', '--mount=type=cache,target=/x ',
      '--from=', '--chown=', 'ARG A=${A:-${B:-${C}}}\n', '# syntax=docker/dockerfile:1\n', '# escape=`\n', '# check=error=true\n', '\r\n', '\t', '\u00a0', '\ufeff', '\0',
      'FROM a AS b\n', 'RUN ', 'COPY ', 'ADD ', 'ENV ', 'ONBUILD ', 'HEALTHCHECK --interval=1h30m CMD x\n', 'SHELL ["a"]\n', 'EXPOSE 80-90/udp\n', 'USER a:b\n', 'WORKDIR ${X}\n',
    ].map((t) => Buffer.from(t));
    const words = readFileSync(join(REPO, 'testdata/conformance/buildkit-shell/envVarTest'), 'utf8')
      .split('\n')
      .map((l) => l.split('|')[1]?.trim())
      .filter((w): w is string => !!w);
    const env = new Map([['A', 'a'], ['B', ''], ['PWD', '/home'], ['SHELL', '/bin/sh'], ['X', 'x y'], ['deep', '${deep}']]);

    it('parseDockerfile: success or a DockerfileParseError', async () => {
      const r = await fuzz({
        name: 'dockerfile',
        generate: (rng: Rng) => {
          let b = mutateBytes(rng, rng.pick(dockerfiles), tokens);
          if (rng.chance(0.1)) b = Buffer.concat([b, mutateBytes(rng, rng.pick(dockerfiles), tokens)]);
          return b.toString('utf8');
        },
        check: (text) => parseDockerfile(text, { file: 'Dockerfile' }),
        show: b64,
      });
      report('parseDockerfile', r);
    });

    it('expandWord / expandWords: success or a ShellExpansionError', async () => {
      const r = await fuzz({
        name: 'shell',
        generate: (rng: Rng) => ({
          word: mutateBytes(rng, Buffer.from(rng.pick(words)), tokens).toString('utf8'),
          escape: rng.chance(0.2) ? '`' : '\\',
          skipUnset: rng.chance(0.3),
        }),
        check: ({ word, escape, skipUnset }) => {
          const lookup = (n: string): string | undefined => env.get(n);
          expandWord(word, lookup, { escapeToken: escape, skipUnsetEnv: skipUnset });
          expandWords(word, lookup, { escapeToken: escape, skipUnsetEnv: skipUnset });
        },
        show: (i) => JSON.stringify(i),
      });
      report('shell expansion', r);
    });
  });

  describe('tar reader', () => {
    let corpus: Buffer[] = [];
    before(async () => {
      const file = (path: string, body: string, extra: Partial<TarSource['header']> = {}): TarSource => ({
        header: { path, type: 'file', mode: 0o644, uid: 0, gid: 0, size: Buffer.byteLength(body), mtime: 1, ...extra },
        body: Buffer.from(body),
      });
      const meta = (path: string, type: 'dir' | 'symlink' | 'hardlink' | 'fifo', linkname?: string): TarSource => ({
        header: { path, type, mode: 0o755, uid: 1000, gid: 1000, size: 0, mtime: 2, ...(linkname ? { linkname } : {}) },
      });
      const sets: TarSource[][] = [
        [meta('d', 'dir'), file('d/a.txt', 'hello\n'), meta('d/l', 'symlink', 'a.txt'), meta('d/h', 'hardlink', 'd/a.txt'), meta('p', 'fifo')],
        [file(`${'long/'.repeat(40)}name.txt`, 'x'.repeat(700)), meta('s', 'symlink', 'target/'.repeat(30))],
        [file('x', 'y', { xattrs: { 'user.a': Buffer.from([0xff, 0, 0x80]), 'security.capability': Buffer.alloc(20, 1) }, uid: 2 ** 22, mtime: 1.5 })],
        [file('big-uid', 'z', { uid: 2 ** 40, gid: 3, uname: 'ü'.repeat(40) })],
      ];
      corpus = await Promise.all(sets.map((s) => collect(createTarStream(s))));
      corpus.push(gnuLongName(`${'g'.repeat(300)}/file`, 'gnu long name\n'));
    });

    it('readTar: success or a FormatError, bodies read or skipped', async () => {
      const r = await fuzz({
        name: 'tar',
        generate: (rng: Rng) => {
          let b = mutateBytes(rng, rng.pick(corpus), TAR_TOKENS);
          if (rng.chance(0.3)) b = retouchNumber(rng, b);
          // Most mutations die at the checksum; fixing it lets them reach the deeper code.
          if (rng.chance(0.7)) fixChecksums(b);
          return { bytes: b, readBodies: rng.chance(0.7), chunk: 1 + rng.int(1024) };
        },
        check: async ({ bytes, readBodies, chunk }) => {
          const parts: Buffer[] = [];
          for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
          for await (const e of readTar(Readable.from(parts))) {
            if (readBodies) await collect(e.body);
          }
        },
        show: (i) => `${b64(i.bytes)} readBodies=${i.readBodies} chunk=${i.chunk}`,
      });
      report('readTar', r);
    });
  });

  describe('manifest, index and config decoders', () => {
    let manifest: Buffer;
    let config: Buffer;
    let index: Buffer;
    before(async () => {
      const img = await randomImage(64, 2, 3);
      manifest = await img.rawManifest();
      config = await img.rawConfig();
      const p = hostPlatform();
      index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 10, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
            { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: await img.digest(), size: manifest.length, platform: { os: p.os, architecture: p.architecture } },
            { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'b'.repeat(64)}`, size: 5, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } },
          ],
        }),
      );
    });

    it('parseManifest / parseIndex / parseConfig and what reads them: success or a tsbuild error', async () => {
      const r = await fuzz({
        name: 'json',
        generate: (rng: Rng) => {
          const kind = rng.pick(['manifest', 'config', 'index'] as const);
          const seed = kind === 'manifest' ? manifest : kind === 'config' ? config : index;
          const raw = rng.chance(0.7) ? mutateJson(rng, seed) : mutateBytes(rng, seed, JSON_TOKENS);
          return { kind, raw };
        },
        check: async ({ kind, raw }) => {
          if (kind === 'index') {
            const ix = parseIndex(raw);
            selectManifest(ix, hostPlatform());
            const idx = indexFromCore(async () => raw, async () => imageOf(manifest, config));
            await idx.mediaType();
            return;
          }
          const img = kind === 'manifest' ? imageOf(raw, config) : imageOf(manifest, raw);
          await img.mediaType();
          await img.configFile();
          for (const l of await img.layers()) {
            await Promise.all([l.digest(), l.diffID(), l.size(), l.mediaType()]);
            // the stand-in blob never matches: a digest error is the expected outcome
            await collect(await l.compressed());
          }
        },
        show: (i) => `${i.kind} ${b64(i.raw)}`,
      });
      report('decoders', r);
    });
  });
});

function imageOf(rawManifest: Buffer, rawConfig: Buffer): ReturnType<typeof imageFromCore> {
  return imageFromCore({
    rawManifest: async () => rawManifest,
    rawConfig: async () => rawConfig,
    layerByDigest: async (desc, diffID: Digest) => layerFromOpener({ desc, diffID, open: async () => Readable.from([Buffer.from('not the blob')]) }),
  });
}

const TAR_TOKENS = ['ustar\0', 'ustar  \0', '././@LongLink', '30 path=', '20 linkpath=', 'SCHILY.xattr.', '\n', '7777777', '\x80\0\0\0\0\0\0\0\0\0\0\x01', '\xff\xff\xff\xff'].map((t) =>
  Buffer.from(t, 'latin1'),
);

/** Header fields that hold numbers: mode, uid, gid, size, mtime, checksum, devmajor, devminor. */
const NUMBER_FIELDS: Array<[number, number]> = [[100, 8], [108, 8], [116, 8], [124, 12], [136, 12], [148, 8], [329, 8], [337, 8]];

/** Rewrites one number field of one header with a hostile value (octal, base-256, spaces, garbage). */
function retouchNumber(rng: Rng, b: Buffer): Buffer {
  const headers = [];
  for (let at = 0; at + 512 <= b.length; at += 512) if (b.toString('latin1', at + 257, at + 262) === 'ustar') headers.push(at);
  if (!headers.length) return b;
  const at = rng.pick(headers);
  const [off, len] = rng.pick(NUMBER_FIELDS);
  const field = Buffer.alloc(len, 0);
  switch (rng.int(4)) {
    case 0:
      field.write(rng.int(2 ** 31).toString(8).padStart(len - 1, '0').slice(-(len - 1)), 'latin1');
      break;
    case 1:
      field[0] = rng.chance(0.5) ? 0x80 : 0xff; // base-256, positive or negative
      for (let i = 1; i < len; i++) field[i] = rng.int(256);
      break;
    case 2:
      field.write(' '.repeat(rng.int(len)) + '7'.repeat(len), 'latin1');
      break;
    default:
      for (let i = 0; i < len; i++) field[i] = rng.int(256);
  }
  field.copy(b, at + off);
  return b;
}

/** Recomputes the checksum of every block that looks like a ustar header. */
function fixChecksums(b: Buffer): void {
  for (let at = 0; at + 512 <= b.length; at += 512) {
    if (b.toString('latin1', at + 257, at + 262) !== 'ustar') continue;
    b.fill(0x20, at + 148, at + 156);
    let sum = 0;
    for (let i = at; i < at + 512; i++) sum += b[i]!;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
  }
}

/** A GNU tar entry whose name travels in a `././@LongLink` 'L' record. */
function gnuLongName(name: string, body: string): Buffer {
  const data = Buffer.from(`${name}\0`);
  const long = encodeHeader({ path: '././@LongLink', type: 'file', mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0 });
  long[156] = 'L'.charCodeAt(0);
  const realHeader = encodeHeader({ path: name.slice(0, 99), type: 'file', mode: 0o644, uid: 0, gid: 0, size: Buffer.byteLength(body), mtime: 0 });
  const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);
  const out = Buffer.concat([long, data, pad(data.length), realHeader, Buffer.from(body), pad(Buffer.byteLength(body)), Buffer.alloc(1024)]);
  fixChecksums(out);
  return out;
}

const JSON_TOKENS = ['null', '{}', '[]', '"', ',', ':', '1e999', '-1', '"sha256:"', '{"a":', '[[[[[[[['].map((t) => Buffer.from(t));

/** Values that break careless decoders. */
function hostileValue(rng: Rng): unknown {
  switch (rng.int(12)) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: return rng.pick([0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.5, Number.MAX_SAFE_INTEGER]);
    case 3: return rng.pick(['', 'x', 'sha256:', `sha256:${'0'.repeat(64)}`, 'linux', '../../etc', '\u0000', 'application/vnd.oci.image.index.v1+json']);
    case 4: return [];
    case 5: return {};
    case 6: return [null];
    case 7: return { os: rng.pick(['linux', null, 1]), architecture: rng.pick(['amd64', null, []]) };
    case 8: return { digest: rng.pick([null, 1, 'sha256:x']), size: rng.pick([null, '1', -5]), mediaType: rng.pick([null, 7, '']) };
    case 9: return { diff_ids: rng.pick([null, 'x', [1], {}]) };
    case 10: {
      // deep nesting
      let v: unknown = 1;
      for (let i = 0, n = rng.pick([10, 1000, 3000]); i < n; i++) v = rng.chance(0.5) ? [v] : { a: v };
      return v;
    }
    default: return 'x'.repeat(rng.pick([1, 1000, 100_000]));
  }
}

/** Replaces, deletes or adds one node somewhere in the parsed JSON. */
function mutateJson(rng: Rng, raw: Buffer): Buffer {
  const root = JSON.parse(raw.toString('utf8')) as unknown;
  if (rng.chance(0.05)) return Buffer.from(JSON.stringify(hostileValue(rng)) ?? 'null');
  // collect containers
  const nodes: Array<Record<string, unknown> | unknown[]> = [];
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    nodes.push(v as Record<string, unknown>);
    for (const c of Object.values(v)) walk(c);
  };
  walk(root);
  for (let n = 1 + rng.int(3); n > 0 && nodes.length; n--) {
    const node = rng.pick(nodes);
    const keys = Object.keys(node);
    const key = keys.length && rng.chance(0.8) ? rng.pick(keys) : rng.pick(['mediaType', 'config', 'layers', 'manifests', 'platform', 'rootfs', 'diff_ids', 'size', 'digest', 'extra']);
    if (rng.chance(0.2)) delete (node as Record<string, unknown>)[key];
    else (node as Record<string, unknown>)[key] = hostileValue(rng);
  }
  const text = JSON.stringify(root);
  // Deeper than any recursive walk survives (JSON.stringify itself would overflow building it).
  if (rng.chance(0.03)) return Buffer.from(`{"manifests":${'['.repeat(200_000)}${']'.repeat(200_000)},"layers":${text}}`);
  return Buffer.from(text);
}
