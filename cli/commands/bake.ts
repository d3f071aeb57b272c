import { availableParallelism } from 'node:os';
import { TsbuildError } from '../../errors/tsbuild-error.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { printable } from '../bake/config.js';
import { applyOverrides, loadConfig, readConfigFiles, selectTargets, validateTargets } from '../bake/resolve.js';
import { runTargets } from '../bake/run.js';
import { abortOnSignals, HELP_FLAG, openStore, ROOT_FLAG, type Io } from '../common.js';
import { formatError } from '../errors.js';
import { NETWORK_TIMEOUT_FLAG, networkTimeouts } from '../network-flags.js';
import type { ProgressMode } from '../progress.js';

export const BAKE_FLAGS: FlagSpec[] = [
  { name: 'file', short: 'f', type: 'list', valueName: 'FILE', description: 'compose or bake file (repeatable, merged in order; default: compose.yaml, docker-bake.json, … in the working directory)' },
  { name: 'set', type: 'list', valueName: 'TARGET.KEY=VALUE', description: 'override a target field (TARGET may be * or a glob; args.NAME, labels.NAME, tags, target, platform, cache-from, cache-to, output, no-cache, pull, push, …)' },
  { name: 'print', type: 'bool', description: 'print the resolved configuration as JSON (bake --print shape) and build nothing' },
  { name: 'push', type: 'bool', description: 'push every built target (shorthand for --set *.push=true)' },
  { name: 'load', type: 'bool', description: 'keep the images in the local store (always done; accepted for docker compatibility)' },
  { name: 'no-cache', type: 'bool', description: 'do not use the cache for any target' },
  { name: 'pull', type: 'bool', description: 'always pull base images' },
  { name: 'progress', type: 'string', valueName: 'MODE', description: 'auto, plain, quiet or rawjson (each line names its target)', default: 'auto' },
  { name: 'parallel', type: 'string', valueName: 'N', description: 'targets built at once (default: the number of CPUs)' },
  { name: 'allow', type: 'list', valueName: 'ENTITLEMENT', description: 'security.insecure, network.host' },
  { name: 'runtime', type: 'string', valueName: 'NAME', description: 'OCI runtime for RUN: auto, runc or crun', default: 'auto' },
  { name: 'insecure-registry', type: 'list', valueName: 'HOST', description: 'talk plain HTTP to this registry' },
  NETWORK_TIMEOUT_FLAG,
  ROOT_FLAG,
  HELP_FLAG,
];

const USAGE = 'tsbuild bake [OPTIONS] [TARGET|GROUP...]';
const SUMMARY = `Build every image of a project from compose.yaml or docker-bake.json, in one process.

Targets are compose services with a build: section, or bake targets; groups name several (the
"default" group, or every compose service, when none is named). Identical stages of several
targets are built once. HCL bake files are not supported: use docker-bake.json.`;

export async function bakeCommand(argv: string[], io: Io): Promise<number> {
  const parsed = parseArgs(argv, BAKE_FLAGS);
  if (bool(parsed, 'help')) {
    io.out(helpText(USAGE, SUMMARY, BAKE_FLAGS, 'Exit status: 0 every target built, 1 a target failed, 2 usage error (a bad flag, bake/compose file or Dockerfile).'));
    return 0;
  }
  const mode = (str(parsed, 'progress') ?? 'auto') as ProgressMode;
  if (!['auto', 'plain', 'tty', 'quiet', 'rawjson'].includes(mode)) throw new UsageError(`invalid --progress ${mode}`);
  const runtime = str(parsed, 'runtime') ?? 'auto';
  if (!['auto', 'runc', 'crun'].includes(runtime)) throw new UsageError(`invalid --runtime ${runtime}`);
  const parallelFlag = str(parsed, 'parallel');
  const parallelism = parallelFlag === undefined ? availableParallelism() : Number(parallelFlag);
  if (!Number.isInteger(parallelism) || parallelism < 1) throw new UsageError(`invalid --parallel ${parallelFlag}: a whole number ≥ 1`);
  const timeouts = networkTimeouts(parsed);
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && !/^\d+$/.test(epoch)) throw new UsageError(`invalid SOURCE_DATE_EPOCH: ${epoch}`);

  const files = await readConfigFiles(list(parsed, 'file'), process.cwd());
  const config = await loadConfig(files, process.env);
  applyOverrides(config, [...(bool(parsed, 'no-cache') ? ['*.no-cache=true'] : []), ...(bool(parsed, 'pull') ? ['*.pull=true'] : []), ...list(parsed, 'set')]);
  const selected = selectTargets(config, parsed.positionals);
  for (const warning of config.warnings) io.err(`WARN: ${warning}\n`);
  if (bool(parsed, 'print')) {
    io.out(`${JSON.stringify(printable(config, selected), null, 2)}\n`);
    return 0;
  }
  validateTargets(config, selected);

  const store = await openStore(parsed);
  const interrupt = abortOnSignals('bake');
  try {
    const outcomes = await runTargets({
      store,
      targets: selected.map((name) => config.targets[name]!),
      push: bool(parsed, 'push'),
      progress: mode === 'tty' || mode === 'auto' ? 'plain' : mode,
      write: io.err,
      parallelism,
      common: { insecureRegistries: list(parsed, 'insecure-registry'), networkTimeouts: timeouts, runtime: { runtime: runtime as 'auto' }, allow: list(parsed, 'allow'), ...(epoch !== undefined ? { sourceDateEpoch: Number(epoch) } : {}) },
      signal: interrupt.signal,
    });
    const failed: string[] = [];
    for (const outcome of outcomes) {
      if (outcome.status === 'built') {
        for (const pushed of outcome.result.pushed) io.err(`${outcome.name}: pushed ${pushed.name}@${pushed.digest}\n`);
        io.err(`${outcome.name}: built ${outcome.result.imageId}${outcome.result.tags.length ? ` (${outcome.result.tags.join(', ')})` : ''}\n`);
      } else if (outcome.status === 'cancelled') io.err(`${outcome.name}: cancelled\n`);
      else {
        failed.push(outcome.name);
        io.err(`${outcome.name}: ${formatError(outcome.error)}`);
      }
    }
    if (failed.length > 0) throw new TsbuildError('TSB_BAKE_TARGET_FAILED', `target${failed.length > 1 ? 's' : ''} ${failed.map((n) => `"${n}"`).join(', ')} failed`, { targets: failed });
    if (interrupt.signal.aborted) throw interrupt.signal.reason;
    return 0;
  } finally {
    interrupt.release();
  }
}
