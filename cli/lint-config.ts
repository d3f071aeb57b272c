/**
 * `.hadolint.yaml`: `ignored` rules, `override` of levels (error, warning,
 * info, style), `trustedRegistries` (DL3026) and `failure-threshold`.
 * `label-schema`/`strict-labels` are accepted and not used (the label rules
 * are not implemented). YAML is read with `yaml`, the package bake's compose files use.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { LintSeverity } from '../parser/lint.js';
import { UsageError } from './args.js';

export interface HadolintConfig {
  file?: string;
  ignored: string[];
  severity: Map<string, LintSeverity>;
  trustedRegistries: string[];
  failureThreshold?: LintSeverity | 'none';
}

const LEVELS: readonly LintSeverity[] = ['error', 'warning', 'info', 'style'];

function stringList(v: unknown, where: string, file: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new UsageError(`${file}: ${where} must be a list of strings`);
  return v as string[];
}

/** Reads FILE, or `.hadolint.yaml`/`.hadolint.yml` in the working directory; an empty config when there is none. */
export async function loadHadolintConfig(file: string | undefined): Promise<HadolintConfig> {
  const path = file ?? ['.hadolint.yaml', '.hadolint.yml'].find((f) => existsSync(f));
  const config: HadolintConfig = { ignored: [], severity: new Map(), trustedRegistries: [] };
  if (path === undefined) return config;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read lint config ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (e) {
    throw new UsageError(`${path}: invalid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  config.file = path;
  if (doc === undefined || doc === null) return config;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`${path}: expected a mapping at the top`);
  const d = doc as Record<string, unknown>;
  config.ignored = stringList(d['ignored'], 'ignored', path);
  config.trustedRegistries = stringList(d['trustedRegistries'], 'trustedRegistries', path);
  const override = d['override'];
  if (override !== undefined && override !== null) {
    if (typeof override !== 'object' || Array.isArray(override)) throw new UsageError(`${path}: override must be a mapping of level to rules`);
    for (const [level, rules] of Object.entries(override)) {
      if (!LEVELS.includes(level as LintSeverity)) throw new UsageError(`${path}: unknown level ${JSON.stringify(level)} in override (error, warning, info, style)`);
      for (const r of stringList(rules, `override.${level}`, path)) config.severity.set(r, level as LintSeverity);
    }
  }
  const threshold = d['failure-threshold'];
  if (threshold !== undefined) {
    if (typeof threshold !== 'string' || ![...LEVELS, 'none'].includes(threshold)) throw new UsageError(`${path}: failure-threshold must be error, warning, info, style or none`);
    config.failureThreshold = threshold as LintSeverity | 'none';
  }
  return config;
}
