import { posix } from 'node:path';
import type { EnvLookup } from '../../parser/shell.js';
import { heredocScript, type Instruction } from '../../parser/instructions.js';
import type { TarSource } from '../../image/tar/writer.js';
import { createTarStream } from '../../image/tar/writer.js';
import type { RunMount } from '../../runtime/index.js';
import { checkEmulation } from '../../runtime/binfmt.js';
import { BuildUsageError, RunStepFailedError, type SourceLocation } from '../errors.js';
import type { BuildSession } from '../session.js';
import type { RunSettings } from '../build.js';
import { envMap, withLayer, addHistory, shellOf, type StageState } from '../stage-state.js';
import { expand, PREDEFINED_ARGS, stepEnvironment } from '../vars.js';
import { clampToEpoch } from '../epoch.js';
import { layersFor } from '../stage-sources.js';
import { describeStep, lookupStep, previousLayerOfStep, recordStep } from '../step-cache.js';
import { fileDigest, treeDigest } from '../../cache/keys.js';
import { walkContext } from '../context.js';
import { sha256, type Digest } from '../../image/digest.js';

type RunInstruction = Extract<Instruction, { kind: 'run' }>;

/** RUN: build the process and mounts, run it in runtime/, and turn its diff into a layer. */
export async function runStep(
  session: BuildSession,
  state: StageState,
  ins: RunInstruction,
  id: string,
  lookup: EnvLookup,
  created: string,
  index: string,
  display: string,
): Promise<StageState & { cacheHit?: boolean; missReason?: string }> {
  const loc: SourceLocation = { file: ins.loc.file, line: ins.loc.line, column: ins.loc.column };
  const esc = session.df.escapeToken;
  const args = processArgs(ins, shellOf(state));
  const network = ins.network !== undefined ? parseNetwork(expand(ins.network, lookup, esc), loc) : session.network;
  const security = ins.security !== undefined ? expand(ins.security, lookup, esc) : 'sandbox';
  if (security !== 'sandbox' && security !== 'insecure') throw new BuildUsageError(`invalid --security value: ${security}`, loc);
  if (security === 'insecure' && !session.allow.has('security.insecure')) {
    throw new BuildUsageError('RUN --security=insecure needs --allow security.insecure', loc);
  }
  if (network === 'host' && ins.network !== undefined && !session.allow.has('network.host')) {
    // docker requires the entitlement for RUN --network=host; the CLI's --network host grants it.
    throw new BuildUsageError('RUN --network=host needs --allow network.host', loc);
  }
  const secretEnv: SecretEnv = { values: [], names: [] };
  const mounts: RunMount[] = [];
  const mountKeys: Array<Record<string, unknown>> = [];
  const mountInputs: Array<{ name: string; digest: Digest }> = [];
  for (const raw of ins.mounts) {
    const m = await parseMount(session, expand(raw, lookup, esc), state, loc, secretEnv);
    if (!m) continue;
    if ('absentKey' in m) {
      mountKeys.push(m.absentKey);
      continue;
    }
    mounts.push(m);
    const k = await mountKey(session, m);
    mountKeys.push(k.op);
    if (k.input) mountInputs.push(k.input);
  }

  // ENV and valued ARGs (the later declaration wins, inherited from a parent stage too).
  const env = stepEnvironment(envMap(state.config), state.argEnv);
  // History names every ARG this stage declared, valued from the environment (BuildKit's runCommandString).
  const argEnv: string[] = [];
  for (const [k, v] of state.args) argEnv.push(`${k}=${env.get(k) ?? v ?? ''}`);
  const proxies: string[] = [];
  for (const [k, v] of session.buildArgs) {
    if (PREDEFINED_ARGS.has(k) && !state.args.has(k)) proxies.push(`${k}=${v}`);
  }
  if (!env.has('PATH')) env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  const processEnv = [...[...env].map(([k, v]) => `${k}=${v}`), ...proxies, ...secretEnv.values];

  // History shows build args the step saw, as docker does (`|1 VERSION=1.2 /bin/sh -c …`).
  const argPrefix = argEnv.length > 0 ? `|${argEnv.length} ${argEnv.join(' ')} ` : '';
  const createdBy = `RUN ${argPrefix}${args.join(' ')} # buildkit`;
  const history = { created, created_by: createdBy, comment: 'buildkit.dockerfile.v0' };
  // The key: the command, its environment and mounts — never secret values, cache-mount ids or proxy args.
  const visibleArgs = Object.fromEntries([...state.args].filter(([, v]) => v !== undefined));
  const step = describeStep(session, state, Number.isNaN(Number(index)) ? 0 : Number(index), {
    type: 'run',
    op: {
      cmd: args,
      env: [...[...env].map(([k, v]) => `${k}=${v}`)],
      args: { ...visibleArgs, ...Object.fromEntries(proxies.map((p) => p.split('=', 2) as [string, string])) },
      user: state.config.config.User ?? '',
      cwd: state.config.config.WorkingDir || '/',
      network,
      security,
      mounts: mountKeys,
      secretEnv: secretEnv.names,
      // as BuildKit's ExecOp key: host names (not their addresses), limits, /dev/shm, cgroup parent
      ...runSettingsKey(session.run),
    },
    inputs: mountInputs,
  });
  const hit = await lookupStep(session, state, step, history, display, { file: loc.file, line: loc.line });
  if (hit.state) return { ...hit.state, cacheHit: true };

  // a foreign platform runs through a binfmt_misc emulator: without one, fail before the step starts
  await checkEmulation(session.buildPlatform, state.platform);
  const runtime = await session.runtime();
  const result = await runtime.runStep(
    {
      lowers: state.layers.map((l) => session.views.toLayer(l)),
      args,
      env: processEnv,
      cwd: state.config.config.WorkingDir || '/',
      user: state.config.config.User || undefined,
      network,
      security,
      mounts,
      ...(session.run.extraHosts ? { extraHosts: session.run.extraHosts } : {}),
      ...(session.run.ulimits ? { ulimits: session.run.ulimits } : {}),
      ...(session.run.shmSize !== undefined ? { shmSize: session.run.shmSize } : {}),
      ...(session.run.securityOptions ? { securityOptions: session.run.securityOptions } : {}),
      timeoutMs: session.stepTimeoutMs,
      signal: session.signal,
      onOutput: (stream, line) => session.emit({ type: 'log', id, stream, line }),
    },
    async (diff) => {
      // an empty diff (`RUN true`, a step that only reads) makes no layer: nothing to tar, gzip or store
      const entriesOf = diff[Symbol.asyncIterator]();
      const first = await entriesOf.next();
      if (first.done) return null;
      const headers: TarSource['header'][] = [];
      const counted = countEntries(withFirst(first.value, entriesOf), (e) => headers.push(e.header));
      // members this step's previous layer shares (an unchanged node_modules) are copied, not deflated
      const previous = await previousLayerOfStep(session, step.stepId);
      const layer = await session.store.ingestLayer(createTarStream(mapEntries(counted, (e) => clampToEpoch(e, session.epoch))), previous ? { reuseFrom: [previous.desc.digest] } : {});
      // its header index, for a later COPY --from or WORKDIR on top (no gunzip to learn it)
      await session.views.rememberIndex(layer.diffID, headers);
      return layer;
    },
    // the step's upper dir becomes the layer's snapshot: a RUN on top of it unpacks nothing
    (layer) => layer?.diffID,
  );
  if (result.exitCode !== 0 || result.committed === undefined) {
    throw new RunStepFailedError(args.join(' '), result.exitCode, result.lastLines, result.logFile, loc);
  }
  const missReason = hit.reasons.join('; ');
  if (result.committed === null) {
    await recordStep(session, state, step, undefined, created);
    return { ...state, config: addHistory(state, { ...history, empty_layer: true }), cacheKey: step.key, missReason };
  }
  const c = result.committed;
  const ref = { desc: c.desc, diffID: c.diffID };
  await recordStep(session, state, step, ref, created);
  return { ...withLayer(state, ref, history), cacheKey: step.key, missReason };
}

/**
 * The command line's RUN settings in a step's key, only when given (keys of builds without them
 * stay as they were). BuildKit keeps an extra host's name but not its IP in the key.
 */
function runSettingsKey(r: RunSettings): Record<string, unknown> {
  const seccomp = r.securityOptions?.seccomp;
  return {
    ...(r.extraHosts?.length ? { extraHosts: r.extraHosts.map((h) => h.host) } : {}),
    ...(r.ulimits?.length ? { ulimits: r.ulimits.map((u) => `${u.name}=${u.soft}:${u.hard}`) } : {}),
    ...(r.shmSize !== undefined ? { shmSize: r.shmSize } : {}),
    ...(r.cgroupParent ? { cgroupParent: r.cgroupParent } : {}),
    ...(seccomp !== undefined ? { seccomp: seccomp === 'unconfined' ? seccomp : sha256(JSON.stringify(seccomp)) } : {}),
    ...(r.securityOptions?.noNewPrivileges ? { noNewPrivileges: true } : {}),
  };
}

async function* mapEntries(src: AsyncIterable<TarSource>, fn: (e: TarSource) => TarSource): AsyncGenerator<TarSource> {
  for await (const e of src) yield fn(e);
}

async function* withFirst<E>(first: E, rest: AsyncIterator<E>): AsyncGenerator<E> {
  yield first;
  for (let next = await rest.next(); !next.done; next = await rest.next()) yield next.value;
}

async function* countEntries(src: AsyncIterable<TarSource>, seen: (e: TarSource) => void): AsyncGenerator<TarSource> {
  for await (const e of src) {
    seen(e);
    yield e;
  }
}

/**
 * The process arguments. Shell form goes through SHELL; a RUN whose command is
 * only a heredoc runs the heredoc body as the script; other heredocs stay in
 * the script text, where the shell itself reads them (as BuildKit does).
 */
export function processArgs(ins: RunInstruction, shell: string[]): string[] {
  if (ins.cmd.form === 'exec') return [...ins.cmd.args];
  if (ins.scriptFromHeredoc) {
    const body = ins.cmd.script;
    if (body.startsWith('#!')) {
      // A shebang names the interpreter: BuildKit runs the body as a file.
      return [...shell, `cat > /tmp/.tsbuild-heredoc <<'TSBUILD_EOF'\n${body}${body.endsWith('\n') ? '' : '\n'}TSBUILD_EOF\nchmod +x /tmp/.tsbuild-heredoc && /tmp/.tsbuild-heredoc; rc=$?; rm -f /tmp/.tsbuild-heredoc; exit $rc`];
    }
    return [...shell, body];
  }
  // Heredocs fed to a command stay in the script text; the shell reads them itself.
  return [...shell, heredocScript(ins)];
}

/** What of a mount enters the key: its kind and target, the content it shows — never a secret or a cache id. */
async function mountKey(s: BuildSession, m: RunMount): Promise<{ op: Record<string, unknown>; input?: { name: string; digest: Digest } }> {
  switch (m.type) {
    case 'cache':
      return { op: { type: 'cache', target: m.target, id: m.id, sharing: m.sharing, readonly: m.readonly ?? false, uid: m.uid ?? null, gid: m.gid ?? null, mode: m.mode ?? null } };
    case 'tmpfs':
      return { op: { type: 'tmpfs', target: m.target, size: m.size ?? null } };
    case 'secret':
      return { op: secretMountKey(m) };
    case 'ssh':
      return { op: sshMountKey(m.target) };
    case 'bind': {
      const op = { type: 'bind', target: m.target, source: m.source, readwrite: m.readwrite ?? false };
      if ('layers' in m.from) {
        const ids = await Promise.all(m.from.layers.map((l) => l.diffID()));
        return { op, input: { name: `bind:${m.target}`, digest: sha256(ids.join('\n')) } };
      }
      // A bind of a context directory: the content under `source`, through the metadata cache.
      const dir = m.from.hostDir;
      const hasher = s.stepCache ? await s.stepCache.hasher(dir) : undefined;
      const rel = m.source.replace(/^\/+/, '').replace(/\/+$/, '');
      const excludes = dir === s.context.dir ? s.context.excludes : [];
      const files: Array<{ path: string; digest: Digest }> = [];
      for await (const e of walkContext(dir, { excludes, ...(rel ? { includes: [rel] } : {}) })) {
        if (rel && e.path !== rel && !e.path.startsWith(rel + '/')) continue;
        const content = e.type === 'file' && hasher ? await hasher.hashFile(e.absPath, { size: e.size, mtimeMs: e.mtimeMs, ctimeMs: e.ctimeMs, ino: e.ino, mode: 0o100000 | e.mode }) : undefined;
        const type = e.type === 'other' ? 'file' : e.type;
        files.push({ path: e.path, digest: fileDigest({ type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, linkname: e.linkTarget }, content) });
      }
      return { op, input: { name: `bind:${m.target}`, digest: treeDigest(files) } };
    }
  }
}

function parseNetwork(v: string, loc: SourceLocation): 'default' | 'none' | 'host' {
  if (v === 'default' || v === 'none' || v === 'host') return v;
  throw new BuildUsageError(`unsupported network mode ${JSON.stringify(v)} (default, none or host)`, loc);
}

function parseKv(spec: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of splitCsv(spec)) {
    const i = part.indexOf('=');
    if (i < 0) m.set(part.trim().toLowerCase(), 'true');
    else m.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return m;
}

function splitCsv(s: string): string[] {
  // BuildKit parses --mount as CSV: quoted fields may contain commas.
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (const c of s) {
    if (c === '"') q = !q;
    else if (c === ',' && !q) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur !== '') out.push(cur);
  return out;
}

function bool(v: string | undefined): boolean {
  return v === 'true' || v === '1' || v === '';
}

function num(v: string | undefined, base = 10): number | undefined {
  if (v === undefined) return undefined;
  const n = parseInt(v, base);
  return Number.isNaN(n) ? undefined : n;
}

/**
 * Secret environment variables of a RUN: the values it runs with, and the names that enter its
 * cache key whether or not the secret was given (BuildKit: secrets never reach a cache key, so a
 * rebuild without one reuses the step).
 */
export interface SecretEnv {
  values: string[];
  names: string[];
}

function secretMountKey(m: { target: string; mode?: number; uid?: number; gid?: number }): Record<string, unknown> {
  return { type: 'secret', target: m.target, mode: m.mode ?? null, uid: m.uid ?? null, gid: m.gid ?? null };
}

function sshMountKey(target: string): Record<string, unknown> {
  return { type: 'ssh', target };
}

/** A declared secret or ssh mount that was not provided: the step runs without it, keyed as if it had it. */
export interface AbsentMount {
  absentKey: Record<string, unknown>;
}

export async function parseMount(
  session: BuildSession,
  spec: string,
  state: StageState,
  loc: SourceLocation,
  secretEnv: SecretEnv,
): Promise<RunMount | AbsentMount | undefined> {
  const kv = parseKv(spec);
  const type = kv.get('type') ?? 'bind';
  const target = kv.get('target') ?? kv.get('dst') ?? kv.get('destination');
  const abs = (t: string): string => posix.resolve(state.config.config.WorkingDir || '/', t);
  const readonly = kv.has('ro') || kv.has('readonly') ? bool(kv.get('ro') ?? kv.get('readonly')) : undefined;
  switch (type) {
    case 'cache': {
      if (!target) throw new BuildUsageError('cache mount needs a target', loc);
      const sharing = kv.get('sharing') ?? 'shared';
      if (sharing !== 'shared' && sharing !== 'private' && sharing !== 'locked') {
        throw new BuildUsageError(`invalid cache sharing mode ${sharing}`, loc);
      }
      session.cacheMountIds.add(kv.get('id') ?? abs(target));
      return {
        type: 'cache',
        target: abs(target),
        id: kv.get('id') ?? abs(target),
        sharing,
        readonly: readonly ?? false,
        uid: num(kv.get('uid')),
        gid: num(kv.get('gid')),
        mode: num(kv.get('mode'), 8),
      };
    }
    case 'bind': {
      if (!target) throw new BuildUsageError('bind mount needs a target', loc);
      const from = kv.get('from');
      const source = kv.get('source') ?? kv.get('src') ?? '/';
      const readwrite = kv.has('rw') || kv.has('readwrite') ? bool(kv.get('rw') ?? kv.get('readwrite')) : false;
      if (from === undefined) {
        return { type: 'bind', target: abs(target), source, from: { hostDir: session.context.dir }, readwrite };
      }
      const nc = session.namedContexts.get(from);
      if (nc?.kind === 'dir') return { type: 'bind', target: abs(target), source, from: { hostDir: nc.root.dir }, readwrite };
      const layers = await layersFor(session, state.label, from, { loc, text: `RUN --mount=${spec}` });
      return { type: 'bind', target: abs(target), source, from: { layers: layers.map((l) => session.views.toLayer(l)) }, readwrite };
    }
    case 'tmpfs':
      if (!target) throw new BuildUsageError('tmpfs mount needs a target', loc);
      return { type: 'tmpfs', target: abs(target), size: parseSizeOpt(kv.get('size')) };
    case 'secret': {
      const id = kv.get('id') ?? (target ? posix.basename(target) : undefined);
      if (!id) throw new BuildUsageError('secret mount needs an id or a target', loc);
      const data = session.secrets.get(id);
      const required = bool(kv.get('required') ?? 'false') && kv.has('required');
      const envName = kv.get('env');
      if (envName) secretEnv.names.push(envName);
      const file = { target: abs(target ?? `/run/secrets/${id}`), mode: num(kv.get('mode'), 8) ?? 0o400, uid: num(kv.get('uid')), gid: num(kv.get('gid')) };
      const mountsFile = !envName || target !== undefined;
      if (!data) {
        if (required) throw new BuildUsageError(`secret ${id} is required but was not provided (pass it with --secret id=${id},src=FILE or env=VAR)`, loc);
        session.emit({ type: 'message', level: 'warn', text: `secret ${id} was not provided: RUN runs without it (pass --secret id=${id},src=FILE; required=true makes this an error)`, loc: { file: loc.file, line: loc.line } });
        return mountsFile ? { absentKey: secretMountKey(file) } : undefined;
      }
      if (envName) secretEnv.values.push(`${envName}=${data.toString('utf8')}`);
      return mountsFile ? { type: 'secret', data, ...file } : undefined;
    }
    case 'ssh': {
      const id = kv.get('id') ?? 'default';
      const sock = session.ssh.get(id);
      const t = abs(target ?? '/run/buildkit/ssh_agent.0');
      secretEnv.names.push('SSH_AUTH_SOCK');
      if (!sock) {
        if (kv.has('required') && bool(kv.get('required'))) throw new BuildUsageError(`no SSH agent for id ${id} (pass --ssh ${id})`, loc);
        session.emit({ type: 'message', level: 'warn', text: `ssh agent ${id} was not provided: RUN runs without it (pass --ssh ${id})`, loc: { file: loc.file, line: loc.line } });
        return { absentKey: sshMountKey(t) };
      }
      secretEnv.values.push(`SSH_AUTH_SOCK=${t}`);
      return { type: 'ssh', target: t, socketPath: sock, mode: num(kv.get('mode'), 8) ?? 0o600, uid: num(kv.get('uid')), gid: num(kv.get('gid')) };
    }
    default:
      throw new BuildUsageError(`unsupported mount type ${JSON.stringify(type)}`, loc);
  }
}

function parseSizeOpt(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d+)([kmg]?)b?$/i.exec(v);
  if (!m) return undefined;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}
