/** The typed flag set (BuildKit BFlags semantics). */
import assert from 'node:assert/strict';
import { FlagError, parseFlags } from './flags.js';

const spec = { from: 'string', link: 'bool', mount: 'strings' } as const;

describe('flags: parseFlags', () => {
  const ok: [string[], Record<string, unknown>][] = [
    [[], { from: undefined, link: undefined, mount: [] }],
    [['--from=build'], { from: 'build', link: undefined, mount: [] }],
    [['--from='], { from: '', link: undefined, mount: [] }],
    [['--link'], { from: undefined, link: true, mount: [] }],
    [['--link=TRUE'], { from: undefined, link: true, mount: [] }],
    [['--link=false'], { from: undefined, link: false, mount: [] }],
    [['--mount=a', '--mount=b=c'], { from: undefined, link: undefined, mount: ['a', 'b=c'] }],
    [['--from=x', '--', '--bogus'], { from: 'x', link: undefined, mount: [] }],
  ];
  for (const [args, want] of ok) {
    it(`accepts ${JSON.stringify(args)}`, () => assert.deepEqual(parseFlags(args, spec).values, want));
  }
  const bad: [string[], RegExp][] = [
    [['--bogus'], /^unknown flag: --bogus$/],
    [['--frm=x'], /^unknown flag: --frm \(did you mean from\?\)$/],
    [['-x'], /^arg should start with -- : -x$/],
    [['--from'], /^missing a value on flag: --from$/],
    [['--mount'], /^missing a value on flag: --mount$/],
    [['--link='], /^missing a value on flag: --link$/],
    [['--link=yes'], /^expecting boolean value for flag --link, not: yes$/],
    [['--from=a', '--from=b'], /^duplicate flag specified: --from$/],
  ];
  for (const [args, re] of bad) {
    it(`rejects ${JSON.stringify(args)}`, () => assert.throws(() => parseFlags(args, spec), (e: Error) => e instanceof FlagError && re.test(e.message)));
  }
  it('reports used flags', () => {
    assert.deepEqual(parseFlags(['--mount=a', '--link', '--mount=b'], spec).used, ['mount', 'link']);
  });
});
