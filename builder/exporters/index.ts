import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { ContentStore } from '../../cache/store.js';
import { storeImage, storeIndex } from '../../cache/store-image.js';
import { streamViaScratchFile } from '../../cache/scratch-file.js';
import type { Digest } from '../../image/digest.js';
import { writeDockerArchive } from '../../image/docker-archive.js';
import { writeOciIndexLayout, writeOciLayout } from '../../image/oci-layout.js';
import { createTarStream, type TarSource } from '../../image/tar/writer.js';
import { familiar, parseReference, storeRefName } from '../../registry/reference.js';
import type { RegistryClient } from '../../registry/client.js';
import { walkContext } from '../context.js';
import { BuildUsageError } from '../errors.js';
import type { LayerViews } from '../layers.js';
import type { LayerRef } from '../stage-state.js';
import type { Descriptor, Index, Manifest } from '../../image/types.js';
import { join } from 'node:path';
import { formatPlatform } from '../../image/platform.js';
import { applyLayerWithDevices } from '../../runtime/snapshots.js';
import type { EventSink } from '../events.js';

/** `--output` destinations, with docker/buildx's spelling. */
export type OutputSpec =
  | { type: 'image'; names: string[]; push: boolean }
  | { type: 'oci' | 'docker'; dest: string; names: string[] }
  | { type: 'local'; dest: string }
  | { type: 'tar'; dest: string };

export interface ExportContext {
  store: ContentStore;
  views: LayerViews;
  layers: LayerRef[];
  manifest: Descriptor;
  registry: () => Promise<RegistryClient>;
  /** Repository the base image came from, for cross-repo blob mounts on push. */
  baseName?: string;
  /** The index around the image when attestations are attached: what names point at and what is pushed. */
  index?: Descriptor;
  /** Config digest (the image ID), for the `writing image` line. */
  config?: Descriptor;
  /** Progress: the export is one step, its parts sub-tasks (as BuildKit shows them). */
  emit?: EventSink;
  /** Step id of this export in the progress stream. */
  stepId?: string;
}

/** The step name BuildKit gives each exporter. */
const EXPORT_STEP_NAMES: Record<OutputSpec['type'], string> = {
  image: 'exporting to image',
  oci: 'exporting to oci image format',
  docker: 'exporting to docker image format',
  local: 'exporting to client directory',
  tar: 'exporting to client tarball',
};

/** Runs `o` as one progress step (`exporting to image` …) whose parts are sub-tasks. */
export async function runExportStep(spec: OutputSpec, context: ExportContext): Promise<ExportResult> {
  const emit = context.emit ?? (() => {});
  const id = context.stepId ?? `export-${spec.type}`;
  const step = { type: 'step' as const, id, stage: '', name: EXPORT_STEP_NAMES[spec.type] };
  const t0 = Date.now();
  emit({ ...step, status: 'started' });
  try {
    const r = await runExporter(spec, { ...context, emit, stepId: id });
    emit({ ...step, status: 'done', durationMs: Date.now() - t0 });
    return r;
  } catch (e) {
    emit({ ...step, status: 'error', error: (e as Error).message });
    throw e;
  }
}

/** Where an export reports its parts (absent: nowhere). */
interface ProgressParts {
  emit?: EventSink;
  stepId?: string;
}

/** One sub-task of an export step, timed. */
async function part<T>(x: ProgressParts, text: string, work: () => Promise<T> | T): Promise<T> {
  const t0 = Date.now();
  const id = x.stepId ?? 'export';
  x.emit?.({ type: 'status', id, text, status: 'started' });
  const r = await work();
  x.emit?.({ type: 'status', id, text, status: 'done', durationMs: Date.now() - t0 });
  return r;
}

export interface ExportResult {
  pushed: Array<{ name: string; digest: Digest }>;
}

export async function runExporter(spec: OutputSpec, context: ExportContext): Promise<ExportResult> {
  const pushed: ExportResult['pushed'] = [];
  const image = storeImage(context.store, context.manifest.digest);
  // the image's blobs are in the store already (written as the steps ran and by finalize)
  const imageParts = async (): Promise<void> => {
    await part(context, 'exporting layers', () => undefined);
    await part(context, `exporting manifest ${context.manifest.digest}`, () => undefined);
    if (context.config) await part(context, `exporting config ${context.config.digest}`, () => undefined);
  };
  switch (spec.type) {
    case 'image': {
      await imageParts();
      // with attestations the names point at (and the push sends) the index around the image
      if (context.index) await part(context, `exporting manifest list ${context.index.digest}`, () => undefined);
      const mountFrom = context.baseName ? [parseReference(context.baseName)] : [];
      const index = context.index ? storeIndex(context.store, context.index.digest) : undefined;
      pushed.push(
        ...(await tagAndPush(spec, context, context.index ?? context.manifest, async (client, refs) => (index ? client.pushIndex(index, refs, { mountFrom }) : client.push(image, refs, { mountFrom })))),
      );
      break;
    }
    case 'oci': {
      await imageParts();
      const refName = spec.names[0] ? refTag(spec.names[0]) : undefined;
      // with attestations the layout's entry is the index (BuildKit's oci exporter)
      const index = context.index ? storeIndex(context.store, context.index.digest) : undefined;
      await part(context, 'sending tarball', () =>
        writeTo(context.store, spec.dest, (file) => (index ? writeOciIndexLayout({ tarFile: file }, index, refName) : writeOciLayout({ tarFile: file }, [{ image, refName }]))),
      );
      break;
    }
    case 'docker':
      await imageParts();
      await part(context, 'sending tarball', () => writeTo(context.store, spec.dest, (file) => writeDockerArchive(file, [{ image, tags: spec.names.map(familiar) }])));
      break;
    case 'local': {
      // Layers applied straight into dest: ownership, modes, links, fifos and device nodes as in the image.
      await part(context, 'copying files', async () => {
        await mkdir(spec.dest, { recursive: true });
        for (const l of context.layers) await applyLayerWithDevices(await context.views.uncompressed(l), spec.dest);
      });
      break;
    }
    case 'tar': {
      await part(context, 'sending tarball', async () => {
        const dir = await context.views.unpacked(context.layers);
        const entries = tarSourcesOf(dir);
        const out = spec.dest === '-' ? process.stdout : createWriteStream(spec.dest);
        await pipeline(createTarStream(entries), out);
      });
      break;
    }
  }
  return { pushed };
}

/** type=image: name `desc` in the store, and with push=true push it under every name. */
async function tagAndPush(
  o: { names: string[]; push: boolean },
  x: { store: ContentStore; registry: () => Promise<RegistryClient> } & ProgressParts,
  desc: Descriptor,
  push: (client: RegistryClient, refs: ReturnType<typeof parseReference>[]) => Promise<{ digest: Digest }>,
): Promise<ExportResult['pushed']> {
  for (const n of o.names) await part(x, `naming to ${storeRefName(n)}`, () => x.store.setRef(storeRefName(n), desc));
  if (!o.push) return [];
  if (o.names.length === 0) throw new BuildUsageError('push needs at least one image name (-t NAME)');
  const refs = o.names.map((n) => parseReference(n));
  const r = await part(x, `pushing layers and manifest for ${refs.map((ref) => ref.toString()).join(', ')}`, async () => push(await x.registry(), refs));
  return o.names.map((name) => ({ name, digest: r.digest }));
}

export interface IndexExportContext {
  store: ContentStore;
  views: LayerViews;
  /** An image index in the store whose images (one per platform) are in the store too. */
  index: Descriptor;
  registry: () => Promise<RegistryClient>;
}

/**
 * Exports a multi-platform build's image index: tagged in the store, pushed (every image, then
 * the index), an OCI layout whose index.json names the index (as BuildKit's OCI exporter), or one
 * directory per platform (`linux_amd64/`, as BuildKit's local exporter). platforms.ts refuses
 * type=docker and type=tar before building.
 */
export async function runIndexExporter(spec: OutputSpec, context: IndexExportContext): Promise<ExportResult> {
  const pushed: ExportResult['pushed'] = [];
  const index = storeIndex(context.store, context.index.digest);
  switch (spec.type) {
    case 'image':
      pushed.push(...(await tagAndPush(spec, context, context.index, async (client, refs) => client.pushIndex(index, refs))));
      break;
    case 'oci':
      await writeTo(context.store, spec.dest, (file) => writeOciIndexLayout({ tarFile: file }, index, spec.names[0] ? refTag(spec.names[0]) : undefined));
      break;
    case 'local': {
      for (const d of (await context.store.readJSON<Index>(context.index.digest)).manifests) {
        const dir = join(spec.dest, platformDirName(d));
        await mkdir(dir, { recursive: true });
        const manifest = await context.store.readJSON<Manifest>(d.digest);
        const config = await context.store.readJSON<{ rootfs: { diff_ids: Digest[] } }>(manifest.config.digest);
        const layers = manifest.layers.map((desc, i) => ({ desc, diffID: config.rootfs.diff_ids[i]! }));
        for (const l of layers) await applyLayerWithDevices(await context.views.uncompressed(l), dir);
      }
      break;
    }
    default:
      throw new BuildUsageError(`--output type=${spec.type} cannot hold several platforms`);
  }
  return { pushed };
}

/** BuildKit's directory name for a platform in a multi-platform local export: `linux_arm_v7`. */
function platformDirName(d: Descriptor): string {
  return d.platform ? formatPlatform(d.platform).replaceAll('/', '_') : d.digest.replace(':', '_');
}

/** `-` writes to stdout through a scratch file (the formats need a seekable file first). */
async function writeTo(store: ContentStore, dest: string, write: (file: string) => Promise<void>): Promise<void> {
  if (dest !== '-') return write(dest);
  await streamViaScratchFile(store, write, process.stdout);
}

async function* tarSourcesOf(dir: string): AsyncGenerator<TarSource> {
  for await (const e of walkContext(dir, {})) {
    if (e.type === 'other') continue;
    const type = e.type;
    yield {
      header: {
        path: e.path,
        type,
        mode: e.mode & 0o7777,
        uid: e.uid,
        gid: e.gid,
        size: type === 'file' ? e.size : 0,
        mtime: Math.floor(e.mtimeMs / 1000),
        linkname: e.linkTarget,
      },
      ...(type === 'file' ? { body: () => createReadStream(e.absPath) } : {}),
    };
  }
}

/** The tag part for an OCI layout's ref.name annotation (what `skopeo oci:DIR:TAG` selects). */
function refTag(name: string): string {
  const r = parseReference(name);
  return r.tag ?? 'latest';
}

