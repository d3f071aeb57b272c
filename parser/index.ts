/**
 * parser/: Dockerfile syntax. `parse` + `dump` give BuildKit's low-level AST;
 * `parseDockerfile` gives typed instructions grouped in stages, with lint
 * warnings. Variable expansion lives in shell.ts, .dockerignore in dockerignore.ts.
 */
export type { Directive, Heredoc, Node, ParseResult, ParseWarning } from './ast.js';
export { parse, dockerfileTooLarge, MAX_DOCKERFILE_BYTES, type ParseOptions } from './parse.js';
export { dump, dumpNode, goQuote } from './dump.js';
export {
  detectSyntax,
  findDirective,
  parseCheckOptions,
  type CheckOptions,
  type SyntaxDirective,
  type DirectiveName,
} from './directives.js';
export { parseHeredocWord, heredocsFromLine, chompHeredocContent } from './heredoc.js';
export { parseFlags, FlagError, type FlagKind, type FlagSpec, type FlagValues, type ParsedFlags } from './flags.js';
export { parseDuration } from './duration.js';
export {
  parseDockerfile,
  parseInstruction,
  heredocScript,
  buildStages,
  INSTRUCTION_KINDS,
  type AddInstruction,
  type ArgInstruction,
  type CmdInstruction,
  type Command,
  type CopyInstruction,
  type Directives,
  type Dockerfile,
  type EntrypointInstruction,
  type EnvInstruction,
  type ExposeInstruction,
  type FromInstruction,
  type HealthcheckCmd,
  type HealthcheckInstruction,
  type HealthcheckNone,
  type Instruction,
  type InstructionKind,
  type KeyValue,
  type LabelInstruction,
  type Location,
  type MaintainerInstruction,
  type OnbuildInstruction,
  type ParseDockerfileOptions,
  type RunInstruction,
  type ShellInstruction,
  type Stage,
  type StopsignalInstruction,
  type UserInstruction,
  type VolumeInstruction,
  type WorkdirInstruction,
} from './instructions.js';
export { RULES, BUILTIN_FROM_ARGS, lintDockerfile, referencedVars, type LintRule, type LintWarning, type RuleName } from './lint.js';
export {
  ERROR_BRAND,
  ParserBaseError,
  DockerfileParseError,
  DockerfileLintError,
  SOURCE_TEXT,
  attachSource,
  sourceTextOf,
  DurationError,
  type ErrorPosition,
  type LintFinding,
} from './errors.js';
// Written by the shell/dockerignore helper; re-exported so parser/ has one entry point.
export * from './shell.js';
export * from './dockerignore.js';
