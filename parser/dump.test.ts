/** Go strconv.Quote fidelity and the s-expression shape. */
import assert from 'node:assert/strict';
import { dump, goQuote } from './dump.js';
import { parse } from './parse.js';

describe('dump: goQuote matches strconv.Quote', () => {
  const table: [string, string][] = [
    ['', '""'],
    ['plain', '"plain"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\x07\b\f\n\r\t\v', '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['\x00\x1b\x7f', '"\\x00\\x1b\\x7f"'],
    ['♥ ☃ é ü 日本', '"♥ ☃ é ü 日本"'],
    ['\u00a0', '"\\u00a0"'], // non-ASCII space is not printable for Go
    ['\u00ad', '"\\u00ad"'], // soft hyphen (Cf)
    ['\u0085', '"\\u0085"'],
    ['\u200b', '"\\u200b"'], // zero width space (Cf)
    ['\u2028', '"\\u2028"'],
    ['\ufeff', '"\\ufeff"'],
    ['😀', '"😀"'],
    ['\u{e0001}', '"\\U000e0001"'], // tag character (Cf)
    ['\ud800', '"\\ufffd"'],
  ];
  for (const [input, want] of table) it(JSON.stringify(input), () => assert.equal(goQuote(input), want));
});

describe('dump: shape', () => {
  it('prints flags, args and nested ONBUILD', () => {
    assert.equal(
      dump(parse('FROM a\nCOPY --from=b x y\nONBUILD RUN ["a","b"]\nCMD []\n')),
      '(from "a")\n(copy ["--from=b"] "x" "y")\n(onbuild (run "a" "b"))\n(cmd)',
    );
  });
});
