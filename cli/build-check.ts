/**
 * `tsbuild build --check` / `--call check[,format=json]`: BuildKit's build
 * checks as `docker build --check` runs them — evaluate every stage, print
 * "Check complete, …" with each warning and its lines, exit 1 when anything
 * was found, build nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { DEFAULT_CONTEXT_LIMITS, resolveContext, type ResolvedContext } from '../builder/context-source.js';
import { defaultRoot } from '../cache/root.js';
import type { RegistryClient } from '../registry/client.js';
import { DEFAULT_TIMEOUTS } from '../registry/timeouts.js';
import { parseForLint } from '../parser/instructions.js';
import { lintText } from '../parser/lint-run.js';
import { UsageError } from './args.js';
import type { Io } from './common.js';
import { gatherFacts } from './lint-facts.js';
import { formatCheckResult } from './lint-output.js';
import type { NetworkTimeouts } from '../registry/http.js';

export interface CallSpec {
  name: 'build' | 'check';
  format: 'text' | 'json';
}

/** buildx's `--call NAME[,format=FMT]`; `--check` is `--call check`. */
export function parseCall(value: string | undefined, check: boolean): CallSpec {
  if (check) {
    if (value !== undefined && value !== 'check' && !value.startsWith('check,')) throw new UsageError('--check and --call cannot both be set');
  }
  const [name, ...opts] = (value ?? (check ? 'check' : 'build')).split(',');
  if (name !== 'build' && name !== 'check') throw new UsageError(`--call ${name}: not supported (build or check)`);
  let format: CallSpec['format'] = 'text';
  for (const o of opts) {
    const [k, v] = o.split('=');
    if (k !== 'format' || (v !== 'text' && v !== 'json')) throw new UsageError(`--call: invalid option ${JSON.stringify(o)} (format=text|json)`);
    format = v;
  }
  return { name, format };
}

export interface CheckOptions {
  /** The CONTEXT argument: a directory, `-`, a tar file, an http(s) URL or a git source. */
  contextDir: string;
  stdin?: Readable;
  dockerfile?: string;
  dockerfileText?: string;
  storeRoot?: string;
  insecureRegistries: string[];
  timeouts: Partial<NetworkTimeouts>;
  format: CallSpec['format'];
}

/** Runs the checks; returns the exit code (1 when a warning or error was found). */
export async function runBuildCheck(options: CheckOptions, io: Io): Promise<number> {
  const scratch = join(await mkdtemp(join(tmpdir(), 'tsb-check-')), 'context');
  let client: RegistryClient | undefined;
  let source: ResolvedContext;
  try {
    source = await resolveContext({
      spec: options.contextDir,
      ...(options.dockerfile !== undefined ? { dockerfile: options.dockerfile } : {}),
      ...(options.dockerfileText !== undefined ? { dockerfileText: options.dockerfileText } : {}),
      ...(options.stdin ? { stdin: options.stdin } : {}),
      scratch,
      registry: async () => (client ??= new (await import('../registry/client.js')).RegistryClient({ insecureRegistries: options.insecureRegistries, timeouts: options.timeouts })),
      timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
      limits: DEFAULT_CONTEXT_LIMITS,
      keepGitDir: false,
    });
    return await checkSource(source, options, io);
  } finally {
    await client?.close().catch(() => {});
    await rm(join(scratch, '..'), { recursive: true, force: true });
  }
}

async function checkSource(source: ResolvedContext, o: CheckOptions, io: Io): Promise<number> {
  const parsed = parseForLint(source.text, { file: source.fileLabel });
  const facts = await gatherFacts(parsed, {
    ...(source.readIgnore ? { contextDir: source.dir } : {}),
    ...(source.dockerfilePath !== undefined ? { dockerfilePath: source.dockerfilePath } : {}),
    storeRoot: o.storeRoot ?? defaultRoot(),
    network: true,
    insecureRegistries: o.insecureRegistries,
    timeouts: o.timeouts,
  });
  const result = lintText(source.text, { file: source.fileLabel, rules: 'buildkit', facts });
  if (o.format === 'json') {
    const warnings = result.findings.map((w) => ({
      ruleName: w.rule,
      description: w.description,
      ...(w.url !== '' ? { url: w.url } : {}),
      detail: w.message,
      location: { file: w.loc.file, ranges: [{ start: { line: w.loc.line }, end: { line: w.loc.endLine } }] },
    }));
    io.out(JSON.stringify({ warnings }, null, 2) + '\n');
  } else io.out(formatCheckResult(result.findings, source.text));
  if (result.checkError && result.findings.length > 0) {
    const rules = [...new Set(result.findings.map((f) => f.rule))];
    io.err(`ERROR: lint violation found for rules: ${rules.join(', ')}\n`);
  }
  return result.findings.length > 0 ? 1 : 0;
}
