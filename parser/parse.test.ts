/** Low-level parse behaviour beyond the corpus: directives, continuations, limits, errors. */
import assert from 'node:assert/strict';
import { dump } from './dump.js';
import { DockerfileParseError } from './errors.js';
import { parseWords, splitCommand } from './lexer.js';
import { parse } from './parse.js';

const d = (text: string): string => dump(parse(text));

describe('parse: directives', () => {
  const table: { name: string; src: string; directives: [string, string][]; escape: string }[] = [
    { name: 'escape and syntax', src: '# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n', directives: [['syntax', 'docker/dockerfile:1'], ['escape', '`']], escape: '`' },
    { name: 'keys are case-insensitive', src: '# EScape=`\nFROM a\n', directives: [['escape', '`']], escape: '`' },
    { name: 'spaces around = and value trimmed', src: '#  check  =  skip=all  \nFROM a\n', directives: [['check', 'skip=all']], escape: '\\' },
    { name: 'unknown key ends directives', src: '# key=v\n# escape=`\nFROM a\n', directives: [], escape: '\\' },
    { name: 'blank line ends directives', src: '# syntax=x\n\n# escape=`\nFROM a\n', directives: [['syntax', 'x']], escape: '\\' },
    { name: 'a comment ends directives', src: '# hello\n# escape=`\nFROM a\n', directives: [], escape: '\\' },
    { name: 'after an instruction it is a comment', src: 'FROM a\n# escape=`\n', directives: [], escape: '\\' },
    { name: 'no space needed', src: '#escape=`\nFROM a\n', directives: [['escape', '`']], escape: '`' },
    { name: 'missing value is a comment', src: '# syntax=\n# escape=`\nFROM a\n', directives: [], escape: '\\' },
    { name: 'key must start with a letter', src: '# 1escape=`\nFROM a\n', directives: [], escape: '\\' },
    { name: 'BOM before directive', src: '\uFEFF# escape=`\nFROM a\n', directives: [['escape', '`']], escape: '`' },
  ];
  for (const c of table) {
    it(c.name, () => {
      const r = parse(c.src);
      assert.deepEqual(
        r.directives.map((x) => [x.name, x.value]),
        c.directives,
      );
      assert.equal(r.escapeToken, c.escape);
    });
  }
  it('reports directive lines', () => {
    assert.deepEqual(parse('# syntax=x\n# check=skip=all\nFROM a').directives.map((x) => x.line), [1, 2]);
  });
  it('rejects a repeated directive', () => {
    assert.throws(() => parse('# escape=\\\n# escape=`\nFROM a\n'), /only one escape parser directive can be used/);
  });
  it('a value of only blanks keeps its last blank (RE2 lazy group), then fails as escape', () => {
    assert.throws(() => parse('# escape= \t\nFROM a\n'), /invalid escape token '\t'/);
  });
  it('stays linear on hostile directive lines', () => {
    const t0 = Date.now();
    parse('# syntax=a' + ' '.repeat(60000) + 'b\nFROM a\n');
    assert.ok(Date.now() - t0 < 1000);
  });
  it('rejects an invalid escape token', () => {
    assert.throws(() => parse('# escape=x\nFROM a\n'), /invalid escape token 'x' does not match ` or \\/);
  });
  it('backtick escape makes backslash literal and continues with backtick', () => {
    assert.equal(d('# escape=`\nFROM a\nRUN dir c:\\ `\n  /w\n'), '(from "a")\n(run "dir c:\\\\   /w")');
  });
});

describe('parse: lines and continuations', () => {
  const table: [string, string, string][] = [
    ['CRLF line endings', 'FROM a\r\nRUN echo \\\r\n  hi\r\n', '(from "a")\n(run "echo   hi")'],
    ['BOM stripped', '\uFEFFFROM a\n', '(from "a")'],
    ['comment inside continuation skipped', 'RUN a \\\n# c\n  b\n', '(run "a   b")'],
    ['indented comment inside continuation skipped', 'RUN a \\\n   # c\nb\n', '(run "a b")'],
    ['# not at line start is text', 'RUN echo # not a comment\n', '(run "echo # not a comment")'],
    ['indented instruction', '   FROM a\n', '(from "a")'],
    ['continuation at EOF', 'RUN a \\', '(run "a")'],
    ['escaped backslash is not a continuation', 'RUN a \\\\\nRUN b\n', '(run "a \\\\\\\\")\n(run "b")'],
    ['unknown instruction keeps one empty argument', 'FOO bar baz\n', '(foo "")'],
    ['keyword case kept out of the dump', 'fRoM a AS b\n', '(from "a" "AS" "b")'],
    ['onbuild nests', 'ONBUILD COPY --from=x a b\n', '(onbuild (copy ["--from=x"] "a" "b"))'],
    ['onbuild with nothing', 'ONBUILD\n', '(onbuild)'],
    ['flags are unquoted', 'COPY --chown="a b" --x=\'1\' s d\n', '(copy ["--chown=a b" "--x=1"] "s" "d")'],
  ];
  for (const [name, src, want] of table) {
    it(name, () => assert.equal(d(src), want));
  }
  it('JSON arrays of non-strings are an error', () => {
    assert.throws(() => parse('CMD ["a", 1]\n'), /arrays must be comprised of strings only/);
  });
  it('marks JSON form', () => {
    assert.deepEqual(parse('RUN ["a"]\nRUN a\n').root.map((n) => n.json), [true, false]);
  });
  it('keeps Original with continuations joined', () => {
    const [n] = parse('  RUN a \\\n  b\n').root;
    assert.equal(n!.original, 'RUN a   b');
    assert.equal(n!.column, 3);
    assert.equal(n!.rawKeyword, 'RUN');
  });
});

describe('parse: warnings, limits and errors', () => {
  it('warns about empty continuation lines, not comment lines', () => {
    const r = parse('FROM a\nRUN a \\\n\n  b \\\n# c\n  c\n');
    assert.equal(r.warnings.length, 1);
    assert.equal(r.warnings[0]!.message, 'Empty continuation line found in: RUN a   b   c');
    assert.equal(r.warnings[0]!.line, 6);
  });
  it('gives two warnings for two instructions with empty continuations', () => {
    const r = parse('RUN a \\\n\nb\nRUN c \\\n \nd\n');
    assert.equal(r.warnings.length, 2);
  });
  it('accepts a 65535-byte line and rejects a longer one', () => {
    const ok = 'RUN ' + 'x'.repeat(65535 - 4);
    assert.equal(parse(ok + '\n').root.length, 1);
    assert.throws(
      () => parse('FROM a\n' + ok + 'x\n'),
      (e: DockerfileParseError) => e instanceof DockerfileParseError && e.line === 2 && /max allowed size of 65535/.test(e.message),
    );
  });
  it('counts the limit in UTF-8 bytes', () => {
    const line = 'RUN ' + 'é'.repeat(32765) + 'x'; // 4 + 65530 + 1 = 65535 bytes, 32770 code units
    assert.equal(parse(line).root.length, 1);
    assert.throws(() => parse(line + 'x'), /max allowed size/);
  });
  for (const [name, src] of [
    ['empty file', ''],
    ['only blank lines', '\n\n  \n'],
    ['only comments', '# a\n# b\n'],
    ['only directives', '# syntax=x\n'],
  ]) {
    it(`rejects ${name}`, () => assert.throws(() => parse(src!), /file with no instructions/));
  }
  it('locates line-parser errors', () => {
    assert.throws(
      () => parse('FROM a\n\nENV PATH\n', { file: 'x/Dockerfile' }),
      (e: DockerfileParseError) =>
        e.file === 'x/Dockerfile' && e.line === 3 && e.column === 1 && e.message === 'x/Dockerfile:3:1: ENV must have two arguments',
    );
  });
  it('rejects ENV words without =', () => {
    assert.throws(() => parse('ENV a=b c\n'), /Syntax error - can't find = in "c". Must be of the form: name=value/);
  });
});

describe('lexer: words and flags', () => {
  const words: [string, string[]][] = [
    ['a b  c', ['a', 'b', 'c']],
    ['a\\ b', ['a\\ b']],
    ['"a b" c', ['"a b"', 'c']],
    ["'a \\' b", ["'a \\'", 'b']],
    ['a="b c"d e', ['a="b c"d', 'e']],
    ['""', ['""']],
    ['trailing\\', ['trailing']],
  ];
  for (const [src, want] of words) it(`parseWords ${src}`, () => assert.deepEqual(parseWords(src, '\\'), want));

  const splits: [string, string, string[], string][] = [
    ['COPY --a=1 --b x y', 'COPY', ['--a=1', '--b'], 'x y'],
    ['COPY -- --a', 'COPY', [], '--a'],
    ['COPY --a=1 -- x', 'COPY', ['--a=1'], 'x'],
    ['CMD -x', 'CMD', [], '-x'],
    ['RUN', 'RUN', [], ''],
    ['RUN --a="x y"  z ', 'RUN', ['--a=x y'], 'z'],
  ];
  for (const [line, kw, flags, rest] of splits) {
    it(`splitCommand ${line}`, () => assert.deepEqual(splitCommand(line, '\\'), { keyword: kw, flags, rest }));
  }
});
