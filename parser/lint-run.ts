/**
 * One lint run over a Dockerfile: BuildKit's checks and hadolint's rules,
 * each under its own id, then the ways a user turns findings off or changes
 * their level: `# check=skip=…` (BuildKit's rules), `# hadolint ignore=…`
 * above an instruction, `# hadolint global ignore=…`, `--ignore RULE` and
 * .hadolint.yaml's `ignored` and `override`.
 */
import { parseForLint, type ParseDockerfileOptions } from './instructions.js';
import { HADOLINT_RULES, lintHadolint } from './hadolint.js';
import { lintBuildkit, RULES, type LintRule, type LintSeverity, type LintWarning } from './lint.js';
import { hadolintGlobalIgnores, hadolintIgnores } from './lint-comments.js';
import type { LintFacts } from './lint-context.js';

export type RuleSet = 'buildkit' | 'hadolint' | 'all';

export interface LintRunOptions extends ParseDockerfileOptions {
  rules?: RuleSet;
  /** Rule ids never reported (`--ignore`, .hadolint.yaml `ignored`). */
  ignore?: readonly string[];
  /** New levels by rule id (.hadolint.yaml `override`). */
  severity?: ReadonlyMap<string, LintSeverity>;
  /** .hadolint.yaml `trustedRegistries` (DL3026). */
  trustedRegistries?: readonly string[];
  facts?: LintFacts;
}

export interface LintRunResult {
  file: string;
  findings: LintWarning[];
  /** Checks that could not run (no base image config, no context), for the user to know. */
  skipped: string[];
  /** `# check=error=true`: any BuildKit finding fails the build. */
  checkError: boolean;
}

/** Every rule this linter knows, by id. */
export const ALL_RULES: ReadonlyMap<string, LintRule> = new Map<string, LintRule>([
  ...Object.values(RULES).map((r): [string, LintRule] => [r.name, r]),
  ...Object.values(HADOLINT_RULES).map((r): [string, LintRule] => [r.name, r]),
]);

/** Lints Dockerfile text; throws DockerfileParseError when it does not parse. */
export function lintText(text: string, opts: LintRunOptions = {}): LintRunResult {
  const parsed = parseForLint(text, opts);
  const rules = opts.rules ?? 'all';
  const findings: LintWarning[] = [];
  let skipped: string[] = [];
  if (rules !== 'hadolint') {
    const bk = lintBuildkit(parsed.input, parsed.check, opts.facts);
    findings.push(...bk.warnings);
    skipped = bk.skipped;
  }
  if (rules !== 'buildkit') {
    findings.push(...lintHadolint(parsed.df.file, parsed.df.stages, opts.trustedRegistries ? { trustedRegistries: opts.trustedRegistries } : {}));
  }
  const ignored = new Set([...(opts.ignore ?? []), ...hadolintGlobalIgnores(text)]);
  const kept = findings.filter((f) => !ignored.has(f.rule) && !hadolintIgnores(parsed.input.comments?.get(f.loc.line)).includes(f.rule));
  for (const f of kept) {
    const level = opts.severity?.get(f.rule);
    if (level !== undefined) f.severity = level;
  }
  kept.sort((a, b) => a.loc.line - b.loc.line || a.loc.column - b.loc.column || (a.source === b.source ? 0 : a.source === 'buildkit' ? -1 : 1));
  return { file: parsed.df.file, findings: kept, skipped, checkError: parsed.check.error };
}
