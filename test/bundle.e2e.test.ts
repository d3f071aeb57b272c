import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { execFileP, removeAll, tempDir } from './helpers.js';
import { shippedCliBehaviours } from './shipped-cli.js';

/**
 * The CLI as it ships: scripts/bundle.mjs (what `npm run build` runs) bundles it with esbuild.
 * The other tests call main() in-process from the sources; these run the bundle as a process,
 * so a module the bundler got wrong (undici's CommonJS, lazy chunks, the seccomp profile's
 * path) fails here.
 */
describe('the bundled CLI (scripts/bundle.mjs)', function () {
  this.timeout(180_000);
  let out: string;

  before(async () => {
    out = await tempDir('tsb-bundle-');
    await execFileP(process.execPath, ['scripts/bundle.mjs', out]);
  });
  after(async () => removeAll(out));

  it('needs no node_modules: every import of every chunk is a node: builtin or a sibling chunk, and the xattr binding ships beside them', async () => {
    const files = await readdir(out);
    assert.ok(files.includes('xattr.node'), files.join(' '));
    const bare = new Set<string>();
    for (const f of files.filter((name) => name.endsWith('.js'))) {
      const text = await readFile(join(out, f), 'utf8');
      const specifiers = /^(?:import|export)\b[^;\n]*?\bfrom\s*"([^"]+)"|\b(?:import|require)\("([^"]+)"\)/gm;
      for (const m of text.matchAll(specifiers)) {
        const spec = m[1] ?? m[2]!;
        if (spec.startsWith('./')) continue;
        if (!isBuiltin(spec)) bare.add(`${f}: ${spec}`);
      }
    }
    assert.deepEqual([...bare], []);
  });

  shippedCliBehaviours(async () => ({ file: process.execPath, prefix: [join(out, 'main.js')] }));
});
