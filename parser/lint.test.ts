/** Lint rules: each rule fires where BuildKit's does, and only there. */
import assert from 'node:assert/strict';
import { DockerfileLintError } from './errors.js';
import { parseDockerfile } from './instructions.js';
import { RULES, referencedVars } from './lint.js';

const lint = (src: string, check?: string): [string, number, string][] =>
  parseDockerfile(src, check === undefined ? {} : { check }).warnings.map((w) => [w.rule, w.loc.line, w.message]);

describe('lint: rules', () => {
  const table: [string, string, [string, number, string][]][] = [
    ['clean file', 'FROM a AS b\nRUN x\nCMD ["y"]\n', []],
    ['StageNameCasing', 'FROM a AS Build\n', [['StageNameCasing', 1, "Stage name 'Build' should be lowercase"]]],
    ['FromAsCasing upper/lower', 'FROM a as b\n', [['FromAsCasing', 1, "'as' and 'FROM' keywords' casing do not match"]]],
    ['FromAsCasing lower/upper', 'from a AS b\n', [['FromAsCasing', 1, "'AS' and 'from' keywords' casing do not match"]]],
    ['NoEmptyContinuation', 'FROM a\nRUN a \\\n\n  b\n', [['NoEmptyContinuation', 4, 'Empty continuation line']]],
    [
      'ConsistentInstructionCasing',
      'FROM a\nRUN x\nrun y\nRun z\n',
      [
        ['ConsistentInstructionCasing', 3, "Command 'run' should match the case of the command majority (uppercase)"],
        ['ConsistentInstructionCasing', 4, "Command 'Run' should match the case of the command majority (uppercase)"],
      ],
    ],
    ['ReservedStageName', 'FROM a AS scratch\n', [['ReservedStageName', 1, 'Stage name should not use the same name as reserved stage "scratch"']]],
    ['JSONArgsRecommended', 'FROM a\nENTRYPOINT my-app\n', [['JSONArgsRecommended', 2, 'JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals']]],
    ['JSONArgsRecommended not after SHELL', 'FROM a\nSHELL ["bash","-c"]\nCMD my-app\n', []],
    ['MaintainerDeprecated', 'FROM a\nMAINTAINER me\n', [['MaintainerDeprecated', 2, 'Maintainer instruction is deprecated in favor of using label']]],
    [
      'UndefinedArgInFrom (and the empty default makes the name invalid)',
      'ARG VERSION\nFROM a:$VERSIO\n',
      [
        ['UndefinedArgInFrom', 2, "FROM argument 'VERSIO' is not declared (did you mean VERSION?)"],
        ['InvalidDefaultArgInFrom', 2, 'Default value for ARG a:$VERSIO results in empty or invalid base image name'],
      ],
    ],
    ['UndefinedArgInFrom accepts declared and built-in args', 'ARG V=1\nFROM --platform=$BUILDPLATFORM a:${V} AS x\n', []],
    ['WorkdirRelativePath', 'FROM a\nWORKDIR app\n', [['WorkdirRelativePath', 2, 'Relative workdir "app" can have unexpected results if the base image changes']]],
    ['WorkdirRelativePath after absolute is fine', 'FROM a\nWORKDIR /app\nWORKDIR sub\n', []],
    ['WorkdirRelativePath inherits from the base stage', 'FROM a AS b\nWORKDIR /app\nFROM b\nWORKDIR sub\n', []],
    [
      'MultipleInstructionsDisallowed',
      'FROM a\nCMD ["a"]\nHEALTHCHECK NONE\nCMD ["b"]\nHEALTHCHECK NONE\nFROM c\nCMD ["d"]\n',
      [
        ['MultipleInstructionsDisallowed', 2, 'Multiple CMD instructions should not be used in the same stage because only the last one will be used'],
        ['MultipleInstructionsDisallowed', 3, 'Multiple HEALTHCHECK instructions should not be used in the same stage because only the last one will be used'],
      ],
    ],
    [
      'LegacyKeyValueFormat',
      'FROM a\nENV A 1\nLABEL b c\nENV C=1\n',
      [
        ['LegacyKeyValueFormat', 2, '"ENV key=value" should be used instead of legacy "ENV key value" format'],
        ['LegacyKeyValueFormat', 3, '"LABEL key=value" should be used instead of legacy "LABEL key value" format'],
      ],
    ],
    ['RedundantTargetPlatform', 'FROM --platform=$TARGETPLATFORM a\n', [['RedundantTargetPlatform', 1, 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior']]],
    ['ExposeProtoCasing', 'FROM a\nEXPOSE 80/TCP 81/udp\n', [['ExposeProtoCasing', 2, "Defined protocol '80/TCP' in EXPOSE instruction should be lowercase"]]],
    [
      'SecretsUsedInArgOrEnv',
      'FROM a\nARG GITHUB_TOKEN\nENV DB_PASSWORD=x PUBLIC_KEY=y KEYBOARD=z\nARG MONKEY=1\n',
      [
        ['SecretsUsedInArgOrEnv', 2, 'Do not use ARG or ENV instructions for sensitive data (ARG "GITHUB_TOKEN")'],
        ['SecretsUsedInArgOrEnv', 3, 'Do not use ARG or ENV instructions for sensitive data (ENV "DB_PASSWORD")'],
      ],
    ],
  ];
  for (const [name, src, want] of table) it(name, () => assert.deepEqual(lint(src), want));

  it('DuplicateStageName is an error', () => {
    assert.throws(
      () => parseDockerfile('FROM a AS x\nFROM b AS X\n'),
      (e: Error) => e instanceof DockerfileLintError && /Duplicate stage name "x", stage names should be unique/.test(e.message),
    );
    assert.deepEqual(lint('FROM a AS x\nFROM b AS x\n', 'skip=DuplicateStageName'), []);
  });

  it('check=skip and skip=all filter rules', () => {
    const src = 'FROM a\nMAINTAINER me\nENV A 1\n';
    assert.deepEqual(lint(src, 'skip=MaintainerDeprecated').map((w) => w[0]), ['LegacyKeyValueFormat']);
    assert.deepEqual(lint('# check=skip=all\n' + src), []);
  });

  it('warnings carry the full location and rule metadata', () => {
    const [w] = parseDockerfile('FROM a\n  MAINTAINER me\n', { file: 'x/Dockerfile' }).warnings;
    assert.deepEqual(w, {
      rule: 'MaintainerDeprecated',
      message: 'Maintainer instruction is deprecated in favor of using label',
      description: RULES.MaintainerDeprecated.description,
      url: 'https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/',
      severity: 'warning',
      source: 'buildkit',
      loc: { file: 'x/Dockerfile', line: 2, column: 3, endLine: 2 },
    });
  });

  it('every rule has a name, description and docs URL', () => {
    for (const [key, r] of Object.entries(RULES)) {
      assert.equal(r.name, key);
      assert.ok(r.description.length > 0);
      // BuildKit gives InvalidBaseImagePlatform no URL
      if (key !== 'InvalidBaseImagePlatform') assert.match(r.url, /^https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/[a-z-]+\/$/);
    }
  });

  const vars: [string, string[]][] = [
    ['$A', ['A']],
    ['${B}:${C:-x}', ['B', 'C']],
    ["'$D'$E", ['E']],
    ['\\$F$G', ['G']],
    ['"$H"', ['H']],
    ['$1 $', []],
  ];
  for (const [w, want] of vars) it(`referencedVars ${w}`, () => assert.deepEqual(referencedVars(w), want));
});
