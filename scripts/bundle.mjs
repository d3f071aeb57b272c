#!/usr/bin/env node
// Bundles the CLI with esbuild into OUTDIR (default dist/bin): one entry file plus lazily loaded
// chunks (one per command, registry/, runtime/), so start-up resolves and compiles a handful of
// files instead of ~150 modules. @napi-rs/xattr stays external (a native addon): its binding for this
// platform is copied beside the chunks as xattr.node (image/xattr.ts loads it from there), so the
// bundle needs no node_modules. The chunks are ESM;
// the banner gives bundled CommonJS code (undici) the `require` it expects.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = resolve(process.argv[2] ?? join(repo, 'dist', 'bin'));
rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
await build({
  absWorkingDir: repo,
  entryPoints: { main: 'cli/main.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@napi-rs/xattr'],
  banner: { js: "import { createRequire as __tsbuildRequire } from 'node:module'; const require = __tsbuildRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
});
// runtime/seccomp.ts looks for Docker's profile beside the code that loads it
for (const f of ['seccomp-moby.json', 'seccomp-moby.LICENSE.md']) copyFileSync(join(repo, 'runtime', f), join(outdir, f));

// the native xattr binding for this platform, as the package itself would resolve it
const requireFromRepo = createRequire(join(repo, 'package.json'));
const triple = `${process.platform}-${process.arch}${process.platform === 'linux' ? (process.report?.getReport()?.header?.glibcVersionRuntime ? '-gnu' : '-musl') : ''}`;
const bindingPkg = `@napi-rs/xattr-${triple}`;
const bindingDir = dirname(requireFromRepo.resolve(`${bindingPkg}/package.json`));
copyFileSync(join(bindingDir, `xattr.${triple}.node`), join(outdir, 'xattr.node'));
