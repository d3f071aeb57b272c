/**
 * BuildKit's build checks, as values (BuildKit `linter/ruleset.go`), and where
 * each is raised. The checks that need only the text run at every parse; those
 * that need what the builder knows (UndefinedVar with the base image's ENV,
 * CopyIgnoredFile with .dockerignore, InvalidBaseImagePlatform with the pulled
 * config) take it as LintFacts (lint-context.ts). `# check=skip=A,B;error=true`
 * selects and escalates them (see parseDockerfile); a `# check=` comment right
 * above an instruction adds to it for the checks BuildKit raises while
 * dispatching that instruction.
 */
import type { Node, ParseWarning } from './ast.js';
import type { CheckOptions } from './directives.js';
import type { ArgInstruction, Instruction, Location, Stage } from './instructions.js';
import { checkOptionsOf } from './lint-comments.js';
import { contextRules, type LintFacts } from './lint-context.js';
import { expandWord } from './shell.js';
import { levenshteinSuggest } from './suggest.js';

/** hadolint's four levels; BuildKit's checks are warnings (errors with `check=error=true`). */
export type LintSeverity = 'error' | 'warning' | 'info' | 'style';

/** Which tool's rule set a rule belongs to (`--rules buildkit|hadolint`). */
export type RuleSource = 'buildkit' | 'hadolint';

export interface LintRule {
  name: string;
  description: string;
  /** Documentation page; BuildKit gives InvalidBaseImagePlatform none (''). */
  url: string;
  /** 'error' rules fail the parse even without `check=error=true` (unless skipped). */
  severity: LintSeverity;
  source: RuleSource;
  /** BuildKit runs it only when `# check=experimental=NAME` (or `all`) asks. */
  experimental?: boolean;
}

export interface LintWarning {
  rule: string;
  message: string;
  description: string;
  url: string;
  severity: LintSeverity;
  source: RuleSource;
  loc: Location;
}

const DOCS = 'https://docs.docker.com/go/dockerfile/rule/';

function rule(name: string, slug: string, description: string, severity: LintSeverity = 'warning'): LintRule {
  return { name, description, url: DOCS + slug + '/', severity, source: 'buildkit' };
}

/** BuildKit's checks: names, descriptions and URLs as in `frontend/dockerfile/linter/ruleset.go`. */
export const RULES = {
  StageNameCasing: rule('StageNameCasing', 'stage-name-casing', 'Stage names should be lowercase'),
  FromAsCasing: rule('FromAsCasing', 'from-as-casing', "The 'as' keyword should match the case of the 'from' keyword"),
  NoEmptyContinuation: rule(
    'NoEmptyContinuation',
    'no-empty-continuation',
    'Empty continuation lines will become errors in a future release',
  ),
  ConsistentInstructionCasing: rule(
    'ConsistentInstructionCasing',
    'consistent-instruction-casing',
    'All commands within the Dockerfile should use the same casing (either upper or lower)',
  ),
  DuplicateStageName: rule('DuplicateStageName', 'duplicate-stage-name', 'Stage names should be unique', 'error'),
  ReservedStageName: rule('ReservedStageName', 'reserved-stage-name', 'Reserved words should not be used as stage names'),
  JSONArgsRecommended: rule(
    'JSONArgsRecommended',
    'json-args-recommended',
    'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals',
  ),
  MaintainerDeprecated: rule(
    'MaintainerDeprecated',
    'maintainer-deprecated',
    'The MAINTAINER instruction is deprecated, use a label instead to define an image author',
  ),
  UndefinedArgInFrom: rule('UndefinedArgInFrom', 'undefined-arg-in-from', 'FROM command must use declared ARGs'),
  WorkdirRelativePath: rule(
    'WorkdirRelativePath',
    'workdir-relative-path',
    'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes',
  ),
  UndefinedVar: rule('UndefinedVar', 'undefined-var', 'Variables should be defined before their use'),
  MultipleInstructionsDisallowed: rule(
    'MultipleInstructionsDisallowed',
    'multiple-instructions-disallowed',
    'Multiple instructions of the same type should not be used in the same stage',
  ),
  LegacyKeyValueFormat: rule(
    'LegacyKeyValueFormat',
    'legacy-key-value-format',
    'Legacy key/value format with whitespace separator should not be used',
  ),
  InvalidBaseImagePlatform: {
    name: 'InvalidBaseImagePlatform',
    description: 'Base image platform does not match expected target platform',
    url: '',
    severity: 'warning',
    source: 'buildkit',
  },
  RedundantTargetPlatform: rule(
    'RedundantTargetPlatform',
    'redundant-target-platform',
    'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
  ),
  SecretsUsedInArgOrEnv: rule(
    'SecretsUsedInArgOrEnv',
    'secrets-used-in-arg-or-env',
    'Sensitive data should not be used in the ARG or ENV commands',
  ),
  InvalidDefaultArgInFrom: rule(
    'InvalidDefaultArgInFrom',
    'invalid-default-arg-in-from',
    'Default value for global ARG results in an empty or invalid base image name',
  ),
  FromPlatformFlagConstDisallowed: rule(
    'FromPlatformFlagConstDisallowed',
    'from-platform-flag-const-disallowed',
    'FROM --platform flag should not use a constant value',
  ),
  CopyIgnoredFile: rule('CopyIgnoredFile', 'copy-ignored-file', 'Attempting to Copy file that is excluded by .dockerignore'),
  InvalidDefinitionDescription: {
    ...rule(
      'InvalidDefinitionDescription',
      'invalid-definition-description',
      'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.',
    ),
    experimental: true,
  },
  ExposeProtoCasing: rule('ExposeProtoCasing', 'expose-proto-casing', 'Protocol in EXPOSE instruction should be lowercase'),
  ExposeInvalidFormat: rule(
    'ExposeInvalidFormat',
    'expose-invalid-format',
    'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release',
  ),
} as const satisfies Record<string, LintRule>;

export type RuleName = keyof typeof RULES;

/** Stage names that would shadow a built-in source. */
const RESERVED_STAGE_NAMES = ['context', 'scratch'];

/** ARGs every FROM may use without declaring them (BuildKit's defaultArgs). */
export const BUILTIN_FROM_ARGS: ReadonlySet<string> = new Set([
  'BUILDPLATFORM',
  'BUILDOS',
  'BUILDOSVERSION',
  'BUILDARCH',
  'BUILDVARIANT',
  'TARGETPLATFORM',
  'TARGETOS',
  'TARGETOSVERSION',
  'TARGETARCH',
  'TARGETVARIANT',
  'TARGETSTAGE',
]);

export interface LintInput {
  file: string;
  root: Node[];
  parseWarnings: ParseWarning[];
  globalArgs: ArgInstruction[];
  stages: Stage[];
  escapeToken?: string;
  /** Comments above each instruction, by its first line (lint-comments.ts). */
  comments?: ReadonlyMap<number, string[]>;
}

/** Checks BuildKit raises while dispatching an instruction, where a `# check=` comment above it counts. */
const DISPATCH_RULES: ReadonlySet<string> = new Set([
  'UndefinedVar',
  'UndefinedArgInFrom',
  'RedundantTargetPlatform',
  'FromPlatformFlagConstDisallowed',
  'LegacyKeyValueFormat',
  'WorkdirRelativePath',
  'JSONArgsRecommended',
  'MultipleInstructionsDisallowed',
  'SecretsUsedInArgOrEnv',
  'ExposeProtoCasing',
  'ExposeInvalidFormat',
  'CopyIgnoredFile',
]);

export type Report = (r: LintRule, loc: Location, message: string, scopeLine?: number) => void;

export interface BuildkitLintResult {
  warnings: LintWarning[];
  /** Checks that could not run, and why (no base image config, no context). */
  skipped: string[];
}

/** Run every rule the check options allow; warnings come back in source order. */
export function lintDockerfile(input: LintInput, check: CheckOptions, facts?: LintFacts): LintWarning[] {
  return lintBuildkit(input, check, facts).warnings;
}

function isEnabled(r: LintRule, check: CheckOptions): boolean {
  if (r.experimental) return check.experimentalAll === true || (check.experimental ?? []).includes(r.name);
  return !check.skipAll && !check.skip.includes(r.name);
}

function mergeCheck(base: CheckOptions, extra: CheckOptions | undefined): CheckOptions {
  if (!extra) return base;
  return {
    skip: [...base.skip, ...extra.skip],
    skipAll: base.skipAll || extra.skipAll,
    error: base.error,
    experimental: [...(base.experimental ?? []), ...(extra.experimental ?? [])],
    experimentalAll: base.experimentalAll === true || extra.experimentalAll === true,
  };
}

/** BuildKit's checks; with `facts`, also those that need the base images or the context. */
export function lintBuildkit(input: LintInput, check: CheckOptions, facts?: LintFacts): BuildkitLintResult {
  const out: LintWarning[] = [];
  const seen = new Set<string>();
  const report: Report = (r, loc, message, scopeLine = loc.line) => {
    const local = DISPATCH_RULES.has(r.name) ? mergeCheck(check, checkOptionsOf(input.comments?.get(scopeLine))) : check;
    if (!isEnabled(r, local)) return;
    const key = `${r.name}\0${loc.line}\0${loc.column}\0${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ rule: r.name, message, description: r.description, url: r.url, severity: r.severity, source: 'buildkit', loc });
  };
  const nodeLoc = (n: Node): Location => ({ file: input.file, line: n.startLine, column: n.column, endLine: n.endLine });

  for (const w of input.parseWarnings) {
    report(RULES.NoEmptyContinuation, { file: input.file, line: w.line, column: 1, endLine: w.line }, 'Empty continuation line');
  }
  for (const n of input.root) {
    if (n.keyword === 'from') fromNodeRules(n, nodeLoc(n), report);
  }
  definitionDescriptions(input, report);
  stageNameRules(input.stages, report);
  const escape = input.escapeToken ?? '\\';
  fromArgRules(input.globalArgs, input.stages, escape, report);
  casingRule(input.stages, report);
  const workdirAbs = new Map<number, boolean>();
  for (const stage of input.stages) {
    perStageRules(stage, input.stages, workdirAbs, report);
    for (const ins of stage.instructions) perInstructionRules(ins, report);
  }
  const skipped = contextRules(input, escape, facts, report);
  out.sort((a, b) => a.loc.line - b.loc.line || a.loc.column - b.loc.column);
  return { warnings: out, skipped };
}

function fromNodeRules(n: Node, loc: Location, report: Report): void {
  if (n.args.length !== 3) return;
  const [, as, name] = n.args as [string, string, string];
  if (name !== name.toLowerCase()) report(RULES.StageNameCasing, loc, `Stage name '${name}' should be lowercase`);
  const kw = n.rawKeyword;
  const lower = kw === kw.toLowerCase();
  const upper = kw === kw.toUpperCase();
  // A mixed-case FROM is ConsistentInstructionCasing's business.
  if (lower === upper) return;
  const ok = lower ? as === as.toLowerCase() : as === as.toUpperCase();
  if (!ok) report(RULES.FromAsCasing, loc, `'${as}' and '${kw}' keywords' casing do not match`);
}

/** Experimental: a comment right above `FROM … AS name` or `ARG name` should start with that name. */
function definitionDescriptions(input: LintInput, report: Report): void {
  const check = (keyword: string, keys: string[], loc: Location): void => {
    const comments = input.comments?.get(loc.line);
    if (!comments || comments.length === 0 || keys.length === 0) return;
    if (keys.includes(comments[comments.length - 1]!.split(' ')[0]!)) return;
    const example = keys.length > 1 ? '<arg_key>' : keys[0]!;
    report(RULES.InvalidDefinitionDescription, loc, `Comment for ${keyword} should follow the format: \`# ${example} <description>\``);
  };
  for (const a of input.globalArgs) check('ARG', a.args.map((x) => x.key), a.loc);
  for (const s of input.stages) {
    if (s.name !== undefined) check('FROM', [s.name], s.from.loc);
    for (const ins of s.instructions) if (ins.kind === 'arg') check('ARG', ins.args.map((x) => x.key), ins.loc);
  }
}

function stageNameRules(stages: Stage[], report: Report): void {
  const seen = new Set<string>();
  for (const s of stages) {
    if (s.name === undefined) continue;
    if (RESERVED_STAGE_NAMES.includes(s.name)) {
      report(RULES.ReservedStageName, s.from.loc, `Stage name should not use the same name as reserved stage ${JSON.stringify(s.name)}`);
    }
    if (seen.has(s.name)) {
      report(RULES.DuplicateStageName, s.from.loc, `Duplicate stage name ${JSON.stringify(s.name)}, stage names should be unique`);
    }
    seen.add(s.name);
  }
}

const VAR_REF = /\{?([A-Za-z_][A-Za-z0-9_]*)/y;

/**
 * Names of the variables a raw word refers to (`$A`, `${B}`, `${C:-x}`),
 * skipping single-quoted text and escaped dollars.
 */
export function referencedVars(word: string, escapeToken = '\\'): string[] {
  const out: string[] = [];
  let inSingle = false;
  let inDouble = false;
  for (let i = 0; i < word.length; i++) {
    const c = word[i]!;
    if (inSingle) {
      if (c === "'") inSingle = false;
      continue;
    }
    if (c === escapeToken) {
      i++;
      continue;
    }
    if (c === "'" && !inDouble) inSingle = true;
    else if (c === '"') inDouble = !inDouble;
    else if (c === '$') {
      VAR_REF.lastIndex = i + 1;
      const m = VAR_REF.exec(word);
      if (m) {
        out.push(m[1]!);
        i += m[0].length;
      }
    }
  }
  return out;
}

/** Expands a word for a check, or undefined when it cannot be expanded (the build reports that). */
export function tryExpand(word: string, env: (name: string) => string | undefined, escapeToken: string): { value: string; unset: Set<string>; used: Set<string> } | undefined {
  try {
    return expandWord(word, env, { escapeToken });
  } catch {
    return undefined;
  }
}

/** The global ARGs as the build sees them with no --build-arg: declared defaults plus the platform ARGs. */
export function defaultGlobalArgs(globalArgs: ArgInstruction[], escapeToken: string, platformArgs: ReadonlyMap<string, string>): Map<string, string> {
  const env = new Map(platformArgs);
  for (const ins of globalArgs) {
    for (const a of ins.args) {
      if (a.value === undefined) continue;
      const r = tryExpand(a.value, (n) => env.get(n), escapeToken);
      if (r) env.set(a.key, r.value);
    }
  }
  return env;
}

/** Placeholder values for the platform ARGs when the target is not known (only emptiness matters here). */
export function platformArgValues(platform: { os: string; architecture: string; variant?: string } = { os: 'linux', architecture: 'amd64' }): Map<string, string> {
  const full = `${platform.os}/${platform.architecture}${platform.variant ? '/' + platform.variant : ''}`;
  return new Map([
    ['BUILDPLATFORM', full],
    ['BUILDOS', platform.os],
    ['BUILDOSVERSION', ''],
    ['BUILDARCH', platform.architecture],
    ['BUILDVARIANT', platform.variant ?? ''],
    ['TARGETPLATFORM', full],
    ['TARGETOS', platform.os],
    ['TARGETOSVERSION', ''],
    ['TARGETARCH', platform.architecture],
    ['TARGETVARIANT', platform.variant ?? ''],
    ['TARGETSTAGE', 'default'],
  ]);
}

/** UndefinedArgInFrom, InvalidDefaultArgInFrom, RedundantTargetPlatform and FromPlatformFlagConstDisallowed. */
function fromArgRules(globalArgs: ArgInstruction[], stages: Stage[], escapeToken: string, report: Report): void {
  const declared = new Set<string>(BUILTIN_FROM_ARGS);
  for (const a of globalArgs) for (const kv of a.args) declared.add(kv.key);
  const defaults = defaultGlobalArgs(globalArgs, escapeToken, platformArgValues());
  for (const s of stages) {
    const loc = s.from.loc;
    const words = [s.from.image, ...(s.from.platform === undefined ? [] : [s.from.platform])];
    for (const w of words) {
      for (const name of referencedVars(w, escapeToken)) {
        if (declared.has(name)) continue;
        const hint = levenshteinSuggest(name, declared, true);
        report(RULES.UndefinedArgInFrom, loc, `FROM argument '${name}' is not declared` + (hint === undefined ? '' : ` (did you mean ${hint}?)`));
      }
    }
    const base = tryExpand(s.from.image, (n) => defaults.get(n), escapeToken);
    if (base && !isValidReference(base.value)) {
      report(RULES.InvalidDefaultArgInFrom, loc, `Default value for ARG ${s.from.image} results in empty or invalid base image name`);
    }
    const platform = s.from.platform;
    if (platform === undefined) continue;
    const p = tryExpand(platform, (n) => defaults.get(n), escapeToken);
    if (!p) continue;
    if (p.used.size === 1 && p.unset.size === 0 && p.used.has('TARGETPLATFORM') && p.value === defaults.get('TARGETPLATFORM')) {
      report(RULES.RedundantTargetPlatform, loc, `Setting platform to predefined ${platform} in FROM is redundant as this is the default behavior`);
    }
    if (p.used.size === 0 && p.unset.size === 0) {
      const parsed = parsePlatformConst(p.value);
      const name = s.name ?? '';
      if (parsed && !name.includes(parsed.os) && !name.includes(parsed.architecture)) {
        report(RULES.FromPlatformFlagConstDisallowed, loc, `FROM --platform flag should not use constant value ${JSON.stringify(p.value)}`);
      }
    }
  }
}

const KNOWN_OS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'wasip1', 'windows', 'zos']);
const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386' };
const KNOWN_ARCH = new Set(['386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'ppc', 'ppc64', 'ppc64le', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm']);

/** containerd's platforms.Parse, as far as this check needs it: the OS and normalized architecture, or undefined. */
function parsePlatformConst(spec: string): { os: string; architecture: string } | undefined {
  const parts = spec.toLowerCase().split('/');
  if (parts.some((x) => !/^[a-z0-9_-]+$/.test(x))) return undefined;
  const arch = (a: string): string => ARCH_ALIASES[a] ?? a;
  if (parts.length === 1) {
    const [one] = parts as [string];
    if (KNOWN_OS.has(one)) return { os: one, architecture: 'amd64' };
    if (KNOWN_ARCH.has(arch(one))) return { os: 'linux', architecture: arch(one) };
    return undefined;
  }
  if (parts.length > 3) return undefined;
  return { os: parts[0]!, architecture: arch(parts[1]!) };
}

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}$/;

/** distribution/reference's ParseNormalizedNamed accepts this image name. */
export function isValidReference(ref: string): boolean {
  if (ref === '') return false;
  let rest = ref;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return false;
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const hasDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  let path = hasDomain ? rest.slice(slash + 1) : rest;
  if (hasDomain && !DOMAIN.test(first)) return false;
  const colon = path.lastIndexOf(':');
  if (colon >= 0) {
    if (!TAG.test(path.slice(colon + 1))) return false;
    path = path.slice(0, colon);
  }
  return PATH.test(path);
}

function isSelfConsistent(kw: string): boolean {
  return kw === kw.toLowerCase() || kw === kw.toUpperCase();
}

function casingRule(stages: Stage[], report: Report): void {
  let lower = 0;
  let upper = 0;
  const all: Instruction[] = stages.flatMap((s) => [s.from, ...s.instructions]);
  for (const ins of all) {
    if (!isSelfConsistent(ins.keyword)) continue;
    if (ins.keyword === ins.keyword.toLowerCase()) lower++;
    else upper++;
  }
  const majorityLower = lower > upper;
  for (const ins of all) {
    const kw = ins.keyword;
    let want = '';
    if (majorityLower && kw !== kw.toLowerCase()) want = 'lowercase';
    else if (!majorityLower && kw !== kw.toUpperCase()) want = 'uppercase';
    if (want !== '') {
      report(RULES.ConsistentInstructionCasing, ins.loc, `Command '${kw}' should match the case of the command majority (${want})`);
    }
  }
}

function isAbsolutePath(p: string): boolean {
  return p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\');
}

function perStageRules(stage: Stage, stages: Stage[], workdirAbs: Map<number, boolean>, report: Report): void {
  // A stage built on an earlier stage inherits whether that one set an absolute WORKDIR.
  const parent = stages.findIndex((s) => s.index < stage.index && s.name !== undefined && s.name === stage.from.image.toLowerCase());
  let absWorkdir = parent >= 0 ? workdirAbs.get(parent) === true : false;
  let shellSet = false;
  const last: Partial<Record<'cmd' | 'entrypoint' | 'healthcheck', Instruction>> = {};
  for (const ins of stage.instructions) {
    switch (ins.kind) {
      case 'shell':
        shellSet = true;
        break;
      case 'cmd':
      case 'entrypoint':
        if (ins.cmd.form === 'shell' && !shellSet) {
          report(
            RULES.JSONArgsRecommended,
            ins.loc,
            `JSON arguments recommended for ${ins.keyword} to prevent unintended behavior related to OS signals`,
          );
        }
        break;
      case 'workdir':
        if (isAbsolutePath(ins.path)) absWorkdir = true;
        else if (!absWorkdir && !ins.path.startsWith('$')) {
          report(RULES.WorkdirRelativePath, ins.loc, `Relative workdir ${JSON.stringify(ins.path)} can have unexpected results if the base image changes`);
        }
        break;
      default:
        break;
    }
    if (ins.kind === 'cmd' || ins.kind === 'entrypoint' || ins.kind === 'healthcheck') {
      const prev = last[ins.kind];
      if (prev) {
        report(
          RULES.MultipleInstructionsDisallowed,
          prev.loc,
          `Multiple ${prev.keyword} instructions should not be used in the same stage because only the last one will be used`,
          ins.loc.line,
        );
      }
      last[ins.kind] = ins;
    }
  }
  workdirAbs.set(stage.index, absWorkdir);
}

/** BuildKit's test for names that look like secrets (whole `_`-separated words), unless an allowed word marks them. */
const SECRET_WORD = /(?:^|_)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const ALLOWED_WORD = /(?:^|_)(?:public|file|version)(?:_|$)/i;

function looksSecret(name: string): boolean {
  return SECRET_WORD.test(name) && !ALLOWED_WORD.test(name);
}

/** BuildKit's parsePort split: `[ip:][hostPort:]containerPort[/proto]`. */
function splitPort(raw: string): { ip: string; hostPort: string; proto: string } {
  const slash = raw.lastIndexOf('/');
  const proto = slash >= 0 ? raw.slice(slash + 1) : '';
  const rest = slash >= 0 ? raw.slice(0, slash) : raw;
  const parts = rest.split(':');
  if (parts.length <= 1) return { ip: '', hostPort: '', proto };
  if (parts.length === 2) return { ip: '', hostPort: parts[0]!, proto };
  return { ip: parts.slice(0, -2).join(':'), hostPort: parts[parts.length - 2]!, proto };
}

function perInstructionRules(ins: Instruction, report: Report): void {
  const secretNames = ins.kind === 'arg' ? ins.args.map((a) => a.key) : ins.kind === 'env' ? ins.pairs.map((p) => p.key) : [];
  for (const name of secretNames.filter(looksSecret)) {
    report(RULES.SecretsUsedInArgOrEnv, ins.loc, `Do not use ARG or ENV instructions for sensitive data (${ins.kind.toUpperCase()} ${JSON.stringify(name)})`);
  }
  switch (ins.kind) {
    case 'maintainer':
      report(RULES.MaintainerDeprecated, ins.loc, 'Maintainer instruction is deprecated in favor of using label');
      break;
    case 'env':
    case 'label':
      if (ins.pairs.some((p) => p.legacy)) {
        const name = ins.kind.toUpperCase();
        report(RULES.LegacyKeyValueFormat, ins.loc, `"${name} key=value" should be used instead of legacy "${name} key value" format`);
      }
      break;
    case 'expose':
      for (const port of ins.ports) {
        const { ip, hostPort, proto } = splitPort(port);
        if (proto !== proto.toLowerCase()) report(RULES.ExposeProtoCasing, ins.loc, `Defined protocol '${port}' in EXPOSE instruction should be lowercase`);
        if (ip !== '' || hostPort !== '') {
          report(RULES.ExposeInvalidFormat, ins.loc, `EXPOSE instruction should not define an IP address or host-port mapping, found '${port}'`);
        }
      }
      break;
    default:
      break;
  }
}
