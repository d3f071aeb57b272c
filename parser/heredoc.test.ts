/** Heredoc behaviour, re-expressed as tables from BuildKit's parser_heredoc_test.go. */
import assert from 'node:assert/strict';
import type { Heredoc } from './ast.js';
import { chompHeredocContent, heredocsFromLine, parseHeredocWord } from './heredoc.js';
import { parse } from './parse.js';

const hd = (name: string, content: string, extra: Partial<Heredoc> = {}): Heredoc => ({
  name,
  content,
  expand: true,
  chomp: false,
  ...extra,
});

describe('heredoc: bodies attached to instructions', () => {
  // Each case: one instruction after `FROM alpine`, and the heredocs BuildKit attaches.
  const cases: { src: string; want: Heredoc[] }[] = [
    { src: 'ENV NAME=me', want: [] },
    { src: 'RUN ls', want: [] },
    { src: 'USER <<INVALID', want: [] },
    { src: 'RUN <<EMPTY\nEMPTY', want: [hd('EMPTY', '')] },
    { src: 'RUN 3<<EMPTY2\nEMPTY2', want: [hd('EMPTY2', '', { fd: 3 })] },
    { src: 'RUN "<<NOHEREDOC"', want: [] },
    { src: 'RUN <<INDENT\n\tfoo\n\tbar\nINDENT', want: [hd('INDENT', '\tfoo\n\tbar\n')] },
    { src: 'RUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT', want: [hd('UNINDENT', '\tbaz\n\tquux\n', { chomp: true })] },
    { src: 'RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2', want: [hd('UNINDENT2', '\tbaz\n\tquux\n', { chomp: true })] },
    { src: 'RUN <<-EXPAND\n\texpand $NAME\nEXPAND', want: [hd('EXPAND', '\texpand $NAME\n', { chomp: true })] },
    {
      src: "RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND",
      want: [hd('NOEXPAND', "\tdon't expand $NAME\n", { chomp: true, expand: false })],
    },
    { src: 'RUN <<COPY\necho hello world\necho foo bar\nCOPY', want: [hd('COPY', 'echo hello world\necho foo bar\n')] },
    {
      src: 'RUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT',
      want: [hd('COMMENT', '# internal comment\necho hello world\necho foo bar # trailing comment\n')],
    },
    { src: 'RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT', want: [hd('MOUNT', 'echo hello\n')] },
    {
      src: 'COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2',
      want: [hd('FILE1', 'content 1\n'), hd('FILE2', 'content 2\n')],
    },
    { src: 'COPY <<EOF /quotes\n"foo"\n\'bar\'\nEOF', want: [hd('EOF', '"foo"\n\'bar\'\n')] },
    // Terminators are matched in order, each only against its own heredoc.
    { src: 'COPY <<X <<Y /dest\nY\nX\nX\nY', want: [hd('X', 'Y\n'), hd('Y', 'X\n')] },
    { src: "RUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX", want: [hd('COMPLEX', "print('hello world')\n")] },
    { src: 'COPY <<file.txt /dest\nhello world\nfile.txt', want: [hd('file.txt', 'hello world\n')] },
    { src: "RUN <<eo'f'\necho foo\neof", want: [hd('eof', 'echo foo\n', { expand: false })] },
    { src: "RUN <<eo\\'f\necho foo\neo'f", want: [hd("eo'f", 'echo foo\n')] },
    { src: "RUN <<'e'o\\'f\necho foo\neo'f", want: [hd("eo'f", 'echo foo\n', { expand: false })] },
    { src: "RUN <<'one two'\necho bar\none two", want: [hd('one two', 'echo bar\n', { expand: false })] },
    { src: 'RUN <<$EOF\n$EOF', want: [hd('$EOF', '')] },
    { src: 'RUN <<  EOF\nEOF', want: [hd('EOF', '')] },
    { src: 'RUN <<  EOF  > foo\nEOF', want: [hd('EOF', '')] },
    // JSON form never reads heredocs.
    { src: 'RUN ["<<EOF"]', want: [] },
    { src: `RUN ["<<'EOF'"]`, want: [] },
    // ONBUILD looks at its payload instruction.
    { src: 'ONBUILD RUN <<EOF\necho hi\nEOF', want: [hd('EOF', 'echo hi\n')] },
    { src: 'ONBUILD USER <<EOF', want: [] },
    // CRLF: the terminator matches without \r, bodies keep their line endings.
    { src: 'RUN <<EOF\r\necho hi\r\nEOF\r', want: [hd('EOF', 'echo hi\r\n')] },
  ];
  for (const c of cases) {
    it(JSON.stringify(c.src.split('\n')[0]), () => {
      const { root } = parse('FROM alpine:3.6\n' + c.src + '\n');
      assert.equal(root.length, 2);
      assert.deepEqual(root[1]!.heredocs, c.want);
    });
  }

  it('counts heredoc body lines in the node range and continues after them', () => {
    const { root } = parse('FROM a\nRUN <<EOF\nx\ny\nEOF\nUSER me\n');
    assert.deepEqual(
      root.map((n) => [n.keyword, n.startLine, n.endLine]),
      [
        ['from', 1, 1],
        ['run', 2, 5],
        ['user', 6, 6],
      ],
    );
  });

  it('rejects an unterminated heredoc with its location', () => {
    assert.throws(() => parse('FROM a\nRUN <<EOF\necho hi\n'), (e: Error & { line?: number }) => {
      assert.match(e.message, /unterminated heredoc/);
      assert.equal(e.line, 2);
      return true;
    });
  });
});

describe('heredoc: word recognition (ParseHeredoc)', () => {
  for (const src of ['<<EOF', "<<'EOF'", '<<"EOF"', '<<-EOF', "<<-'EOF'", '<<-"EOF"', '<<EO"F"', '<< EOF', '<<- EOF']) {
    it(`${src} names EOF`, () => assert.equal(parseHeredocWord(src)?.name, 'EOF'));
  }
  for (const src of ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"']) {
    it(`${src} is malformed`, () => assert.throws(() => parseHeredocWord(src)));
  }
  for (const src of ['', 'EOF', '<<', '<<-', '<EOF', '<<<EOF', '<<EOF sh']) {
    it(`${JSON.stringify(src)} is not a heredoc`, () => assert.equal(parseHeredocWord(src), null));
  }
  const expand: [string, boolean][] = [
    ['<<EOF', true],
    ['<<"EOF"', false],
    ["<<'EOF'", false],
    ['<<EO"F"', false],
    ['<<E\\"OF', true],
  ];
  for (const [src, want] of expand) it(`${src} expand=${want}`, () => assert.equal(parseHeredocWord(src)?.expand, want));
  it('reads the fd and chomp marks', () => {
    assert.deepEqual(parseHeredocWord('4<<-EOF'), { name: 'EOF', content: '', expand: true, chomp: true, fd: 4 });
  });
});

describe('heredoc: heredocsFromLine', () => {
  const table: [string, string[]][] = [
    ['RUN <<EOF', ['EOF']],
    ['RUN <<-EOF', ['EOF']],
    // BuildKit's lexer only joins blanks directly after `<<`, so `<<- EOF` splits in two words.
    ['RUN <<- EOF', []],
    ['RUN << -EOF', ['-EOF']],
    ["RUN <<'EOF'", ['EOF']],
    ['RUN 4<<EOF', ['EOF']],
    ['RUN <<EOF <<EOF2', ['EOF', 'EOF2']],
    ["RUN '<<EOF'", []],
    ['RUN "<<EOF"', []],
    ['RUN \\<<EOF', []],
    ['RUN echo "unterminated <<EOF', []],
  ];
  for (const [line, names] of table) {
    it(line, () => assert.deepEqual(heredocsFromLine(line).map((h) => h.name), names));
  }
  it('chomps leading tabs of every line', () => {
    assert.equal(chompHeredocContent('\thello\n\t\tworld\n  keep\n'), 'hello\nworld\n  keep\n');
  });
});
