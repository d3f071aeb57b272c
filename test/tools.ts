import { spawnSync } from 'node:child_process';

/** What these helpers need of a mocha context (runtime/testing.ts is type-checked without mocha's types). */
export interface SkippableContext {
  skip(): void;
}

/**
 * The one "skip locally, fail under CI" rule. A test that needs something this machine lacks
 * skips on a developer machine but FAILS under CI=true: there a missing tool or privilege is a
 * broken CI image, not a reason to pass.
 */
export function requireOrSkip(ctx: SkippableContext, missing: string | undefined): void {
  if (missing === undefined) return;
  if (process.env['CI'] === 'true') throw new Error(`${missing}: required under CI`);
  console.log(`      (skipped: ${missing})`);
  ctx.skip();
}

/** The tools of `tools` that are not on PATH. */
export function missingTools(tools: string[]): string[] {
  return tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
}

/** Skip locally, fail under CI, when one of `tools` is not on PATH. */
export function requireTools(ctx: SkippableContext, tools: string[]): void {
  const missing = missingTools(tools);
  requireOrSkip(ctx, missing.length === 0 ? undefined : `missing ${missing.join(', ')} (.ci/run installs the Debian packages the tests use)`);
}

/** Skip locally, fail under CI, unless the tests run as root (`why`: what needs it). */
export function requireRoot(ctx: SkippableContext, why: string): void {
  requireOrSkip(ctx, process.getuid?.() === 0 ? undefined : `needs root: ${why}`);
}
