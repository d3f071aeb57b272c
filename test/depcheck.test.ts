import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, dirname, resolve } from 'node:path';

/**
 * Guardrail (ggcr's depcheck_test.go): each module imports only what the
 * "may use" column of DESIGN.md allows, and only runtime/ spawns processes.
 */
const MAY_USE: Record<string, string[]> = {
  parser: [],
  image: [],
  cache: ['image', 'registry'],
  registry: ['image'],
  runtime: ['image'],
  report: ['image', 'cache'],
  builder: ['parser', 'cache', 'image', 'runtime', 'registry'],
  cli: ['parser', 'builder', 'cache', 'image', 'runtime', 'registry', 'report'],
};

/** Modules that may start child processes: runtime/ (containers), registry/ (credential helpers only). */
const MAY_SPAWN = new Set(['runtime', 'registry']);

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'testdata' || e.name === 'node_modules') continue;
      out.push(...(await sources(p)));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.startsWith('testing')) out.push(p);
  }
  return out;
}

describe('module boundaries (DESIGN.md)', () => {
  for (const [mod, allowed] of Object.entries(MAY_USE)) {
    it(`${mod}/ imports only ${allowed.length ? allowed.join(', ') : 'nothing of ours'}`, async () => {
      const bad: string[] = [];
      for (const file of await sources(mod)) {
        const text = await readFile(join(ROOT, file), 'utf8');
        for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
          const spec = m[1] ?? m[2]!;
          const target = relative(ROOT, resolve(ROOT, dirname(file), spec)).split('/')[0]!;
          if (target !== mod && !allowed.includes(target)) bad.push(`${file} imports ${spec}`);
        }
        if (!MAY_SPAWN.has(mod) && /from\s+['"]node:child_process['"]/.test(text)) bad.push(`${file} imports node:child_process`);
      }
      assert.deepEqual(bad, []);
    });
  }

  it('nothing imports cli/', async () => {
    const bad: string[] = [];
    for (const mod of Object.keys(MAY_USE).filter((m) => m !== 'cli')) {
      for (const file of await sources(mod)) {
        if (/from\s+['"](\.\.\/)+cli\//.test(await readFile(join(ROOT, file), 'utf8'))) bad.push(file);
      }
    }
    assert.deepEqual(bad, []);
  });
});
