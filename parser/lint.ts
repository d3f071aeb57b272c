/**
 * Lint rules, as values (BuildKit `linter/ruleset.go`), and the checks that
 * can be made from the Dockerfile text alone. `# check=skip=A,B;error=true`
 * selects and escalates them (see parseDockerfile).
 */
import type { Node, ParseWarning } from './ast.js';
import type { CheckOptions } from './directives.js';
import type { ArgInstruction, Instruction, Location, Stage } from './instructions.js';
import { closest } from './suggest.js';

export interface LintRule {
  name: string;
  description: string;
  url: string;
  /** 'error' rules fail the parse even without `check=error=true` (unless skipped). */
  severity: 'warning' | 'error';
}

export interface LintWarning {
  rule: string;
  message: string;
  description: string;
  url: string;
  severity: 'warning' | 'error';
  loc: Location;
}

const DOCS = 'https://docs.docker.com/go/dockerfile/rule/';

function rule(name: string, slug: string, description: string, severity: LintRule['severity'] = 'warning'): LintRule {
  return { name, description, url: DOCS + slug + '/', severity };
}

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
  RedundantTargetPlatform: rule(
    'RedundantTargetPlatform',
    'redundant-target-platform',
    'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior',
  ),
  ExposeProtoCasing: rule('ExposeProtoCasing', 'expose-proto-casing', 'Protocol in EXPOSE instruction should be lowercase'),
  SecretsUsedInArgOrEnv: rule(
    'SecretsUsedInArgOrEnv',
    'secrets-used-in-arg-or-env',
    'Sensitive data should not be used in the ARG or ENV commands',
  ),
} as const satisfies Record<string, LintRule>;

export type RuleName = keyof typeof RULES;

/** Stage names that would shadow a built-in source. */
const RESERVED_STAGE_NAMES = ['context', 'scratch'];

/** ARGs every FROM may use without declaring them. */
export const BUILTIN_FROM_ARGS: ReadonlySet<string> = new Set([
  'BUILDPLATFORM',
  'BUILDOS',
  'BUILDARCH',
  'BUILDVARIANT',
  'TARGETPLATFORM',
  'TARGETOS',
  'TARGETARCH',
  'TARGETVARIANT',
]);

export interface LintInput {
  file: string;
  root: Node[];
  parseWarnings: ParseWarning[];
  globalArgs: ArgInstruction[];
  stages: Stage[];
}

/** Run every rule the check options allow; warnings come back in source order. */
export function lintDockerfile(input: LintInput, check: CheckOptions): LintWarning[] {
  if (check.skipAll) return [];
  const skip = new Set(check.skip);
  const out: LintWarning[] = [];
  const report = (r: LintRule, loc: Location, message: string): void => {
    if (skip.has(r.name)) return;
    out.push({ rule: r.name, message, description: r.description, url: r.url, severity: r.severity, loc });
  };
  const nodeLoc = (n: Node): Location => ({ file: input.file, line: n.startLine, column: n.column, endLine: n.endLine });

  for (const w of input.parseWarnings) {
    report(RULES.NoEmptyContinuation, { file: input.file, line: w.line, column: 1, endLine: w.line }, 'Empty continuation line');
  }
  for (const n of input.root) {
    if (n.keyword === 'from') fromNodeRules(n, nodeLoc(n), report);
  }
  stageNameRules(input.stages, report);
  undefinedArgInFrom(input.globalArgs, input.stages, report);
  casingRule(input.stages, report);
  const workdirAbs = new Map<number, boolean>();
  for (const stage of input.stages) {
    perStageRules(stage, input.stages, workdirAbs, report);
    for (const ins of stage.instructions) perInstructionRules(ins, report);
  }
  for (const a of input.globalArgs) perInstructionRules(a, report);
  return out.sort((a, b) => a.loc.line - b.loc.line || a.loc.column - b.loc.column);
}

type Report = (r: LintRule, loc: Location, message: string) => void;

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

function undefinedArgInFrom(globalArgs: ArgInstruction[], stages: Stage[], report: Report): void {
  const declared = new Set<string>(BUILTIN_FROM_ARGS);
  for (const a of globalArgs) for (const kv of a.args) declared.add(kv.key);
  for (const s of stages) {
    const words = [s.from.image, ...(s.from.platform === undefined ? [] : [s.from.platform])];
    for (const w of words) {
      for (const name of referencedVars(w)) {
        if (declared.has(name)) continue;
        const hint = closest(name, declared);
        report(
          RULES.UndefinedArgInFrom,
          s.from.loc,
          `FROM argument '${name}' is not declared` + (hint === undefined ? '' : ` (did you mean ${hint}?)`),
        );
      }
    }
  }
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
        );
      }
      last[ins.kind] = ins;
    }
  }
  workdirAbs.set(stage.index, absWorkdir);
  const platform = stage.from.platform;
  if (platform === '$TARGETPLATFORM' || platform === '${TARGETPLATFORM}') {
    report(
      RULES.RedundantTargetPlatform,
      stage.from.loc,
      `Setting platform to predefined ${platform} in FROM is redundant as this is the default behavior`,
    );
  }
}

/** BuildKit's test for names that look like secrets (whole `_`-separated words), unless marked public. */
const SECRET_WORD = /(?:^|_)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const PUBLIC_WORD = /(?:^|_)public(?:_|$)/i;

function looksSecret(name: string): boolean {
  return SECRET_WORD.test(name) && !PUBLIC_WORD.test(name);
}

function perInstructionRules(ins: Instruction, report: Report): void {
  const secretNames = ins.kind === 'arg' ? ins.args.map((a) => a.key) : ins.kind === 'env' ? ins.pairs.map((p) => p.key) : [];
  for (const name of secretNames.filter(looksSecret)) {
    report(RULES.SecretsUsedInArgOrEnv, ins.loc, `Do not use ARG or ENV instructions for sensitive data (${ins.kind.toUpperCase()} "${name}") (use RUN --mount=type=secret)`);
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
        const slash = port.indexOf('/');
        if (slash >= 0 && port.slice(slash + 1) !== port.slice(slash + 1).toLowerCase()) {
          report(RULES.ExposeProtoCasing, ins.loc, `Defined protocol '${port}' in EXPOSE instruction should be lowercase`);
        }
      }
      break;
    default:
      break;
  }
}
