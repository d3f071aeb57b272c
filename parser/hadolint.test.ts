/**
 * hadolint's rules: each table row is a case from the rule's own spec
 * (hadolint's test/Hadolint/Rule/DLxxxxSpec.hs, which its wiki examples
 * repeat); a one-instruction case gets `FROM debian:12` in front.
 */
import assert from 'node:assert/strict';
import { lintText } from './lint-run.js';

function linesOf(code: string, src: string, trustedRegistries?: string[]): number[] {
  const text = /^\s*(FROM|ARG)\b/im.test(src.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '') ? src : `FROM debian:12\n${src}`;
  return lintText(text + '\n', { rules: 'hadolint', ...(trustedRegistries ? { trustedRegistries } : {}) })
    .findings.filter((f) => f.rule === code)
    .map((f) => f.loc.line);
}

// [rule, Dockerfile, caught?]
const CASES: [string, string, boolean][] = [
  ['DL3000', 'WORKDIR relative/dir', true],
  ['DL3000', 'WORKDIR /usr/local', false],
  ['DL3000', 'WORKDIR ${work}', false],
  ['DL3000', "WORKDIR 'relative/dir'", true],
  ['DL3000', 'WORKDIR "/usr/local"', false],
  ['DL3000', 'WORKDIR C:\\\\Windows', false],
  ['DL3002', 'FROM scratch\nUSER root', true],
  ['DL3002', 'FROM scratch\nUSER root\nUSER foo', false],
  ['DL3002', 'FROM scratch\nUSER 0:0', true],
  ['DL3002', 'FROM scratch AS a\nUSER root\nFROM scratch\nUSER foo', true],
  ['DL3003', 'RUN cd /opt', true],
  ['DL3003', 'WORKDIR /opt', false],
  ['DL3003', 'RUN make -C /opt && (cd /tmp; ls)', true],
  ['DL3003', 'RUN sh -c "cd /opt && make"', true],
  ['DL3003', "RUN echo 'cd /opt'", false],
  ['DL3004', 'RUN sudo apt-get update', true],
  ['DL3004', 'RUN apt-get install sudo', false],
  ['DL3004', 'RUN apt-get update && sudo apt-get install', true],
  ['DL3004', 'ONBUILD RUN sudo apt-get update', true],
  ['DL3006', 'FROM debian', true],
  ['DL3006', 'FROM debian AS builder', true],
  ['DL3006', 'FROM ruby@sha256:f1dbca0f5dbc9', false],
  ['DL3006', 'FROM ruby:2', false],
  ['DL3006', 'FROM ${VALUE}', false],
  ['DL3006', 'FROM scratch', false],
  ['DL3006', 'FROM node:20 AS builder\nFROM builder', false],
  ['DL3006', 'FROM localhost:5000/app', true],
  ['DL3007', 'FROM debian:latest', true],
  ['DL3007', 'FROM debian:latest AS builder', true],
  ['DL3007', 'FROM debian:jessie', false],
  ['DL3007', 'FROM debian:latest@sha256:f1dbca0f5dbc9', false],
  ['DL3008', 'RUN apt-get update && apt-get install python', true],
  ['DL3008', 'RUN apt-get install -y python=1.2.2', false],
  ['DL3008', 'RUN apt-get install -y -t bookworm-backports python=1.2.2', false],
  ['DL3008', 'RUN apt-get install -y ./my.deb', false],
  ['DL3008', 'ONBUILD RUN apt-get update && apt-get install python', true],
  ['DL3009', 'FROM debian:12\nRUN apt-get update && apt-get install -y python', true],
  ['DL3009', 'FROM debian:12\nRUN apt-get update && apt-get install -y python && rm -rf /var/lib/apt/lists/*', false],
  ['DL3009', 'FROM debian:12\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get update && apt-get install -y python', false],
  ['DL3009', 'FROM debian:12 AS build\nRUN apt-get update\nFROM scratch\nCOPY --from=build / /', false],
  ['DL3009', 'FROM debian:12 AS base\nRUN apt-get update\nFROM base', true],
  ['DL3013', 'RUN pip2 install MySQL_python', true],
  ['DL3013', 'RUN pip3 install MySQL_python==1.2.2', false],
  ['DL3013', 'RUN pip3 install mypkg.whl', false],
  ['DL3013', 'RUN pip3 install mypkg.tar.gz', false],
  ['DL3013', 'RUN pip install -r requirements.txt', false],
  ['DL3013', 'RUN pip install .', false],
  ['DL3013', 'RUN python -m pip install requests', true],
  ['DL3013', 'RUN pip install git+https://github.com/x/y@v1.0', false],
  ['DL3013', 'RUN pip install --index-url https://x/simple requests==2.0', false],
  ['DL3014', 'RUN apt-get install python', true],
  ['DL3014', 'RUN apt-get install -q python', true],
  ['DL3014', 'RUN apt-get install --quiet python', true],
  ['DL3014', 'RUN apt-get install -yq python', false],
  ['DL3014', 'RUN apt-get install -qq python', false],
  ['DL3014', 'RUN apt-get install -q -q python', false],
  ['DL3014', 'RUN apt-get install --assume-yes python', false],
  ['DL3015', 'RUN apt-get install python', true],
  ['DL3015', 'RUN apt-get -y install python', true],
  ['DL3015', 'RUN apt-get -o APT::Install-Recommends=false install python', false],
  ['DL3015', 'RUN apt-get -y --no-install-recommends install python', false],
  ['DL3016', 'RUN npm install', false],
  ['DL3016', 'RUN npm install --progress=false', false],
  ['DL3016', 'RUN npm install express@4.1.1', false],
  ['DL3016', 'RUN npm install @myorg/privatepackage@">=0.1.0"', false],
  ['DL3016', 'RUN npm install express', true],
  ['DL3016', 'RUN npm install @myorg/privatepackage', true],
  ['DL3016', 'RUN npm install git+https://github.com/x/y.git#v1', false],
  ['DL3016', 'RUN npm install ./local-dir', false],
  ['DL3018', 'RUN apk add flex', true],
  ['DL3018', 'RUN apk add flex=2.6.4-r1', false],
  ['DL3018', 'RUN apk add --no-cache git~2.52.0', false],
  ['DL3018', 'RUN apk add --virtual .build-deps gcc=12.0', false],
  ['DL3018', 'RUN apk add ./pkg.apk', false],
  ['DL3019', 'RUN apk add flex=2.6.4-r1', true],
  ['DL3019', 'RUN apk add --no-cache flex=2.6.4-r1', false],
  ['DL3019', 'RUN --mount=type=cache,target=/var/cache/apk apk add flex=2.6.4-r1', false],
  ['DL3020', 'ADD file.tar /usr/src/app/', false],
  ['DL3020', 'ADD file.gz /usr/src/app/', false],
  ['DL3020', 'ADD http://file.com /usr/src/app/', false],
  ['DL3020', 'ADD file /usr/src/app/', true],
  ['DL3020', 'ADD file.zip /usr/src/app/', true],
  ['DL3022', 'COPY --from=foo bar .', true],
  ['DL3022', 'FROM scratch AS foo\nFROM scratch\nCOPY --from=foo bar .', false],
  ['DL3022', 'COPY --from=haskell:latest bar .', false],
  ['DL3022', 'FROM scratch\nCOPY --from=0 bar .', false],
  ['DL3022', 'FROM scratch\nCOPY --from=1 bar .', true],
  ['DL3023', 'FROM scratch AS foo\nCOPY --from=foo bar .', true],
  ['DL3023', 'FROM scratch AS foo\nFROM scratch AS bar\nCOPY --from=foo bar .', false],
  ['DL3024', 'FROM debian:12 AS foo\nFROM debian:12 AS foo', true],
  ['DL3024', 'FROM debian:12 AS foo\nFROM debian:12 AS bar', false],
  ['DL3025', 'CMD my-program start', true],
  ['DL3025', 'CMD ["my-program", "start"]', false],
  ['DL3025', 'ENTRYPOINT my-program start', true],
  ['DL3025', 'ENTRYPOINT ["my-program", "start"]', false],
  ['DL3025', 'HEALTHCHECK CMD curl -f http://localhost/', true],
  ['DL3025', 'HEALTHCHECK CMD ["curl", "-f", "http://localhost/"]', false],
  ['DL3027', 'RUN apt install python', true],
  ['DL3027', 'RUN apt-get install python', false],
  ['DL3042', 'RUN pip install MySQL_python', true],
  ['DL3042', 'RUN pip2 install MySQL_python --no-cache-dir', false],
  ['DL3042', 'FROM python:3\nENV PIP_NO_CACHE_DIR=1\nRUN pip install x==1', false],
  ['DL3042', 'RUN PIP_NO_CACHE_DIR=1 pip install x==1', false],
  ['DL3042', 'RUN --mount=type=cache,target=/root/.cache/pip pip install x==1', false],
  ['DL3042', 'RUN pipx install black', false],
  ['DL3045', 'COPY bla.sh /usr/local/bin/blubb.sh', false],
  ['DL3045', 'COPY bla.sh "/usr/local/bin/blubb.sh"', false],
  ['DL3045', 'COPY bla.sh blubb.sh', true],
  ['DL3045', 'WORKDIR /usr\nCOPY bla.sh blubb.sh', false],
  ['DL3045', 'COPY bla.sh $DIR/x', false],
  ['DL3045', 'FROM debian:12 AS base\nWORKDIR /app\nFROM base\nCOPY a b', false],
  ['DL3047', 'RUN wget http://google.com', true],
  ['DL3047', 'RUN wget --progress=dot:giga http://google.com', false],
  ['DL3047', 'RUN wget -q http://google.com', false],
  ['DL3047', 'RUN wget -nv http://google.com', false],
  ['DL3047', 'RUN wget -O - http://google.com', true],
  ['DL3047', 'RUN wget -o log http://google.com', false],
  ['DL3059', 'RUN /foo.sh', false],
  ['DL3059', 'RUN /foo.sh\nWORKDIR /\nRUN /bar.sh', false],
  ['DL3059', 'RUN /foo.sh\nRUN /bar.sh', true],
  ['DL3059', 'RUN /foo.sh\n# a comment\nRUN /bar.sh', true],
  ['DL3059', 'RUN --mount=type=secret,id=foo /foo.sh\nRUN /bar.sh', false],
  ['DL3059', 'RUN a && b && c\nRUN /bar.sh', false],
  ['DL4000', 'FROM busybox:1\nMAINTAINER hudu@mail.com', true],
  ['DL4000', 'FROM debian:12', false],
  ['DL4006', 'RUN wget -O - https://some.site | wc -l > /number', true],
  ['DL4006', 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN wget -O - https://some.site | wc -l > /number', false],
  ['DL4006', 'SHELL ["/bin/zsh", "-o", "pipefail", "-c"]\nRUN wget -O - https://some.site | wc -l > /number', false],
  ['DL4006', 'SHELL ["pwsh", "-c"]\nRUN Get-Variable PSVersionTable | Select-Object -ExpandProperty Value', false],
  ['DL4006', 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nFROM debian:12\nRUN a | b', true],
  ['DL4006', 'RUN a || b', false],
  ['DL4006', "RUN echo 'a | b'", false],
];

describe('hadolint rules (cases from hadolint\'s rule specs)', () => {
  for (const [code, src, caught] of CASES) {
    it(`${code} ${caught ? 'catches' : 'passes'} ${JSON.stringify(src)}`, () => {
      assert.equal(linesOf(code, src).length > 0, caught);
    });
  }

  it('DL3026 only with trusted registries, and then by registry', () => {
    assert.deepEqual(linesOf('DL3026', 'FROM random.com/debian:12'), []);
    assert.deepEqual(linesOf('DL3026', 'FROM random.com/debian:12', ['docker.io']), [1]);
    assert.deepEqual(linesOf('DL3026', 'FROM debian:12', ['docker.io']), []);
    assert.deepEqual(linesOf('DL3026', 'FROM x.gcr.io/debian:12', ['*.gcr.io']), []);
    assert.deepEqual(linesOf('DL3026', 'FROM debian:12 AS base\nFROM base', ['my.registry']), [1]);
  });

  it('findings carry the DL code, hadolint\'s level, message and wiki URL, at the instruction', () => {
    const [f] = lintText('FROM debian:12\n\nRUN sudo ls\n', { rules: 'hadolint' }).findings;
    assert.deepEqual(
      { rule: f?.rule, severity: f?.severity, source: f?.source, url: f?.url, line: f?.loc.line },
      { rule: 'DL3004', severity: 'error', source: 'hadolint', url: 'https://github.com/hadolint/hadolint/wiki/DL3004', line: 3 },
    );
    assert.match(f!.message, /^Do not use sudo/);
  });

  it('# hadolint ignore= above an instruction, global ignore, --ignore and severity overrides', () => {
    const src = 'FROM debian\n# hadolint ignore=DL3008,DL3015\nRUN apt-get install -y curl\nRUN apt-get install -y wget\n';
    const rules = (o = {}): string[] => lintText(src, { rules: 'hadolint', ...o }).findings.map((f) => `${f.rule}:${f.loc.line}:${f.severity}`);
    assert.deepEqual(rules(), ['DL3006:1:warning', 'DL3008:4:warning', 'DL3015:4:info', 'DL3059:4:info']);
    assert.deepEqual(rules({ ignore: ['DL3059', 'DL3006'] }), ['DL3008:4:warning', 'DL3015:4:info']);
    assert.deepEqual(rules({ ignore: ['DL3059', 'DL3006'], severity: new Map([['DL3015', 'error']]) }), ['DL3008:4:warning', 'DL3015:4:error']);
    assert.deepEqual(lintText('# hadolint global ignore=DL3006,DL3059\n' + src, { rules: 'hadolint' }).findings.map((f) => f.rule), ['DL3008', 'DL3015']);
  });
});
