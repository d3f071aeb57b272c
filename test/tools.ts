import { spawnSync } from 'node:child_process';

/** The tools of `tools` that are not on PATH. */
export function missingTools(tools: string[]): string[] {
  return tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }).status !== 0);
}

/**
 * For a mocha test or `before`: skip locally when a tool is missing, but FAIL
 * under CI=true (a missing tool there is a broken CI image, not a reason to pass).
 */
export function requireTools(ctx: Mocha.Context, tools: string[]): void {
  const missing = missingTools(tools);
  if (missing.length === 0) return;
  const msg = `missing ${missing.join(', ')} (.ci/run installs the Debian packages the tests use)`;
  if (process.env['CI'] === 'true') throw new Error(`${msg}: required under CI`);
  console.log(`      (skipped: ${msg})`);
  ctx.skip();
}
