/**
 * What the recorder (scripts/record-differential.ts) and the comparison test
 * (test/differential.e2e.test.ts) share: where cases live, how a case's context is made, the
 * expected.json shape and the field-by-field comparison with its readable diff.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../runtime/testing.js';
import type { DiffCase } from './cases.js';
import { CONFIG_FIELDS, type Entry, type HistoryEntry, type Normalized, type Tree } from './normalize.js';
import { createHash } from 'node:crypto';

export const CASES_DIR = join(REPO_ROOT, 'testdata', 'differential');
const HELPERS = join(REPO_ROOT, 'test', 'differential');

export function caseDir(c: DiffCase): string {
  return join(CASES_DIR, c.dir);
}

/** Git keeps only 644/755: give every context file the mode a umask-022 checkout gives, whatever the clone's umask. */
function fixModes(dir: string): void {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) {
      chmodSync(p, 0o755);
      fixModes(p);
    } else chmodSync(p, st.mode & 0o100 ? 0o755 : 0o644);
  }
}

/**
 * A fresh copy of the case's context/ in a temp dir, with the special files its setup.sh makes
 * (hardlinks, setuid bits, xattrs, long and odd names: things git cannot store).
 */
export function prepareContext(c: DiffCase): string {
  const ctx = mkdtempSync(join(tmpdir(), `tsb-diff-${c.dir.slice(0, 20)}-`));
  cpSync(join(caseDir(c), 'context'), ctx, { recursive: true });
  fixModes(ctx);
  chmodSync(ctx, 0o755);
  const setup = join(caseDir(c), 'setup.sh');
  if (existsSync(setup)) {
    execFileSync('sh', [setup], {
      cwd: ctx,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, MKTAR: `node ${join(HELPERS, 'mktar.mjs')}`, SETXATTR: `node ${join(HELPERS, 'setxattr.mjs')}` },
    });
  }
  return ctx;
}

/** The Dockerfile's path (always outside the context, so a COPY . never sees it). */
export function dockerfilePath(c: DiffCase): string {
  return join(caseDir(c), 'Dockerfile');
}

/** A recorded (BuildKit) expectation: the full normalized image. */
export interface RecordedExpectation extends Normalized {
  oracle: 'buildkit';
  recorded_with: string;
}

/**
 * A hand-written expectation (syntax the 20.10 frontend lacks): only the fields it names are
 * compared; `content` stands for size+sha256; `exhaustive` also fails on paths it does not list.
 */
export interface ManualExpectation {
  oracle: 'manual';
  reference: string;
  config?: Record<string, unknown>;
  layer_count?: number;
  tree: Record<string, Partial<Entry> & { content?: string }>;
  exhaustive?: boolean;
}

export type Expectation = RecordedExpectation | ManualExpectation;

export function readExpectation(c: DiffCase): Expectation | undefined {
  const p = join(caseDir(c), 'expected.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Expectation) : undefined;
}

function show(v: unknown): string {
  return v === undefined ? '(none)' : JSON.stringify(v);
}

const ENTRY_FIELDS: ReadonlyArray<keyof Entry> = ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'link', 'xattrs', 'dev', 'mtime'];

/** Field-by-field differences of two trees: "path: field ours X vs BuildKit Y". */
export function diffTrees(label: string, ours: Tree, theirs: Partial<Record<string, Partial<Entry>>>, fieldsOf: (e: Partial<Entry>) => ReadonlyArray<keyof Entry> = () => ENTRY_FIELDS, partial = false): string[] {
  const out: string[] = [];
  const paths = new Set([...Object.keys(theirs), ...(partial ? [] : Object.keys(ours))]);
  for (const p of [...paths].sort()) {
    const b = theirs[p];
    // in a hand-written (partial) expectation 'absent' means "no such path", which no entry meets
    const a = ours[p] ?? (partial && b?.type === 'absent' ? b : undefined);
    if (!a) out.push(`${label}${show(p)}: missing in ours (BuildKit: ${show(b)})`);
    else if (!b) out.push(`${label}${show(p)}: only in ours ${show(a)}`);
    else
      for (const f of fieldsOf(b)) {
        if (JSON.stringify(a[f]) !== JSON.stringify(b[f])) out.push(`${label}${show(p)}: ${f} ours ${show(a[f])} vs BuildKit ${show(b[f])}`);
      }
  }
  return out;
}

/**
 * created_by text differs between builders in known ways (README "Conformance"): BuildKit appends
 * " # buildkit" to RUN/COPY/ADD and writes ARG-prefixed RUN lines as "|N K=V … cmd". Compared: the
 * instruction keyword and the empty_layer flag of each entry, and the count.
 */
function historyKeyword(h: HistoryEntry): string {
  const text = h.created_by.replace(/^\|\d+ (\S+=\S* )*/, '').replace(/^\/bin\/sh -c #\(nop\) /, '');
  return (text.split(/\s/)[0] ?? '').toUpperCase();
}

function diffHistory(ours: HistoryEntry[], theirs: HistoryEntry[]): string[] {
  if (ours.length !== theirs.length) {
    return [`history: ${ours.length} entries ours vs BuildKit ${theirs.length}: ours ${show(ours.map((h) => h.created_by))} vs BuildKit ${show(theirs.map((h) => h.created_by))}`];
  }
  const out: string[] = [];
  ours.forEach((h, i) => {
    const t = theirs[i]!;
    if (h.empty_layer !== t.empty_layer) out.push(`history[${i}] ${show(t.created_by)}: empty_layer ours ${h.empty_layer} vs BuildKit ${t.empty_layer}`);
    if (historyKeyword(h) !== historyKeyword(t)) out.push(`history[${i}]: created_by ours ${show(h.created_by)} vs BuildKit ${show(t.created_by)}`);
  });
  return out;
}

/** WorkingDir "/" and unset mean the same to every runtime; BuildKit writes "/" for scratch stages. */
function configValue(config: Record<string, unknown>, field: string): string {
  const v = config[field];
  return JSON.stringify(field === 'WorkingDir' && v === '/' ? undefined : v);
}

function diffConfig(ours: Record<string, unknown>, theirs: Record<string, unknown>, fields: readonly string[]): string[] {
  return fields.filter((f) => configValue(ours, f) !== configValue(theirs, f)).map((f) => `config.${f}: ours ${show(ours[f])} vs BuildKit ${show(theirs[f])}`);
}

export const COMPARED_CONFIG_FIELDS = [...CONFIG_FIELDS, 'Author'] as const;

function entryFields(keepMtime: boolean): (e: Partial<Entry>) => ReadonlyArray<keyof Entry> {
  return () => ENTRY_FIELDS.filter((f) => keepMtime || f !== 'mtime');
}

/** Every difference between tsbuild's normalized image and a recorded expectation. */
export function diffAgainstRecorded(ours: Normalized, expected: RecordedExpectation, keepMtime: boolean): string[] {
  const out = [
    ...diffConfig(ours.config, expected.config, COMPARED_CONFIG_FIELDS),
    ...diffHistory(ours.history, expected.history),
    ...diffTrees('tree ', ours.tree, expected.tree, entryFields(keepMtime)),
  ];
  if (ours.layers.length !== expected.layers.length) out.push(`layers: ${ours.layers.length} ours vs BuildKit ${expected.layers.length}`);
  else ours.layers.forEach((l, i) => out.push(...diffTrees(`layer[${i}] `, layerContent(l), layerContent(expected.layers[i]!), entryFields(keepMtime))));
  return out;
}

/**
 * What a layer must carry: its non-directory entries, whiteouts and opaque markers. Parent
 * directory entries a differ adds are compared in the merged tree, not per layer (README).
 */
export function layerContent(layer: Tree): Tree {
  return Object.fromEntries(Object.entries(layer).filter(([, e]) => e.type !== 'dir'));
}

function withContent(e: Partial<Entry> & { content?: string }): Partial<Entry> {
  if (e.content === undefined) return e;
  const { content, ...rest } = e;
  const data = Buffer.from(content);
  return { ...rest, size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

/** Differences against a hand-written expectation: only what it names. */
export function diffAgainstManual(ours: Normalized, expected: ManualExpectation): string[] {
  const tree = Object.fromEntries(Object.entries(expected.tree).map(([p, e]) => [p, withContent(e)]));
  const fields = (e: Partial<Entry>) => ENTRY_FIELDS.filter((f) => f in e);
  const out = diffTrees('tree ', ours.tree, tree, fields, !expected.exhaustive).map((l) => l.replace('BuildKit', 'reference'));
  if (expected.config) out.push(...diffConfig(ours.config, expected.config, Object.keys(expected.config)).map((l) => l.replace('BuildKit', 'reference')));
  if (expected.layer_count !== undefined && ours.layers.length !== expected.layer_count) out.push(`layers: ${ours.layers.length} ours vs reference ${expected.layer_count}`);
  return out;
}

/** A type=local export against the expected merged tree. */
export function diffLocal(ours: Tree, expected: Expectation, keepMtime: boolean): string[] {
  if (expected.oracle === 'buildkit') return diffTrees('local ', ours, expected.tree, entryFields(keepMtime));
  const tree = Object.fromEntries(Object.entries(expected.tree).map(([p, e]) => [p, withContent(e)]));
  return diffTrees('local ', ours, tree, (e) => ENTRY_FIELDS.filter((f) => f in e), !expected.exhaustive).map((l) => l.replace('BuildKit', 'reference'));
}

/** expected.json text: one line per tree entry, so a re-recording's git diff names the paths that changed. */
export function formatExpectation(expected: object): string {
  const compactValues = (obj: Record<string, unknown>, indent: string): string =>
    `{\n${Object.entries(obj).map(([k, v]) => `${indent} ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n')}\n${indent}}`;
  const parts = Object.entries(expected).map(([k, v]) => {
    if (k === 'tree' && v && typeof v === 'object' && Object.keys(v).length) return ` "tree": ${compactValues(v as Record<string, unknown>, ' ')}`;
    if (k === 'layers' && Array.isArray(v) && v.length)
      return ` "layers": [\n${v.map((l: Record<string, unknown>) => (Object.keys(l).length ? `  ${compactValues(l, '  ')}` : '  {}')).join(',\n')}\n ]`;
    if (k === 'history' && Array.isArray(v) && v.length) return ` "history": [\n${v.map((h) => `  ${JSON.stringify(h)}`).join(',\n')}\n ]`;
    return ` ${JSON.stringify(k)}: ${JSON.stringify(v)}`;
  });
  return `{\n${parts.join(',\n')}\n}\n`;
}
