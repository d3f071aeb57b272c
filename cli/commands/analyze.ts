import { readFile, writeFile } from 'node:fs/promises';
import type { BuildRecord } from '../../builder/build.js';
import { storeImage } from '../../cache/store-image.js';
import type { ContentStore } from '../../cache/store.js';
import type { Image } from '../../image/image.js';
import { openImageSpec } from '../../image/image-spec.js';
import { parseReference, RegistryClient } from '../../registry/index.js';
import {
  analyzeImage,
  checkGates,
  describeGate,
  diffReports,
  parseDiveCi,
  parseSize,
  renderHtml,
  renderJson,
  renderText,
  renderDiffText,
  type Gates,
  type SizeReport,
} from '../../report/index.js';
import { TsbuildError } from '../../image/errors.js';
import { bool, helpText, list, parseArgs, str, UsageError, type FlagSpec } from '../args.js';
import { HELP_FLAG, openExistingStore, ROOT_FLAG, type Io } from '../common.js';
import { GATE_FLAGS } from '../gate-flags.js';
import { readBuildRecord } from '../../builder/store-meta.js';
import { findImage, parsePlatformFlag, PLATFORM_FLAG } from './images.js';
import { networkTimeouts } from '../network-flags.js';

export const REPORT_FLAGS: FlagSpec[] = [
  { name: 'format', type: 'string', valueName: 'FMT', description: 'text, json or html', default: 'text' },
  { name: 'output', short: 'o', type: 'string', valueName: 'FILE', description: 'write the report to FILE instead of stdout' },
  { name: 'diff', type: 'bool', description: 'compare two images: tsbuild analyze --diff A B' },
  ...GATE_FLAGS,
  { name: 'ci-config', type: 'string', valueName: 'FILE', description: 'read gates from a .dive-ci file' },
  { name: 'insecure-registry', type: 'list', valueName: 'HOST', description: 'plain HTTP to this registry (docker:// sources)' },
  PLATFORM_FLAG,
  ROOT_FLAG,
  HELP_FLAG,
];

/** A gate failure: exit code 3, naming the gates. */
export class GateFailedError extends TsbuildError {
  constructor(message: string) {
    super('TSB_CLI_GATE_FAILED', message);
  }
}

/**
 * Opens IMAGE as the user wrote it (image/image-spec.ts): a store name, `oci-archive:FILE`,
 * `oci:DIR[:TAG]`, `docker-archive:FILE`, or `docker://REF` (pulled lazily, layers streamed).
 */
async function openImage(openStore: () => Promise<ContentStore>, spec: string, registry: () => RegistryClient, platform: string | undefined): Promise<{ image: Image; record?: BuildRecord }> {
  let record: BuildRecord | undefined;
  const wanted = platform !== undefined ? parsePlatformFlag(platform) : undefined;
  const image = await openImageSpec(spec, {
    registry: async (reference) => (await registry().getPlatformImage(parseReference(reference), wanted)).image,
    ...(wanted ? { platform: wanted } : {}),
    name: async (name) => {
      const store = await openStore();
      const f = await findImage(store, name, platform);
      record = await readBuildRecord(store, f.desc.digest);
      return storeImage(store, f.desc.digest);
    },
  });
  return { image, ...(record ? { record } : {}) };
}

export function gatesFrom(flags: ReturnType<typeof parseArgs>, ciText?: string): Gates {
  const g: Gates = ciText ? parseDiveCi(ciText) : {};
  const maxSize = str(flags, 'max-size');
  const minEff = str(flags, 'min-efficiency');
  const maxWasted = str(flags, 'max-wasted');
  const maxPct = str(flags, 'max-wasted-percent');
  if (maxSize) g.maxSize = parseSize(maxSize);
  if (minEff) g.minEfficiency = ratio(minEff, 'min-efficiency');
  if (maxWasted) g.maxWasted = parseSize(maxWasted);
  if (maxPct) g.maxWastedPercent = ratio(maxPct, 'max-wasted-percent');
  return g;
}

function ratio(v: string, flag: string): number {
  const n = Number(v.endsWith('%') ? Number(v.slice(0, -1)) / 100 : v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${flag} wants a ratio between 0 and 1: ${v}`);
  return n;
}

export async function renderAndGate(report: SizeReport, flags: ReturnType<typeof parseArgs>, io: Io, gates: Gates, file?: string): Promise<number> {
  const format = str(flags, 'format') ?? 'text';
  let text: string;
  if (format === 'json') text = renderJson(report);
  else if (format === 'html') text = renderHtml(report);
  else if (format === 'text') text = renderText(report, { color: !file && process.stdout.isTTY === true, width: process.stdout.columns });
  else throw new UsageError(`unknown --format ${format} (text, json, html)`);
  if (file) await writeFile(file, text);
  else io.out(text.endsWith('\n') ? text : text + '\n');
  const results = checkGates(report, gates);
  const failed = results.filter((x) => !x.passed);
  for (const x of results) io.err(`gate ${x.gate}: ${x.passed ? 'PASS' : 'FAIL'} (${describeGate(x)})\n`);
  if (failed.length) throw new GateFailedError(`image gates failed: ${failed.map(describeGate).join('; ')}`);
  return 0;
}

export async function analyzeCommand(argv: string[], io: Io): Promise<number> {
  const p = parseArgs(argv, REPORT_FLAGS);
  if (bool(p, 'help') || p.positionals.length === 0) {
    io.out(helpText('tsbuild analyze [OPTIONS] IMAGE', 'Where the bytes of an image go, what is wasted and why.\nIMAGE: a store name, oci-archive:FILE, oci:DIR[:TAG], docker-archive:FILE or docker://REF.', REPORT_FLAGS));
    return bool(p, 'help') ? 0 : 2;
  }
  // Only a store name needs the store (which must exist); archives and registries do not.
  let opened: Promise<ContentStore> | undefined;
  const store = (): Promise<ContentStore> => (opened ??= openExistingStore(p));
  let client: RegistryClient | undefined;
  const registry = (): RegistryClient => (client ??= new RegistryClient({ insecureRegistries: list(p, 'insecure-registry'), timeouts: networkTimeouts(p) }));
  try {
    const analyze = async (spec: string): Promise<SizeReport> => {
      const { image, record } = await openImage(store, spec, registry, str(p, 'platform'));
      return analyzeImage(image, record ? { baseLayerCount: record.baseLayerCount, sourceMap: record.sourceMap } : {});
    };
    if (bool(p, 'diff')) {
      if (p.positionals.length !== 2) throw new UsageError('tsbuild analyze --diff needs two images');
      const d = diffReports(await analyze(p.positionals[0]!), await analyze(p.positionals[1]!));
      io.out(str(p, 'format') === 'json' ? JSON.stringify(d, null, 2) + '\n' : renderDiffText(d, { width: process.stdout.columns }));
      return 0;
    }
    const ci = str(p, 'ci-config');
    const gates = gatesFrom(p, ci ? await readFile(ci, 'utf8') : undefined);
    return await renderAndGate(await analyze(p.positionals[0]!), p, io, gates, str(p, 'output'));
  } finally {
    await client?.close();
  }
}
