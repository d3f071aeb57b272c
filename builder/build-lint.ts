/**
 * The BuildKit checks a build can run only once it knows its base images
 * (UndefinedVar with their ENV, InvalidBaseImagePlatform) and its context
 * (CopyIgnoredFile). The text-only checks ran at parse time (prepare.ts);
 * these run after the stages resolved their bases, and print the same way.
 */
import { DockerfileLintError } from '../parser/errors.js';
import { parseForLint } from '../parser/instructions.js';
import { lintBuildkit, type LintWarning } from '../parser/lint.js';
import type { BaseImageFacts } from '../parser/lint-context.js';
import { formatPlatform } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import type { ResolvedBase } from './base.js';

const FACT_RULES: ReadonlySet<string> = new Set(['UndefinedVar', 'CopyIgnoredFile', 'InvalidBaseImagePlatform']);

/**
 * Base image configs the build resolved, by image name (settled promises only; a failed pull
 * has no facts). The memo's keys are `PLATFORM NAME`; the target platform's image wins.
 */
async function settledBases(memo: ReadonlyMap<string, Promise<ResolvedBase>>, platform: Platform): Promise<Map<string, BaseImageFacts>> {
  const out = new Map<string, BaseImageFacts>();
  const target = formatPlatform(platform);
  for (const [key, p] of memo) {
    const space = key.indexOf(' ');
    const name = key.slice(space + 1);
    if (out.has(name) && key.slice(0, space) !== target) continue;
    const base = await p.catch(() => undefined);
    if (!base) continue;
    const c = base.config;
    out.set(name, { env: c.config?.Env ?? [], platform: { os: c.os, architecture: c.architecture, ...(c.variant ? { variant: c.variant } : {}) } });
  }
  return out;
}

/**
 * Findings of the fact-based checks for this build; throws DockerfileLintError
 * under `# check=error=true` when there is one (BuildKit fails the build then).
 */
export async function lintWithBuildFacts(
  text: string,
  file: string,
  memo: ReadonlyMap<string, Promise<ResolvedBase>>,
  dockerignore: readonly string[],
  platform: Platform,
): Promise<LintWarning[]> {
  const parsed = parseForLint(text, { file });
  const bases = await settledBases(memo, platform);
  const { warnings } = lintBuildkit(parsed.input, parsed.check, {
    baseImage: (name) => bases.get(name),
    targetPlatform: { os: platform.os, architecture: platform.architecture, ...(platform.variant ? { variant: platform.variant } : {}) },
    dockerignore,
  });
  const found = warnings.filter((w) => FACT_RULES.has(w.rule));
  if (parsed.check.error && found.length > 0) throw new DockerfileLintError(found);
  return found;
}
