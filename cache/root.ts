import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the store lives when no `--root` is given: `$TSBUILD_ROOT`, else
 * `$XDG_DATA_HOME/tsbuild`, else `~/.local/share/tsbuild`.
 */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TSBUILD_ROOT) return env.TSBUILD_ROOT;
  const data = env.XDG_DATA_HOME || join(env.HOME || homedir(), '.local', 'share');
  return join(data, 'tsbuild');
}
