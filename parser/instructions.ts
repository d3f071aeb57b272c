/**
 * Typed instructions (BuildKit `instructions.Parse`): the low-level nodes
 * become a discriminated union on `kind`, grouped into stages, with BuildKit's
 * semantic checks. Every word stays RAW (unexpanded, quotes kept where the
 * low-level parser keeps them): the builder expands with shell.ts later.
 */
import type { Heredoc, Node, ParseResult } from './ast.js';
import type { CheckOptions } from './directives.js';
import { DirectiveError, parseCheckOptions } from './directives.js';
import { parseDuration } from './duration.js';
import { attachSource, DockerfileLintError, DockerfileParseError, DurationError } from './errors.js';
import { FlagError, parseFlags, type FlagSpec } from './flags.js';
import { chompHeredocContent, HeredocSyntaxError, parseHeredocWord as parseHeredocWordRaw } from './heredoc.js';
import { lintDockerfile, type LintInput, type LintWarning } from './lint.js';
import { commentsAbove } from './lint-comments.js';
import { MAX_DOCKERFILE_BYTES, parse } from './parse.js';
import { didYouMean } from './suggest.js';

export type { Heredoc } from './ast.js';

export interface Location {
  file: string;
  /** 1-based line of the keyword. */
  line: number;
  /** 1-based column of the keyword. */
  column: number;
  /** Last physical line of the instruction (continuations and heredoc bodies included). */
  endLine: number;
}

/** How a RUN/CMD/ENTRYPOINT/HEALTHCHECK command was written. */
export type Command = { form: 'exec'; args: string[] } | { form: 'shell'; script: string };

interface Base {
  loc: Location;
  /** Instruction text with continuations joined (BuildKit's Original). */
  original: string;
  /** The keyword as written (`Run`), for casing lints and messages. */
  keyword: string;
}

export interface FromInstruction extends Base {
  kind: 'from';
  image: string;
  /** Lower-cased, as BuildKit does. */
  stageName?: string;
  platform?: string;
}

export interface RunInstruction extends Base {
  kind: 'run';
  /**
   * Shell form: the script for the shell. When the command is only a heredoc
   * (`RUN <<EOF`) it is the heredoc body (tabs chomped for `<<-`, and
   * `scriptFromHeredoc` is set). When heredocs are fed to a command
   * (`RUN python3 <<EOF`) it is the command text only; `heredocScript(run)`
   * rebuilds the full shell input BuildKit runs.
   */
  cmd: Command;
  /** Heredocs of this RUN; content already chomped when `chomp`. */
  heredocs: Heredoc[];
  /** True when `cmd.script` is a lone heredoc body (BuildKit runs it as a file when it starts with `#!`). */
  scriptFromHeredoc: boolean;
  /** Raw `--mount` values. */
  mounts: string[];
  network?: string;
  security?: string;
  device?: string[];
}

export interface CmdInstruction extends Base {
  kind: 'cmd';
  cmd: Command;
}

export interface EntrypointInstruction extends Base {
  kind: 'entrypoint';
  cmd: Command;
}

interface CopyLike extends Base {
  /** Source words; a heredoc source appears as its name (see `heredocs`). */
  sources: string[];
  dest: string;
  /** File contents given inline; content already chomped when `chomp`. */
  heredocs: Heredoc[];
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
}

export interface CopyInstruction extends CopyLike {
  kind: 'copy';
}

export interface AddInstruction extends CopyLike {
  kind: 'add';
  checksum?: string;
  keepGitDir?: boolean;
  unpack?: boolean;
}

export interface KeyValue {
  key: string;
  value: string;
  /** Written in the legacy `ENV key value` form (no `=`). */
  legacy: boolean;
}

export interface EnvInstruction extends Base {
  kind: 'env';
  pairs: KeyValue[];
}

export interface LabelInstruction extends Base {
  kind: 'label';
  pairs: KeyValue[];
}

export interface ArgInstruction extends Base {
  kind: 'arg';
  /** `value` is undefined for `ARG name`, '' for `ARG name=`. */
  args: { key: string; value?: string }[];
}

export interface ExposeInstruction extends Base {
  kind: 'expose';
  ports: string[];
}

export interface UserInstruction extends Base {
  kind: 'user';
  user: string;
}

export interface WorkdirInstruction extends Base {
  kind: 'workdir';
  path: string;
}

export interface VolumeInstruction extends Base {
  kind: 'volume';
  paths: string[];
}

export interface ShellInstruction extends Base {
  kind: 'shell';
  shell: string[];
}

export interface StopsignalInstruction extends Base {
  kind: 'stopsignal';
  signal: string;
}

export interface HealthcheckNone {
  test: 'none';
}

export interface HealthcheckCmd {
  /** CMD form: exec for JSON (`CMD`), shell otherwise (`CMD-SHELL`). */
  test: Command;
  /** Nanoseconds; absent when not given or 0. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

export type HealthcheckInstruction = Base & { kind: 'healthcheck' } & (HealthcheckNone | HealthcheckCmd);

export interface OnbuildInstruction extends Base {
  kind: 'onbuild';
  /** The trigger as written after ONBUILD, heredoc bodies appended (BuildKit's Expression). */
  trigger: string;
  instruction: Instruction;
}

export interface MaintainerInstruction extends Base {
  kind: 'maintainer';
  name: string;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | CopyInstruction
  | AddInstruction
  | EnvInstruction
  | ArgInstruction
  | LabelInstruction
  | ExposeInstruction
  | UserInstruction
  | WorkdirInstruction
  | VolumeInstruction
  | ShellInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

export type InstructionKind = Instruction['kind'];

export interface Stage {
  index: number;
  /** Lower-cased `AS` name. */
  name?: string;
  from: FromInstruction;
  /** Instructions after FROM. */
  instructions: Instruction[];
}

export interface Directives {
  syntax?: string;
  escape?: string;
  check?: string;
  /** Every directive in file order, with its line. */
  list: { name: string; value: string; line: number }[];
}

export interface Dockerfile {
  directives: Directives;
  /** ARGs before the first FROM. */
  globalArgs: ArgInstruction[];
  stages: Stage[];
  warnings: LintWarning[];
  escapeToken: string;
  file: string;
}

export interface ParseDockerfileOptions {
  file?: string;
  /** Overrides the `# check=` directive (like the BUILDKIT_DOCKERFILE_CHECK build arg). */
  check?: string;
  /** Run lint rules (default true). */
  lint?: boolean;
}

export const INSTRUCTION_KINDS: readonly InstructionKind[] = [
  'from',
  'run',
  'cmd',
  'entrypoint',
  'copy',
  'add',
  'env',
  'arg',
  'label',
  'expose',
  'user',
  'workdir',
  'volume',
  'shell',
  'stopsignal',
  'healthcheck',
  'onbuild',
  'maintainer',
];

/** A semantic problem inside one instruction; parseInstruction adds the location. */
class InstructionError extends Error {}

const fail = (msg: string): never => {
  throw new InstructionError(msg);
};

function flagsOf<S extends FlagSpec>(node: Node, spec: S): ReturnType<typeof parseFlags<S>> {
  try {
    return parseFlags(node.flags, spec);
  } catch (e) {
    if (e instanceof FlagError) throw new InstructionError(e.message);
    throw e;
  }
}

const NO_FLAGS = {} as const;

function parseHeredocWord(word: string): Heredoc | null {
  try {
    return parseHeredocWordRaw(word);
  } catch (e) {
    if (e instanceof HeredocSyntaxError) throw new InstructionError(e.message);
    throw e;
  }
}

/** BuildKit `handleJSONArgs` + PrependShell as one value. */
function commandOf(node: Node, args: string[]): Command {
  return node.json ? { form: 'exec', args } : { form: 'shell', script: args.join(' ') };
}

function effectiveHeredoc(h: Heredoc): Heredoc {
  return { ...h, content: h.chomp ? chompHeredocContent(h.content) : h.content };
}

function exactlyOne(node: Node, name: string): string {
  if (node.args.length !== 1) fail(`${name} requires exactly one argument`);
  return node.args[0]!;
}

function keyValues(node: Node, name: string): KeyValue[] {
  const a = node.args;
  if (a.length === 0) fail(`${name} requires at least one argument`);
  if (a.length % 3 !== 0) fail(`Bad input to ${name}, too many arguments`);
  const out: KeyValue[] = [];
  for (let i = 0; i < a.length; i += 3) {
    if (a[i]!.length === 0) fail(`${name} names can not be blank`);
    out.push({ key: a[i]!, value: a[i + 1]!, legacy: a[i + 2] === '' });
  }
  return out;
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function parseFrom(node: Node, base: Base): FromInstruction {
  const a = node.args;
  let stageName: string | undefined;
  if (a.length === 3 && a[1]!.toLowerCase() === 'as') {
    stageName = a[2]!.toLowerCase();
    if (!STAGE_NAME.test(stageName)) {
      fail(`invalid name for build stage: ${JSON.stringify(a[2])}, name can't start with a number or contain symbols`);
    }
  } else if (a.length !== 1) {
    fail('FROM requires either one or three arguments');
  }
  const { values } = flagsOf(node, { platform: 'string' });
  const out: FromInstruction = { kind: 'from', ...base, image: a[0]! };
  if (stageName !== undefined) out.stageName = stageName;
  if (values.platform) out.platform = values.platform;
  return out;
}

const NETWORK_MODES = ['default', 'none', 'host'];
const SECURITY_MODES = ['sandbox', 'insecure'];

function parseRun(node: Node, base: Base): RunInstruction {
  const { values } = flagsOf(node, { mount: 'strings', network: 'string', security: 'string', device: 'strings' });
  if (values.network !== undefined && !NETWORK_MODES.includes(values.network)) {
    fail(`unsupported network mode ${JSON.stringify(values.network)}`);
  }
  if (values.security !== undefined && !SECURITY_MODES.includes(values.security)) {
    fail(`unsupported security mode ${JSON.stringify(values.security)}`);
  }
  let cmd = commandOf(node, node.args);
  let scriptFromHeredoc = false;
  if (node.heredocs.length > 0 && cmd.form === 'shell') {
    const only = parseHeredocWord(cmd.script);
    const first = node.heredocs[0]!;
    if (only !== null) {
      cmd = { form: 'shell', script: first.chomp ? chompHeredocContent(first.content) : first.content };
      scriptFromHeredoc = true;
    }
  }
  const out: RunInstruction = {
    kind: 'run',
    ...base,
    cmd,
    heredocs: node.heredocs.map(effectiveHeredoc),
    scriptFromHeredoc,
    mounts: values.mount,
  };
  if (values.network !== undefined) out.network = values.network;
  if (values.security !== undefined) out.security = values.security;
  if (values.device.length > 0) out.device = values.device;
  return out;
}

/**
 * The text BuildKit hands to the shell for a RUN whose heredocs feed a
 * command: the command line, then each raw body and its terminator, so the
 * shell itself applies `<<-` and quoting. For other RUNs, the script as is.
 */
export function heredocScript(run: RunInstruction): string {
  if (run.cmd.form === 'exec') return run.cmd.args.join(' ');
  if (run.scriptFromHeredoc || run.heredocs.length === 0) return run.cmd.script;
  // Bodies are already chomped, which is what the shell would do for `<<-` anyway.
  let full = run.cmd.script;
  for (const h of run.heredocs) full += '\n' + h.content + h.name;
  return full;
}

function sourcesAndDest(node: Node, name: string): Pick<CopyLike, 'sources' | 'dest' | 'heredocs'> {
  const a = node.args;
  if (a.length < 2) {
    fail(`${name} requires at least two arguments, but only one was provided. Destination could not be determined`);
  }
  const dest = a[a.length - 1]!;
  if (parseHeredocWord(dest) !== null) fail(`${name} cannot accept a heredoc as a destination`);
  const byName = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const heredocs: Heredoc[] = [];
  for (const src of a.slice(0, -1)) {
    // JSON-form sources are never heredocs (the parser does not read bodies for them).
    const word = node.json ? null : parseHeredocWord(src);
    if (word === null) {
      sources.push(src);
      continue;
    }
    const body = byName.get(word.name);
    const h: Heredoc = { ...word, content: body?.content ?? '' };
    sources.push(word.name);
    heredocs.push(effectiveHeredoc(h));
  }
  return { sources, dest, heredocs };
}

function parseCopy(node: Node, base: Base): CopyInstruction {
  const { values } = flagsOf(node, {
    from: 'string',
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    parents: 'bool',
    exclude: 'strings',
  });
  const out: CopyInstruction = {
    kind: 'copy',
    ...base,
    ...sourcesAndDest(node, 'COPY'),
    link: values.link === true,
    parents: values.parents === true,
    exclude: values.exclude,
  };
  if (values.from) out.from = values.from;
  if (values.chown) out.chown = values.chown;
  if (values.chmod) out.chmod = values.chmod;
  return out;
}

function parseAdd(node: Node, base: Base): AddInstruction {
  const { values } = flagsOf(node, {
    chown: 'string',
    chmod: 'string',
    link: 'bool',
    'keep-git-dir': 'bool',
    checksum: 'string',
    exclude: 'strings',
    unpack: 'bool',
  });
  const out: AddInstruction = {
    kind: 'add',
    ...base,
    ...sourcesAndDest(node, 'ADD'),
    link: values.link === true,
    parents: false,
    exclude: values.exclude,
  };
  if (values.chown) out.chown = values.chown;
  if (values.chmod) out.chmod = values.chmod;
  if (values.checksum) out.checksum = values.checksum;
  if (values['keep-git-dir'] !== undefined) out.keepGitDir = values['keep-git-dir'];
  if (values.unpack !== undefined) out.unpack = values.unpack;
  return out;
}

function parseArg(node: Node, base: Base): ArgInstruction {
  // BuildKit does not look at ARG flags at all.
  if (node.args.length === 0) fail('ARG requires at least one argument');
  const args = node.args.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) return { key: word };
    if (eq === 0) fail('ARG names can not be blank');
    return { key: word.slice(0, eq), value: word.slice(eq + 1) };
  });
  return { kind: 'arg', ...base, args };
}

/** Go `%#v`-style interval check: 0 means unset; otherwise at least 1ms. */
function interval(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  let ns: number;
  try {
    ns = parseDuration(value);
  } catch (e) {
    if (e instanceof DurationError) throw new InstructionError(e.message);
    throw e;
  }
  if (ns === 0) return undefined;
  if (ns < 1_000_000) fail(`Interval ${JSON.stringify(name)} cannot be less than 1ms`);
  return ns;
}

function parseHealthcheck(node: Node, base: Base): HealthcheckInstruction {
  if (node.args.length === 0) fail('HEALTHCHECK requires at least one argument');
  const typ = node.args[0]!.toUpperCase();
  const args = node.args.slice(1);
  if (typ === 'NONE') {
    if (args.length !== 0) fail('HEALTHCHECK NONE takes no arguments');
    return { kind: 'healthcheck', ...base, test: 'none' };
  }
  const { values } = flagsOf(node, {
    interval: 'string',
    timeout: 'string',
    'start-period': 'string',
    'start-interval': 'string',
    retries: 'string',
  });
  if (typ !== 'CMD') fail(`Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`);
  const test = commandOf(node, args);
  if (test.form === 'exec' ? test.args.length === 0 : args.length === 0) fail('Missing command after HEALTHCHECK CMD');
  const out: HealthcheckInstruction = { kind: 'healthcheck', ...base, test };
  const iv = interval('interval', values.interval);
  const to = interval('timeout', values.timeout);
  const sp = interval('start-period', values['start-period']);
  const si = interval('start-interval', values['start-interval']);
  if (iv !== undefined) out.interval = iv;
  if (to !== undefined) out.timeout = to;
  if (sp !== undefined) out.startPeriod = sp;
  if (si !== undefined) out.startInterval = si;
  if (values.retries !== undefined && values.retries !== '') {
    const r = values.retries;
    if (!/^[+-]?[0-9]+$/.test(r)) fail(`strconv.ParseInt: parsing ${JSON.stringify(r)}: invalid syntax`);
    const n = Number.parseInt(r, 10);
    if (n > 2147483647 || n < -2147483648) fail(`strconv.ParseInt: parsing ${JSON.stringify(r)}: value out of range`);
    if (n < 0) fail(`--retries cannot be negative (${n})`);
    out.retries = n;
  }
  return out;
}

function parseOnbuild(node: Node, base: Base, file: string): OnbuildInstruction {
  flagsOf(node, NO_FLAGS);
  const sub = node.sub;
  if (!sub) return fail('ONBUILD requires at least one argument');
  const trigger = sub.rawKeyword.trim().toUpperCase();
  if (trigger === 'ONBUILD') fail('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (trigger === 'MAINTAINER' || trigger === 'FROM') fail(`${trigger} isn't allowed as an ONBUILD trigger`);
  let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
  for (const h of node.heredocs) expression += '\n' + h.content + h.name;
  const instruction = parseInstruction({ ...sub, heredocs: node.heredocs }, file);
  return { kind: 'onbuild', ...base, trigger: expression, instruction };
}

function parseShell(node: Node, base: Base): ShellInstruction {
  flagsOf(node, NO_FLAGS);
  const args = node.json ? node.args : [node.args.join(' ')];
  if (args.length === 0 || (!node.json && node.args.length === 0)) fail('SHELL requires at least one argument');
  if (!node.json) fail('SHELL requires the arguments to be in JSON form');
  return { kind: 'shell', ...base, shell: args };
}

/** Convert one low-level node into a typed instruction; throws DockerfileParseError. */
export function parseInstruction(node: Node, file = 'Dockerfile'): Instruction {
  const loc: Location = { file, line: node.startLine, column: node.column, endLine: node.endLine };
  const base: Base = { loc, original: node.original, keyword: node.rawKeyword };
  try {
    return dispatch(node, base, file);
  } catch (e) {
    if (e instanceof InstructionError) {
      throw new DockerfileParseError(e.message, { file, line: loc.line, column: loc.column, endLine: loc.endLine }, node.original);
    }
    throw e;
  }
}

function dispatch(node: Node, base: Base, file: string): Instruction {
  switch (node.keyword) {
    case 'from':
      return parseFrom(node, base);
    case 'run':
      return parseRun(node, base);
    case 'cmd':
      flagsOf(node, NO_FLAGS);
      return { kind: 'cmd', ...base, cmd: commandOf(node, node.args) };
    case 'entrypoint':
      flagsOf(node, NO_FLAGS);
      return { kind: 'entrypoint', ...base, cmd: commandOf(node, node.args) };
    case 'copy':
      return parseCopy(node, base);
    case 'add':
      return parseAdd(node, base);
    case 'env':
      flagsOf(node, NO_FLAGS);
      return { kind: 'env', ...base, pairs: keyValues(node, 'ENV') };
    case 'label':
      flagsOf(node, NO_FLAGS);
      return { kind: 'label', ...base, pairs: keyValues(node, 'LABEL') };
    case 'arg':
      return parseArg(node, base);
    case 'expose':
      if (node.args.length === 0) fail('EXPOSE requires at least one argument');
      flagsOf(node, NO_FLAGS);
      return { kind: 'expose', ...base, ports: [...node.args] };
    case 'user': {
      const user = exactlyOne(node, 'USER');
      flagsOf(node, NO_FLAGS);
      return { kind: 'user', ...base, user };
    }
    case 'workdir': {
      const path = exactlyOne(node, 'WORKDIR');
      flagsOf(node, NO_FLAGS);
      return { kind: 'workdir', ...base, path };
    }
    case 'volume': {
      if (node.args.length === 0) fail('VOLUME requires at least one argument');
      flagsOf(node, NO_FLAGS);
      const paths = node.args.map((v) => v.trim());
      if (paths.some((p) => p === '')) fail('VOLUME specified can not be an empty string');
      return { kind: 'volume', ...base, paths };
    }
    case 'shell':
      return parseShell(node, base);
    case 'stopsignal':
      // BuildKit ignores STOPSIGNAL flags.
      return { kind: 'stopsignal', ...base, signal: exactlyOne(node, 'STOPSIGNAL') };
    case 'healthcheck':
      return parseHealthcheck(node, base);
    case 'onbuild':
      return parseOnbuild(node, base, file);
    case 'maintainer': {
      const name = exactlyOne(node, 'MAINTAINER');
      flagsOf(node, NO_FLAGS);
      return { kind: 'maintainer', ...base, name };
    }
    default:
      return fail(`unknown instruction: ${node.rawKeyword}${didYouMean(node.rawKeyword, INSTRUCTION_KINDS.map((k) => k.toUpperCase()))}`);
  }
}

function directivesOf(result: ParseResult): Directives {
  const out: Directives = { list: result.directives.map((d) => ({ ...d })) };
  for (const d of result.directives) out[d.name] = d.value;
  return out;
}

/** Group typed instructions into global ARGs and stages (BuildKit `instructions.Parse`). */
export function buildStages(result: ParseResult): { globalArgs: ArgInstruction[]; stages: Stage[] } {
  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  for (const node of result.root) {
    const ins = parseInstruction(node, result.file);
    if (ins.kind === 'from') {
      const stage: Stage = { index: stages.length, from: ins, instructions: [] };
      if (ins.stageName !== undefined) stage.name = ins.stageName;
      stages.push(stage);
      continue;
    }
    const current = stages[stages.length - 1];
    if (current) {
      current.instructions.push(ins);
    } else if (ins.kind === 'arg') {
      globalArgs.push(ins);
    } else {
      throw new DockerfileParseError(
        `no build stage in current context: ${ins.keyword.toUpperCase()} must come after FROM`,
        { file: result.file, line: ins.loc.line, column: ins.loc.column, endLine: ins.loc.endLine },
        ins.original,
      );
    }
  }
  return { globalArgs, stages };
}

/**
 * Parse a Dockerfile into directives, global ARGs and stages of typed
 * instructions, and run the lint rules the `check` directive allows.
 * Throws DockerfileParseError, or DockerfileLintError with `check=error=true`.
 */
export function parseDockerfile(text: string, opts: ParseDockerfileOptions = {}): Dockerfile {
  try {
    return parseDockerfileText(text, opts);
  } catch (e) {
    // over the size limit, the text is not worth carrying
    throw text.length > MAX_DOCKERFILE_BYTES ? e : attachSource(e, opts.file ?? 'Dockerfile', text);
  }
}

/** What the lint rules read of a parsed Dockerfile. */
export function lintInputOf(text: string, result: ParseResult, globalArgs: ArgInstruction[], stages: Stage[]): LintInput {
  const directiveLines = new Set(result.directives.map((d) => d.line));
  return {
    file: result.file,
    root: result.root,
    parseWarnings: result.warnings,
    globalArgs,
    stages,
    escapeToken: result.escapeToken,
    comments: commentsAbove(text, result.root, directiveLines),
  };
}

/** A parsed Dockerfile with what its lint rules read, before any rule ran. */
export interface ParsedForLint {
  df: Omit<Dockerfile, 'warnings'>;
  input: LintInput;
  check: CheckOptions;
}

/** Parse into stages and the lint input; throws DockerfileParseError. */
export function parseForLint(text: string, opts: ParseDockerfileOptions = {}): ParsedForLint {
  try {
    return parseStagesOf(text, opts);
  } catch (e) {
    throw text.length > MAX_DOCKERFILE_BYTES ? e : attachSource(e, opts.file ?? 'Dockerfile', text);
  }
}

function parseStagesOf(text: string, opts: ParseDockerfileOptions): ParsedForLint {
  const result = parse(text, opts.file === undefined ? {} : { file: opts.file });
  const file = result.file;
  const directives = directivesOf(result);

  let check: CheckOptions = { skip: [], skipAll: false, error: false };
  const checkText = opts.check ?? directives.check;
  if (checkText !== undefined) {
    try {
      check = parseCheckOptions(checkText);
    } catch (e) {
      if (!(e instanceof DirectiveError)) throw e;
      const line = result.directives.find((d) => d.name === 'check')?.line ?? 1;
      throw new DockerfileParseError(e.message, { file, line: opts.check === undefined ? line : 1, column: 1 });
    }
  }

  const { globalArgs, stages } = buildStages(result);
  if (stages.length === 0) {
    const last = result.root[result.root.length - 1];
    throw new DockerfileParseError('dockerfile contains no stages to build', {
      file,
      line: last?.startLine ?? 1,
      column: 1,
    });
  }
  const df = { directives, globalArgs, stages, escapeToken: result.escapeToken, file };
  return { df, input: lintInputOf(text, result, globalArgs, stages), check };
}

function parseDockerfileText(text: string, opts: ParseDockerfileOptions): Dockerfile {
  const { df, input, check } = parseStagesOf(text, opts);
  const warnings = opts.lint === false ? [] : lintDockerfile(input, check);
  const errors = warnings.filter((w) => w.severity === 'error');
  if (errors.length > 0 || (check.error && warnings.length > 0)) {
    throw new DockerfileLintError(check.error ? warnings : errors);
  }
  return { ...df, warnings };
}
