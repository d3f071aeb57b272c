/**
 * The BuildKit checks that need what the builder knows besides the text:
 * UndefinedVar (the ENV of base images, the state a stage inherits),
 * CopyIgnoredFile (the context's .dockerignore) and InvalidBaseImagePlatform
 * (the platform of the base image's config). The caller gathers these facts
 * (from the store, a registry, the context directory); what it could not
 * gather is reported back as skipped, never guessed.
 */
import { goClean, PatternMatcher } from './dockerignore.js';
import type { Instruction, Location, Stage } from './instructions.js';
import { defaultGlobalArgs, platformArgValues, referencedVars, RULES, tryExpand, type LintInput, type Report } from './lint.js';
import { levenshteinSuggest } from './suggest.js';

export interface LintPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

/** What the config of a base image says, as far as the checks need it. */
export interface BaseImageFacts {
  /** `Config.Env` entries (`K=V`). */
  env: readonly string[];
  platform: LintPlatform;
}

export interface LintFacts {
  /** The config of the image a FROM names (after the global ARG defaults); undefined when it is not available. */
  baseImage?: (name: string) => BaseImageFacts | undefined;
  /** The platform the build targets. */
  targetPlatform?: LintPlatform;
  /** The context's .dockerignore patterns ([] without one); undefined when there is no context. */
  dockerignore?: readonly string[];
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** BuildKit never puts these ARGs into the environment, and never reports them. */
const NON_ENV_ARGS: ReadonlySet<string> = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

/** What a stage has defined when its last instruction ran. */
interface StageVars {
  env: Map<string, string>;
  /** ARG names declared in the stage (also without a value). */
  args: Set<string>;
  /** False when the base image's ENV is unknown: then nothing is reported for it. */
  known: boolean;
}

/** Runs the context checks whose facts are present; returns a note for each one that could not run. */
export function contextRules(input: LintInput, escapeToken: string, facts: LintFacts | undefined, report: Report): string[] {
  if (!facts) return [];
  const skipped: string[] = [];
  const globals = defaultGlobalArgs(input.globalArgs, escapeToken, platformArgValues(facts.targetPlatform));
  const done = new Map<string, StageVars>();
  const matcher = ignoreMatcher(facts.dockerignore, skipped);
  for (const stage of input.stages) {
    const baseName = tryExpand(stage.from.image, (n) => globals.get(n), escapeToken)?.value ?? stage.from.image;
    const vars = initialVars(stage, baseName, done, facts, skipped, report);
    const ctx: StageContext = { vars, globals, escapeToken, report, matcher };
    for (const ins of stage.instructions) undefinedVars(ins, ctx);
    if (stage.name !== undefined) done.set(stage.name, vars);
  }
  return skipped;
}

function ignoreMatcher(patterns: readonly string[] | undefined, skipped: string[]): PatternMatcher | undefined {
  if (patterns === undefined) {
    skipped.push('CopyIgnoredFile: no build context given');
    return undefined;
  }
  if (patterns.length === 0) return undefined;
  let m: PatternMatcher;
  try {
    m = new PatternMatcher(patterns);
  } catch {
    return undefined; // the build reports the bad pattern
  }
  // BuildKit does not judge files when exceptions (`!…`) could re-include them
  return m.exclusions() ? undefined : m;
}

function initialVars(stage: Stage, baseName: string, done: Map<string, StageVars>, facts: LintFacts, skipped: string[], report: Report): StageVars {
  const parent = done.get(baseName.toLowerCase());
  if (parent) return { env: new Map(parent.env), args: new Set(parent.args), known: parent.known };
  const env = new Map<string, string>();
  let known = true;
  if (baseName !== 'scratch') {
    const base = facts.baseImage?.(baseName);
    if (base === undefined) {
      known = false;
      skipped.push(`UndefinedVar, InvalidBaseImagePlatform: base image ${baseName} (line ${stage.from.loc.line}) is not available`);
    } else {
      for (const kv of base.env) {
        const eq = kv.indexOf('=');
        env.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
      }
      invalidPlatform(stage, baseName, base.platform, facts.targetPlatform, report);
    }
  }
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  return { env, args: new Set(), known };
}

function formatPlatform(p: LintPlatform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}

function invalidPlatform(stage: Stage, name: string, actual: LintPlatform, expected: LintPlatform | undefined, report: Report): void {
  if (!expected || (expected.os === actual.os && expected.architecture === actual.architecture)) return;
  report(
    RULES.InvalidBaseImagePlatform,
    stage.from.loc,
    `Base image ${name} was pulled with platform ${JSON.stringify(formatPlatform(actual))}, expected ${JSON.stringify(formatPlatform(expected))} for current build`,
  );
}

interface StageContext {
  vars: StageVars;
  globals: Map<string, string>;
  escapeToken: string;
  report: Report;
  matcher: PatternMatcher | undefined;
}

/**
 * The variables a word refers to that the stage has not defined (what BuildKit's
 * dispatch finds unset while it expands the word), reported as UndefinedVar;
 * returns the expanded word when the caller needs it.
 */
function expandChecked(word: string, loc: Location, ctx: StageContext, wantValue = false): string | undefined {
  if (!/[$'"\\`]/.test(word)) return word;
  if (ctx.vars.known && word.includes('$')) {
    for (const name of new Set(referencedVars(word, ctx.escapeToken))) {
      if (ctx.vars.env.has(name) || ctx.vars.args.has(name) || NON_ENV_ARGS.has(name)) continue;
      const hint = levenshteinSuggest(name, ctx.vars.env.keys(), true);
      ctx.report(RULES.UndefinedVar, loc, `Usage of undefined variable '$${name}'` + (hint === undefined ? '' : ` (did you mean $${hint}?)`));
    }
  }
  return wantValue ? tryExpand(word, (n) => ctx.vars.env.get(n), ctx.escapeToken)?.value : word;
}

/** UndefinedVar for one instruction (and CopyIgnoredFile on the expanded sources), then its effect on the stage's variables. */
function undefinedVars(ins: Instruction, ctx: StageContext): void {
  const check = (w: string | undefined): string | undefined => (w === undefined ? undefined : expandChecked(w, ins.loc, ctx));
  const value = (w: string): string | undefined => expandChecked(w, ins.loc, ctx, true);
  switch (ins.kind) {
    case 'env': {
      const values = ins.pairs.map((p) => ({ key: value(p.key) ?? p.key, value: value(p.value) ?? p.value }));
      for (const p of values) ctx.vars.env.set(p.key, p.value);
      break;
    }
    case 'label':
      for (const p of ins.pairs) {
        check(p.key);
        check(p.value);
      }
      break;
    case 'arg':
      for (const a of ins.args) {
        const v = a.value === undefined ? ctx.globals.get(a.key) : value(a.value);
        if (v !== undefined && !NON_ENV_ARGS.has(a.key)) ctx.vars.env.set(a.key, v);
        ctx.vars.args.add(a.key);
      }
      break;
    case 'workdir':
      check(ins.path);
      break;
    case 'user':
      check(ins.user);
      break;
    case 'stopsignal':
      check(ins.signal);
      break;
    case 'volume':
      ins.paths.forEach(check);
      break;
    case 'run':
      ins.mounts.forEach(check);
      break;
    case 'copy':
    case 'add': {
      check(ins.chown);
      check(ins.chmod);
      if (ins.kind === 'add') check(ins.checksum);
      const heredocNames = new Set(ins.heredocs.map((h) => h.name));
      for (const src of ins.sources) {
        if (heredocNames.has(src.replace(/^<<-?/, '').replace(/^["']|["']$/g, ''))) continue;
        const expanded = ins.from === undefined && ctx.matcher ? value(src) : check(src);
        if (expanded !== undefined && ins.from === undefined) ignoredSource(ins.kind === 'add' ? 'Add' : 'Copy', expanded, ins.loc, ctx);
      }
      check(ins.dest);
      break;
    }
    default:
      break;
  }
}

/** CopyIgnoredFile: a context source that .dockerignore leaves out. */
function ignoredSource(cmd: 'Copy' | 'Add', src: string, loc: Location, ctx: StageContext): void {
  if (!ctx.matcher || /^(?:https?:\/\/|git@|git:\/\/)/.test(src)) return;
  const clean = goClean(src);
  if (clean === '.' || clean === '/') {
    const rootIgnored = ctx.matcher.patterns().some((p) => !p.exclusion && ['*', '**', '**/*'].includes(p.text));
    if (rootIgnored) ctx.report(RULES.CopyIgnoredFile, loc, `Attempting to ${cmd} file ${JSON.stringify(clean)} that is excluded by .dockerignore`);
    return;
  }
  if (ctx.matcher.matches(clean.replace(/^\/+/, ''))) {
    ctx.report(RULES.CopyIgnoredFile, loc, `Attempting to ${cmd} file ${JSON.stringify(clean)} that is excluded by .dockerignore`);
  }
}
