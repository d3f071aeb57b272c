import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseSize } from '../../report/units.js';
import { build } from '../../builder/build.js';
import { readBounded } from '../../builder/dockerfile-source.js';
import { parseCall, runBuildCheck } from '../build-check.js';
import { formatPlatform, hostPlatform } from '../../image/platform.js';
import { buildOutputs, parseAddHost, parseAnnotations, parseAttestations, parseCacheSpec, parseSecret, parseSecurityOpts, parseSsh, parseUlimit, ramInBytes } from '../specs.js';
import type { RunSettings } from '../../builder/build.js';
import { checkCgroupParent } from '../../runtime/builds.js';
import { bool, helpText, kvList, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { abortOnSignals, HELP_FLAG, openStore, ROOT_FLAG, stdio, type Io } from '../common.js';
import { GATE_FLAGS } from '../gate-flags.js';
import { NETWORK_TIMEOUT_FLAG, networkTimeouts } from '../network-flags.js';
import { createProgress, type ProgressMode } from '../progress.js';

/** Entitlements `--allow` grants (BuildKit's names). */
const ENTITLEMENTS = ['security.insecure', 'network.host'];

/**
 * Flags of docker's daemon builders that have no daemon to act on here: accepted so scripts keep
 * working, each with a one-line note on what it means for tsbuild.
 */
const DAEMON_FLAGS: Array<{ spec: FlagSpec; note: string }> = [
  { spec: { name: 'builder', type: 'string', valueName: 'NAME', description: 'accepted; tsbuild has no builder instances' }, note: 'tsbuild has no builder instances: the build runs in this process' },
  { spec: { name: 'rm', type: 'bool', description: 'accepted; RUN containers are always removed' }, note: 'RUN containers are always removed when their step ends' },
  { spec: { name: 'force-rm', type: 'bool', description: 'accepted; RUN containers are always removed' }, note: 'RUN containers are always removed, also after a failed step' },
  { spec: { name: 'compress', type: 'bool', description: 'accepted; the context is read in place' }, note: 'the context is read in place, never sent to a daemon: nothing to compress' },
  { spec: { name: 'squash', type: 'bool', description: 'accepted; layers are kept as built' }, note: 'ignored: layers are kept as built (BuildKit does not squash either)' },
  ...['memory', 'memory-swap', 'cpu-shares', 'cpu-period', 'cpu-quota', 'cpuset-cpus', 'cpuset-mems'].map((name) => ({
    spec: { name, ...(name === 'memory' ? { short: 'm' } : name === 'cpu-shares' ? { short: 'c' } : {}), type: 'string' as const, valueName: 'VALUE', description: 'accepted; no per-build resource limits' },
    note: 'ignored: tsbuild sets no resource limits on RUN (as BuildKit, which ignores it too)',
  })),
];

export const BUILD_FLAGS: FlagSpec[] = [
  { name: 'tag', short: 't', type: 'list', valueName: 'NAME[:TAG]', description: 'name and optionally a tag (repeatable)' },
  { name: 'file', short: 'f', type: 'string', valueName: 'PATH', description: 'Dockerfile path (default CONTEXT/Dockerfile; - reads stdin)' },
  { name: 'build-arg', type: 'list', valueName: 'K=V', description: 'set a build-time variable (repeatable)' },
  { name: 'target', type: 'string', valueName: 'STAGE', description: 'build this stage and what it needs' },
  { name: 'label', type: 'list', valueName: 'K=V', description: 'set image metadata' },
  { name: 'output', short: 'o', type: 'list', valueName: 'SPEC', description: 'type=image|registry|oci|docker|local|tar[,dest=…][,name=…][,push=true]' },
  { name: 'push', type: 'bool', description: 'shorthand for --output type=image,push=true' },
  { name: 'load', type: 'bool', description: 'keep the image in the local store (the default with -t)' },
  { name: 'no-cache', type: 'bool', description: 'do not use cache when building' },
  { name: 'no-cache-filter', type: 'list', valueName: 'STAGE', description: 'do not use the cache for this stage' },
  { name: 'cache-from', type: 'list', valueName: 'SPEC', description: 'type=registry,ref=REPO:TAG or type=local,src=DIR' },
  { name: 'cache-to', type: 'list', valueName: 'SPEC', description: 'type=registry,ref=REPO:TAG[,mode=min|max][,cache-mounts=true[,cache-mounts-max=SIZE]] or type=local,dest=DIR' },
  { name: 'explain-cache', type: 'bool', description: 'say in full why each step missed the cache' },
  { name: 'pull', type: 'bool', description: 'always pull base images' },
  { name: 'platform', type: 'string', valueName: 'OS/ARCH[,…]', description: 'target platform(s); several build an OCI image index (foreign RUN needs qemu binfmt: tsbuild binfmt)' },
  { name: 'build-context', type: 'list', valueName: 'NAME=VALUE', description: 'named context: DIR, oci-layout://PATH[:TAG], docker-image://REF, a git URL or an http(s) file' },
  { name: 'secret', type: 'list', valueName: 'id=ID[,src=FILE|env=VAR]', description: 'secret for RUN --mount=type=secret' },
  { name: 'ssh', type: 'list', valueName: 'default|ID[=SOCKET]', description: 'SSH agent socket for RUN --mount=type=ssh' },
  { name: 'network', type: 'string', valueName: 'MODE', description: 'RUN network: default, none or host' },
  { name: 'allow', type: 'list', valueName: 'ENTITLEMENT', description: 'security.insecure, network.host' },
  { name: 'add-host', type: 'list', valueName: 'NAME:IP', description: "add a line to RUN's /etc/hosts (repeatable; IP may be host-gateway)" },
  { name: 'ulimit', type: 'list', valueName: 'NAME=SOFT[:HARD]', description: 'resource limit for RUN, e.g. nofile=1024:2048 (repeatable)' },
  { name: 'shm-size', type: 'string', valueName: 'SIZE', description: "size of RUN's /dev/shm, e.g. 128m", default: '64m' },
  { name: 'cgroup-parent', type: 'string', valueName: 'PATH', description: 'parent cgroup of the RUN containers' },
  { name: 'security-opt', type: 'list', valueName: 'OPT', description: 'seccomp=unconfined|PROFILE.json, no-new-privileges' },
  { name: 'annotation', type: 'list', valueName: '[TYPE:]K=V', description: 'annotation on the manifest (TYPE: manifest, manifest-descriptor, index, index-descriptor)' },
  { name: 'attest', type: 'list', valueName: 'type=provenance|sbom[,…]', description: 'attach an in-toto attestation (the result becomes an index)' },
  { name: 'provenance', type: 'string', valueName: 'true|false|mode=min|max[,version=v1|v0.2]', description: 'shorthand for --attest type=provenance' },
  { name: 'sbom', type: 'string', valueName: 'true|false', description: 'shorthand for --attest type=sbom (an SPDX SBOM of dpkg, apk and npm packages)' },
  { name: 'progress', type: 'string', valueName: 'MODE', description: 'auto, plain, tty, quiet or rawjson', default: 'auto' },
  { name: 'quiet', short: 'q', type: 'bool', description: 'print only the image ID' },
  { name: 'iidfile', type: 'string', valueName: 'FILE', description: 'write the image ID to FILE' },
  { name: 'metadata-file', type: 'string', valueName: 'FILE', description: 'write build result metadata (JSON) to FILE' },
  { name: 'runtime', type: 'string', valueName: 'NAME', description: 'OCI runtime for RUN: auto, runc or crun', default: 'auto' },
  { name: 'snapshotter', type: 'string', valueName: 'NAME', description: 'auto, overlay or copy', default: 'auto' },
  {
    name: 'isolation',
    type: 'string',
    valueName: 'MODE',
    description:
      'RUN isolation: container (runc/crun), or chroot for root in an unprivileged container (no namespaces: RUN shares the container\'s processes and network, keeps its capabilities, gets no seccomp profile, /proc or RUN --mount; the container is the only boundary)',
    default: 'container',
  },
  { name: 'timeout', type: 'string', valueName: 'SECONDS', description: 'time limit for each RUN step' },
  { name: 'insecure-registry', type: 'list', valueName: 'HOST', description: 'talk plain HTTP to this registry' },
  NETWORK_TIMEOUT_FLAG,
  { name: 'check', type: 'bool', description: "run BuildKit's build checks and build nothing (= --call check)" },
  { name: 'call', type: 'string', valueName: 'NAME[,format=FMT]', description: 'build (default) or check[,format=json]' },
  { name: 'report', type: 'optional', valueName: 'FILE', description: 'size report of the result (stderr, or FILE; .html/.json pick the format)' },
  ...GATE_FLAGS,
  ...DAEMON_FLAGS.map((d) => d.spec),
  ROOT_FLAG,
  HELP_FLAG,
];

/** A check that throws a runtime/ error, as a usage error (exit 2). */
function usageCheck<T>(check: () => T): T {
  try {
    return check();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** TSBUILD_CONTEXT_MAX_BYTES: the size limit of a tar, download or git context (default 8 GiB). */
function contextLimits(env: NodeJS.ProcessEnv = process.env): { maxBytes?: number } {
  const text = env['TSBUILD_CONTEXT_MAX_BYTES'];
  if (text === undefined || text === '') return {};
  let bytes: number;
  try {
    bytes = parseSize(text);
  } catch {
    bytes = NaN;
  }
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`invalid TSBUILD_CONTEXT_MAX_BYTES ${JSON.stringify(text)}: want a size such as 500MB or 2GiB`);
  return { maxBytes: bytes };
}

export async function buildCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, BUILD_FLAGS);
  if (bool(p, 'help')) {
    io.out(helpText('tsbuild build [OPTIONS] CONTEXT', 'Build an image from a Dockerfile. CONTEXT is a directory, - (a tar or a Dockerfile on stdin), a tar file,\nan http(s) URL (a tar, or a Dockerfile) or a git URL (https://…/repo.git#ref:subdir, git@host:repo, ssh://…).', BUILD_FLAGS, 'Exit status: 0 built, 1 the build failed, 2 usage error (a bad flag or Dockerfile), 3 a --report gate failed.'));
    return 0;
  }
  if (p.positionals.length !== 1) throw new UsageError('"tsbuild build" requires exactly 1 argument (the context: a directory, -, a tar file, or an http(s) or git URL)');
  const contextDir = p.positionals[0]!;
  const file = str(p, 'file');
  let dockerfileText: string | undefined;
  if (file === '-') dockerfileText = await readBounded(process.stdin, 'Dockerfile');
  const call = parseCall(str(p, 'call'), bool(p, 'check'));
  if (call.name === 'check') {
    const checkOpts = {
      contextDir,
      ...(file !== '-' && file !== undefined ? { dockerfile: file } : {}),
      ...(dockerfileText !== undefined ? { dockerfileText } : {}),
      ...(contextDir === '-' ? { stdin: process.stdin } : {}),
    };
    const root = str(p, 'root');
    return runBuildCheck({ ...checkOpts, ...(root !== undefined ? { storeRoot: root } : {}), insecureRegistries: list(p, 'insecure-registry'), timeouts: networkTimeouts(p), format: call.format }, io);
  }
  const mode = (bool(p, 'quiet') ? 'quiet' : (str(p, 'progress') ?? 'auto')) as ProgressMode;
  if (!['auto', 'plain', 'tty', 'quiet', 'rawjson'].includes(mode)) throw new UsageError(`invalid --progress ${mode}`);
  const tags = list(p, 'tag');
  const outputs = buildOutputs(list(p, 'output'), bool(p, 'push'), tags);
  const network = str(p, 'network');
  if (network !== undefined && !['default', 'none', 'host'].includes(network)) throw new UsageError(`invalid --network ${network}`);
  const runtime = str(p, 'runtime') ?? 'auto';
  if (!['auto', 'runc', 'crun'].includes(runtime)) throw new UsageError(`invalid --runtime ${runtime}`);
  const snapshotter = str(p, 'snapshotter') ?? 'auto';
  if (!['auto', 'overlay', 'copy'].includes(snapshotter)) throw new UsageError(`invalid --snapshotter ${snapshotter}`);
  const isolation = str(p, 'isolation') ?? 'container';
  if (!['container', 'chroot'].includes(isolation)) throw new UsageError(`invalid --isolation ${isolation} (container or chroot)`);
  for (const a of list(p, 'allow')) {
    if (!ENTITLEMENTS.includes(a)) throw new UsageError(`invalid --allow ${JSON.stringify(a)} (${ENTITLEMENTS.join(', ')})`);
  }
  const notes: string[] = [];
  for (const d of DAEMON_FLAGS) if (p.flags.has(d.spec.name)) notes.push(`--${d.spec.name}: ${d.note}`);
  const security = parseSecurityOpts(list(p, 'security-opt'), (path) => readFileSync(path, 'utf8'));
  notes.push(...security.notes);
  const attest = parseAttestations(list(p, 'attest'), str(p, 'provenance'), str(p, 'sbom'));
  notes.push(...attest.notes);
  const annotations = parseAnnotations(list(p, 'annotation'), str(p, 'platform') ?? formatPlatform(hostPlatform()));
  const shmSize = str(p, 'shm-size');
  const cgroupParent = str(p, 'cgroup-parent');
  const run: RunSettings = {
    ...(p.flags.has('add-host') ? { extraHosts: list(p, 'add-host').flatMap(parseAddHost) } : {}),
    ...(p.flags.has('ulimit') ? { ulimits: list(p, 'ulimit').map(parseUlimit) } : {}),
    ...(shmSize !== undefined ? { shmSize: ramInBytes(shmSize, 'shm-size') } : {}),
    ...(cgroupParent !== undefined ? { cgroupParent: usageCheck(() => checkCgroupParent(cgroupParent)) } : {}),
    ...(Object.keys(security.options).length > 0 ? { securityOptions: security.options } : {}),
  };
  const timeout = str(p, 'timeout');
  const timeouts = networkTimeouts(p);
  const epochEnv = process.env.SOURCE_DATE_EPOCH;
  if (epochEnv !== undefined && !/^\d+$/.test(epochEnv)) throw new UsageError(`invalid SOURCE_DATE_EPOCH: ${epochEnv}`);
  const store = await openStore(p);
  const progress = createProgress(mode, { write: io.err, isTTY: io === stdio && process.stderr.isTTY === true });
  if (mode !== 'quiet') for (const n of notes) io.err(`note: ${n}\n`);
  const interrupt = abortOnSignals('build');
  try {
    const r = await build({
      store,
      contextDir,
      ...(contextDir === '-' ? { stdin: process.stdin } : {}),
      contextLimits: contextLimits(),
      dockerfile: file === '-' ? undefined : file,
      dockerfileText,
      buildArgs: kvList(list(p, 'build-arg'), 'build-arg'),
      target: str(p, 'target'),
      labels: kvList(list(p, 'label'), 'label'),
      tags,
      outputs,
      noCache: bool(p, 'no-cache'),
      noCacheFilter: list(p, 'no-cache-filter'),
      cacheFrom: list(p, 'cache-from').map((c) => parseCacheSpec(c, 'from')),
      cacheTo: list(p, 'cache-to').map((c) => parseCacheSpec(c, 'to')),
      pull: bool(p, 'pull'),
      platform: str(p, 'platform'),
      namedContexts: kvList(list(p, 'build-context'), 'build-context'),
      secrets: list(p, 'secret').map(parseSecret),
      ssh: parseSsh(list(p, 'ssh')),
      network: network as 'default' | 'none' | 'host' | undefined,
      allow: list(p, 'allow'),
      run,
      attest: attest.options,
      annotations,
      sourceDateEpoch: epochEnv !== undefined ? Number(epochEnv) : undefined,
      runtime: { runtime: runtime as 'auto', snapshotter: snapshotter as 'auto', isolation: isolation as 'container' },
      insecureRegistries: list(p, 'insecure-registry'),
      networkTimeouts: timeouts,
      stepTimeoutMs: timeout !== undefined ? Number(timeout) * 1000 : undefined,
      onEvent: (e) => progress.onEvent(e),
      signal: interrupt.signal,
    }).finally(() => progress.close());
    const iid = str(p, 'iidfile');
    if (iid) await writeFile(iid, r.imageId);
    const meta = str(p, 'metadata-file');
    if (meta) {
      await writeFile(
        meta,
        JSON.stringify(
          {
            'containerimage.digest': r.index?.digest ?? r.digest,
            // a multi-platform build's result is an index: no single config (as buildx writes it)
            ...(r.platforms ? {} : { 'containerimage.config.digest': r.imageId }),
            'containerimage.descriptor': r.index
              ? { mediaType: r.index.mediaType, digest: r.index.digest, size: r.index.size, ...(r.index.annotations ? { annotations: r.index.annotations } : {}) }
              : { mediaType: r.platforms ? 'application/vnd.oci.image.index.v1+json' : 'application/vnd.oci.image.manifest.v1+json', digest: r.digest, size: r.manifestSize },
            ...(tags.length ? { 'image.name': tags.join(',') } : {}),
          },
          null,
          2,
        ) + '\n',
      );
    }
    const report = str(p, 'report');
    if (report !== undefined) {
      const { analyzeImage } = await import('../../report/index.js');
      const { storeImage } = await import('../../cache/store-image.js');
      const { gatesFrom, renderAndGate } = await import('./analyze.js');
      // of a multi-platform build, the first platform's image (its layers are what the others repeat)
      const reported = r.platforms?.[0];
      if (reported) io.err(`report: the ${reported.platform} image (the first of ${r.platforms!.length} platforms)\n`);
      const rep = await analyzeImage(storeImage(store, reported?.digest ?? r.digest), { baseLayerCount: r.baseLayerCount, sourceMap: r.sourceMap });
      const file = report === 'true' ? undefined : report;
      const fmt = file?.endsWith('.html') ? 'html' : file?.endsWith('.json') ? 'json' : 'text';
      const flags = { ...p, flags: new Map([...p.flags, ['format', [fmt]]]) };
      await renderAndGate(rep, flags, file ? io : { out: io.err, err: io.err }, gatesFrom(p), file);
    }
    if (bool(p, 'explain-cache')) {
      io.err(`cache: ${r.stats.cached} step(s) reused, ${r.stats.executed} executed\n`);
      for (const m of r.cacheMisses) {
        io.err(`${m.step.split('\n')[0]} (${m.loc ? `${m.loc.file}:${m.loc.line}` : '?'}):\n${m.reasons.map((x) => `  - ${x}`).join('\n')}\n`);
      }
    }
    if (mode === 'quiet') io.out(`${r.imageId}\n`);
    else {
      for (const x of r.pushed) io.err(`pushed ${x.name}@${x.digest}\n`);
      if (r.platforms) io.err(`built index ${r.digest}${tags.length ? ` (${tags.join(', ')})` : ''}: ${r.platforms.map((x) => `${x.platform} ${x.digest}`).join(', ')}\n`);
      else io.err(`built ${r.imageId}${tags.length ? ` (${tags.join(', ')})` : ''}  manifest ${r.digest}${r.index ? `  index ${r.index.digest}` : ''}\n`);
    }
    return 0;
  } finally {
    interrupt.release();
  }
}

