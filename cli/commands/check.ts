import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { readDockerignore, walkContext } from '../../builder/context.js';
import { readBounded, readDockerfile } from '../../builder/dockerfile-source.js';
import { defaultRoot } from '../../cache/root.js';
import { parseIgnoreFileWithLines, PatternMatcher } from '../../parser/index.js';
import { parseForLint } from '../../parser/instructions.js';
import type { LintSeverity } from '../../parser/lint.js';
import { ALL_RULES, lintText, type LintRunResult, type RuleSet } from '../../parser/lint-run.js';
import { didYouMean } from '../../parser/suggest.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { HELP_FLAG, humanSize, ROOT_FLAG, type Io } from '../common.js';
import { loadHadolintConfig } from '../lint-config.js';
import { gatherFacts } from '../lint-facts.js';
import { formatFindings, LINT_FORMATS, type LintFormat } from '../lint-output.js';
import { NETWORK_TIMEOUT_FLAG, networkTimeouts } from '../network-flags.js';

const LINT_FLAGS: FlagSpec[] = [
  { name: 'format', type: 'string', valueName: 'FMT', description: 'text, json, sarif, checkstyle or gitlab', default: 'text' },
  { name: 'rules', type: 'string', valueName: 'SET', description: "buildkit (docker build --check's), hadolint (DL codes) or all", default: 'all' },
  { name: 'ignore', type: 'list', valueName: 'RULE', description: 'never report RULE (repeatable)' },
  { name: 'config', type: 'string', valueName: 'FILE', description: 'hadolint config (default ./.hadolint.yaml if present)' },
  { name: 'context', type: 'string', valueName: 'DIR', description: "build context for CopyIgnoredFile (default the Dockerfile's directory)" },
  { name: 'offline', type: 'bool', description: 'look for base images in the store only, never in a registry' },
  { name: 'strict', type: 'bool', description: 'exit 1 on warnings too' },
  { name: 'output', short: 'o', type: 'string', valueName: 'FILE', description: 'write the report to FILE instead of stdout' },
  { name: 'insecure-registry', type: 'list', valueName: 'HOST', description: 'plain HTTP to HOST' },
  NETWORK_TIMEOUT_FLAG,
  ROOT_FLAG,
  HELP_FLAG,
];

const LINT_EXIT = 'Exit status: 0 no error-level finding, 1 error-level findings (or any warning with --strict, or any BuildKit finding with # check=error=true), 2 usage or parse error.';

/** `tsbuild lint [Dockerfile]`: BuildKit's checks and hadolint's rules, without building. */
async function lintCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, LINT_FLAGS);
  if (bool(p, 'help')) return io.out(helpText('tsbuild lint [OPTIONS] [DOCKERFILE|-]', "Check a Dockerfile (- reads stdin): BuildKit's build checks and hadolint's rules.", LINT_FLAGS, LINT_EXIT)), 0;
  const format = str(p, 'format') ?? 'text';
  if (!(LINT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`invalid --format ${format} (${LINT_FORMATS.join(', ')})`);
  const rules = str(p, 'rules') ?? 'all';
  if (!['buildkit', 'hadolint', 'all'].includes(rules)) throw new UsageError(`invalid --rules ${rules} (buildkit, hadolint or all)`);
  const ignore = list(p, 'ignore');
  for (const r of ignore) if (!ALL_RULES.has(r)) throw new UsageError(`--ignore ${r}: unknown rule${didYouMean(r, ALL_RULES.keys())}`);
  const config = await loadHadolintConfig(str(p, 'config'));
  const arg = p.positionals[0] ?? 'Dockerfile';
  // `-` reads the Dockerfile from stdin (as hadolint and `build -f -`); findings name it Dockerfile
  const file = arg === '-' ? 'Dockerfile' : arg;
  const text = arg === '-' ? await readBounded(process.stdin, 'Dockerfile') : await readDockerfile(arg);
  const parsed = parseForLint(text, { file });
  const contextDir = str(p, 'context') ?? (arg === '-' ? undefined : dirname(resolve(arg)));
  const facts = await gatherFacts(parsed, {
    ...(contextDir !== undefined ? { contextDir } : {}),
    ...(arg !== '-' ? { dockerfilePath: resolve(arg) } : {}),
    storeRoot: str(p, 'root') ?? defaultRoot(),
    network: !bool(p, 'offline'),
    insecureRegistries: list(p, 'insecure-registry'),
    timeouts: { deadlineMs: 60_000, ...networkTimeouts(p) },
  });
  const result = lintText(text, {
    file,
    rules: rules as RuleSet,
    ignore: [...ignore, ...config.ignored],
    severity: config.severity,
    trustedRegistries: config.trustedRegistries,
    facts,
  });
  const report = formatFindings(format as LintFormat, result.findings, ALL_RULES, '0.1.0');
  const outFile = str(p, 'output');
  if (outFile !== undefined) await writeFile(outFile, report);
  else io.out(report);
  for (const note of result.skipped) io.err(`lint: skipped ${note}\n`);
  return lintExitCode(result, bool(p, 'strict'), config.failureThreshold);
}

const LEVEL_RANK: Record<LintSeverity, number> = { error: 3, warning: 2, info: 1, style: 0 };

/** 1 when a finding reaches the failure level: error (default), warning (--strict) or the config's threshold. */
export function lintExitCode(result: LintRunResult, strict: boolean, threshold?: LintSeverity | 'none'): number {
  if (result.checkError && result.findings.some((f) => f.source === 'buildkit')) return 1;
  const level: LintSeverity | 'none' = strict ? 'warning' : (threshold ?? 'error');
  if (level === 'none') return 0;
  return result.findings.some((f) => LEVEL_RANK[f.severity] >= LEVEL_RANK[level]) ? 1 : 0;
}

const CONTEXT_FLAGS: FlagSpec[] = [
  { name: 'file', short: 'f', type: 'string', valueName: 'PATH', description: 'Dockerfile (its PATH.dockerignore wins over CONTEXT/.dockerignore)' },
  { name: 'explain', type: 'string', valueName: 'PATH', description: 'say which .dockerignore line excludes or re-includes PATH' },
  HELP_FLAG,
];

/**
 * `tsbuild context [CONTEXT]`: what the build would send — size per top-level
 * entry — or, with --explain, which pattern decided about one path.
 */
async function contextCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, CONTEXT_FLAGS);
  if (bool(p, 'help')) return io.out(helpText('tsbuild context [OPTIONS] [CONTEXT]', 'Show what the build context contains after .dockerignore.', CONTEXT_FLAGS)), 0;
  const dir = resolve(p.positionals[0] ?? '.');
  const dockerfile = str(p, 'file') ?? join(dir, 'Dockerfile');
  const ignore = await readDockerignore(dir, dockerfile);
  const explainPath = str(p, 'explain');
  if (explainPath !== undefined) {
    const rel = relative(dir, resolve(dir, explainPath)).split('\\').join('/');
    const e = new PatternMatcher(ignore.patterns).explain(rel);
    const lines = ignore.file ? parseIgnoreFileWithLines(await readFile(ignore.file, 'utf8')) : [];
    const where = e.index !== undefined && lines[e.index] ? `${ignore.file}:${lines[e.index]!.line}` : ignore.file;
    io.out(
      e.pattern === undefined
        ? `${rel}: included (no pattern matches${ignore.file ? ` in ${ignore.file}` : '; no .dockerignore'})\n`
        : `${rel}: ${e.excluded ? 'excluded' : 're-included'} by "${e.pattern}" (${where})\n`,
    );
    return 0;
  }
  const sizes = new Map<string, { files: number; bytes: number }>();
  let files = 0;
  let bytes = 0;
  for await (const entry of walkContext(dir, { excludes: ignore.patterns })) {
    const top = entry.path.split('/')[0]!;
    const s = sizes.get(top) ?? { files: 0, bytes: 0 };
    if (entry.type !== 'dir') {
      s.files++;
      s.bytes += entry.size;
      files++;
      bytes += entry.size;
    }
    sizes.set(top, s);
  }
  for (const [name, s] of [...sizes].sort((a, b) => b[1].bytes - a[1].bytes)) {
    io.out(`${humanSize(s.bytes).padStart(9)}  ${String(s.files).padStart(7)} files  ${name}\n`);
  }
  io.out(`${humanSize(bytes).padStart(9)}  ${String(files).padStart(7)} files  total${ignore.file ? ` (after ${ignore.file})` : ''}\n`);
  return 0;
}

export const checkCommands = {
  lint: { run: lintCommand, summary: "Check a Dockerfile: BuildKit's build checks and hadolint's rules" },
  context: { run: contextCommand, summary: 'Show the build context after .dockerignore (--explain PATH)' },
};
