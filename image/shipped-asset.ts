import { fileURLToPath } from 'node:url';

/**
 * Where a file shipped beside the code (Docker's seccomp profile, the xattr binding) can be, most
 * likely first: inside the compiled executable (`bun build --compile` embeds it under
 * /$bunfs/root/; scripts/compile.mjs), beside the module that asks (the bundle in dist/bin), then
 * `fallbacks` relative to that module (the source tree). A compiled executable must read its own
 * copy: `import.meta.url` there still names the build machine's dist/bin, which a user of the
 * installed executable may not be able to read (a rootless build runs as that user).
 */
export function shippedAssetPaths(name: string, moduleUrl: string, fallbacks: readonly string[] = []): string[] {
  const script = process.argv[1] ?? '';
  const compiled = script.startsWith('/$bunfs/') || script.startsWith('B:/~BUN/');
  return [...(compiled ? [`/$bunfs/root/${name}`] : []), ...[`./${name}`, ...fallbacks].map((relative) => fileURLToPath(new URL(relative, moduleUrl)))];
}
