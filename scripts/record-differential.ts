/**
 * record-differential.ts [--jobs N] [CASE_DIR...] — records testdata/differential/<case>/expected.json
 * from real BuildKit (Debian's dockerd 20.10, /usr/bin/docker), for every `oracle: 'buildkit'` row
 * of test/differential/cases.ts (or the named ones).
 *
 * Per case: build with BuildKit, `docker save`, convert to an OCI layout with skopeo, normalize
 * with test/differential/normalize.ts (the module the comparison test uses), then rebuild with
 * --no-cache and require the identical normalization (a recording that is not reproducible is an
 * error, not an expectation). The base image is the repo's own busybox layout
 * (testdata/busybox/build.sh), pushed to the local registry as BASE_REF.
 *
 * Needs root, docker.io, skopeo, umoci, busybox-static, docker-registry; starts dockerd and the
 * registry with the shared anchor scripts ($ANCHOR_TOOLS, default /work/shared/tools) when they
 * are not answering. Run (about 6 minutes for 96 cases on 2 busy cores):
 *   nohup npx tsx scripts/record-differential.ts --jobs 2 > /tmp/record.log 2>&1 &
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { busyboxLayout } from '../runtime/testing.js';
import { BASE_REF, CASES, type DiffCase } from '../test/differential/cases.js';
import { caseDir, dockerfilePath, formatExpectation, prepareContext } from '../test/differential/harness.js';
import { normalizeImage, type Normalized } from '../test/differential/normalize.js';

const run = promisify(execFile);
const DOCKER = '/usr/bin/docker'; // the 20.10 client; a newer one in PATH lacks buildx (anchors.md)
const TOOLS = process.env['ANCHOR_TOOLS'] ?? '/work/shared/tools';

function answers(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function ensureServices(): void {
  if (!answers('curl', ['-sf', '-m', '2', 'http://127.0.0.1:5000/v2/'])) execFileSync(join(TOOLS, 'registry-up.sh'), { stdio: 'inherit' });
  if (!answers(DOCKER, ['info'])) execFileSync(join(TOOLS, 'dockerd-up.sh'), { stdio: 'inherit' });
  execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${busyboxLayout()}:latest`, `docker://${BASE_REF}`], { stdio: 'inherit' });
}

async function buildAndNormalize(c: DiffCase, ctx: string, work: string, noCache: boolean): Promise<Normalized> {
  const tag = `diffsuite-rec/${c.dir}:${noCache ? 'nocache' : 'first'}`;
  const args = ['build', '--network=host', '-q', '-f', dockerfilePath(c), '-t', tag];
  if (noCache) args.push('--no-cache');
  for (const [k, v] of Object.entries(c.args ?? {})) args.push('--build-arg', `${k}=${v}`);
  if (c.target) args.push('--target', c.target);
  args.push(ctx);
  await run(DOCKER, args, { env: { ...process.env, DOCKER_BUILDKIT: '1' }, timeout: 300_000 });
  const archive = join(work, `${noCache ? 'b' : 'a'}.tar`);
  const layout = join(work, noCache ? 'oci-b' : 'oci-a');
  await run(DOCKER, ['save', '-o', archive, tag], { timeout: 120_000 });
  await run(DOCKER, ['rmi', tag], { timeout: 60_000 });
  await run('skopeo', ['copy', '-q', `docker-archive:${archive}`, `oci:${layout}:img`], { timeout: 120_000 });
  return normalizeImage(layout, { baseLayout: busyboxLayout(), configJson: await dockerArchiveConfig(archive) });
}

/** The image config as docker saved it (the OCI conversion drops Healthcheck, Shell and OnBuild). */
async function dockerArchiveConfig(archive: string): Promise<string> {
  const untar = (name: string) => run('tar', ['-xOf', archive, name], { maxBuffer: 16 << 20 }).then((r) => r.stdout);
  const manifest = JSON.parse(await untar('manifest.json')) as Array<{ Config: string }>;
  return untar(manifest[0]!.Config);
}

async function recordCase(c: DiffCase, version: string): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'tsb-rec-'));
  const ctx = prepareContext(c);
  try {
    const first = await buildAndNormalize(c, ctx, work, false);
    const again = await buildAndNormalize(c, ctx, work, true);
    // nothing time-dependent is normalized, so the two builds must match exactly
    if (JSON.stringify(first) !== JSON.stringify(again)) throw new Error(`${c.dir}: a --no-cache rebuild normalizes differently; not recorded`);
    const { fromBase: _fromBase, ...normalized } = first;
    const expected = { oracle: 'buildkit', recorded_with: version, ...normalized };
    writeFileSync(join(caseDir(c), 'expected.json'), formatExpectation(expected));
    return `${c.dir}: recorded (${first.layers.length} layers, ${Object.keys(first.tree).length} tree entries)`;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(ctx, { recursive: true, force: true });
  }
}


async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let jobs = 2;
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--jobs') jobs = Number(argv[++i]);
    else names.push(argv[i]!);
  }
  const cases = CASES.filter((c) => c.oracle === 'buildkit' && (names.length === 0 || names.includes(c.dir)));
  ensureServices();
  const version = `dockerd ${execFileSync(DOCKER, ['version', '--format', '{{.Server.Version}}']).toString().trim()} BuildKit (built-in frontend)`;
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const c = cases[next++]!;
      try {
        console.log(await recordCase(c, version));
      } catch (err) {
        failed++;
        const e = err as { stderr?: string; message: string };
        console.log(`${c.dir}: FAILED ${(e.stderr ?? '').trim().split('\n').slice(-3).join(' | ') || e.message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  console.log(`${cases.length - failed} recorded, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

await main();
