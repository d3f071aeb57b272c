/**
 * BuildKit's build checks: each row is an example from the rule's own page
 * (moby/buildkit frontend/dockerfile/docs/rules/*.md, "Bad" and "Good") or a
 * case of BuildKit's dockerfile_check_test.go, with the message it asserts.
 */
import assert from 'node:assert/strict';
import type { LintFacts } from './lint-context.js';
import { lintText } from './lint-run.js';

const ALPINE: LintFacts['baseImage'] = (name) =>
  name.startsWith('python')
    ? { env: ['PATH=/usr/local/bin:/usr/bin', 'PYTHON_VERSION=3.13.1'], platform: { os: 'linux', architecture: 'amd64' } }
    : { env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], platform: { os: 'linux', architecture: 'amd64' } };

function findings(src: string, facts?: LintFacts): [string, number, string][] {
  return lintText(src, { rules: 'buildkit', ...(facts ? { facts } : {}) }).findings.map((f) => [f.rule, f.loc.line, f.message]);
}

const of = (rule: string, src: string, facts?: LintFacts): [number, string][] => findings(src, facts).filter((f) => f[0] === rule).map((f) => [f[1], f[2]]);

// [rule, Dockerfile, expected [line, message] of that rule, facts?]
const CASES: [string, string, [number, string][], LintFacts?][] = [
  ['ConsistentInstructionCasing', 'From alpine\nRun echo hello > /greeting.txt\nEntRYpOiNT ["cat", "/greeting.txt"]\n', [
    [1, "Command 'From' should match the case of the command majority (uppercase)"],
    [2, "Command 'Run' should match the case of the command majority (uppercase)"],
    [3, "Command 'EntRYpOiNT' should match the case of the command majority (uppercase)"],
  ]],
  ['ConsistentInstructionCasing', 'FROM alpine\nRUN echo hello > /greeting.txt\nENTRYPOINT ["cat", "/greeting.txt"]\n', []],
  ['ConsistentInstructionCasing', 'from alpine\nrun echo hello > /greeting.txt\nentrypoint ["cat", "/greeting.txt"]\n', []],
  ['DuplicateStageName', 'FROM debian:latest AS deb-builder\nRUN apt-get update; apt-get install -y curl\nFROM golang:latest AS go-builder\n', []],
  ['ExposeInvalidFormat', 'FROM alpine\nEXPOSE 127.0.0.1:80:80\n', [[2, "EXPOSE instruction should not define an IP address or host-port mapping, found '127.0.0.1:80:80'"]]],
  ['ExposeInvalidFormat', 'FROM alpine\nEXPOSE 80:80\n', [[2, "EXPOSE instruction should not define an IP address or host-port mapping, found '80:80'"]]],
  ['ExposeInvalidFormat', 'FROM alpine\nEXPOSE 80\n', []],
  ['ExposeProtoCasing', 'FROM scratch\nEXPOSE 80/TcP 8080/TCP 8080/udp\n', [
    [2, "Defined protocol '80/TcP' in EXPOSE instruction should be lowercase"],
    [2, "Defined protocol '8080/TCP' in EXPOSE instruction should be lowercase"],
  ]],
  ['ExposeProtoCasing', 'FROM alpine\nEXPOSE 80/tcp\n', []],
  ['FromAsCasing', 'FROM debian:latest as builder\n', [[1, "'as' and 'FROM' keywords' casing do not match"]]],
  ['FromAsCasing', 'FROM debian:latest AS deb-builder\n', []],
  ['FromAsCasing', 'from debian:latest as deb-builder\n', []],
  ['FromPlatformFlagConstDisallowed', 'FROM --platform=linux/amd64 alpine AS base\nRUN apk add --no-cache git\n', [[1, 'FROM --platform flag should not use constant value "linux/amd64"']]],
  ['FromPlatformFlagConstDisallowed', 'FROM --platform=${BUILDPLATFORM} alpine AS base\n', []],
  ['FromPlatformFlagConstDisallowed', 'FROM --platform=linux/amd64 alpine AS build_amd64\nFROM --platform=linux/arm64 alpine AS build_arm64\nARG TARGETARCH\nFROM build_${TARGETARCH} AS build\n', []],
  ['FromPlatformFlagConstDisallowed', 'FROM --platform=linux/amd64 scratch AS linux\n', []],
  ['InvalidDefaultArgInFrom', 'ARG TAG\nFROM busybox:${TAG}\n', [[2, 'Default value for ARG busybox:${TAG} results in empty or invalid base image name']]],
  ['InvalidDefaultArgInFrom', 'ARG IMAGE\nFROM $IMAGE\n', [[2, 'Default value for ARG $IMAGE results in empty or invalid base image name']]],
  ['InvalidDefaultArgInFrom', 'ARG SFX="box:"\nFROM busy${SFX}\n', [[2, 'Default value for ARG busy${SFX} results in empty or invalid base image name']]],
  ['InvalidDefaultArgInFrom', 'ARG TAG=latest\nFROM busybox:${TAG}\n', []],
  ['InvalidDefaultArgInFrom', 'ARG VARIANT\nFROM busybox:stable${VARIANT}\n', []],
  ['InvalidDefaultArgInFrom', 'ARG TAG\nFROM alpine:${TAG:-3.14}\n', []],
  ['JSONArgsRecommended', 'FROM alpine\nENTRYPOINT my-program start\n', [[2, 'JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals']]],
  ['JSONArgsRecommended', 'FROM alpine\nENTRYPOINT ["my-program", "start"]\n', []],
  ['JSONArgsRecommended', 'FROM alpine\nRUN apk add bash\nSHELL ["/bin/bash", "-c"]\nENTRYPOINT echo "hello world"\n', []],
  ['LegacyKeyValueFormat', 'FROM alpine\nENV DEPS \\\n    curl \\\n    git \\\n    make\n', [[2, '"ENV key=value" should be used instead of legacy "ENV key value" format']]],
  ['LegacyKeyValueFormat', 'FROM alpine\nENV DEPS="\\\n    curl \\\n    git \\\n    make"\n', []],
  ['MaintainerDeprecated', 'FROM alpine\nMAINTAINER moby@example.com\n', [[2, 'Maintainer instruction is deprecated in favor of using label']]],
  ['MaintainerDeprecated', 'FROM alpine\nLABEL org.opencontainers.image.authors="moby@example.com"\n', []],
  ['MultipleInstructionsDisallowed', 'FROM alpine\nENTRYPOINT ["echo", "Hello, Norway!"]\nENTRYPOINT ["echo", "Hello, Sweden!"]\n', [[2, 'Multiple ENTRYPOINT instructions should not be used in the same stage because only the last one will be used']]],
  ['MultipleInstructionsDisallowed', 'FROM python:alpine\nRUN apk add curl\nHEALTHCHECK --interval=1s --timeout=3s \\\n  CMD ["curl", "-f", "http://localhost:8080"]\nCMD ["python", "-m", "http.server", "8080"]\n', []],
  ['NoEmptyContinuation', 'FROM alpine\nEXPOSE \\\n\n80\n', [[4, 'Empty continuation line']]],
  ['NoEmptyContinuation', 'FROM alpine\nEXPOSE \\\n# Port\n80\n', []],
  ['RedundantTargetPlatform', 'FROM --platform=$TARGETPLATFORM alpine AS builder\nRUN apk add --no-cache git\n', [[1, 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior']]],
  ['RedundantTargetPlatform', 'FROM alpine AS builder\n', []],
  ['ReservedStageName', 'FROM alpine AS scratch\nFROM alpine AS context\n', [
    [1, 'Stage name should not use the same name as reserved stage "scratch"'],
    [2, 'Stage name should not use the same name as reserved stage "context"'],
  ]],
  ['ReservedStageName', 'FROM alpine AS builder\n', []],
  ['SecretsUsedInArgOrEnv', 'FROM alpine\nARG AWS_ACCESS_KEY_ID\nARG AWS_SECRET_ACCESS_KEY\nRUN aws s3 cp s3://my-bucket/file .\n', [
    [2, 'Do not use ARG or ENV instructions for sensitive data (ARG "AWS_ACCESS_KEY_ID")'],
    [3, 'Do not use ARG or ENV instructions for sensitive data (ARG "AWS_SECRET_ACCESS_KEY")'],
  ]],
  ['SecretsUsedInArgOrEnv', 'FROM alpine\nRUN --mount=type=secret,id=aws_key_id,env=AWS_ACCESS_KEY_ID aws s3 cp s3://my-bucket/file .\n', []],
  ['SecretsUsedInArgOrEnv',
    'FROM scratch\nARG SECRET_PASSPHRASE\nENV SUPER_Secret=foo\nENV password=bar secret=baz\nARG super_duper_secret_token=foo auth=bar\nENV apikey=bar sunflower=foo\nENV git_key=\nENV PUBLIC_KEY=\nARG public_token\nARG SECRET_PASSPHRASE_FILE\nENV password_file=bar secret_File=baz\nARG AUTH_MODULE_VERSION\n# check=skip=SecretsUsedInArgOrEnv // allow secret in environment\nENV password=bar\n# check=skip=SecretsUsedInArgOrEnv // allow secret in arg\nARG password\n# check=skip=all // is local to only this instruction\nENV alternate_password=bar\n',
    [
      [2, 'Do not use ARG or ENV instructions for sensitive data (ARG "SECRET_PASSPHRASE")'],
      [3, 'Do not use ARG or ENV instructions for sensitive data (ENV "SUPER_Secret")'],
      [4, 'Do not use ARG or ENV instructions for sensitive data (ENV "password")'],
      [4, 'Do not use ARG or ENV instructions for sensitive data (ENV "secret")'],
      [5, 'Do not use ARG or ENV instructions for sensitive data (ARG "super_duper_secret_token")'],
      [5, 'Do not use ARG or ENV instructions for sensitive data (ARG "auth")'],
      [6, 'Do not use ARG or ENV instructions for sensitive data (ENV "apikey")'],
      [7, 'Do not use ARG or ENV instructions for sensitive data (ENV "git_key")'],
    ]],
  ['StageNameCasing', 'FROM alpine AS BuilderBase\n', [[1, "Stage name 'BuilderBase' should be lowercase"]]],
  ['StageNameCasing', 'FROM alpine AS builder-base\n', []],
  ['UndefinedArgInFrom', 'FROM node:22${VARIANT} AS jsbuilder\n', [[1, "FROM argument 'VARIANT' is not declared"]]],
  ['UndefinedArgInFrom', 'ARG VARIANT="-alpine3.20"\nFROM node:22${VARIANT} AS jsbuilder\n', []],
  ['UndefinedVar', 'FROM alpine AS base\nCOPY $foo .\n', [[2, "Usage of undefined variable '$foo'"]], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM alpine AS base\nARG foo\nCOPY $foo .\n', [], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM alpine AS base\nARG VERSION=$foo\n', [[2, "Usage of undefined variable '$foo'"]], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM python AS base\nARG VERSION=$PYTHON_VERSION\n', [], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM alpine\nENV PATH=$PAHT:/app/bin\n', [[2, "Usage of undefined variable '$PAHT' (did you mean $PATH?)"]], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM scratch\nARG foo\nCOPY Dockerfile${foo} .\n', [], {}],
  ['UndefinedVar', 'FROM alpine AS base\nARG foo=Dockerfile\n\nFROM base\nCOPY $foo .\n', [], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM alpine\nRUN echo $PATH\n', [], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM alpine\nCOPY $foo .\nARG foo=bar\nRUN echo $foo\n', [[2, "Usage of undefined variable '$foo'"]], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM alpine\nARG DIR_BINARIES=binaries/\nARG DIR_ASSETS=assets/\nARG DIR_CONFIG=config/\nCOPY $DIR_ASSET .\n', [[5, "Usage of undefined variable '$DIR_ASSET' (did you mean $DIR_ASSETS?)"]], { baseImage: ALPINE }],
  ['UndefinedVar', 'ARG G=1\nFROM alpine\nENV X=$G\n', [[3, "Usage of undefined variable '$G'"]], { baseImage: ALPINE }],
  ['UndefinedVar', 'ARG G=1\nFROM alpine\nARG G\nENV X=$G\n', [], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM alpine\nENV X=${UNSET:-default}\n', [[2, "Usage of undefined variable '$UNSET'"]], { baseImage: ALPINE }],
  ['UndefinedVar', "FROM alpine\nLABEL a='$NOT_A_VAR'\n", [], { baseImage: ALPINE }],
  ['UndefinedVar', 'FROM unknown-image\nCOPY $foo .\n', [], { baseImage: () => undefined }],
  ['CopyIgnoredFile', 'FROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n', [
    [2, 'Attempting to Copy file "Dockerfile" that is excluded by .dockerignore'],
    [3, 'Attempting to Add file "Dockerfile" that is excluded by .dockerignore'],
  ], { dockerignore: ['Dockerfile'] }],
  ['CopyIgnoredFile', '# check=skip=CopyIgnoredFile\n\nFROM scratch\nCOPY Dockerfile .\n', [], { dockerignore: ['Dockerfile'] }],
  ['CopyIgnoredFile', 'FROM scratch AS base\nCOPY Dockerfile /foobar\nFROM base\nCOPY --from=base /foobar /Dockerfile\n', [], { dockerignore: ['foobar'] }],
  ['CopyIgnoredFile', 'FROM scratch\nCOPY ./Dockerfile .\n', [], { dockerignore: ['**', '!Dockerfile'] }],
  ['CopyIgnoredFile', 'FROM scratch\nCOPY . .\n', [], { dockerignore: ['.*'] }],
  ['CopyIgnoredFile', 'FROM scratch\nCOPY . .\n', [[2, 'Attempting to Copy file "." that is excluded by .dockerignore']], { dockerignore: ['*'] }],
  ['CopyIgnoredFile', 'FROM scratch\nCOPY ./forever/helloworld.txt /helloworld.txt\n', [], { dockerignore: ['*/tmp/*'] }],
  ['InvalidBaseImagePlatform', 'FROM alpine\n', [[1, 'Base image alpine was pulled with platform "linux/arm64", expected "linux/amd64" for current build']], {
    baseImage: () => ({ env: [], platform: { os: 'linux', architecture: 'arm64' } }),
    targetPlatform: { os: 'linux', architecture: 'amd64' },
  }],
  ['InvalidBaseImagePlatform', 'FROM alpine\n', [], { baseImage: ALPINE, targetPlatform: { os: 'linux', architecture: 'amd64' } }],
];

describe("BuildKit's build checks (examples from each rule's documentation and BuildKit's tests)", () => {
  for (const [rule, src, want, facts] of CASES) {
    it(`${rule}: ${JSON.stringify(src.length > 70 ? src.slice(0, 70) + '…' : src)}`, () => assert.deepEqual(of(rule, src, facts), want));
  }

  it('DuplicateStageName is reported (the build fails on it too)', () => {
    assert.deepEqual(of('DuplicateStageName', 'FROM debian:latest AS builder\nRUN apt-get update; apt-get install -y curl\nFROM golang:latest AS builder\n'), [
      [3, 'Duplicate stage name "builder", stage names should be unique'],
    ]);
  });

  it('InvalidDefinitionDescription runs only when experimental=… asks for it', () => {
    const bad = '# a non-descriptive comment\nFROM scratch AS base\n# another non-descriptive comment\nARG VERSION=1\n';
    assert.deepEqual(of('InvalidDefinitionDescription', bad), []);
    assert.deepEqual(of('InvalidDefinitionDescription', '# check=experimental=InvalidDefinitionDescription\n' + bad), [
      [3, 'Comment for FROM should follow the format: `# base <description>`'],
      [5, 'Comment for ARG should follow the format: `# VERSION <description>`'],
    ]);
    const good = '# check=experimental=all\n# base is a stage for compiling source\nFROM scratch AS base\n# VERSION This is the version number.\nARG VERSION=1\n';
    assert.deepEqual(of('InvalidDefinitionDescription', good), []);
    const separated = '# check=experimental=all\n# a non-descriptive comment\n#\nFROM scratch AS base\n';
    assert.deepEqual(of('InvalidDefinitionDescription', separated), []);
  });

  it('says what it skipped when the base image or the context is not available', () => {
    const r = lintText('FROM example.com/app:1\nCOPY a b\n', { rules: 'buildkit', facts: { baseImage: () => undefined } });
    assert.deepEqual(r.skipped, ['CopyIgnoredFile: no build context given', 'UndefinedVar, InvalidBaseImagePlatform: base image example.com/app:1 (line 1) is not available']);
  });

  it('check=error=true is reported to the caller', () => {
    assert.equal(lintText('# check=error=true\nFROM alpine AS B\n').checkError, true);
  });
});
