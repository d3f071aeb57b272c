/**
 * Error codes follow one scheme, `TSB_<AREA>_<WHAT>`: every code literal in the source (the
 * ErrorCode union, the modules that raise them, the tests that match on them) is checked here.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const AREAS = ['DOCKERFILE', 'IMAGE', 'CACHE', 'REGISTRY', 'RUNTIME', 'REPORT', 'BUILD', 'BAKE', 'CLI', 'BENCH'];
const SCHEME = new RegExp(`^TSB_(${AREAS.join('|')})_[A-Z0-9]+(_[A-Z0-9]+)*$`);

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(ROOT, dir), { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.') || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('errors: codes', () => {
  it(`every TSB_ code in the source is TSB_<AREA>_<WHAT>, AREA one of ${AREAS.join(', ')}`, async () => {
    const bad = new Set<string>();
    let seen = 0;
    for (const file of await tsFiles('.')) {
      const text = await readFile(join(ROOT, file), 'utf8');
      // a code is a whole word; `TSB_REGISTRY_${…}` (a registry's own code appended) is the one template
      for (const m of text.matchAll(/\bTSB_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_$])/g)) {
        seen++;
        if (!SCHEME.test(m[0])) bad.add(`${file}: ${m[0]}`);
      }
    }
    assert.ok(seen > 100, `found only ${seen} codes: the scan is broken`);
    assert.deepEqual([...bad], []);
  });

  it('the ErrorCode union lists each code once, grouped by area', async () => {
    const text = await readFile(join(ROOT, 'errors/tsbuild-error.ts'), 'utf8');
    const union = text.slice(text.indexOf('export type ErrorCode'), text.indexOf(';', text.indexOf('export type ErrorCode')));
    const codes = [...union.matchAll(/'(TSB_[A-Z0-9_]+)'/g)].map((m) => m[1]!);
    assert.equal(new Set(codes).size, codes.length, 'a code twice');
    for (const c of codes) assert.match(c, SCHEME);
  });
});
