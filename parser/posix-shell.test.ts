/** The shell parser the RUN rules read commands with: what it finds, and what it must not. */
import assert from 'node:assert/strict';
import { argsWithoutFlags, commandFlags, parseShell, shellCScript } from './posix-shell.js';

/** `name arg arg` per command, `|` marking pipeline stages, `>` one level of nesting. */
function shape(script: string): string[] {
  return parseShell(script).commands.map((c) => `${'>'.repeat(c.depth)}${c.inPipeline ? '|' : ''}${[...c.assignments, c.name, ...c.args].filter((w) => w !== '').join(' ')}`);
}

describe('posix-shell: commands of a RUN', () => {
  const table: [string, string, string[]][] = [
    ['a list with && and ||', 'apt-get update && apt-get install -y curl || true', ['apt-get update', 'apt-get install -y curl', 'true']],
    ['; and newlines', 'a;b\nc &\nd', ['a', 'b', 'c', 'd']],
    ['a pipeline', 'curl -fsSL https://x | sh -s -- -y', ['|curl -fsSL https://x', '|sh -s -- -y']],
    ['|& is a pipe', 'make |& tee log', ['|make', '|tee log']],
    ['a subshell and a group', '(cd /tmp && make) ; { echo a; echo b; }', ['cd /tmp', 'make', 'echo a', 'echo b']],
    ['quotes are removed, operators inside quotes are text', `echo "a | b" 'c && d' e\\;f`, ['echo a | b c && d e;f']],
    ['expansions stay as written', 'echo "$HOME/x" ${A:-b} $(true)', ['echo $HOME/x ${A:-b} $(true)', '>true']],
    ['command substitutions are looked into', 'v=$(cd /x; pwd) `sudo id`', ['v=$(cd /x; pwd) `sudo id`', '>cd /x', '>pwd', '>sudo id']],
    ['sh -c and bash -ec scripts are looked into', `sh -c 'cd /x && ls | wc -l'; /bin/bash -ec "apt-get install -y y"`, [
      'sh -c cd /x && ls | wc -l',
      '>cd /x',
      '>|ls',
      '>|wc -l',
      '/bin/bash -ec apt-get install -y y',
      '>apt-get install -y y',
    ]],
    ['assignments before a command', 'DEBIAN_FRONTEND=noninteractive A="x y" apt-get install -y z', ['DEBIAN_FRONTEND=noninteractive A=x y apt-get install -y z']],
    ['redirections are not arguments', 'echo hi > /tmp/x 2>&1 < /dev/null', ['echo hi']],
    ['if / for / while bodies', 'if [ -f x ]; then rm x; elif true; then :; else echo no; fi; for i in 1 2; do wget $i; done; while false; do sleep 1; done', [
      '[ -f x ]',
      'rm x',
      'true',
      ':',
      'echo no',
      'wget $i',
      'false',
      'sleep 1',
    ]],
    ['case arms', 'case "$x" in a|b) apk add foo;; *) echo other;; esac', ['apk add foo', 'echo other']],
    ['a function definition is not a call', 'f() { rm -rf /tmp/x; }; f', ['rm -rf /tmp/x', 'f']],
    ['comments are skipped', 'echo a # | not a pipe\n# cd /x\necho b', ['echo a', 'echo b']],
    ['here-document bodies are not commands', 'cat <<EOF > /x\ncd /nowhere | x\nEOF\nls', ['cat', 'ls']],
    ['line continuations', 'apt-get install \\\n  -y \\\n  curl', ['apt-get install -y curl']],
    ['a bash array is one word', 'arr=(a b c); echo ok', ['arr=(a b c)', 'echo ok']],
    ['an unterminated quote ends at the end', "echo 'open", ['echo open']],
  ];
  for (const [name, script, want] of table) it(name, () => assert.deepEqual(shape(script), want));

  it('pipes are seen anywhere, also nested; || is not a pipe', () => {
    assert.equal(parseShell('a || b').hasPipes, false);
    assert.equal(parseShell('echo "a|b"').hasPipes, false);
    assert.equal(parseShell('x=$(a | b)').hasPipes, true);
    assert.equal(parseShell("sh -c 'a | b'").hasPipes, true);
  });

  it('flags and arguments as hadolint counts them', () => {
    const [cmd] = parseShell('apt-get -qy --no-install-recommends -t bookworm install --target-release=x curl=1 -- y').commands;
    assert.deepEqual(commandFlags(cmd!), ['q', 'y', 'no-install-recommends', 't', 'target-release']);
    // `--` is no flag to hadolint either, so it stays among the arguments
    assert.deepEqual(argsWithoutFlags(cmd!, ['t', 'target-release']), ['install', 'curl=1', '--', 'y']);
  });

  it('sh -c detection', () => {
    const script = (s: string) => shellCScript(parseShell(s).commands[0]!);
    assert.equal(script('sh -c "x"'), 'x');
    assert.equal(script('bash -o pipefail -c "y"'), 'y');
    assert.equal(script('busybox sh -c z'), 'z');
    assert.equal(script('sh script.sh -c x'), undefined);
    assert.equal(script('python -c "print(1)"'), undefined);
  });

  it('deep nesting stops instead of recursing without bound', () => {
    let s = 'true';
    for (let i = 0; i < 200; i++) s = `echo $(${s})`;
    const found = parseShell(s).commands;
    assert.equal(Math.max(...found.map((c) => c.depth)), 16);
    assert.ok(parseShell('$('.repeat(5000)).commands.length <= 17);
  });
});
