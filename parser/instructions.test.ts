/** Typed instructions: fields, raw words, heredoc semantics, stages and BuildKit's semantic errors. */
import assert from 'node:assert/strict';
import { DockerfileLintError, DockerfileParseError } from './errors.js';
import { heredocScript, parseDockerfile, type Instruction, type RunInstruction } from './instructions.js';

/** The single instruction after `FROM scratch`, without loc/original/keyword. */
function one(src: string): Record<string, unknown> {
  const df = parseDockerfile('FROM scratch\n' + src + '\n', { lint: false });
  assert.equal(df.stages[0]!.instructions.length, 1);
  const { loc: _l, original: _o, keyword: _k, ...rest } = df.stages[0]!.instructions[0]! as Instruction & Record<string, unknown>;
  return rest;
}

describe('instructions: typed fields', () => {
  const table: [string, Record<string, unknown>][] = [
    ['RUN echo "$HOME"  x', { kind: 'run', cmd: { form: 'shell', script: 'echo "$HOME"  x' }, heredocs: [], scriptFromHeredoc: false, mounts: [] }],
    ['RUN ["a", "b c"]', { kind: 'run', cmd: { form: 'exec', args: ['a', 'b c'] }, heredocs: [], scriptFromHeredoc: false, mounts: [] }],
    [
      'RUN --mount=type=cache,target=/c --mount=type=secret,id=x --network=none --security=insecure --device=/dev/fuse make',
      {
        kind: 'run',
        cmd: { form: 'shell', script: 'make' },
        heredocs: [],
        scriptFromHeredoc: false,
        mounts: ['type=cache,target=/c', 'type=secret,id=x'],
        network: 'none',
        security: 'insecure',
        device: ['/dev/fuse'],
      },
    ],
    ['CMD ["nginx", "-g", "daemon off;"]', { kind: 'cmd', cmd: { form: 'exec', args: ['nginx', '-g', 'daemon off;'] } }],
    ['CMD echo $X', { kind: 'cmd', cmd: { form: 'shell', script: 'echo $X' } }],
    ['ENTRYPOINT []', { kind: 'entrypoint', cmd: { form: 'exec', args: [] } }],
    [
      'COPY --from=build --chown=1:2 --chmod=644 --link --parents --exclude=*.md --exclude=x a "b c" /dst/',
      {
        kind: 'copy',
        sources: ['a', '"b', 'c"'],
        dest: '/dst/',
        heredocs: [],
        from: 'build',
        chown: '1:2',
        chmod: '644',
        link: true,
        parents: true,
        exclude: ['*.md', 'x'],
      },
    ],
    ['COPY ["a b", "/d"]', { kind: 'copy', sources: ['a b'], dest: '/d', heredocs: [], link: false, parents: false, exclude: [] }],
    [
      'ADD --checksum=sha256:abc --keep-git-dir --unpack=false --chown=u https://x/y.tgz /d',
      {
        kind: 'add',
        sources: ['https://x/y.tgz'],
        dest: '/d',
        heredocs: [],
        chown: 'u',
        checksum: 'sha256:abc',
        keepGitDir: true,
        unpack: false,
        link: false,
        parents: false,
        exclude: [],
      },
    ],
    [
      'ENV A=1 B="x y" C=a\\ b',
      {
        kind: 'env',
        pairs: [
          { key: 'A', value: '1', legacy: false },
          { key: 'B', value: '"x y"', legacy: false },
          { key: 'C', value: 'a\\ b', legacy: false },
        ],
      },
    ],
    ['ENV A  1 2', { kind: 'env', pairs: [{ key: 'A', value: '1 2', legacy: true }] }],
    ['LABEL "a b"=c', { kind: 'label', pairs: [{ key: '"a b"', value: 'c', legacy: false }] }],
    ['ARG A B= C=x', { kind: 'arg', args: [{ key: 'A' }, { key: 'B', value: '' }, { key: 'C', value: 'x' }] }],
    ['EXPOSE 80 443/tcp $P', { kind: 'expose', ports: ['80', '443/tcp', '$P'] }],
    ['USER app:app', { kind: 'user', user: 'app:app' }],
    ['WORKDIR /a b', { kind: 'workdir', path: '/a b' }],
    ['VOLUME ["/a", "/b"]', { kind: 'volume', paths: ['/a', '/b'] }],
    ['VOLUME /a /b', { kind: 'volume', paths: ['/a', '/b'] }],
    ['SHELL ["/bin/bash", "-c"]', { kind: 'shell', shell: ['/bin/bash', '-c'] }],
    ['STOPSIGNAL SIGKILL', { kind: 'stopsignal', signal: 'SIGKILL' }],
    ['HEALTHCHECK NONE', { kind: 'healthcheck', test: 'none' }],
    [
      'HEALTHCHECK --interval=5s --timeout=1m30s --start-period=1ms --start-interval=0s --retries=3 CMD curl -f http://x/',
      {
        kind: 'healthcheck',
        test: { form: 'shell', script: 'curl -f http://x/' },
        interval: 5e9,
        timeout: 90e9,
        startPeriod: 1e6,
        retries: 3,
      },
    ],
    ['HEALTHCHECK cmd ["true"]', { kind: 'healthcheck', test: { form: 'exec', args: ['true'] } }],
    ['MAINTAINER Jane <j@x>', { kind: 'maintainer', name: 'Jane <j@x>' }],
  ];
  for (const [src, want] of table) it(src, () => assert.deepEqual(one(src), want));

  it('ONBUILD keeps the trigger text and parses the payload', () => {
    const got = one('onbuild  RUN --mount=type=cache,target=/x echo hi');
    assert.equal(got.trigger, 'RUN --mount=type=cache,target=/x echo hi');
    const ins = got.instruction as RunInstruction;
    assert.equal(ins.kind, 'run');
    assert.deepEqual(ins.mounts, ['type=cache,target=/x']);
  });

  it('FROM fields: image, lower-cased stage name, platform', () => {
    const df = parseDockerfile('ARG B=alpine\nFROM --platform=$BUILDPLATFORM ${B} AS Build\nFROM build\n', { lint: false });
    assert.deepEqual(df.globalArgs.map((a) => a.args), [[{ key: 'B', value: 'alpine' }]]);
    const [s0, s1] = df.stages;
    assert.deepEqual(
      { index: s0!.index, name: s0!.name, image: s0!.from.image, stageName: s0!.from.stageName, platform: s0!.from.platform },
      { index: 0, name: 'build', image: '${B}', stageName: 'build', platform: '$BUILDPLATFORM' },
    );
    assert.equal(s1!.name, undefined);
    assert.equal(s1!.from.image, 'build');
  });

  it('locations: file, line, column, endLine', () => {
    const df = parseDockerfile('FROM a\n\n  RUN x \\\n   y\n', { file: 'sub/Dockerfile', lint: false });
    assert.deepEqual(df.stages[0]!.instructions[0]!.loc, { file: 'sub/Dockerfile', line: 3, column: 3, endLine: 4 });
    assert.equal(df.stages[0]!.instructions[0]!.original, 'RUN x    y');
  });

  it('directives and escape token are exposed', () => {
    const df = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n', { lint: false });
    assert.equal(df.directives.syntax, 'docker/dockerfile:1');
    assert.equal(df.directives.escape, '`');
    assert.equal(df.escapeToken, '`');
    assert.deepEqual(df.directives.list.map((d) => d.line), [1, 2]);
  });
});

describe('instructions: heredocs', () => {
  it('RUN <<EOF: the body is the script', () => {
    const run = one('RUN <<EOF\necho a\necho b\nEOF') as unknown as RunInstruction;
    assert.deepEqual(run.cmd, { form: 'shell', script: 'echo a\necho b\n' });
    assert.equal(run.scriptFromHeredoc, true);
    assert.equal(run.heredocs.length, 1);
  });
  it('RUN <<-EOF: the body is chomped', () => {
    const run = one('RUN <<-EOF\n\techo a\n\tEOF') as unknown as RunInstruction;
    assert.deepEqual(run.cmd, { form: 'shell', script: 'echo a\n' });
  });
  it('RUN cmd <<EOF: command text in cmd, bodies in heredocs, heredocScript rebuilds the shell input', () => {
    const run = one("RUN python3 <<EOF\nprint('hi')\nEOF") as unknown as RunInstruction;
    assert.deepEqual(run.cmd, { form: 'shell', script: 'python3 <<EOF' });
    assert.equal(run.scriptFromHeredoc, false);
    assert.deepEqual(run.heredocs, [{ name: 'EOF', content: "print('hi')\n", expand: true, chomp: false }]);
    assert.equal(heredocScript(run), "python3 <<EOF\nprint('hi')\nEOF");
  });
  it('RUN 3<<EOF keeps the fd', () => {
    const run = one('RUN cat /proc/self/fd/3 3<<EOF\nx\nEOF') as unknown as RunInstruction;
    assert.equal(run.heredocs[0]!.fd, 3);
  });
  it('COPY <<EOF dest: the source is the heredoc name, content in heredocs', () => {
    const got = one("COPY <<EOF <<-'B' plain /dst/\nhello $X\nEOF\n\tb\nB");
    assert.deepEqual(got.sources, ['EOF', 'B', 'plain']);
    assert.deepEqual(got.heredocs, [
      { name: 'EOF', content: 'hello $X\n', expand: true, chomp: false },
      { name: 'B', content: 'b\n', expand: false, chomp: true },
    ]);
  });
  it('ONBUILD passes heredocs to the payload and the trigger text', () => {
    const got = one('ONBUILD COPY <<EOF /x\nhi\nEOF');
    assert.equal(got.trigger, 'COPY <<EOF /x\nhi\nEOF');
    assert.deepEqual((got.instruction as { heredocs: unknown }).heredocs, [{ name: 'EOF', content: 'hi\n', expand: true, chomp: false }]);
  });
});

describe('instructions: semantic errors', () => {
  const table: [string, string, number][] = [
    ['FROM a\nFOOO bar\n', 'unknown instruction: FOOO', 2],
    ['FROM a\nRUNN x\n', 'unknown instruction: RUNN (did you mean RUN?)', 2],
    ['FROM a\nENV =x\n', 'ENV names can not be blank', 2],
    ['FROM a\nENV\n', 'ENV requires at least one argument', 2],
    ['FROM a\nLABEL\n', 'LABEL requires at least one argument', 2],
    ['FROM a\nARG =x\n', 'ARG names can not be blank', 2],
    ['FROM a\nARG\n', 'ARG requires at least one argument', 2],
    ['FROM a\nCOPY x\n', 'COPY requires at least two arguments, but only one was provided. Destination could not be determined', 2],
    ['FROM a\nADD x\n', 'ADD requires at least two arguments', 2],
    ['FROM a\nCOPY a <<EOF\nEOF\n', 'COPY cannot accept a heredoc as a destination', 2],
    ['FROM a\nCOPY --bogus=1 a b\n', 'unknown flag: --bogus', 2],
    ['FROM a\nADD --from=x a b\n', 'unknown flag: --from', 2],
    ['FROM a\nCMD --doit ["a"]\n', 'unknown flag: --doit', 2],
    ['FROM a\nRUN --network=bogus x\n', 'unsupported network mode "bogus"', 2],
    ['FROM\n', 'FROM requires either one or three arguments', 1],
    ['FROM a b\n', 'FROM requires either one or three arguments', 1],
    ['FROM a AS 1x\n', 'invalid name for build stage: "1x", name can\'t start with a number or contain symbols', 1],
    ['FROM --platfrm=x a\n', 'unknown flag: --platfrm (did you mean platform?)', 1],
    ['RUN x\nFROM a\n', 'no build stage in current context', 1],
    ['ARG A\n', 'dockerfile contains no stages to build', 1],
    ['FROM a\nUSER\n', 'USER requires exactly one argument', 2],
    ['FROM a\nWORKDIR\n', 'WORKDIR requires exactly one argument', 2],
    ['FROM a\nEXPOSE\n', 'EXPOSE requires at least one argument', 2],
    ['FROM a\nVOLUME\n', 'VOLUME requires at least one argument', 2],
    ['FROM a\nVOLUME [""]\n', 'VOLUME specified can not be an empty string', 2],
    ['FROM a\nSHELL /bin/sh -c\n', 'SHELL requires the arguments to be in JSON form', 2],
    ['FROM a\nSHELL []\n', 'SHELL requires at least one argument', 2],
    ['FROM a\nSTOPSIGNAL\n', 'STOPSIGNAL requires exactly one argument', 2],
    ['FROM a\nMAINTAINER\n', 'MAINTAINER requires exactly one argument', 2],
    ['FROM a\nHEALTHCHECK\n', 'HEALTHCHECK requires at least one argument', 2],
    ['FROM a\nHEALTHCHECK NONE x\n', 'HEALTHCHECK NONE takes no arguments', 2],
    ['FROM a\nHEALTHCHECK CONNECT TCP 7000\n', 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)', 2],
    ['FROM a\nHEALTHCHECK CMD\n', 'Missing command after HEALTHCHECK CMD', 2],
    ['FROM a\nHEALTHCHECK --interval=1us CMD x\n', 'Interval "interval" cannot be less than 1ms', 2],
    ['FROM a\nHEALTHCHECK --timeout=5 CMD x\n', 'time: missing unit in duration "5"', 2],
    ['FROM a\nHEALTHCHECK --retries=-1 CMD x\n', '--retries cannot be negative (-1)', 2],
    ['FROM a\nHEALTHCHECK --retries=x CMD x\n', 'strconv.ParseInt: parsing "x": invalid syntax', 2],
    ['FROM a\nONBUILD\n', 'ONBUILD requires at least one argument', 2],
    ['FROM a\nONBUILD ONBUILD RUN x\n', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', 2],
    ['FROM a\nONBUILD FROM b\n', "FROM isn't allowed as an ONBUILD trigger", 2],
    ['FROM a\nONBUILD maintainer b\n', "MAINTAINER isn't allowed as an ONBUILD trigger", 2],
    ['# check=bogus\nFROM a\n', 'invalid check option "bogus"', 1],
  ];
  for (const [src, reason, line] of table) {
    it(reason, () =>
      assert.throws(
        () => parseDockerfile(src),
        (e: Error) => e instanceof DockerfileParseError && e.reason.startsWith(reason) && e.line === line,
      ),
    );
  }

  it('format() prints file:line:col, the source line and a caret', () => {
    const src = 'FROM a\n\tFOOO bar\n';
    try {
      parseDockerfile(src, { file: 'app/Dockerfile' });
      assert.fail('should throw');
    } catch (e) {
      assert.ok(e instanceof DockerfileParseError);
      assert.equal(e.format(src), 'app/Dockerfile:2:2: unknown instruction: FOOO\n 2 | \tFOOO bar\n   | \t^');
      assert.equal(e.text, 'FOOO bar');
      assert.equal(e.code, 'TSB_DOCKERFILE_PARSE');
      assert.equal((e as unknown as Record<symbol, unknown>)[Symbol.for('tsbuild.error')], true);
    }
  });

  it('check=error=true turns warnings into a DockerfileLintError', () => {
    assert.throws(
      () => parseDockerfile('# check=error=true\nFROM a\nMAINTAINER x\n'),
      (e: Error) => e instanceof DockerfileLintError && /lint violation found for rules: MaintainerDeprecated/.test(e.message),
    );
    assert.doesNotThrow(() => parseDockerfile('# check=error=true;skip=MaintainerDeprecated\nFROM a\nMAINTAINER x\n'));
    assert.doesNotThrow(() => parseDockerfile('FROM a\nMAINTAINER x\n', { check: 'error=true;skip=all' }));
  });
});
