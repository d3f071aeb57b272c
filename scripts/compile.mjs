#!/usr/bin/env node
// Compiles the esbuild bundle (dist/bin, scripts/bundle.mjs) into one self-contained executable,
// dist/tsbuild, with `bun build --compile`: the Bun runtime, the code, Docker's seccomp profile
// and the native xattr binding in one file that needs neither Node nor node_modules.
// Bun, not Node's single-executable applications, because it starts in a fraction of Node's
// time (numbers in the README, "The executable").
//
// The extra files are compiled in as assets under their own names (--asset-naming), so the code's
// `new URL('./seccomp-moby.json', import.meta.url)` and `./xattr.node` resolve inside the
// executable's virtual /$bunfs/root, as they resolve beside the chunks in dist/bin.
//
//   node scripts/compile.mjs [BUNDLE_DIR [OUTFILE]]     (defaults: dist/bin, dist/tsbuild)
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bundleDir = resolve(process.argv[2] ?? join(repo, 'dist', 'bin'));
const outfile = resolve(process.argv[3] ?? join(repo, 'dist', 'tsbuild'));
const ASSETS = ['seccomp-moby.json', 'seccomp-moby.LICENSE.md', 'xattr.node'];

/** The bun devDependency's binary: the `bun` package's postinstall puts it in bun/bin. */
function bunBinary() {
  const requireFromRepo = createRequire(join(repo, 'package.json'));
  const candidates = [];
  try {
    candidates.push(join(dirname(requireFromRepo.resolve('bun/package.json')), 'bin', 'bun.exe'));
  } catch {
    // not installed; reported below
  }
  // without the postinstall (npm ci --ignore-scripts) the binary stays in the platform package
  const arch = process.arch === 'arm64' ? 'aarch64' : process.arch;
  try {
    candidates.push(join(dirname(requireFromRepo.resolve(`@oven/bun-${process.platform}-${arch}/package.json`)), 'bin', 'bun'));
  } catch {
    // not installed for this platform
  }
  const found = candidates.find((path) => existsSync(path) && statSync(path).size > 1_000_000);
  if (!found) {
    console.error(`compile: no bun binary for ${process.platform}-${process.arch} in node_modules (run npm ci); looked at: ${candidates.join(', ') || 'nothing'}`);
    process.exit(1);
  }
  return found;
}

for (const name of ['main.js', ...ASSETS]) {
  if (!existsSync(join(bundleDir, name))) {
    console.error(`compile: ${join(bundleDir, name)} is missing; run scripts/bundle.mjs first`);
    process.exit(1);
  }
}
execFileSync(
  bunBinary(),
  [
    'build',
    '--compile',
    '--bytecode',
    '--asset-naming=[name].[ext]',
    '--loader=.json:file',
    '--loader=.md:file',
    `--outfile=${outfile}`,
    join(bundleDir, 'main.js'),
    ...ASSETS.map((name) => join(bundleDir, name)),
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
console.log(`compile: ${outfile} (${(statSync(outfile).size / 1e6).toFixed(0)} MB)`);
