import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { list, parseArgs, str } from '../cli/args.js';
import { BUILD_FLAGS } from '../cli/commands/build.js';
import { main } from '../cli/main.js';
import { parseCacheSpec } from '../cli/specs.js';

/**
 * examples/ci/: each file parses as YAML of the shape its CI system reads, and every tsbuild
 * command in it is a valid invocation of this CLI: the command exists, every flag is one its
 * --help lists, and a build's flags parse with the build command's own parser and spec readers.
 */
const DIR = 'examples/ci';

/** Shell words of one command line: quotes kept together, `|`, `&&`, `;` as their own words. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | undefined;
  let inWord = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (ch === '|' || ch === ';') {
      if (inWord) words.push(word);
      words.push(ch);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  assert.equal(quote, undefined, `unterminated quote in: ${line}`);
  if (inWord) words.push(word);
  return words;
}

/** The argv (after `tsbuild`) of every tsbuild command in a shell script (one command a line or folded). */
function tsbuildCommands(script: string): string[][] {
  const out: string[][] = [];
  for (const line of script.split('\n')) {
    const words = shellWords(line);
    let segment: string[] = [];
    for (const w of [...words, ';']) {
      if (w !== '|' && w !== ';' && w !== '&&') {
        segment.push(w);
        continue;
      }
      const at = segment[0] === 'sudo' ? 1 : 0;
      if (segment[at] === 'tsbuild') out.push(segment.slice(at + 1));
      segment = [];
    }
  }
  return out;
}

async function helpOf(command: string): Promise<string> {
  let text = '';
  const code = await main([command, '--help'], { out: (s) => void (text += s), err: (s) => void (text += s) });
  assert.equal(code, 0, `tsbuild ${command} --help: ${text}`);
  return text;
}

/** Throws unless argv is a valid tsbuild invocation. */
async function checkInvocation(argv: string[], where: string): Promise<void> {
  const [command, ...rest] = argv;
  assert.ok(command, `${where}: tsbuild without a command`);
  const help = await helpOf(command);
  for (const w of rest) {
    const flag = /^(--[a-z-]+|-[a-zA-Z])(=|$)/.exec(w)?.[1];
    if (flag) assert.ok(help.includes(flag), `${where}: tsbuild ${command} has no flag ${flag}`);
  }
  if (command !== 'build') return;
  const p = parseArgs(rest, BUILD_FLAGS);
  assert.equal(p.positionals.length, 1, `${where}: a build takes one context, got ${JSON.stringify(p.positionals)}`);
  for (const spec of list(p, 'cache-from')) parseCacheSpec(spec, 'from');
  for (const spec of list(p, 'cache-to')) parseCacheSpec(spec, 'to');
  const isolation = str(p, 'isolation');
  if (isolation !== undefined) assert.ok(['container', 'chroot'].includes(isolation), `${where}: --isolation ${isolation}`);
}

function load(file: string): Record<string, unknown> {
  // uniqueKeys and strict: a duplicated key or a tab is an error, as in the CI systems' readers
  return parse(readFileSync(`${DIR}/${file}`, 'utf8'), { uniqueKeys: true, strict: true, prettyErrors: true }) as Record<string, unknown>;
}

describe('examples/ci: the CI examples parse and run valid tsbuild commands', () => {
  it('splits shell words as sh does for these files', () => {
    assert.deepEqual(shellWords(`echo "$X" | sudo tsbuild login ghcr.io -u "a b" --password-stdin`), [
      'echo', '$X', '|', 'sudo', 'tsbuild', 'login', 'ghcr.io', '-u', 'a b', '--password-stdin',
    ]);
    assert.deepEqual(tsbuildCommands('tsbuild build -t x . ; tsbuild push x'), [['build', '-t', 'x', '.'], ['push', 'x']]);
  });

  it('GitHub Actions: a workflow whose steps log in, build, test and push with the registry cache', async () => {
    const wf = load('github-actions.yml') as { on: unknown; jobs: Record<string, { 'runs-on': string; steps: Array<{ run?: string; uses?: string }> }> };
    assert.ok(wf.on);
    const job = Object.values(wf.jobs)[0]!;
    assert.match(job['runs-on'], /^ubuntu-/);
    const commands = job.steps.flatMap((s) => (s.run ? tsbuildCommands(s.run) : []));
    assert.deepEqual(commands.map((c) => c[0]), ['login', 'build', 'build', 'build']);
    const push = commands.find((c) => c.includes('--push'));
    assert.ok(push?.some((w) => w.startsWith('type=registry,') && w.includes('mode=max')), 'pushes with --cache-to type=registry');
    for (const c of commands) await checkInvocation(c, 'github-actions.yml');
  });

  it('GitLab CI: a job in the tsbuild image that builds with --isolation chroot and pushes', async () => {
    const ci = load('gitlab-ci.yml') as Record<string, { image: { name: string; entrypoint: string[] }; script: string[] }>;
    const job = ci['build-image']!;
    assert.deepEqual(job.image.entrypoint, ['']);
    const commands = job.script.flatMap(tsbuildCommands);
    assert.deepEqual(commands.map((c) => c[0]), ['login', 'build']);
    assert.ok(commands[1]!.includes('chroot') && commands[1]!.includes('--push'));
    for (const c of commands) await checkInvocation(c, 'gitlab-ci.yml');
  });

  it('Kubernetes: a Job that clones, then builds with --isolation chroot and pushes with config.json from a Secret', async () => {
    const job = load('kubernetes-job.yml') as {
      apiVersion: string;
      kind: string;
      spec: {
        template: {
          spec: {
            restartPolicy: string;
            initContainers: Array<{ args: string[] }>;
            containers: Array<{ args: string[]; env: Array<{ name: string; value: string }>; volumeMounts: Array<{ name: string; mountPath: string }> }>;
            volumes: Array<{ name: string; secret?: { secretName: string; items: Array<{ key: string; path: string }> } }>;
          };
        };
      };
    };
    assert.equal(job.apiVersion, 'batch/v1');
    assert.equal(job.kind, 'Job');
    const pod = job.spec.template.spec;
    assert.equal(pod.restartPolicy, 'Never');
    assert.equal(pod.initContainers[0]!.args[0], 'clone');
    const build = pod.containers[0]!;
    await checkInvocation(build.args, 'kubernetes-job.yml');
    assert.ok(build.args.includes('--push') && build.args.includes('chroot'));
    // DOCKER_CONFIG names the directory the Secret's config.json is mounted in
    const dockerConfig = build.env.find((e) => e.name === 'DOCKER_CONFIG')?.value;
    const mount = build.volumeMounts.find((m) => m.mountPath === dockerConfig);
    const secret = pod.volumes.find((v) => v.name === mount?.name)?.secret;
    assert.deepEqual(secret?.items, [{ key: 'config.json', path: 'config.json' }]);
  });
});
