import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  expandWord,
  expandWords,
  reversePattern,
  reverseString,
  shellPatternToRegExpSource,
  ShellExpansionError,
  type EnvLookup,
} from './shell.js';

const DATA = new URL('../testdata/conformance/buildkit-shell/', import.meta.url);

function envOf(map: Record<string, string>): EnvLookup {
  return (name) => (Object.prototype.hasOwnProperty.call(map, name) ? map[name] : undefined);
}

/** Runs expandWord and returns the value, or the string "error" on a ShellExpansionError. */
function valueOrError(word: string, env: EnvLookup, escapeToken?: string): string {
  try {
    return expandWord(word, env, escapeToken ? { escapeToken } : {}).value;
  } catch (e) {
    if (e instanceof ShellExpansionError) return 'error';
    throw e;
  }
}

describe('parser/shell: BuildKit envVarTest conformance (ProcessWord)', () => {
  const env = envOf({ PWD: '/home', SHELL: 'bash', KOREAN: '한국어', NULL: '' });
  const lines = readFileSync(new URL('envVarTest', DATA), 'utf8').split('\n');
  const rows: Array<{ line: number; input: string; expected: string }> = [];
  lines.forEach((raw, i) => {
    if (raw.startsWith('#')) return;
    const line = raw.trim();
    if (line === '') return;
    const fields = line.split('|');
    assert.equal(fields.length, 3, `envVarTest:${i + 1} must have 3 fields`);
    const tag = fields[0]!.trim();
    assert.ok(['A', 'U', 'W'].includes(tag), `envVarTest:${i + 1} bad tag ${tag}`);
    if (tag === 'W') return; // Windows-only rows (case-insensitive env)
    rows.push({ line: i + 1, input: fields[1]!.trim(), expected: fields[2]!.trim() });
  });

  it('has the full table (guards against an empty or truncated data file)', () => {
    assert.equal(rows.length, 228, "A and U rows in envVarTest");
  });

  for (const r of rows) {
    it(`envVarTest:${r.line} ${JSON.stringify(r.input)} → ${JSON.stringify(r.expected)}`, () => {
      assert.equal(valueOrError(r.input, env), r.expected);
    });
  }
});

describe('parser/shell: BuildKit wordsTest conformance (ProcessWords)', () => {
  const lines = readFileSync(new URL('wordsTest', DATA), 'utf8').split('\n');
  const env: Record<string, string> = {};
  const rows: Array<{ line: number; input: string; expected: string[]; env: Record<string, string> }> = [];
  lines.forEach((line, i) => {
    if (line.startsWith('#')) return;
    if (line.startsWith('ENV ')) {
      const kv = line.slice(3).replace(/^ +/, '');
      const eq = kv.indexOf('=');
      if (eq < 0) env[kv] = '';
      else env[kv.slice(0, eq)] = kv.slice(eq + 1);
      return;
    }
    if (line === '') return; // trailing newline of the file
    const parts = line.split('|');
    assert.equal(parts.length, 2, `wordsTest:${i + 1} must have exactly one |`);
    rows.push({
      line: i + 1,
      input: parts[0]!.trim(),
      expected: parts[1]!.replace(/^ +/, '').split(','),
      env: { ...env },
    });
  });

  it('has the full table and its significant trailing spaces', () => {
    assert.equal(rows.length, 24, "rows in wordsTest");
    assert.equal(env['trailing'], 'ab c   ');
  });

  for (const r of rows) {
    it(`wordsTest:${r.line} ${JSON.stringify(r.input)} → ${JSON.stringify(r.expected)}`, () => {
      let words: string[];
      try {
        words = expandWords(r.input, envOf(r.env)).words;
      } catch (e) {
        if (!(e instanceof ShellExpansionError)) throw e;
        words = ['error'];
      }
      assert.deepEqual(words, r.expected);
    });
  }
});

// Re-expressed from BuildKit's lex_test.go (TestProcessWithMatches and friends).
describe('parser/shell: modifiers, pattern forms and used/unset tracking', () => {
  interface Row {
    input: string;
    env: Record<string, string>;
    expected?: string; // undefined = must fail
    used?: string[];
    unset?: string[];
  }
  const rows: Row[] = [
    { input: 'x', env: { DUMMY: 'dummy' }, expected: 'x' },
    { input: 'x ${UNUSED}', env: { DUMMY: 'dummy' }, expected: 'x ', unset: ['UNUSED'] },
    { input: 'x ${FOO}', env: { FOO: 'y' }, expected: 'x y', used: ['FOO'] },
    { input: '${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx  ccc', used: ['FOO', 'BAR'], unset: ['BAZ'] },
    { input: '${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx bbb ccc', used: ['FOO', 'BAR'], unset: ['BAZ'] },
    { input: '${FOO:-}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx', used: ['FOO'] },
    { input: '${FOO:-}', env: {}, expected: '', unset: ['FOO'] },
    { input: '${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}', env: { FOO: 'xxx', BAR: '' }, expected: 'aaa bbb ', used: ['FOO', 'BAR'], unset: ['BAZ'] },
    { input: '${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}', env: { FOO: 'xxx', BAR: '' }, expected: 'aaa  ', used: ['FOO', 'BAR'], unset: ['BAZ'] },
    { input: '${FOO?aaa}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx', used: ['FOO'] },
    { input: '${BAR?bbb}', env: { FOO: 'xxx', BAR: '' }, expected: '', used: ['BAR'] },
    { input: '${BAZ?ccc}', env: { FOO: 'xxx', BAR: '' }, unset: ['BAZ'] },
    { input: '${FOO:?aaa}', env: { FOO: 'xxx', BAR: '' }, expected: 'xxx', used: ['FOO'] },
    { input: '${BAR:?bbb}', env: { FOO: 'xxx', BAR: '' } },
    { input: '${BAZ:?ccc}', env: { FOO: 'xxx', BAR: '' } },
    { input: '${BAZ:?}', env: { FOO: 'xxx', BAR: '' } },
    { input: '${FOO=aaa}', env: { FOO: 'xxx', BAR: '' } },
    { input: '${FOO=:aaa}', env: { FOO: 'xxx', BAR: '' } },
    { input: '${FOO=}', env: {} },
    // # and ##: shortest / longest prefix; regex metacharacters are literal; \} protects the brace
    { input: '${FOO#()[]{\\}^$.\\*\\?|\\\\}', env: { FOO: '()[]{}^$.*?|\\x' }, expected: 'x', used: ['FOO'] },
    { input: '${FOO%%\\**}', env: { FOO: 'xx**' }, expected: 'xx', used: ['FOO'] },
    { input: '${FOO#*x*y}', env: { FOO: 'xxyy' }, expected: 'y', used: ['FOO'] },
    { input: '${FOO#*}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
    { input: '${FOO#$BAR}', env: { FOO: 'xxyy', BAR: 'x' }, expected: 'xyy', used: ['FOO', 'BAR'] },
    { input: '${FOO#$BAR}', env: { FOO: 'xxyy', BAR: '' }, expected: 'xxyy', used: ['FOO', 'BAR'] },
    { input: '${FOO#}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
    { input: '${FOO##*x}', env: { FOO: 'xxyy' }, expected: 'yy', used: ['FOO'] },
    { input: '${FOO##}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
    { input: '${FOO#?\\?}', env: { FOO: '???y' }, expected: '?y', used: ['FOO'] },
    { input: '${FOO##x?}', env: { FOO: 'x\ny' }, expected: 'x\ny', used: ['FOO'] }, // ? never matches a newline (Go's .)
    // % and %%: shortest / longest suffix
    { input: '${ABC:-.}${FOO%x}${ABC:-.}', env: { FOO: 'xxyy' }, expected: '.xxyy.', used: ['FOO'], unset: ['ABC'] },
    { input: '${FOO%%\\**\\*}', env: { FOO: 'a***yy*' }, expected: 'a', used: ['FOO'] },
    { input: '${FOO%}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
    { input: '${FOO%%$BAR}', env: { FOO: 'xxyy', BAR: '' }, expected: 'xxyy', used: ['FOO', 'BAR'] },
    { input: '${FOO%y*}', env: { FOO: 'xxyy' }, expected: 'xxy', used: ['FOO'] },
    { input: '${FOO%%y*}', env: { FOO: 'xxyy' }, expected: 'xx', used: ['FOO'] },
    { input: '${FOO%.*}', env: { FOO: 'app.tar.gz' }, expected: 'app.tar', used: ['FOO'] },
    { input: '${FOO%%.*}', env: { FOO: 'app.tar.gz' }, expected: 'app', used: ['FOO'] },
    { input: '${FOO#*/}', env: { FOO: 'a/b/c' }, expected: 'b/c', used: ['FOO'] },
    { input: '${FOO##*/}', env: { FOO: 'a/b/c' }, expected: 'c', used: ['FOO'] },
    { input: '${FOO%/*}', env: { FOO: '/usr/local/bin' }, expected: '/usr/local', used: ['FOO'] },
    { input: '${FOO%%👽*}', env: { FOO: '🖖👽🚀👽' }, expected: '🖖', used: ['FOO'] },
    { input: '${FOO%👽*}', env: { FOO: '🖖👽🚀👽' }, expected: '🖖👽🚀', used: ['FOO'] },
    { input: '${NOPE#x}', env: {}, expected: '', unset: ['NOPE'] },
    { input: '${FOO#\\x}', env: { FOO: 'xx' } }, // only \* \? \\ \} \/ are valid escapes
    // / and //: first / all matches, greedy wildcards
    { input: '${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}', env: { FOO: '/foo*/*/*.txt', NEEDLE: '\\*/' }, expected: '/foo.*/*.txt - /foo..*.txt', used: ['FOO', 'NEEDLE'] },
    { input: '${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}', env: { FOO: '/tmp/tmp/bar.txt', NEEDLE: '/tmp' }, expected: '/tmp/bar.txt - /bar.txt', used: ['FOO', 'NEEDLE'] },
    { input: '${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}', env: { FOO: '/a/foo/b/c.txt', NEEDLE: '/?/', REPLACEMENT: '/' }, expected: '/foo/b/c.txt - /foo/c.txt', used: ['FOO', 'NEEDLE', 'REPLACEMENT'] },
    { input: '${FOO/$NEEDLE/$REPLACEMENT}', env: { FOO: 'http://google.de', NEEDLE: 'http://', REPLACEMENT: 'https://' }, expected: 'https://google.de', used: ['FOO', 'NEEDLE', 'REPLACEMENT'] },
    { input: '${FOO//\\//\\/}', env: { FOO: '/tmp/foo.txt' }, expected: '\\/tmp\\/foo.txt', used: ['FOO'] },
    { input: '${FOO/$BAR/ww}', env: { FOO: 'xxyy', BAR: '' }, expected: 'wwxxyy', used: ['FOO', 'BAR'] },
    { input: '${FOO//ww}', env: { FOO: 'xxyy' } },
    { input: '${FOO//}', env: { FOO: 'xxyy' } },
    { input: '${FOO///}', env: { FOO: 'xxyy' }, expected: 'xxyy', used: ['FOO'] },
    { input: '${FOO///}', env: {}, expected: '', unset: ['FOO'] },
    { input: '${FOO/x*/z}', env: { FOO: 'axbxc' }, expected: 'az', used: ['FOO'] }, // * is greedy in / forms
    { input: '${FOO//x/-}', env: { FOO: 'axbxc' }, expected: 'a-b-c', used: ['FOO'] },
    { input: '${FOO//?/.}', env: { FOO: '한국' }, expected: '..', used: ['FOO'] }, // ? is one character, not one byte
    // ReplaceAll semantics of Go: an empty match right after a match is not replaced
    { input: '${FOO//$PAT/-}', env: { FOO: 'xay', PAT: '*' }, expected: '-', used: ['FOO', 'PAT'] },
    { input: '${FOO//$PAT/-}', env: { FOO: 'ab', PAT: '' }, expected: '-a-b-', used: ['FOO', 'PAT'] },
    // Go template references in a // replacement: $0 is the match, $$ a dollar
    { input: '${FOO//b/<${DOL}0>}', env: { FOO: 'abc', DOL: '$' }, expected: 'a<b>c', used: ['FOO', 'DOL'] },
    { input: '${FOO//b/${DOL}${DOL}}', env: { FOO: 'abc', DOL: '$' }, expected: 'a$c', used: ['FOO', 'DOL'] },
    { input: '${FOO/b/${DOL}0}', env: { FOO: 'abc', DOL: '$' }, expected: 'a$0c', used: ['FOO', 'DOL'] }, // single / is literal
    // platform-style composition from BuildKit's release names
    { input: 'x-${V}.${OS}-${ARCH}${VARIANT:+-${VARIANT}}.tgz', env: { V: 'v1', OS: 'linux', ARCH: 'arm', VARIANT: 'v7' }, expected: 'x-v1.linux-arm-v7.tgz', used: ['V', 'OS', 'ARCH', 'VARIANT'] },
    { input: 'x-${V}.${OS}-${ARCH}${VARIANT:+-${VARIANT}}.tgz', env: { V: 'v1', OS: 'linux', ARCH: 'amd64', VARIANT: '' }, expected: 'x-v1.linux-amd64.tgz', used: ['V', 'OS', 'ARCH', 'VARIANT'] },
  ];

  for (const r of rows) {
    it(`${JSON.stringify(r.input)} with ${JSON.stringify(r.env)} → ${r.expected === undefined ? 'error' : JSON.stringify(r.expected)}`, () => {
      if (r.expected === undefined) {
        assert.throws(() => expandWord(r.input, envOf(r.env)), ShellExpansionError);
        return;
      }
      const res = expandWord(r.input, envOf(r.env));
      assert.equal(res.value, r.expected);
      assert.deepEqual([...res.used].sort(), [...(r.used ?? [])].sort(), 'used');
      assert.deepEqual([...res.unset].sort(), [...(r.unset ?? [])].sort(), 'unset');
    });
  }

  it('unset tracking also reports variables that only appear in an unused branch', () => {
    const res = expandWord('${PWD:+${XXX}}${YYY:-$ZZZ}', envOf({ PWD: '/' }));
    assert.deepEqual([...res.unset].sort(), ['XXX', 'YYY', 'ZZZ']);
    assert.deepEqual([...res.used], ['PWD']);
  });
});

describe('parser/shell: ${v?msg} and ${v:?msg} errors carry the message', () => {
  const cases: Array<{ word: string; env: Record<string, string>; value?: string; message?: string }> = [
    { word: '${VAR:?message here$ARG}', env: { VAR: 'plain', ARG: 'x' }, value: 'plain' },
    { word: '${VAR:?message here$ARG}', env: { VAR: '', ARG: 'x' }, message: 'VAR: message herex' },
    { word: '${VAR:?message here$ARG}', env: { ARG: 'x' }, message: 'VAR: message herex' },
    { word: '${VAR?message here$ARG}', env: { VAR: 'plain', ARG: 'x' }, value: 'plain' },
    { word: '${VAR?message here$ARG}', env: { VAR: '', ARG: 'x' }, value: '' },
    { word: '${VAR?message here$ARG}', env: { ARG: 'x' }, message: 'VAR: message herex' },
    { word: '${VAR?}', env: {}, message: 'VAR: is not allowed to be unset' },
    { word: '${VAR:?}', env: { VAR: '' }, message: 'VAR: is not allowed to be empty' },
  ];
  for (const c of cases) {
    it(`${c.word} with ${JSON.stringify(c.env)}`, () => {
      if (c.message === undefined) {
        assert.equal(expandWord(c.word, envOf(c.env)).value, c.value);
        return;
      }
      assert.throws(
        () => expandWord(c.word, envOf(c.env)),
        (e: unknown) => {
          assert.ok(e instanceof ShellExpansionError);
          assert.equal(e.reason, c.message);
          assert.ok(e.message.includes(c.message!), e.message);
          assert.equal(e.data['variable'], 'VAR');
          return true;
        },
      );
    });
  }
});

describe('parser/shell: errors', () => {
  const errs: Array<{ word: string; reason: RegExp; offset: number }> = [
    { word: 'he${}', reason: /bad substitution/, offset: 4 },
    { word: "ab'cd", reason: /single-quote/, offset: 5 },
    { word: 'x"yz', reason: /double-quote/, offset: 4 },
    { word: '${aaa', reason: /unsupported modifier|missing/, offset: 5 },
    { word: '${aaa:-bbb', reason: /missing '}'/, offset: 10 },
    { word: '${a/b', reason: /missing '\/'/, offset: 5 },
    { word: '${a:=b}', reason: /unsupported modifier \(:=\)/, offset: 7 },
    { word: '한${}', reason: /bad substitution/, offset: 3 },
  ];
  for (const c of errs) {
    it(`${JSON.stringify(c.word)} fails with word, position and a stable code`, () => {
      assert.throws(
        () => expandWord(c.word, envOf({})),
        (e: unknown) => {
          assert.ok(e instanceof ShellExpansionError);
          assert.equal(e.code, 'TSB_DOCKERFILE_SHELL_EXPANSION');
          assert.equal((e as unknown as Record<symbol, unknown>)[Symbol.for('tsbuild.error')], true);
          assert.equal(e.word, c.word);
          assert.match(e.reason, c.reason);
          assert.equal(e.offset, c.offset);
          assert.ok(e.message.startsWith(`failed to process ${JSON.stringify(c.word)}: `), e.message);
          return true;
        },
      );
    });
  }
});

describe('parser/shell: escape token and skipUnsetEnv', () => {
  const env = envOf({ A: 'a b', E: '' });
  const backtick: Array<[string, string]> = [
    ['x`$A', 'x$A'],
    ['c:\\dir\\$A', 'c:\\dir\\a b'], // backslash is an ordinary character
    ['"q`"x"', 'q"x'],
    ['"q\\"', 'q\\'],
    ['a``b', 'a`b'],
    ['${E:-`}}x', '}x'],
  ];
  for (const [word, expected] of backtick) {
    it(`escape \`: ${JSON.stringify(word)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(valueOrError(word, env, '`'), expected);
    });
  }

  const skip: Array<[string, string]> = [
    ['$X', '$X'],
    ['${X}', '${X}'],
    ['${X:-d}', '${X:-d}'],
    ['${X-$A}', '${X-a b}'],
    ['${X#p}', '${X#p}'],
    ['${X/a/b}', '${X/a/b}'],
    ['${X//a/b}', '${X//a/b}'],
    ['$A-${E:-z}', 'a b-z'],
  ];
  for (const [word, expected] of skip) {
    it(`skipUnsetEnv: ${JSON.stringify(word)} → ${JSON.stringify(expected)}`, () => {
      assert.equal(expandWord(word, env, { skipUnsetEnv: true }).value, expected);
    });
  }

  it('a leading byte-order mark is dropped like Go text/scanner does', () => {
    assert.equal(expandWord('\uFEFF$A', env).value, 'a b');
  });

  it('expandWords splits unquoted expansions on Unicode whitespace (NBSP too), not quoted ones', () => {
    assert.deepEqual(expandWords('$V "$V"', envOf({ V: 'a\u00a0b' })).words, ['a', 'b', 'a\u00a0b']);
    assert.deepEqual(expandWords('"" x', envOf({})).words, ['x']);
  });
});

describe('parser/shell: pattern helpers', () => {
  const regex: Array<[string, string]> = [
    ['*', '^[^\\n]*'],
    ['?', '^[^\\n]'],
    ['\\*', '^\\*'],
    ['(()[]{\\}^$.\\*\\?|\\\\', '^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\'],
  ];
  for (const [pattern, src] of regex) {
    it(`pattern ${JSON.stringify(pattern)} → regex ${src}`, () => {
      assert.equal(shellPatternToRegExpSource(pattern, true, true), src);
    });
  }
  for (const bad of ['\\', '\\x', '\\\\\\']) {
    it(`pattern ${JSON.stringify(bad)} is an invalid escape`, () => {
      assert.throws(() => shellPatternToRegExpSource(bad, true, true), ShellExpansionError);
    });
  }
  it('lazy star for shortest matches', () => {
    assert.equal(shellPatternToRegExpSource('a*', false, true), '^a[^\\n]*?');
  });

  const reversed: Array<[string, string]> = [
    ['a\\*c', 'c\\*a'],
    ['\\\\\\ab', 'b\\a\\\\'],
    ['ab\\', '\\ba'],
    ['👽\\🚀🖖', '🖖\\🚀👽'],
    ['\\\\b', 'b\\\\'],
  ];
  for (const [p, r] of reversed) {
    it(`reversePattern(${JSON.stringify(p)}) = ${JSON.stringify(r)}`, () => {
      assert.equal(reversePattern(p), r);
    });
  }
  it('reverseString reverses code points, not UTF-16 units', () => {
    assert.equal(reverseString('🖖🚀👽'), '👽🚀🖖');
    assert.equal(reverseString('54321'), '12345');
  });
});
