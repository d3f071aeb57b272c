import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, dirname, resolve } from 'node:path';

/**
 * Guardrail (ggcr's depcheck_test.go): each module imports only what the
 * "may use" column of DESIGN.md allows, and only runtime/ spawns processes.
 */
const MAY_USE: Record<string, string[]> = {
  errors: [],
  parser: ['errors'],
  image: ['errors'],
  cache: ['errors', 'image', 'registry'],
  registry: ['errors', 'image'],
  runtime: ['errors', 'image'],
  report: ['errors', 'image', 'cache'],
  builder: ['errors', 'parser', 'cache', 'image', 'runtime', 'registry'],
  cli: ['errors', 'parser', 'builder', 'cache', 'image', 'runtime', 'registry', 'report'],
};

/**
 * One home per concern: a module outside `home` that matches `pattern` does that concern's work
 * itself. `until` names files allowed for now, with the reason.
 */
const HOMES: Array<{ concern: string; home: string[]; pattern: RegExp; until?: Record<string, string> }> = [
  {
    concern: 'the runtime state dir is named by runtime/state.ts (RuntimeState.ofStore)',
    home: ['runtime/'],
    pattern: /join\([^)]*['"](runtime|cache-mounts)['"]|runtime\/(cache-mount-io|snapshot-gc)\.js/,
  },
  {
    concern: 'choosing an image from an index goes through image/platform.ts selectManifest',
    home: ['image/platform.ts'],
    pattern: /\bmatchPlatform\(/,
  },
  {
    concern: 'tar headers are decoded by image/tar/decode.ts only',
    home: ['image/tar/decode.ts'],
    pattern: /function (parsePax|parseOctal\w*)\(|\bchecksumOk\(/,
  },
  {
    concern: 'every HTTP request goes through registry/ (registry/http.ts)',
    home: ['registry/'],
    pattern: /['"](undici|node:https?)['"]|registry\/undici-lean\.js/,
  },
  {
    concern: 'image-source strings are parsed by image/image-spec.ts',
    home: ['image/image-spec.ts'],
    pattern: /['"](oci-layout:\/\/|docker-image:\/\/|oci-archive:|docker-archive:)/,
  },
  {
    concern: 'store GC roots and the prune policy live in cache/',
    home: ['cache/'],
    pattern: /\bgc\(store|\.prune\(\{/,
  },
  {
    concern: 'whiteout names are spelled by image/whiteout.ts',
    home: ['image/whiteout.ts'],
    pattern: /['"]\.wh\.|`\.wh\.\$\{/,
  },
  {
    concern: 'reference naming (store key, docker short name) is registry/reference.ts',
    home: ['registry/reference.ts'],
    pattern: /function (storeRefName|familiar)\(/,
  },
  {
    concern: 'overlay vs copy is decided once, by runtime/snapshotter.ts (a Snapshotter per runtime)',
    home: ['runtime/snapshotter.ts'],
    pattern: /\bnew (LayerSnapshots|FlatSnapshots)\(|\bctx\.overlay\b|this\.#overlay\b/,
  },
  {
    concern: 'stages are scheduled by builder/solve.ts, started by the solve phase (builder/session.ts)',
    home: ['builder/solve.ts', 'builder/session.ts'],
    pattern: /\bnew (Solver|Slots)\b/,
    until: { 'builder/platforms.ts': 'one Slots limit shared by the platforms of a multi-platform build' },
  },
  {
    concern: '--output is written by the export phase (builder/export.ts, builder/exporters/)',
    home: ['builder/export.ts', 'builder/exporters/'],
    pattern: /\brunExporter\(/,
  },
  {
    concern: 'build caches travel through builder/cache-io.ts (cache/remote-cache.ts underneath)',
    home: ['builder/cache-io.ts', 'cache/'],
    pattern: /\b(importCache|exportCache|importInlineCache)\(/,
  },
  {
    concern: 'image manifests are assembled by image/ (mutate.ts imageFromConfig and its edits)',
    home: ['image/', 'registry/', 'cache/'],
    pattern: /schemaVersion: 2,/,
    until: { 'builder/platforms.ts': 'writes the image index of a multi-platform build', 'builder/attestations.ts': 'attestation manifests and their index, to move onto image/mutate' },
  },
  {
    concern: 'k=v,k=v command-line specs are read by cli/specs.ts',
    home: ['cli/specs.ts', 'builder/', 'parser/'],
    pattern: /\.split\(','\)\.map\(\(part\)/,
  },
];

/** Modules that may start child processes: runtime/ (containers), registry/ (credential helpers, and git for git sources: registry/git.ts). */
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

  for (const h of HOMES) {
    it(`one home: ${h.concern}`, async () => {
      const bad: string[] = [];
      for (const mod of Object.keys(MAY_USE)) {
        for (const file of await sources(mod)) {
          if (h.home.some((home) => file === home || file.startsWith(home)) || h.until?.[file]) continue;
          if (h.pattern.test(await readFile(join(ROOT, file), 'utf8'))) bad.push(file);
        }
      }
      assert.deepEqual(bad, []);
    });
  }

  it('one root error type: only errors/ defines the tsbuild.error brand', async () => {
    const bad: string[] = [];
    for (const mod of Object.keys(MAY_USE).filter((m) => m !== 'errors')) {
      for (const file of await sources(mod)) {
        if (/Symbol\.for\(['"]tsbuild\.error['"]\)/.test(await readFile(join(ROOT, file), 'utf8'))) bad.push(file);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('build() is a sequence of phase calls: builder/build.ts calls the phases, no step code', async () => {
    const text = await readFile(join(ROOT, 'builder/build.ts'), 'utf8');
    // value imports only: types may come from anywhere
    const called = [...text.matchAll(/^import \{[^}]*\} from\s+['"]\.\/([^'"]+)\.js['"]/gm)].map((m) => m[1]!);
    assert.deepEqual(called.filter((m) => /^(dispatch|ops\/|layers|base|stage-sources|stage-state|solve|exporters\/)/.test(m)), [], 'build.ts runs step code itself');
    for (const phase of ['prepare', 'plan', 'cache-io', 'session', 'finalize', 'export']) assert.ok(called.includes(phase), `build.ts does not call the ${phase} phase`);
  });

  it('a build loads no HTTP client until it needs one: the static imports of cli/commands/build.ts never reach undici', async () => {
    // undici costs ~30-60 ms of start-up; a cached rebuild never speaks HTTP (registry/http.ts is
    // imported dynamically where a pull or push starts).
    const seen = new Set<string>();
    const chains = new Map<string, string>([['cli/commands/build.ts', 'cli/commands/build.ts']]);
    const queue = ['cli/commands/build.ts'];
    while (queue.length > 0) {
      const file = queue.shift()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const text = await readFile(join(ROOT, file), 'utf8');
      // static value imports only: `import type` and import() are not loaded up front
      for (const m of text.matchAll(/^(?:import|export) (?!type )[^'"]*?from\s+['"](\.[^'"]+)['"]/gm)) {
        const target = relative(ROOT, resolve(ROOT, dirname(file), m[1]!)).replace(/\.js$/, '.ts');
        if (!chains.has(target)) chains.set(target, `${chains.get(file)} -> ${target}`);
        queue.push(target);
      }
      assert.ok(!/^import [^'"]*from\s+['"](undici|node:https?)['"]/m.test(text), `statically loaded: ${chains.get(file)} (imports an HTTP client)`);
    }
    assert.ok(!seen.has('registry/http.ts'), `statically loaded: ${chains.get('registry/http.ts')}`);
  });

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
