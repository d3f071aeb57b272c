/** Directive detection outside the parser (BuildKit DetectSyntax/ParseDirective) and check options. */
import assert from 'node:assert/strict';
import { detectSyntax, findDirective, parseCheckOptions, type CheckOptions } from './directives.js';

describe('directives: detectSyntax', () => {
  const table: [string, string, { ref: string; cmdline: string; line: number } | null][] = [
    ['hash form with options', '# syntax = dockerfile:experimental // opts\nFROM busybox\n', { ref: 'dockerfile:experimental', cmdline: 'dockerfile:experimental // opts', line: 1 }],
    ['after a shebang', '#!/bin/sh\n# syntax = dockerfile:experimental\nFROM busybox\n', { ref: 'dockerfile:experimental', cmdline: 'dockerfile:experimental', line: 2 }],
    ['blank line after shebang ends directives', '#!/bin/sh\n\n# syntax = dockerfile:experimental\n', null],
    ['none', 'FROM busybox\nRUN ls\n', null],
    ['slash comments', '//syntax=foo\n//key=value', { ref: 'foo', cmdline: 'foo', line: 1 }],
    ['slash comments after shebang', '#!/bin/sh\n//syntax=x', { ref: 'x', cmdline: 'x', line: 2 }],
    ['json object', '{"syntax": "foo", "bar": ["abc"]}', { ref: 'foo', cmdline: 'foo', line: 0 }],
    ['broken json', '{"syntax": "foo"', null],
    ['json then hash', '{"syntax": "foo"}\n# syntax=bar', null],
    ['BOM', '\uFEFF# syntax = myfrontend\nFROM busybox\n', { ref: 'myfrontend', cmdline: 'myfrontend', line: 1 }],
    ['escape first, syntax second', '#escape=\\\n# SYNTAX = x\n', { ref: 'x', cmdline: 'x', line: 2 }],
    ['unknown key stops the search', '# key = FOO bar\n# syntax=x\n', null],
  ];
  for (const [name, src, want] of table) it(name, () => assert.deepEqual(detectSyntax(src), want));

  it('findDirective check only reads # comments', () => {
    assert.deepEqual(findDirective('check', '#check = skip=all // opts\nFROM busybox\n'), {
      ref: 'skip=all',
      cmdline: 'skip=all // opts',
      line: 1,
    });
    assert.equal(findDirective('check', '//check=skip=all\n//key=value'), null);
  });
});

describe('directives: parseCheckOptions', () => {
  const table: [string, CheckOptions][] = [
    ['', { skip: [], skipAll: false, error: false }],
    ['skip=all', { skip: [], skipAll: true, error: false }],
    ['skip=A, B ;error=true', { skip: ['A', 'B'], skipAll: false, error: true }],
    ['error=1', { skip: [], skipAll: false, error: true }],
    [' error = false ; skip = X', { skip: ['X'], skipAll: false, error: false }],
    ['skip=A;experimental=InvalidDefinitionDescription;error=true', { skip: ['A'], skipAll: false, error: true, experimental: ['InvalidDefinitionDescription'] }],
    ['experimental=all', { skip: [], skipAll: false, error: false, experimentalAll: true }],
  ];
  for (const [src, want] of table) it(JSON.stringify(src), () => assert.deepEqual(parseCheckOptions(src), want));
  for (const [src, re] of [
    ['skip', /invalid check option "skip"/],
    ['foo=bar', /invalid check option "foo"/],
    ['error=maybe', /failed to parse check option/],
  ] as const) {
    it(`rejects ${src}`, () => assert.throws(() => parseCheckOptions(src), re));
  }
});
