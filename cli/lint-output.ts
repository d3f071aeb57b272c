/**
 * Lint findings as text, JSON, SARIF 2.1.0 (GitHub code scanning), checkstyle
 * XML and GitLab Code Quality JSON; and as `build --check` prints them
 * (BuildKit's lint subrequest: "Check complete, …", each warning with its
 * source lines).
 */
import { createHash } from 'node:crypto';
import { isAbsolute, relative } from 'node:path';
import type { LintRule, LintSeverity, LintWarning } from '../parser/lint.js';

export const LINT_FORMATS = ['text', 'json', 'sarif', 'checkstyle', 'gitlab'] as const;
export type LintFormat = (typeof LINT_FORMATS)[number];

/** A rule without a documentation URL still needs one in SARIF (GitHub shows it as help). */
function helpUri(rule: LintRule): string {
  if (rule.url !== '') return rule.url;
  return `https://docs.docker.com/reference/build-checks/${rule.name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}/`;
}

/** Paths as SARIF and GitLab want them: relative to the working directory, `/`-separated. */
function repoPath(file: string): string {
  const rel = isAbsolute(file) ? relative(process.cwd(), file) : file;
  return rel.split('\\').join('/');
}

export function formatFindings(format: LintFormat, findings: readonly LintWarning[], rules: ReadonlyMap<string, LintRule>, version: string): string {
  switch (format) {
    case 'json':
      return JSON.stringify(findings, null, 2) + '\n';
    case 'sarif':
      return JSON.stringify(toSarif(findings, rules, version), null, 2) + '\n';
    case 'checkstyle':
      return toCheckstyle(findings);
    case 'gitlab':
      return JSON.stringify(toGitlab(findings), null, 2) + '\n';
    default:
      return toText(findings);
  }
}

function toText(findings: readonly LintWarning[]): string {
  let out = '';
  for (const w of findings) out += `${w.loc.file}:${w.loc.line}:${w.loc.column}: ${w.severity} ${w.rule}: ${w.message}\n  ${w.url}\n`;
  const count = (s: LintSeverity): number => findings.filter((f) => f.severity === s).length;
  out += `${findings.length} finding(s): ${count('error')} error, ${count('warning')} warning, ${count('info')} info, ${count('style')} style\n`;
  return out;
}

function sarifLevel(s: LintSeverity): 'error' | 'warning' | 'note' {
  return s === 'error' ? 'error' : s === 'warning' ? 'warning' : 'note';
}

/** SARIF 2.1.0 as GitHub code scanning takes it: one run, the rules that fired with helpUri, one location per result. */
export function toSarif(findings: readonly LintWarning[], rules: ReadonlyMap<string, LintRule>, version: string): object {
  const used = [...new Set(findings.map((f) => f.rule))].sort();
  const index = new Map(used.map((id, i) => [id, i]));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'tsbuild',
            version,
            informationUri: 'https://docs.docker.com/reference/build-checks/',
            rules: used.map((id) => {
              const r = rules.get(id);
              const description = r?.description ?? id;
              return {
                id,
                name: id,
                shortDescription: { text: description },
                fullDescription: { text: description },
                helpUri: r ? helpUri(r) : 'https://docs.docker.com/reference/build-checks/',
                help: { text: `${description}\n${r ? helpUri(r) : ''}`.trim() },
                defaultConfiguration: { level: sarifLevel(r?.severity ?? 'warning') },
                properties: { tags: [r?.source ?? 'buildkit', 'dockerfile'] },
              };
            }),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: index.get(f.rule),
          level: sarifLevel(f.severity),
          message: { text: f.message },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: repoPath(f.loc.file) },
                region: { startLine: f.loc.line, startColumn: f.loc.column, endLine: Math.max(f.loc.endLine, f.loc.line) },
              },
            },
          ],
          partialFingerprints: { primaryLocationLineHash: fingerprint(f) },
        })),
        columnKind: 'utf16CodeUnits',
      },
    ],
  };
}

function fingerprint(f: LintWarning): string {
  return createHash('sha256').update(`${repoPath(f.loc.file)}\0${f.rule}\0${f.loc.line}\0${f.message}`).digest('hex').slice(0, 32);
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function toCheckstyle(findings: readonly LintWarning[]): string {
  const byFile = new Map<string, LintWarning[]>();
  for (const f of findings) byFile.set(f.loc.file, [...(byFile.get(f.loc.file) ?? []), f]);
  let out = '<?xml version="1.0" encoding="UTF-8"?>\n<checkstyle version="4.3">\n';
  for (const [file, list] of byFile) {
    out += `  <file name="${xmlEscape(file)}">\n`;
    for (const f of list) {
      const severity = f.severity === 'style' ? 'info' : f.severity;
      out += `    <error line="${f.loc.line}" column="${f.loc.column}" severity="${severity}" message="${xmlEscape(f.message)}" source="${xmlEscape(f.rule)}"/>\n`;
    }
    out += '  </file>\n';
  }
  return out + '</checkstyle>\n';
}

const GITLAB_SEVERITY: Record<LintSeverity, string> = { error: 'critical', warning: 'major', info: 'minor', style: 'info' };

/** GitLab Code Quality report entries. */
function toGitlab(findings: readonly LintWarning[]): object[] {
  return findings.map((f) => ({
    description: f.message,
    check_name: f.rule,
    fingerprint: fingerprint(f),
    severity: GITLAB_SEVERITY[f.severity],
    location: { path: repoPath(f.loc.file), lines: { begin: f.loc.line } },
  }));
}

/** BuildKit's source excerpt under a warning (errdefs.Source.Print). */
function sourceExcerpt(text: string, file: string, startLine: number, endLine: number): string {
  const lines = text.split('\n');
  if (startLine > lines.length || startLine < 1) return '';
  let start = startLine;
  let end = Math.min(endLine, lines.length);
  const pad = end === start ? 4 : 2;
  for (let p = 0; p < pad; ) {
    if (start > 1) {
      start--;
      p++;
    }
    if (end !== lines.length) {
      end++;
      p++;
    }
    p++;
  }
  let out = `${file}:${startLine}\n--------------------\n`;
  for (let i = start; i <= end; i++) {
    const marker = i >= startLine && i <= Math.max(endLine, startLine) ? '>>>' : '   ';
    out += ` ${String(i).padStart(3)} | ${marker} ${lines[i - 1]}\n`;
  }
  return out + '--------------------\n';
}

/** What `docker build --check` prints (buildx's printResult for the lint subrequest). */
export function formatCheckResult(findings: readonly LintWarning[], text: string): string {
  let out = '';
  if (findings.length > 0) out += `Check complete, ${findings.length === 1 ? '1 warning has' : `${findings.length} warnings have`} been found!\n`;
  for (const w of findings) {
    out += `\nWARNING: ${w.rule}${w.url !== '' ? ` - ${w.url}` : ''}\n${w.message}\n`;
    out += sourceExcerpt(text, w.loc.file, w.loc.line, w.loc.endLine);
  }
  if (findings.length === 0) out += 'Check complete, no warnings found.\n';
  return out;
}
