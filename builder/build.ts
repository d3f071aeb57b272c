import { readFile, rm, mkdtemp, stat } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import pLimit from 'p-limit';
import type { ContentStore } from '../cache/store.js';
import type { Digest } from '../image/digest.js';
import { hostPlatform } from '../image/platform.js';
import type { Platform, ImageConfigFile } from '../image/types.js';
import { parseDockerfile } from '../parser/index.js';
import type { Dockerfile } from '../parser/instructions.js';
import { RegistryClient } from '../registry/index.js';
import { Runtime } from '../runtime/index.js';
import { readDockerignore } from './context.js';
import { buildStage, checkPlatform } from './dispatch.js';
import { BuildUsageError } from './errors.js';
import type { EventSink } from './events.js';
import { runExporter, type OutputSpec } from './exporters/index.js';
import { finalizeImage } from './finalize.js';
import { LayerViews } from './layers.js';
import { planBuild } from './plan.js';
import type { BuildSession, NamedContext } from './session.js';
import type { StageState } from './stage-state.js';
import { expand, platformArgs } from './vars.js';

export interface SecretSpec {
  id: string;
  /** A file to read, or an environment variable to take the value from. */
  src?: string;
  env?: string;
}

export interface BuildOptions {
  store: ContentStore;
  contextDir: string;
  /** Path of the Dockerfile (default CONTEXT/Dockerfile); ignored when dockerfileText is given. */
  dockerfile?: string;
  dockerfileText?: string;
  buildArgs?: Record<string, string>;
  target?: string;
  labels?: Record<string, string>;
  tags?: string[];
  outputs?: OutputSpec[];
  noCache?: boolean;
  pull?: boolean;
  platform?: string;
  /** `--build-context NAME=DIR|oci-layout://PATH[:TAG]|docker-image://REF`. */
  namedContexts?: Record<string, string>;
  secrets?: SecretSpec[];
  /** `--ssh id=socket`; `default` with no socket uses $SSH_AUTH_SOCK. */
  ssh?: Record<string, string>;
  network?: 'default' | 'none' | 'host';
  allow?: string[];
  /** Seconds since the epoch (SOURCE_DATE_EPOCH): fixes every timestamp, so rebuilds give the same digest. */
  sourceDateEpoch?: number;
  runtime?: { runtime?: 'auto' | 'runc' | 'crun'; snapshotter?: 'auto' | 'overlay' | 'copy' };
  registry?: RegistryClient;
  insecureRegistries?: string[];
  stepTimeoutMs?: number;
  onEvent?: EventSink;
  signal?: AbortSignal;
}

/** Per-image facts of a build, in the store's `images` meta namespace. */
export interface BuildRecord {
  baseLayerCount: number;
  sourceMap: Array<{ file: string; line: number } | undefined>;
}

export interface BuildResult {
  /** Manifest digest (what registries and `docker pull name@…` use). */
  digest: Digest;
  /** Config digest: docker's image ID. */
  imageId: Digest;
  manifestSize: number;
  config: ImageConfigFile;
  tags: string[];
  pushed: Array<{ name: string; digest: Digest }>;
  warnings: string[];
  /** For reports: layers from the base image, and the Dockerfile line of each history entry. */
  baseLayerCount: number;
  sourceMap: BuildRecord['sourceMap'];
}

/** Builds a Dockerfile. The one public entry point of builder/. */
export async function build(o: BuildOptions): Promise<BuildResult> {
  const contextDir = resolve(o.contextDir);
  const st = await stat(contextDir).catch(() => undefined);
  if (!st?.isDirectory()) throw new BuildUsageError(`build context ${o.contextDir} is not a directory`);
  const dockerfilePath = o.dockerfile ? (isAbsolute(o.dockerfile) ? o.dockerfile : resolve(o.dockerfile)) : join(contextDir, 'Dockerfile');
  const text = o.dockerfileText ?? (await readFile(dockerfilePath, 'utf8').catch(() => {
    throw new BuildUsageError(`failed to read dockerfile: open ${dockerfilePath}: no such file or directory`);
  }));
  const fileLabel = o.dockerfileText !== undefined ? 'Dockerfile' : relName(dockerfilePath);
  const df = parseDockerfile(text, { file: fileLabel });
  const emit: EventSink = o.onEvent ?? (() => {});
  for (const w of df.warnings) emit({ type: 'message', level: 'warn', text: `${w.rule}: ${w.message}`, loc: { file: w.loc.file, line: w.loc.line } });

  const platform = hostPlatform();
  const warnings: string[] = [];
  const buildArgs = new Map(Object.entries(o.buildArgs ?? {}));
  const globalArgs = resolveGlobalArgs(df, buildArgs, platform);
  const ignore = await readDockerignore(contextDir, o.dockerfileText !== undefined ? undefined : dockerfilePath);
  const namedContexts = await resolveNamedContexts(o.namedContexts ?? {});
  const plan = planBuild(df, globalArgs, { target: o.target, namedContexts: new Set(namedContexts.keys()) });

  const tmp = await mkdtemp(join(tmpdir(), 'tsbuild-'));
  const views = new LayerViews(o.store, tmp);
  let registry: RegistryClient | undefined = o.registry;
  const getRegistry = (): RegistryClient => (registry ??= new RegistryClient({ insecureRegistries: o.insecureRegistries }));
  let runtime: Promise<Runtime> | undefined;
  const getRuntime = (): Promise<Runtime> =>
    (runtime ??= Runtime.create({ root: join(o.store.root, 'runtime'), ...(o.runtime ?? {}) }));
  let step = 0;
  const results = new Map<number, Promise<StageState>>();
  const limit = pLimit(Math.max(1, availableParallelism()));
  const session: BuildSession = {
    store: o.store,
    df,
    emit,
    views,
    resolver: { store: o.store, platform, registry: getRegistry, pull: o.pull ?? false },
    registry: getRegistry,
    runtime: getRuntime,
    context: { dir: contextDir, excludes: ignore.patterns, isContext: true },
    namedContexts,
    globalArgs,
    buildArgs,
    usedBuildArgs: new Set(),
    platform,
    epoch: o.sourceDateEpoch,
    secrets: await loadSecrets(o.secrets ?? []),
    ssh: resolveSsh(o.ssh ?? {}),
    network: o.network ?? 'default',
    allow: new Set([...(o.allow ?? []), ...(o.network === 'host' ? ['network.host'] : [])]),
    stageResult: (i) => stageResult(i),
    stepTimeoutMs: o.stepTimeoutMs,
    signal: o.signal,
    nextStep: () => ++step,
    totalSteps: plan.order.reduce((n, i) => n + 1 + (plan.stages[i]?.stage.instructions.length ?? 0), 0),
  };
  // A stage starts once the stages it reads are done; independent stages run in parallel.
  const stageResult = (i: number): Promise<StageState> => {
    let p = results.get(i);
    if (!p) {
      const planned = plan.stages[i]!;
      p = Promise.all([...planned.deps].map((d) => stageResult(d))).then(() =>
        limit(() => buildStage(session, planned.stage, planned.base)),
      );
      results.set(i, p);
      p.catch(() => {});
    }
    return p;
  };
  if (o.platform) checkPlatform(session, o.platform);

  try {
    for (const i of plan.order) void stageResult(i);
    const final = await stageResult(plan.target);
    for (const k of buildArgs.keys()) {
      if (!session.usedBuildArgs.has(k) && !globalArgs.has(k) && !isPredefined(k)) {
        const w = `[Warning] One or more build-args [${k}] were not consumed`;
        warnings.push(w);
        emit({ type: 'message', level: 'warn', text: w });
      }
    }
    const img = await finalizeImage(o.store, final, { labels: o.labels ?? {}, epoch: o.sourceDateEpoch });
    // What report/ needs to attribute layers: kept beside the image, not inside it.
    await o.store.writeMeta('images', img.manifest.digest, {
      baseLayerCount: final.baseLayerCount,
      sourceMap: final.historySources ?? [],
    } satisfies BuildRecord);
    const tags = o.tags ?? [];
    const outputs: OutputSpec[] = o.outputs && o.outputs.length > 0 ? [...o.outputs] : [{ type: 'image', names: tags, push: false }];
    const pushed: BuildResult['pushed'] = [];
    for (const out of outputs) {
      const spec = 'names' in out && out.names.length === 0 ? { ...out, names: tags } : out;
      const r = await runExporter(spec, {
        store: o.store,
        views,
        layers: final.layers,
        manifest: img.manifest,
        registry: getRegistry,
        baseName: final.baseName,
      });
      pushed.push(...r.pushed);
    }
    return {
      digest: img.manifest.digest,
      imageId: img.config.digest,
      manifestSize: img.manifest.size,
      config: img.configFile,
      tags,
      pushed,
      warnings,
      baseLayerCount: final.baseLayerCount,
      sourceMap: final.historySources ?? [],
    };
  } finally {
    await Promise.allSettled([...results.values()]);
    if (runtime) await (await runtime.catch(() => undefined))?.close();
    if (registry && !o.registry) await registry.close();
    await rm(tmp, { recursive: true, force: true });
  }
}

function isPredefined(k: string): boolean {
  return /^(HTTPS?_PROXY|FTP_PROXY|NO_PROXY|ALL_PROXY)$/i.test(k) || k.startsWith('BUILDKIT_');
}

function relName(p: string): string {
  const cwd = process.cwd();
  return p.startsWith(cwd + '/') ? p.slice(cwd.length + 1) : p;
}

/** Global ARGs (before the first FROM), with --build-arg values and the platform ARGs. */
export function resolveGlobalArgs(df: Dockerfile, buildArgs: Map<string, string>, platform: Platform): Map<string, string | undefined> {
  const args = new Map<string, string | undefined>(platformArgs(platform, platform));
  for (const ins of df.globalArgs) {
    for (const a of ins.args) {
      const def = a.value !== undefined ? expand(a.value, (n) => args.get(n), df.escapeToken) : undefined;
      args.set(a.key, buildArgs.has(a.key) ? buildArgs.get(a.key) : def);
    }
  }
  return args;
}

async function resolveNamedContexts(spec: Record<string, string>): Promise<Map<string, NamedContext>> {
  const out = new Map<string, NamedContext>();
  for (const [name, value] of Object.entries(spec)) {
    if (value.startsWith('docker-image://') || value.startsWith('oci-layout://')) {
      out.set(name, { kind: 'image', ref: value });
      continue;
    }
    if (/^(https?|git):\/\//.test(value)) throw new BuildUsageError(`named context ${name}: remote contexts are not supported yet`);
    const dir = resolve(value);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new BuildUsageError(`named context ${name}: ${value} is not a directory`);
    const ignore = await readDockerignore(dir);
    out.set(name, { kind: 'dir', root: { dir, excludes: ignore.patterns, isContext: true } });
  }
  return out;
}

async function loadSecrets(specs: SecretSpec[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const s of specs) {
    if (s.env !== undefined) {
      const v = process.env[s.env];
      if (v === undefined) throw new BuildUsageError(`secret ${s.id}: environment variable ${s.env} is not set`);
      out.set(s.id, Buffer.from(v));
    } else {
      const src = s.src ?? s.id;
      // docker: `--secret id=x` alone reads the env var x when no file is named
      const data = await readFile(src).catch(() => (process.env[s.id] !== undefined && s.src === undefined ? Buffer.from(process.env[s.id]!) : undefined));
      if (data === undefined) throw new BuildUsageError(`secret ${s.id}: cannot read ${src}`);
      out.set(s.id, data);
    }
  }
  return out;
}

function resolveSsh(spec: Record<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [id, sock] of Object.entries(spec)) {
    const path = sock || process.env.SSH_AUTH_SOCK;
    if (!path) throw new BuildUsageError(`--ssh ${id}: no socket given and SSH_AUTH_SOCK is not set`);
    out.set(id, path);
  }
  return out;
}
