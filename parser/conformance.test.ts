/**
 * BuildKit's parser corpus (testdata/conformance/buildkit-parser, Apache-2.0,
 * see its LICENSE.md): every `testfiles/<case>` must dump byte-for-byte like
 * BuildKit, every `testfiles-negative/<case>` must fail, and `testfile-line`
 * pins line numbers. A new case is a new folder.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from './dump.js';
import { DockerfileLintError, DockerfileParseError } from './errors.js';
import { parseDockerfile } from './instructions.js';
import { parse } from './parse.js';

const corpus = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata', 'conformance', 'buildkit-parser');
const read = (...p: string[]): string => readFileSync(join(corpus, ...p), 'utf8');
const cases = (dir: string): string[] => readdirSync(join(corpus, dir)).sort();

describe('parser conformance: BuildKit testfiles', () => {
  it('has the whole corpus (33 positive, 4 negative)', () => {
    assert.equal(cases('testfiles').length, 33);
    assert.equal(cases('testfiles-negative').length, 4);
  });

  for (const name of cases('testfiles')) {
    it(`dumps ${name} like BuildKit`, () => {
      const got = dump(parse(read('testfiles', name, 'Dockerfile'))) + '\n';
      assert.equal(got, read('testfiles', name, 'result'));
    });
  }

  for (const name of cases('testfiles-negative')) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parse(read('testfiles-negative', name, 'Dockerfile')), DockerfileParseError);
    });
  }

  it('pins line numbers (testfile-line)', () => {
    const { root } = parse(read('testfile-line', 'Dockerfile'));
    assert.deepEqual(
      root.map((n) => [n.startLine, n.endLine]),
      [
        [5, 5],
        [11, 12],
        [17, 31],
      ],
    );
    assert.equal(root[0]!.startLine, 5);
    assert.equal(root[root.length - 1]!.endLine, 31);
  });
});

describe('parser robustness', () => {
  const isOurs = (e: unknown): boolean => e instanceof DockerfileParseError || e instanceof DockerfileLintError;

  for (const dir of ['testfiles', 'testfiles-negative']) {
    it(`parseDockerfile on every ${dir} case returns or throws a parser error`, () => {
      for (const name of cases(dir)) {
        try {
          parseDockerfile(read(dir, name, 'Dockerfile'));
        } catch (e) {
          assert.ok(isOurs(e), `${name}: ${String(e)}`);
        }
      }
    });
  }

  it('random token soup never escapes as a foreign error', () => {
    const tokens = ['FROM', 'RUN', 'COPY', 'ONBUILD', 'ENV', 'ARG', 'HEALTHCHECK', 'CMD', 'a', 'b=c', '"', "'", '\\', '`',
      '<<EOF', '<<-X', 'EOF', 'X', '\tX', '[', ']', '["x"]', '--from=a', '--', '#', '# escape=`', ' ', '\n', '\r\n', '=', '$A', '${B:-c}'];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 500; i++) {
      let text = '';
      const len = 1 + rnd(40);
      for (let j = 0; j < len; j++) text += tokens[rnd(tokens.length)] + (rnd(3) === 0 ? '\n' : ' ');
      try {
        const r = parse(text);
        assert.ok(r.root.length > 0);
        parseDockerfile(text);
      } catch (e) {
        assert.ok(isOurs(e), `${JSON.stringify(text)}: ${String(e)}`);
      }
    }
  });
});
