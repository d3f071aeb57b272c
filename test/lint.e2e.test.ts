/**
 * `tsbuild lint` and `tsbuild build --check` as a user runs them: every output
 * format (SARIF validated against the 2.1.0 schema GitHub's upload uses),
 * exit codes, .hadolint.yaml, base image ENV from the store, the Dockerfiles
 * of testdata/, and the time a 1,000-line Dockerfile takes.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { parseIgnoreFile } from '../parser/dockerignore.js';
import { lintText } from '../parser/lint-run.js';
import { cli, makeTree, removeAll, tempDir } from './helpers.js';
import { validate } from './json-schema.js';
import { requireTools, startRegistry } from './registry-server.js';

const SCHEMA = JSON.parse(readFileSync('testdata/sarif/sarif-schema-2.1.0.json', 'utf8')) as Record<string, unknown>;

const ISSUE_EXAMPLE = [
  'FROM debian',
  'COPY $MISSING_SRC /app/',
  'RUN apt-get install curl',
  'ADD app.py /app/',
  'RUN cd /tmp && curl -fsSL https://example.com/x | sh',
  '',
].join('\n');

describe('tsbuild lint (end to end)', function () {
  this.timeout(60_000);
  let work: string;
  let root: string;
  before(async () => {
    work = await makeTree({ 'Dockerfile': ISSUE_EXAMPLE, 'app.py': '', 'clean/Dockerfile': 'FROM scratch\nCOPY a /a\n', 'clean/a': '' });
    root = await tempDir('tsb-lint-root-');
  });
  after(() => removeAll(work, root));
  const lint = (...args: string[]) => cli(['lint', '--root', root, '--offline', ...args]);

  it('SARIF: valid against the 2.1.0 schema, with what GitHub code scanning requires, at the right lines', async () => {
    const r = await lint('--format', 'sarif', join(work, 'Dockerfile'));
    assert.equal(r.code, 1, r.stderr); // DL3020 is error-level
    const sarif = JSON.parse(r.stdout) as { version: string; runs: { tool: { driver: { rules: { id: string; helpUri: string }[] } }; results: Record<string, any>[] }[] };
    assert.deepEqual(validate(SCHEMA, sarif), []);
    assert.equal(sarif.version, '2.1.0');
    const run = sarif.runs[0]!;
    const got = run.results.map((x) => `${x.ruleId}:${x.locations[0].physicalLocation.region.startLine}:${x.level}`);
    assert.deepEqual(got, ['DL3006:1:warning', 'DL3008:3:warning', 'DL3014:3:warning', 'DL3015:3:note', 'DL3020:4:error', 'DL3003:5:warning', 'DL4006:5:warning']);
    for (const x of run.results) {
      assert.match(x.locations[0].physicalLocation.artifactLocation.uri, /Dockerfile$/);
      assert.ok(x.locations[0].physicalLocation.region.startColumn >= 1);
      assert.ok(run.tool.driver.rules.some((rule) => rule.id === x.ruleId && /^https:\/\//.test(rule.helpUri)));
    }
    assert.match(r.stderr, /skipped UndefinedVar, InvalidBaseImagePlatform: base image debian \(line 1\) is not available/);
  });

  it('SARIF of a clean Dockerfile has zero results and exits 0', async () => {
    const r = await lint('--format', 'sarif', join(work, 'clean/Dockerfile'));
    assert.equal(r.code, 0, r.stderr);
    const sarif = JSON.parse(r.stdout) as { runs: { results: unknown[] }[] };
    assert.deepEqual(validate(SCHEMA, sarif), []);
    assert.deepEqual(sarif.runs[0]!.results, []);
  });

  it('CopyIgnoredFile reads the context .dockerignore', async () => {
    await writeFile(join(work, '.dockerignore'), 'app.py\n');
    try {
      const r = await lint('--rules', 'buildkit', '--format', 'json', join(work, 'Dockerfile'));
      const found = (JSON.parse(r.stdout) as { rule: string; message: string; loc: { line: number } }[]).map((f) => `${f.rule}:${f.loc.line}:${f.message}`);
      assert.deepEqual(found, ['CopyIgnoredFile:4:Attempting to Add file "app.py" that is excluded by .dockerignore']);
      assert.equal(r.code, 0); // warnings only
    } finally {
      await removeAll(join(work, '.dockerignore'));
    }
  });

  it('checkstyle XML and GitLab Code Quality JSON', async () => {
    const cs = await lint('--format', 'checkstyle', '--rules', 'hadolint', join(work, 'Dockerfile'));
    assert.match(cs.stdout, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<checkstyle version="4.3">\n {2}<file name="[^"]*Dockerfile">\n/);
    assert.match(cs.stdout, /<error line="4" column="1" severity="error" message="Use COPY instead of ADD for files and folders" source="DL3020"\/>/);
    const gl = await lint('--format', 'gitlab', join(work, 'Dockerfile'));
    const entries = JSON.parse(gl.stdout) as { check_name: string; severity: string; fingerprint: string; location: { path: string; lines: { begin: number } } }[];
    assert.equal(entries.length, 7);
    assert.equal(new Set(entries.map((e) => e.fingerprint)).size, 7);
    assert.deepEqual(entries.find((e) => e.check_name === 'DL3020'), { ...entries.find((e) => e.check_name === 'DL3020')!, severity: 'critical', location: entries.find((e) => e.check_name === 'DL3020')!.location });
    assert.equal(entries.find((e) => e.check_name === 'DL3020')!.location.lines.begin, 4);
  });

  it('exit codes: 0 warnings only, 1 with --strict, 2 for a parse error or a bad flag', async () => {
    const warnOnly = await makeTree({ Dockerfile: 'FROM alpine:3 AS Build\n' });
    try {
      assert.equal((await lint(join(warnOnly, 'Dockerfile'))).code, 0);
      assert.equal((await lint('--strict', join(warnOnly, 'Dockerfile'))).code, 1);
      await writeFile(join(warnOnly, 'Dockerfile'), 'FROM alpine:3\nFOO bar\n');
      const bad = await lint(join(warnOnly, 'Dockerfile'));
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /Dockerfile:2/);
      assert.equal((await lint('--format', 'yaml', join(warnOnly, 'Dockerfile'))).code, 2);
      assert.equal((await lint('--ignore', 'DL9999', join(warnOnly, 'Dockerfile'))).code, 2);
    } finally {
      await removeAll(warnOnly);
    }
  });

  it('.hadolint.yaml: ignored, override, trustedRegistries, failure-threshold; --ignore', async () => {
    const cfg = join(work, 'hadolint.yaml');
    await writeFile(cfg, 'ignored:\n  - DL3006\noverride:\n  warning: [DL3020]\n  error:\n    - DL3015\ntrustedRegistries: ["my.registry"]\n');
    const r = await lint('--config', cfg, '--rules', 'hadolint', '--format', 'json', '--ignore', 'DL4006', join(work, 'Dockerfile'));
    const found = (JSON.parse(r.stdout) as { rule: string; severity: string }[]).map((f) => `${f.rule}:${f.severity}`);
    assert.deepEqual(found, ['DL3026:error', 'DL3008:warning', 'DL3014:warning', 'DL3015:error', 'DL3020:warning', 'DL3003:warning']);
    await writeFile(cfg, 'failure-threshold: none\n');
    assert.equal((await lint('--config', cfg, join(work, 'Dockerfile'))).code, 0);
    await writeFile(cfg, 'override: [1\n');
    const broken = await lint('--config', cfg, join(work, 'Dockerfile'));
    assert.equal(broken.code, 2);
    assert.match(broken.stderr, /invalid YAML/);
  });

  it("UndefinedVar knows the base image's ENV from the store, and a build prints it as BuildKit does", async () => {
    const ctx = await makeTree({ 'base/Dockerfile': 'FROM scratch\nENV FROM_IMAGE=1\n', 'Dockerfile': 'FROM lintbase:1\nENV A=$FROM_IMAGE B=$FROM_IMAGES\n' });
    try {
      const b = await cli(['build', '--root', root, '-q', '-t', 'lintbase:1', join(ctx, 'base')]);
      assert.equal(b.code, 0, b.stderr);
      const r = await lint('--rules', 'buildkit', join(ctx, 'Dockerfile'));
      assert.match(r.stdout, /Dockerfile:2:1: warning UndefinedVar: Usage of undefined variable '\$FROM_IMAGES' \(did you mean \$FROM_IMAGE\?\)/);
      assert.doesNotMatch(r.stdout, /'\$FROM_IMAGE'/);
      assert.equal(r.stderr, '');
      const built = await cli(['build', '--root', root, '--progress', 'plain', ctx]);
      assert.equal(built.code, 0, built.stderr);
      assert.match(built.stderr, /WARN: UndefinedVar: Usage of undefined variable '\$FROM_IMAGES' \(did you mean \$FROM_IMAGE\?\)/);
      const clean = await cli(['build', '--root', root, '--progress', 'plain', join(ctx, 'base')]);
      assert.doesNotMatch(clean.stderr, /WARN/);
    } finally {
      await removeAll(ctx);
    }
  });

  it("without the image in the store, the base image's ENV comes from its registry (config only)", async function () {
    requireTools(this, ['docker-registry']);
    const reg = await startRegistry({ mode: 'plain' });
    const ctx = await makeTree({ 'base/Dockerfile': 'FROM scratch\nENV FROM_REGISTRY=1\n', 'Dockerfile': `FROM ${reg.host}/lint/base:1\nENV A=$FROM_REGISTRY B=$FROM_REGISTR\n` });
    const empty = await tempDir('tsb-lint-empty-');
    try {
      const pushed = await cli(['build', '--root', root, '-q', '--push', '-t', `${reg.host}/lint/base:1`, join(ctx, 'base')]);
      assert.equal(pushed.code, 0, pushed.stderr);
      const r = await cli(['lint', '--root', join(empty, 'none'), '--rules', 'buildkit', join(ctx, 'Dockerfile')]);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, /UndefinedVar: Usage of undefined variable '\$FROM_REGISTR' \(did you mean \$FROM_REGISTRY\?\)/);
      assert.doesNotMatch(r.stdout, /'\$FROM_REGISTRY'/);
      assert.equal(existsSync(join(empty, 'none')), false); // lint creates no store
      const offline = await cli(['lint', '--root', join(empty, 'none'), '--offline', '--rules', 'buildkit', join(ctx, 'Dockerfile')]);
      assert.match(offline.stderr, /skipped UndefinedVar, InvalidBaseImagePlatform: base image 127\.0\.0\.1:\d+\/lint\/base:1 \(line 1\) is not available/);
    } finally {
      await reg.stop();
      await removeAll(ctx, empty);
    }
  });

  it('InvalidBaseImagePlatform: a base whose config is for another platform (lint; a build refuses it)', async () => {
    const other = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    const host = process.arch === 'arm64' ? 'linux/arm64' : 'linux/amd64';
    const ctx = await makeTree({ 'base/Dockerfile': 'FROM scratch\nENV X=1\n', 'Dockerfile': 'FROM foreignbase:1\nENV Y=$X\n' });
    try {
      const b = await cli(['build', '--root', root, '-q', '--platform', other, '-t', 'foreignbase:1', join(ctx, 'base')]);
      assert.equal(b.code, 0, b.stderr);
      const want = `Base image foreignbase:1 was pulled with platform "${other}", expected "${host}" for current build`;
      const r = await lint('--rules', 'buildkit', join(ctx, 'Dockerfile'));
      assert.ok(r.stdout.includes(`Dockerfile:1:1: warning InvalidBaseImagePlatform: ${want}`), r.stdout);
      // a build does not get this far: tsbuild refuses a single-platform base for another platform
      const built = await cli(['build', '--root', root, '--progress', 'plain', ctx]);
      assert.equal(built.code, 1);
      assert.match(built.stderr, /is a single-platform image for linux\/\w+, not for linux\/\w+/);
      // no URL from BuildKit for this rule; SARIF still gets a helpUri
      const sarif = JSON.parse((await lint('--rules', 'buildkit', '--format', 'sarif', join(ctx, 'Dockerfile'))).stdout) as { runs: { tool: { driver: { rules: { id: string; helpUri: string }[] } } }[] };
      assert.deepEqual(validate(SCHEMA, sarif), []);
      assert.match(sarif.runs[0]!.tool.driver.rules.find((x) => x.id === 'InvalidBaseImagePlatform')!.helpUri, /^https:\/\/docs\.docker\.com\/reference\/build-checks\/invalid-base-image-platform\/$/);
    } finally {
      await removeAll(ctx);
    }
  });

  it('build --check / --call check: print as docker build --check, exit 1 on findings, build nothing', async () => {
    const ctx = await makeTree({ Dockerfile: 'FROM scratch as Build\nMAINTAINER me\n' });
    try {
      const r = await cli(['build', '--root', root, '--check', ctx]);
      assert.equal(r.code, 1, r.stderr);
      const file = join(ctx, 'Dockerfile').replace(process.cwd() + '/', '');
      assert.ok(
        r.stdout.includes(
          [
            '',
            'WARNING: StageNameCasing - https://docs.docker.com/go/dockerfile/rule/stage-name-casing/',
            "Stage name 'Build' should be lowercase",
            `${file}:1`,
            '--------------------',
            '   1 | >>> FROM scratch as Build',
            '   2 |     MAINTAINER me',
            '   3 |     ',
            '--------------------',
            '',
          ].join('\n'),
        ),
        r.stdout,
      );
      assert.match(r.stdout, /^Check complete, 3 warnings have been found!\n/);
      assert.match(r.stdout, /\nWARNING: FromAsCasing - https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/from-as-casing\/\n'as' and 'FROM' keywords' casing do not match\n/);
      assert.match(r.stdout, /\nWARNING: MaintainerDeprecated - [^\n]+\nMaintainer instruction is deprecated in favor of using label\n[^\n]*Dockerfile:2\n-{20}\n {3}1 \| {5}FROM scratch as Build\n {3}2 \| >>> MAINTAINER me\n/);
      assert.doesNotMatch(r.stdout, /DL4000/);
      const json = await cli(['build', '--root', root, '--call', 'check,format=json', ctx]);
      assert.equal(json.code, 1);
      assert.deepEqual((JSON.parse(json.stdout) as { warnings: { ruleName: string }[] }).warnings.map((w) => w.ruleName), ['StageNameCasing', 'FromAsCasing', 'MaintainerDeprecated']);
      await writeFile(join(ctx, 'Dockerfile'), 'FROM scratch AS build\nLABEL a=b\n');
      const ok = await cli(['build', '--root', root, '--call', 'check', ctx]);
      assert.deepEqual([ok.code, ok.stdout], [0, 'Check complete, no warnings found.\n']);
      const images = await cli(['images', '--root', root]);
      assert.doesNotMatch(images.stdout, /<none>|build/);
      assert.equal((await cli(['build', '--root', root, '--call', 'outline', ctx])).code, 2);
    } finally {
      await removeAll(ctx);
    }
  });

  it('examples/ci/lint-sarif.yml runs lint with --format sarif and uploads that file', async () => {
    const { parse } = await import('yaml');
    const wf = parse(readFileSync('examples/ci/lint-sarif.yml', 'utf8')) as { permissions: Record<string, string>; jobs: { lint: { steps: { run?: string; uses?: string; with?: Record<string, string> }[] } } };
    assert.equal(wf.permissions['security-events'], 'write');
    const steps = wf.jobs.lint.steps;
    const lintStep = steps.find((st) => st.run?.includes('tsbuild lint'));
    const upload = steps.find((st) => st.uses?.startsWith('github/codeql-action/upload-sarif@'));
    assert.match(lintStep!.run!, /tsbuild lint --format sarif --output (\S+) Dockerfile/);
    assert.equal(upload!.with!['sarif_file'], /--output (\S+)/.exec(lintStep!.run!)![1]);
  });

  it("testdata's Dockerfiles: no findings but the listed, deliberate ones", () => {
    // Each fixture exercises exactly the construct its rule flags; the differential suite's base
    // is its own reproducible busybox, tagged :latest on purpose.
    const JUSTIFIED: Record<string, string[]> = {
      'add-chmod': ['DL3020'],
      'add-not-archive': ['DL3020', 'DL3020'],
      'cmd-entrypoint-shell': ['JSONArgsRecommended', 'DL3025', 'JSONArgsRecommended', 'DL3025'],
      'shell-inherit': ['JSONArgsRecommended', 'DL3025'],
      'shell-instruction': ['DL3025', 'DL3025'],
      'healthcheck-shell-form': ['DL3025'],
      'workdir-inherit': ['DL3000'],
      'workdir-relative': ['DL3000'],
      'run-user': ['DL3002'],
      'run-exec-form': ['DL3059'],
      'copy-from-later-stage-case': ['StageNameCasing'],
      'maintainer': ['MaintainerDeprecated', 'DL4000'],
      'env-order': ['LegacyKeyValueFormat'],
      'env-expansion': ['UndefinedVar'],
      'arg-run-env': ['DL4006'],
    };
    const files = execFileSync('find', ['testdata', '-name', 'Dockerfile', '-not', '-path', '*/conformance/*'], { encoding: 'utf8' }).trim().split('\n');
    assert.ok(files.length > 100);
    for (const file of files) {
      const dir = dirname(file);
      const ctx = existsSync(join(dir, 'context')) ? join(dir, 'context') : dir;
      const ignore = existsSync(join(ctx, '.dockerignore')) ? parseIgnoreFile(readFileSync(join(ctx, '.dockerignore'), 'utf8')) : [];
      const r = lintText(readFileSync(file, 'utf8'), {
        file,
        facts: { baseImage: () => ({ env: ['PATH=/bin'], platform: { os: 'linux', architecture: 'amd64' } }), targetPlatform: { os: 'linux', architecture: 'amd64' }, dockerignore: ignore },
      });
      const got = r.findings.filter((f) => f.rule !== 'DL3007').map((f) => f.rule);
      assert.deepEqual(got, JUSTIFIED[dir.split('/').pop()!] ?? [], file);
      for (const f of r.findings.filter((x) => x.rule === 'DL3007')) assert.match(readFileSync(file, 'utf8').split('\n')[f.loc.line - 1]!, /busybox:latest/);
    }
  });

  it('a 1,000-line Dockerfile lints in milliseconds of CPU', async () => {
    const lines = ['# syntax=docker/dockerfile:1', 'ARG BASE=debian:12', 'FROM ${BASE} AS build', 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]', 'WORKDIR /src'];
    for (let i = 0; lines.length < 1000; i++) {
      lines.push(
        i % 5 === 0
          ? `RUN apt-get update && apt-get install -y --no-install-recommends pkg${i}=1.${i} && rm -rf /var/lib/apt/lists/* && curl -fsSL https://example.com/${i} | tar -xz -C /opt`
          : i % 5 === 1
            ? `COPY --chown=1000:1000 src/file${i}.txt /src/dir${i}/`
            : i % 5 === 2
              ? `ENV VAR_${i}="value ${i}" DIR_${i}=/opt/${i}:$HOME`
              : i % 5 === 3
                ? `LABEL org.example.label${i}="${i}"`
                : `RUN if [ -f /x${i} ]; then (cd /tmp && make -j2 target${i}); else echo "no ${i}" | sed 's/a/b/'; fi`,
      );
    }
    const text = lines.join('\n') + '\n';
    lintText(text); // warm up the JIT once
    const cpu: number[] = [];
    for (let i = 0; i < 10; i++) {
      const c0 = process.cpuUsage();
      const r = lintText(text, { facts: { baseImage: () => ({ env: ['PATH=/bin'], platform: { os: 'linux', architecture: 'amd64' } }), dockerignore: ['*.log'] } });
      const used = process.cpuUsage(c0);
      cpu.push((used.user + used.system) / 1000);
      assert.ok(r.findings.length > 0);
    }
    // Process CPU time, not wall time (eight builds share this 2-core VM). Measured: 11 ms best,
    // 21 ms median at load 18 (README); the bound is generous for a loaded CI runner, where GC
    // threads and CPU contention inflate even CPU time (109 ms best of 5 was seen at load 22).
    const best = Math.min(...cpu);
    assert.ok(best < 400, `best of 10: ${best.toFixed(1)} ms of CPU`);
  });
});
