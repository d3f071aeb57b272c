import { readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { readDockerignore, walkContext } from '../../builder/context.js';
import { readDockerfile } from '../../builder/dockerfile-source.js';
import { parseDockerfile, parseIgnoreFileWithLines, PatternMatcher } from '../../parser/index.js';
import { bool, helpText, parseArgs, str, type FlagSpec } from '../args.js';
import { HELP_FLAG, humanSize, type Io } from '../common.js';

const LINT_FLAGS: FlagSpec[] = [
  { name: 'format', type: 'string', valueName: 'FMT', description: 'text or json', default: 'text' },
  { name: 'strict', type: 'bool', description: 'exit 1 when there is any warning' },
  HELP_FLAG,
];

/** `tsbuild lint [Dockerfile]`: BuildKit's checks, without building. */
async function lintCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, LINT_FLAGS);
  if (bool(p, 'help')) return io.out(helpText('tsbuild lint [OPTIONS] [DOCKERFILE]', 'Check a Dockerfile (BuildKit\'s lint rules; `# check=` is honoured).', LINT_FLAGS)), 0;
  const file = p.positionals[0] ?? 'Dockerfile';
  const text = await readDockerfile(file);
  const df = parseDockerfile(text, { file });
  if (str(p, 'format') === 'json') io.out(JSON.stringify(df.warnings, null, 2) + '\n');
  else {
    for (const w of df.warnings) io.out(`${w.loc.file}:${w.loc.line}:${w.loc.column}: ${w.severity} ${w.rule}: ${w.message}\n  ${w.url}\n`);
    io.out(`${df.warnings.length} warning(s)\n`);
  }
  return bool(p, 'strict') && df.warnings.length > 0 ? 1 : 0;
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
  lint: { run: lintCommand, summary: 'Check a Dockerfile with BuildKit\'s lint rules' },
  context: { run: contextCommand, summary: 'Show the build context after .dockerignore (--explain PATH)' },
};
