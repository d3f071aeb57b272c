/**
 * hadolint's Dockerfile rules under their own DL codes, messages and
 * severities (facts from hadolint's rule sources; the code is ours). RUN
 * rules read the command through the POSIX shell parser in posix-shell.ts,
 * never with regexes over the text.
 */
import type { Instruction, Location, RunInstruction, Stage } from './instructions.js';
import type { LintRule, LintSeverity, LintWarning } from './lint.js';
import {
  argsWithoutFlags,
  basename,
  commandHasArgs,
  countFlag,
  hasFlag,
  parseShell,
  type ParsedShell,
  type SimpleCommand,
} from './posix-shell.js';

const WIKI = 'https://github.com/hadolint/hadolint/wiki/';

function dl(code: string, severity: LintSeverity, message: string): LintRule {
  return { name: code, description: message, url: WIKI + code, severity, source: 'hadolint' };
}

export const HADOLINT_RULES = {
  DL3000: dl('DL3000', 'error', 'Use absolute WORKDIR'),
  DL3002: dl('DL3002', 'warning', 'Last USER should not be root'),
  DL3003: dl('DL3003', 'warning', 'Use WORKDIR to switch to a directory'),
  DL3004: dl('DL3004', 'error', 'Do not use sudo as it leads to unpredictable behavior. Use a tool like gosu to enforce root'),
  DL3006: dl('DL3006', 'warning', 'Always tag the version of an image explicitly'),
  DL3007: dl('DL3007', 'warning', 'Using latest is prone to errors if the image will ever update. Pin the version explicitly to a release tag'),
  DL3008: dl('DL3008', 'warning', 'Pin versions in apt get install. Instead of `apt-get install <package>` use `apt-get install <package>=<version>`'),
  DL3009: dl('DL3009', 'info', 'Delete the apt lists (/var/lib/apt/lists) after installing something'),
  DL3013: dl('DL3013', 'warning', 'Pin versions in pip. Instead of `pip install <package>` use `pip install <package>==<version>` or `pip install --requirement <requirements file>`'),
  DL3014: dl('DL3014', 'warning', 'Use the `-y` switch to avoid manual input `apt-get -y install <package>`'),
  DL3015: dl('DL3015', 'info', 'Avoid additional packages by specifying `--no-install-recommends`'),
  DL3016: dl('DL3016', 'warning', 'Pin versions in npm. Instead of `npm install <package>` use `npm install <package>@<version>`'),
  DL3018: dl('DL3018', 'warning', 'Pin versions in apk add. Instead of `apk add <package>` use `apk add <package>=<version>`'),
  DL3019: dl('DL3019', 'info', 'Use the `--no-cache` switch to avoid the need to use `--update` and remove `/var/cache/apk/*` when done installing packages'),
  DL3020: dl('DL3020', 'error', 'Use COPY instead of ADD for files and folders'),
  DL3022: dl('DL3022', 'warning', '`COPY --from` should reference a previously defined `FROM` alias'),
  DL3023: dl('DL3023', 'error', '`COPY --from` cannot reference its own `FROM` alias'),
  DL3024: dl('DL3024', 'error', 'FROM aliases (stage names) must be unique'),
  DL3025: dl('DL3025', 'warning', 'Use arguments JSON notation for CMD and ENTRYPOINT arguments'),
  DL3026: dl('DL3026', 'error', 'Use only an allowed registry in the FROM image'),
  DL3027: dl('DL3027', 'warning', 'Do not use apt as it is meant to be an end-user tool, use apt-get or apt-cache instead'),
  DL3042: dl('DL3042', 'warning', 'Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`'),
  DL3045: dl('DL3045', 'warning', '`COPY` to a relative destination without `WORKDIR` set.'),
  DL3047: dl('DL3047', 'info', 'Avoid use of wget without progress bar. Use `wget --progress=dot:giga <url>`. Or consider using `-q` or `-nv` (shorthands for `--quiet` or `--no-verbose`).'),
  DL3059: dl('DL3059', 'info', 'Multiple consecutive `RUN` instructions. Consider consolidation.'),
  DL4000: dl('DL4000', 'error', 'MAINTAINER is deprecated'),
  DL4006: dl(
    'DL4006',
    'warning',
    'Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using /bin/sh in an alpine image or if your shell is symlinked to busybox then consider explicitly setting your SHELL to /bin/ash, or disable this check',
  ),
} as const satisfies Record<string, LintRule>;

export type HadolintCode = keyof typeof HADOLINT_RULES;

export interface HadolintOptions {
  /** `trustedRegistries` of .hadolint.yaml: DL3026 runs only when this is not empty. */
  trustedRegistries?: readonly string[];
}

/** A FROM image as hadolint reads it. */
interface BaseImage {
  registry?: string;
  name: string;
  tag?: string;
  digest?: string;
  alias?: string;
}

function parseBaseImage(image: string, alias: string | undefined): BaseImage {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  let registry: string | undefined;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  return {
    name: rest,
    ...(registry !== undefined ? { registry } : {}),
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
    ...(alias !== undefined ? { alias } : {}),
  };
}

const TRUTHY = new Set(['1', 'true', 'True', 'TRUE', 'on', 'On', 'ON', 'yes', 'Yes', 'YES']);

/** The shell text hadolint gives its RUN rules: the script, or the exec-form words joined. */
function runText(run: RunInstruction): string {
  return run.cmd.form === 'shell' ? run.cmd.script : run.cmd.args.join(' ');
}

interface RunFacts {
  ins: RunInstruction;
  /** Where findings go: the RUN itself, or the ONBUILD that holds it. */
  loc: Location;
  shell: ParsedShell;
  text: string;
  cacheTargets: string[];
}

/** Targets of `--mount=type=cache|tmpfs` mounts. */
function cacheMountTargets(mounts: readonly string[]): string[] {
  const out: string[] = [];
  for (const m of mounts) {
    const fields = new Map(m.split(',').map((kv) => {
      const eq = kv.indexOf('=');
      return [eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1)] as [string, string];
    }));
    const type = fields.get('type') ?? 'bind';
    if (type !== 'cache' && type !== 'tmpfs') continue;
    const target = fields.get('target') ?? fields.get('dst') ?? fields.get('destination');
    if (target !== undefined) out.push(target);
  }
  return out;
}

function hasCacheMount(run: RunFacts, fragment: string): boolean {
  return run.cacheTargets.some((t) => t.includes(fragment));
}

const parsedRuns = new WeakMap<RunInstruction, ParsedShell>();

/** Shell parses are shared by every rule (a RUN is parsed once). */
function runFacts(ins: RunInstruction, loc: Location): RunFacts {
  const text = runText(ins);
  let shell = parsedRuns.get(ins);
  if (!shell) parsedRuns.set(ins, (shell = parseShell(text)));
  return { ins, loc, shell, text, cacheTargets: cacheMountTargets(ins.mounts) };
}

type Emit = (r: LintRule, loc: Location) => void;

/** Every hadolint rule over the stages; findings in source order. */
export function lintHadolint(file: string, stages: readonly Stage[], opts: HadolintOptions = {}): LintWarning[] {
  const out: LintWarning[] = [];
  const emit: Emit = (r, loc) => out.push({ rule: r.name, message: r.description, description: r.description, url: r.url, severity: r.severity, source: 'hadolint', loc: { ...loc, file } });
  stageRules(stages, opts, emit);
  for (const stage of stages) {
    for (const ins of stage.instructions) {
      instructionRules(ins, emit);
      const inner = ins.kind === 'onbuild' ? ins.instruction : undefined;
      // hadolint runs its RUN rules on ONBUILD RUN too, reported at the ONBUILD
      if (ins.kind === 'run') runRules(runFacts(ins, ins.loc), emit);
      else if (inner?.kind === 'run') runRules(runFacts(inner, ins.loc), emit);
    }
  }
  return out.sort((a, b) => a.loc.line - b.loc.line || a.loc.column - b.loc.column || a.rule.localeCompare(b.rule));
}

function instructionRules(ins: Instruction, emit: Emit): void {
  switch (ins.kind) {
    case 'workdir': {
      const p = ins.path.replace(/^["']+|["']+$/g, '');
      if (!p.startsWith('$') && !p.startsWith('/') && !/^[A-Za-z]:/.test(p)) emit(HADOLINT_RULES.DL3000, ins.loc);
      break;
    }
    case 'maintainer':
      emit(HADOLINT_RULES.DL4000, ins.loc);
      break;
    case 'cmd':
    case 'entrypoint':
      if (ins.cmd.form === 'shell') emit(HADOLINT_RULES.DL3025, ins.loc);
      break;
    case 'healthcheck':
      if (ins.test !== 'none' && ins.test.form === 'shell') emit(HADOLINT_RULES.DL3025, ins.loc);
      break;
    case 'add': {
      const isArchive = (s: string): boolean => ARCHIVE_EXTENSIONS.some((e) => s.replace(/^["']+|["']+$/g, '').endsWith(e));
      const isUrl = (s: string): boolean => /^https?:\/\//.test(s.replace(/^["']+/, ''));
      const heredocs = new Set(ins.heredocs.map((h) => h.name));
      const sources = ins.sources.filter((s) => !heredocs.has(s.replace(/^<<-?["']?|["']$/g, '')));
      if (sources.some((s) => !isArchive(s) && !isUrl(s))) emit(HADOLINT_RULES.DL3020, ins.loc);
      break;
    }
    default:
      break;
  }
}

const ARCHIVE_EXTENSIONS = ['.tar', '.Z', '.bz2', '.gz', '.lz', '.lzma', '.tZ', '.tb2', '.tbz', '.tbz2', '.tgz', '.tlz', '.tpz', '.txz', '.xz'];

// ---- RUN rules: one pass over the commands of one RUN ----

const APT_TARGET_FLAGS = ['t', 'target-release'];
const APK_VALUE_FLAGS = ['t', 'virtual', 'repository', 'X'];
const PIP_VALUE_FLAGS = ['abi', 'b', 'build', 'e', 'editable', 'extra-index-url', 'f', 'find-links', 'i', 'index-url', 'implementation', 'no-binary', 'only-binary', 'platform', 'prefix', 'progress-bar', 'proxy', 'python', 'python-version', 'root', 'root-user-action', 'src', 't', 'target', 'trusted-host', 'upgrade-strategy'];
const NPM_VALUE_FLAGS = ['loglevel', 'registry'];
const PIP_VCS = ['git+file', 'git+https', 'git+ssh', 'git+http', 'git+git', 'git', 'hg+file', 'hg+http', 'hg+https', 'hg+ssh', 'hg+static-http', 'svn', 'svn+svn', 'svn+http', 'svn+https', 'svn+ssh', 'bzr+http', 'bzr+https', 'bzr+ssh', 'bzr+sftp', 'bzr+ftp', 'bzr+lp'];

function afterWord(words: string[], word: string): string[] {
  const at = words.indexOf(word);
  if (at < 0) return [];
  let i = at;
  while (words[i] === word) i++;
  return words.slice(i);
}

function aptGetPackages(cmd: SimpleCommand): string[] {
  if (!commandHasArgs(cmd, 'apt-get', ['install'])) return [];
  return argsWithoutFlags(cmd, APT_TARGET_FLAGS).filter((a) => a !== 'install');
}

function apkAddPackages(cmd: SimpleCommand): string[] {
  if (!commandHasArgs(cmd, 'apk', ['add'])) return [];
  return argsWithoutFlags(cmd, APK_VALUE_FLAGS).filter((a) => a !== 'add');
}

function containsSequence(words: readonly string[], seq: readonly string[]): boolean {
  outer: for (let i = 0; i + seq.length <= words.length; i++) {
    for (let j = 0; j < seq.length; j++) if (words[i + j] !== seq[j]) continue outer;
    return true;
  }
  return false;
}

function isPipInstall(cmd: SimpleCommand): boolean {
  const standard = cmd.name.startsWith('pip') && !cmd.name.startsWith('pipenv') && cmd.args.includes('install');
  const viaPython = cmd.name.startsWith('python') && containsSequence(cmd.args, ['-m', 'pip', 'install']);
  return standard || viaPython;
}

function pipUnpinned(cmd: SimpleCommand): boolean {
  if (!isPipInstall(cmd)) return false;
  if (hasFlag(cmd, 'constraint', 'c')) return false;
  if (cmd.args.includes('--requirement') || cmd.args.includes('-r') || cmd.args.includes('.')) return false;
  const packages = afterWord(argsWithoutFlags(cmd, PIP_VALUE_FLAGS), 'install');
  const isVcs = (p: string): boolean => PIP_VCS.some((v) => p.startsWith(v));
  const pinned = (p: string): boolean =>
    ['==', '>=', '<=', '>', '<', '!=', '~=', '==='].some((s) => p.includes(s)) ||
    (isVcs(p) && p.includes('@')) ||
    ['.whl', '.tar.gz'].some((s) => p.endsWith(s)) ||
    (!isVcs(p) && p.includes('/'));
  return !packages.every(pinned);
}

function npmUnpinned(cmd: SimpleCommand): boolean {
  if (!commandHasArgs(cmd, 'npm', ['install'])) return false;
  const words = argsWithoutFlags(cmd, NPM_VALUE_FLAGS);
  if (words[0] !== 'install') return false;
  const pinned = (p: string): boolean => {
    if (['git://', 'git+ssh://', 'git+http://', 'git+https://'].some((g) => p.startsWith(g))) return p.includes('#');
    if (['.tar', '.tar.gz', '.tgz'].some((s) => p.endsWith(s))) return true;
    if (['/', './', '../', '~/'].some((s) => p.startsWith(s))) return true;
    const unscoped = p.startsWith('@') ? p.replace(/^[^/]*\//, '') : p;
    return unscoped.includes('@');
  };
  return !afterWord(words, 'install').every(pinned);
}

function aptGetYes(cmd: SimpleCommand): boolean {
  return hasFlag(cmd, 'y', 'yes', 'qq', 'assume-yes') || countFlag(cmd, 'q') === 2 || countFlag(cmd, 'quiet') === 2 || cmd.args.includes('-q=2');
}

function wgetQuiet(cmd: SimpleCommand): boolean {
  return hasFlag(cmd, 'progress', 'q', 'quiet', 'o', 'output-file', 'a', 'append-output', 'no-verbose') || cmd.args.includes('-nv');
}

function isPipWrapper(cmd: SimpleCommand): boolean {
  return ['pipx', 'pipenv'].some((w) => cmd.name.includes(w) || (cmd.name.startsWith('python') && containsSequence(cmd.args, ['-m', w])));
}

function runRules(run: RunFacts, emit: Emit): void {
  const cmds = run.shell.commands;
  const any = (f: (c: SimpleCommand) => boolean): boolean => cmds.some(f);
  if (any((c) => c.name === 'cd')) emit(HADOLINT_RULES.DL3003, run.loc);
  if (any((c) => c.name === 'sudo')) emit(HADOLINT_RULES.DL3004, run.loc);
  if (cmds.flatMap(aptGetPackages).some((p) => !(p.includes('=') || p.includes('/') || p.endsWith('.deb')))) emit(HADOLINT_RULES.DL3008, run.loc);
  if (any(pipUnpinned)) emit(HADOLINT_RULES.DL3013, run.loc);
  if (any((c) => commandHasArgs(c, 'apt-get', ['install']) && !aptGetYes(c))) emit(HADOLINT_RULES.DL3014, run.loc);
  if (any((c) => commandHasArgs(c, 'apt-get', ['install']) && !hasFlag(c, 'no-install-recommends') && !c.args.includes('APT::Install-Recommends=false'))) {
    emit(HADOLINT_RULES.DL3015, run.loc);
  }
  if (any(npmUnpinned)) emit(HADOLINT_RULES.DL3016, run.loc);
  if (cmds.flatMap(apkAddPackages).some((p) => !['=', '~', '>', '<'].some((s) => p.includes(s)) && !p.endsWith('.apk'))) emit(HADOLINT_RULES.DL3018, run.loc);
  if (!hasCacheMount(run, '/var/cache/apk') && any((c) => commandHasArgs(c, 'apk', ['add']) && !hasFlag(c, 'no-cache'))) emit(HADOLINT_RULES.DL3019, run.loc);
  if (any((c) => c.name === 'apt')) emit(HADOLINT_RULES.DL3027, run.loc);
  if (any((c) => c.name === 'wget' && !wgetQuiet(c))) emit(HADOLINT_RULES.DL3047, run.loc);
}

/** PIP_NO_CACHE_DIR=<truthy> written anywhere in the RUN text. */
function pipNoCacheInText(text: string): boolean {
  const at = text.indexOf('PIP_NO_CACHE_DIR=');
  if (at < 0) return false;
  const value = text.slice(at + 'PIP_NO_CACHE_DIR='.length);
  return [...TRUTHY].some((t) => value.startsWith(t));
}

function aptListsForgotten(run: RunFacts): boolean {
  const cmds = run.shell.commands;
  const update = cmds.some((c) => ['apt', 'apt-get', 'aptitude'].some((n) => commandHasArgs(c, n, ['update'])));
  if (!update) return false;
  if (cmds.some((c) => commandHasArgs(c, 'rm', ['-rf', '/var/lib/apt/lists/*']))) return false;
  if (hasCacheMount(run, '/var/lib/apt/lists')) return false;
  return !(hasCacheMount(run, '/var/lib/apt') && hasCacheMount(run, '/var/cache/apt'));
}

function runFlagsKey(run: RunInstruction): string {
  return JSON.stringify([run.mounts, run.network ?? '', run.security ?? '']);
}

/** Rules that follow state across instructions and stages. */
function stageRules(stages: readonly Stage[], opts: HadolintOptions, emit: Emit): void {
  const aliases = new Set<string>();
  const workdirSet = new Map<string, boolean>();
  const pipNoCache = new Map<string, boolean>();
  const aptForgotten: { loc: Location; stage: number }[] = [];
  const baseNames = new Set<string>();
  let fromCount = 0;
  for (const stage of stages) {
    const from = parseBaseImage(stage.from.image, stage.name);
    fromCount++;
    const key = from.alias ?? from.name;
    fromRules(from, stage, aliases, opts, emit);
    baseNames.add(from.name);
    workdirSet.set(key, workdirSet.get(from.name) ?? false);
    pipNoCache.set(key, pipNoCache.get(from.name) ?? false);
    if (from.alias !== undefined) aliases.add(from.alias);

    let pipefail = false;
    let lastRootUser: Location | undefined;
    let previousRun: { flags: string; count: number } | undefined;
    for (const ins of stage.instructions) {
      if (ins.kind !== 'run') previousRun = undefined;
      switch (ins.kind) {
        case 'user': {
          const u = ins.user;
          const root = u === 'root' || u === '0' || u.startsWith('root:') || u.startsWith('0:');
          lastRootUser = root ? ins.loc : undefined;
          break;
        }
        case 'workdir':
          workdirSet.set(key, true);
          break;
        case 'env':
          if (ins.pairs.some((p) => p.key === 'PIP_NO_CACHE_DIR' && TRUTHY.has(p.value.replace(/^["']|["']$/g, '')))) pipNoCache.set(key, true);
          break;
        case 'shell': {
          const text = ins.shell.join(' ');
          pipefail = ['pwsh', 'powershell', 'cmd'].some((s) => text.startsWith(s)) || hasPipefail(parseShell(text));
          break;
        }
        case 'copy': {
          copyRules(ins.from, ins.dest, ins.loc, { aliases, fromCount, currentAlias: from.alias, workdir: workdirSet.get(key) === true }, emit);
          if (ins.from !== undefined && !fromTrusted(ins.from, aliases, opts)) emit(HADOLINT_RULES.DL3026, ins.loc);
          break;
        }
        case 'run': {
          const run = runFacts(ins, ins.loc);
          if (!pipefail && run.shell.hasPipes) emit(HADOLINT_RULES.DL4006, ins.loc);
          if (aptListsForgotten(run)) aptForgotten.push({ loc: ins.loc, stage: stage.index });
          const pipNeeded =
            !pipNoCache.get(key) &&
            !pipNoCacheInText(run.text) &&
            run.shell.commands.some((c) => isPipInstall(c) && !c.args.includes('--no-cache-dir') && !isPipWrapper(c)) &&
            !hasCacheMount(run, '.cache/pip');
          if (pipNeeded) emit(HADOLINT_RULES.DL3042, ins.loc);
          const flags = runFlagsKey(ins);
          const count = run.shell.commands.length;
          if (previousRun && previousRun.flags === flags && count <= 2 && previousRun.count <= 2) emit(HADOLINT_RULES.DL3059, ins.loc);
          previousRun = { flags, count };
          if (ins.mounts.some((m) => !mountTrusted(m, aliases, opts))) emit(HADOLINT_RULES.DL3026, ins.loc);
          break;
        }
        default:
          break;
      }
    }
    if (lastRootUser) emit(HADOLINT_RULES.DL3002, lastRootUser);
  }
  // DL3009 counts only in the last stage and in stages that a later FROM builds on
  const last = stages.length - 1;
  for (const f of aptForgotten) {
    const name = stages[f.stage]?.name;
    if (f.stage === last || (name !== undefined && baseNames.has(name))) emit(HADOLINT_RULES.DL3009, f.loc);
  }
}

function hasPipefail(shell: ParsedShell): boolean {
  return shell.commands.some((c) => ['bash', 'zsh', 'ash'].includes(basename(c.name)) && hasFlag(c, 'o') && c.args.includes('pipefail'));
}

function fromRules(from: BaseImage, stage: Stage, aliases: ReadonlySet<string>, opts: HadolintOptions, emit: Emit): void {
  const loc = stage.from.loc;
  if (from.name !== 'scratch' && from.digest === undefined && from.tag === undefined && !from.name.startsWith('$') && !aliases.has(from.name)) {
    emit(HADOLINT_RULES.DL3006, loc);
  }
  if (from.tag === 'latest' && from.digest === undefined) emit(HADOLINT_RULES.DL3007, loc);
  if (from.alias !== undefined && aliases.has(from.alias)) emit(HADOLINT_RULES.DL3024, loc);
  if (!imageTrusted(from, aliases, opts)) emit(HADOLINT_RULES.DL3026, loc);
}

function registryAllowed(allowed: readonly string[], registry: string): boolean {
  return allowed.some((p) => p === '*' || (p.startsWith('*') ? registry.endsWith(p.slice(1)) : p.endsWith('*') ? registry.startsWith(p.slice(0, -1)) : registry === p));
}

function imageTrusted(img: BaseImage, aliases: ReadonlySet<string>, opts: HadolintOptions): boolean {
  const allowed = opts.trustedRegistries ?? [];
  if (allowed.length === 0 || aliases.has(img.name)) return true;
  if (img.registry !== undefined) return registryAllowed(allowed, img.registry);
  return img.name === 'scratch' || registryAllowed(allowed, 'docker.io') || registryAllowed(allowed, 'hub.docker.com');
}

function fromTrusted(source: string, aliases: ReadonlySet<string>, opts: HadolintOptions): boolean {
  return imageTrusted(parseBaseImage(source, undefined), aliases, opts);
}

function mountTrusted(mount: string, aliases: ReadonlySet<string>, opts: HadolintOptions): boolean {
  const fields = mount.split(',');
  const type = fields.find((f) => f.startsWith('type='))?.slice(5) ?? 'bind';
  if (type !== 'cache' && type !== 'bind') return true;
  const from = fields.find((f) => f.startsWith('from='))?.slice(5) ?? 'scratch';
  return fromTrusted(from, aliases, opts);
}

interface CopyState {
  aliases: ReadonlySet<string>;
  fromCount: number;
  currentAlias: string | undefined;
  workdir: boolean;
}

function copyRules(from: string | undefined, dest: string, loc: Location, st: CopyState, emit: Emit): void {
  if (from !== undefined) {
    const src = from.replace(/^["']+|["']+$/g, '');
    const numeric = /^[0-9]+$/.test(src) && Number(src) < st.fromCount;
    if (!src.includes(':') && !st.aliases.has(from) && !numeric) emit(HADOLINT_RULES.DL3022, loc);
    if (st.currentAlias !== undefined && st.currentAlias === from) emit(HADOLINT_RULES.DL3023, loc);
  }
  const d = dest.replace(/^["']+|["']+$/g, '');
  if (!st.workdir && !d.startsWith('/') && !/^[A-Za-z]:/.test(d) && !d.startsWith('$')) emit(HADOLINT_RULES.DL3045, loc);
}
