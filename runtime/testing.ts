/**
 * Test and bench helpers for runtime/: layers from an OCI layout or a tar file on disk, and the
 * busybox base image built by testdata/busybox/build.sh. Not used by the product.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { requireOrSkip, type SkippableContext } from '../test/tools.js';
import type { Digest } from '../image/digest.js';
import type { Layer } from '../image/image.js';
import { Runtime, type RuntimeOptions } from './index.js';

function fileDigest(path: string): Digest {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

/** A layer whose uncompressed tar is a file on disk (what a test's commit wrote). */
export function tarFileLayer(path: string): Layer {
  const d = fileDigest(path);
  return {
    digest: async () => d,
    diffID: async () => d,
    size: async () => statSync(path).size,
    mediaType: async () => 'application/vnd.oci.image.layer.v1.tar',
    compressed: async () => createReadStream(path),
    uncompressed: async () => createReadStream(path),
  };
}

interface ManifestJson {
  layers: Array<{ digest: Digest; size: number; mediaType: string }>;
  config: { digest: Digest };
}

/** The layers of `<layout>:<tag>` (gzip or plain tar blobs), base first. */
export function layoutLayers(layout: string, tag = 'latest'): Layer[] {
  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as {
    manifests: Array<{ digest: Digest; annotations?: Record<string, string> }>;
  };
  const m = index.manifests.find((x) => x.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? index.manifests[0];
  if (!m) throw new Error(`no manifest in ${layout}`);
  const blob = (d: Digest) => join(layout, 'blobs', 'sha256', d.slice(7));
  const manifest = JSON.parse(readFileSync(blob(m.digest), 'utf8')) as ManifestJson;
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as { rootfs: { diff_ids: Digest[] } };
  return manifest.layers.map((l, i) => ({
    digest: async () => l.digest,
    diffID: async () => config.rootfs.diff_ids[i]!,
    size: async () => l.size,
    mediaType: async () => l.mediaType,
    compressed: async () => createReadStream(blob(l.digest)),
    uncompressed: async (): Promise<Readable> =>
      l.mediaType.endsWith('gzip') ? createReadStream(blob(l.digest)).pipe(createGunzip()) : createReadStream(blob(l.digest)),
  }));
}

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * A per-user cache directory for test fixtures: another user's copy in a shared tmp dir is
 * neither writable nor trustworthy. $XDG_CACHE_HOME or ~/.cache, else tmp with the uid in the name.
 */
export function fixtureCacheDir(): string {
  const xdg = process.env['XDG_CACHE_HOME'];
  const home = homedir();
  const base = xdg ? join(xdg, 'tsbuild-test') : home && home !== '/' ? join(home, '.cache', 'tsbuild-test') : join(tmpdir(), `tsbuild-test-${userInfo().uid}`);
  mkdirSync(base, { recursive: true, mode: 0o700 });
  return base;
}

/** Builds (once per user and script version) the busybox OCI layout and returns its path. */
export function busyboxLayout(): string {
  const script = join(REPO_ROOT, 'testdata', 'busybox', 'build.sh');
  const hash = createHash('sha256').update(readFileSync(script)).digest('hex').slice(0, 12);
  const out = join(fixtureCacheDir(), `busybox-${hash}`);
  if (!existsSync(join(out, 'index.json'))) {
    const tmp = `${out}.tmp-${process.pid}`;
    execFileSync(script, [tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
    try {
      renameSync(tmp, out);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // built concurrently by another run
    }
  }
  return out;
}

/** Whether the machine can run these tests at all: root, runc, umoci, busybox-static. */
export function runtimeTestSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const tool of ['runc', 'umoci', 'mount']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} not installed`;
    }
  }
  if (!existsSync('/bin/busybox')) return 'busybox-static not installed';
  return undefined;
}

let skipReason: string | undefined | null = null;
/** For a mocha `before`/test: skip locally when runtimeTestSkipReason() says so, fail under CI=true. */
export function requireRuntime(ctx: SkippableContext): void {
  if (skipReason === null) skipReason = runtimeTestSkipReason();
  requireOrSkip(ctx, skipReason && `runtime tests: ${skipReason}`);
}

/** crun is tested "where it starts": a crun that cannot run containers here skips its tests. */
export async function createOrSkip(ctx: SkippableContext, options: RuntimeOptions): Promise<Runtime> {
  try {
    return await Runtime.create(options);
  } catch (e) {
    if (options.runtime === 'crun' && (e as { code?: string }).code === 'TSB_RUNTIME_SETUP') ctx.skip();
    throw e;
  }
}

/** runc always (the tests fail without it), crun when installed. */
export function availableRuntimes(): Array<'runc' | 'crun'> {
  const out: Array<'runc' | 'crun'> = ['runc'];
  try {
    execFileSync('sh', ['-c', 'command -v crun'], { stdio: 'ignore' });
    out.push('crun');
  } catch {
    /* runc only */
  }
  return out;
}
