import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, execFileP, makeTree, removeAll, storeWithBusybox, tempDir } from './helpers.js';

/**
 * Behaviours where tsbuild once differed from BuildKit (issue 11). Each case's Dockerfile ends
 * by writing what it observes to /probe.out; `want` is what BuildKit (dockerd 20.10) printed
 * for the same Dockerfile and context, with `busybox:latest` meaning the anchors' busybox.
 */
export interface ParityCase {
  name: string;
  dockerfile: string;
  files?: Record<string, string>;
  /** shell run in the context directory after the files are written (links, modes, xattrs) */
  setup?: string;
  args?: string[];
  want: string[];
}

const cases: ParityCase[] = [
  {
    name: 'a layer repeated in the stack (COPY, rm, same COPY) does not break the next RUN',
    files: { a: 'hi\n' },
    dockerfile: 'FROM busybox:latest\nCOPY a /x/\nRUN rm -rf /x\nCOPY a /x/\nRUN cat /x/a > /probe.out\n',
    want: ['hi'],
  },
  {
    name: '--chown by user name takes the primary gid from /etc/passwd; unknown names are 0:0 as in BuildKit',
    files: { 'a.txt': 'a\n' },
    dockerfile: [
      'FROM busybox:latest',
      "RUN echo 'app:x:1001:2002::/home/app:/bin/sh' >> /etc/passwd && echo 'grp:x:2002:' >> /etc/group",
      'COPY --chown=app a.txt /a1',
      'COPY --chown=app: a.txt /a2',
      'COPY --chown=nosuch a.txt /a3',
      'COPY --chown=app:nosuchg a.txt /a4',
      'COPY --chown=:grp a.txt /a5',
      "RUN stat -c '%u:%g %n' /a1 /a2 /a3 /a4 /a5 > /probe.out",
      '',
    ].join('\n'),
    want: ['1001:2002 /a1', '1001:0 /a2', '0:0 /a3', '1001:2002 /a4', '0:2002 /a5'],
  },
  {
    name: 'COPY --from keeps owners and modes; directories it creates are 0755 root (or --chown)',
    dockerfile: [
      'FROM busybox:latest AS s1',
      'RUN mkdir -p /src/d/e && echo x > /src/d/f && ln -s f /src/d/l && chown -R 123:456 /src && chown -h 7:8 /src/d/l && chmod 700 /src/d && chmod 640 /src/d/f && chown 9:9 /src/d/e',
      'FROM busybox:latest',
      'COPY --from=s1 /src /dst',
      'COPY --from=s1 /src/d/f /new/deep/f',
      'COPY --from=s1 /src/d /dd/',
      'COPY --from=s1 /src/d/f /src/d/l /two/',
      'COPY --from=s1 --chown=5:6 /src/d /chowned2',
      "RUN cd / && find dst new dd two chowned2 | sort | xargs stat -c '%u:%g %a %n' > /probe.out",
      '',
    ].join('\n'),
    want: [
      '5:6 755 chowned2', '5:6 755 chowned2/e', '5:6 640 chowned2/f', '5:6 777 chowned2/l',
      '0:0 755 dd', '9:9 755 dd/e', '123:456 640 dd/f', '7:8 777 dd/l',
      '0:0 755 dst', '123:456 700 dst/d', '9:9 755 dst/d/e', '123:456 640 dst/d/f', '7:8 777 dst/d/l',
      '0:0 755 new', '0:0 755 new/deep', '123:456 640 new/deep/f',
      '0:0 755 two', '123:456 640 two/f', '123:456 640 two/l',
    ],
  },
  {
    name: 'a COPY into an existing directory keeps its owner and mode for the next RUN',
    files: { 'a.txt': 'a\n' },
    dockerfile: [
      'FROM busybox:latest',
      'RUN mkdir /data && chown 1000:1000 /data && chmod 750 /data && mkdir -p /tmp && chmod 1777 /tmp',
      'COPY --chown=1000:1000 a.txt /data/a.txt',
      'COPY a.txt /data/sub/deeper/a.txt',
      'USER 1000',
      "RUN touch /data/b && stat -c '%u:%g %a %n' /data /data/a.txt /data/b /data/sub /data/sub/deeper > /tmp/p",
      'USER root',
      'RUN cp /tmp/p /probe.out',
      '',
    ].join('\n'),
    want: ['1000:1000 750 /data', '1000:1000 644 /data/a.txt', '1000:0 644 /data/b', '0:0 755 /data/sub', '0:0 755 /data/sub/deeper'],
  },
  {
    name: 'WORKDIR under an existing directory keeps its owner and mode for the next RUN',
    dockerfile: [
      'FROM busybox:latest',
      'RUN mkdir /data && chown 1000:1000 /data && chmod 750 /data && mkdir -p /tmp && chmod 1777 /tmp',
      'WORKDIR /data/w',
      'USER 1000',
      "RUN touch /data/b && stat -c '%u:%g %a %n' /data /data/w > /tmp/p",
      'USER root',
      'RUN cp /tmp/p /probe.out',
      '',
    ].join('\n'),
    want: ['1000:1000 750 /data', '0:0 755 /data/w'],
  },
  {
    name: 'a valued ARG of a stage is in the environment of a stage built FROM it (--target the child)',
    dockerfile: [
      'FROM busybox:latest AS base',
      'ARG V=1',
      'ARG W',
      'ENV E=$V',
      'FROM base AS child',
      'ENV F=$V G=$W',
      'RUN echo "V=$V W=$W E=$E F=$F G=$G" > /probe.out',
      'FROM base AS other',
      'ARG V',
      'RUN echo "o V=$V E=$E" > /probe.out',
      '',
    ].join('\n'),
    args: ['--target', 'child'],
    want: ['V=1 W= E=1 F=1 G='],
  },
  {
    name: 'an ARG redeclared without a value in a child stage keeps the inherited value',
    dockerfile: ['FROM busybox:latest AS base', 'ARG V=1', 'FROM base AS other', 'ARG V', 'RUN echo "o V=$V" > /probe.out', ''].join('\n'),
    want: ['o V=1'],
  },
  {
    name: 'the later of ENV and ARG of one name wins in RUN and in expansions',
    dockerfile: [
      'FROM busybox:latest',
      'ENV X=env',
      'ARG X=arg',
      'ENV Y=$X',
      'RUN echo "X=$X Y=$Y" > /probe.out',
      'ARG Z',
      'ENV Z=zenv',
      'ARG Q=qarg',
      'ENV Q=qenv',
      'RUN echo "Z=$Z Q=$Q" >> /probe.out',
      '',
    ].join('\n'),
    want: ['X=arg Y=arg', 'Z=zenv Q=qenv'],
  },
  {
    name: 'symlinked COPY sources: chains, ./ targets, wildcards and several links to directories',
    files: { 'real/f': 'r\n' },
    setup: 'ln -s real link && ln -s ./real dotlink',
    dockerfile: [
      'FROM busybox:latest AS s1',
      'RUN mkdir -p /opt/v1/bin && echo v1 > /opt/v1/bin/tool && ln -s v1 /opt/current && ln -s /opt/current /opt/latest && ln -s ./v1 /opt/dot && ln -s ../opt/current/bin /opt/binlink && mkdir /other && echo o > /other/x',
      'FROM busybox:latest',
      'COPY --from=s1 /opt/latest /a/',
      'COPY --from=s1 /opt/dot /b/',
      'COPY --from=s1 /opt/latest/bin/tool /c',
      'COPY --from=s1 /opt/binlink/ /d/',
      'COPY --from=s1 /opt/lat* /e/',
      'COPY lin* /f/',
      'COPY dotlink /g/',
      'COPY --from=s1 /opt/latest /opt/dot /h/',
      'RUN cd / && find a b c d e f g h | sort > /probe.out',
      '',
    ].join('\n'),
    want: ['a', 'a/bin', 'a/bin/tool', 'b', 'b/bin', 'b/bin/tool', 'c', 'd', 'd/tool', 'e', 'e/bin', 'e/bin/tool', 'f', 'f/f', 'g', 'g/f', 'h', 'h/bin', 'h/bin/tool'],
  },
  {
    name: 'hardlinked files of one COPY source stay hardlinked (context and COPY --from)',
    files: { 'd/a': 'h\n' },
    setup: 'ln d/a d/b && ln d/a c',
    dockerfile: [
      'FROM busybox:latest AS s1',
      'RUN mkdir /s && echo x > /s/one && ln /s/one /s/two',
      'FROM busybox:latest',
      'COPY d /ctx/',
      'COPY d/a c /ctx2/',
      'COPY --from=s1 /s /from/',
      "RUN cd / && stat -c '%h %n' ctx/* ctx2/* from/* > /probe.out && ls -i ctx/a ctx/b | awk '{print $1}' | uniq | wc -l >> /probe.out",
      '',
    ].join('\n'),
    want: ['2 ctx/a', '2 ctx/b', '1 ctx2/a', '1 ctx2/c', '2 from/one', '2 from/two', '1'],
  },
  {
    name: 'unusual names (over 100 and 255 bytes, NFC and NFD, tab and newline, long link targets) survive COPY, RUN and COPY --from',
    setup: "mkdir -p u/deep && cd u && printf x > \"$(printf \'a%.0s\' $(seq 1 120))\" && printf x > \"$(printf \'b%.0s\' $(seq 1 255))\" && printf x > \"$(printf \'caf\\303\\251\')\" && printf x > \"$(printf \'cafe\\314\\201\')\" && printf x > \"$(printf \'tab\\there\')\" && printf x > \"$(printf \'nl\\nhere\')\" && mkdir -p \"deep/$(printf \'d%.0s\' $(seq 1 90))/$(printf \'e%.0s\' $(seq 1 90))/$(printf \'f%.0s\' $(seq 1 90))\" && printf x > \"deep/$(printf \'d%.0s\' $(seq 1 90))/$(printf \'e%.0s\' $(seq 1 90))/$(printf \'f%.0s\' $(seq 1 90))/g\" && ln -s \"$(printf \'t%.0s\' $(seq 1 300))\" longlink",
    dockerfile: [
      "FROM busybox:latest AS s1",
      "COPY u /u",
      "RUN mkdir -p /r && cd /r && touch \"$(printf 'a%.0s' $(seq 1 200))\" \"$(printf 'caf\\303\\251')\" \"$(printf 'cafe\\314\\201')\" \"$(printf 'tab\\there')\" && ln -s \"$(printf 'z%.0s' $(seq 1 250))\" ll && mkdir -p \"$(printf 'q%.0s' $(seq 1 99))/$(printf 'w%.0s' $(seq 1 99))\" && touch \"$(printf 'q%.0s' $(seq 1 99))/$(printf 'w%.0s' $(seq 1 99))/f\"",
      "FROM busybox:latest",
      "COPY --from=s1 /u /v",
      "COPY --from=s1 /r /r",
      "COPY u /u",
      "RUN cd / && find u v r | sort | od -c | md5sum > /probe.out && find u v r | wc -l >> /probe.out && readlink r/ll | wc -c >> /probe.out",
      '',
    ].join('\n'),
    // from BuildKit: the md5 of the sorted `od -c` of every name
    want: ['df3f006757fd90a1ff3eadf44bca1895  -', '37', '251'],
  },
  {
    name: 'ADD of a local tar keeps its hardlinks and applies directory modes over existing directories',
    setup: 'mkdir -p src/d src/etc && echo h > src/d/a && ln src/d/a src/d/b && chmod 700 src/d && chmod 711 src/etc && echo p > src/etc/x && tar --owner=0 --group=0 -C src -cf a.tar d etc && rm -rf src',
    dockerfile: [
      'FROM busybox:latest',
      'RUN mkdir -p /t/etc && chmod 755 /t/etc',
      'ADD a.tar /t/',
      "RUN cd /t && stat -c '%h %a %F %n' d d/a d/b etc etc/x > /probe.out",
      '',
    ].join('\n'),
    want: ['2 700 directory d', '2 644 regular file d/a', '2 644 regular file d/b', '1 711 directory etc', '1 644 regular file etc/x'],
  },
  {
    name: 'ADD of a local tar over an image: a hardlink to a file the image has, a fifo, a file and a link replacing directories',
    setup: 'mkdir s && cd s && mkdir keep && echo orig > keep/orig && ln keep/orig hl && mkfifo ff && echo file > x && ln -s target y && tar --owner=0 --group=0 -cf ../a.tar keep/orig hl ff x y && tar --delete -f ../a.tar keep/orig && cd .. && rm -rf s',
    dockerfile: [
      'FROM busybox:latest',
      'RUN mkdir -p /t/x/inner /t/y /t/keep && echo orig > /t/keep/orig',
      'ADD a.tar /t/',
      "RUN cd /t && stat -c '%h %F %n' x y hl ff keep/orig > /probe.out && cat hl >> /probe.out",
      '',
    ].join('\n'),
    want: ['1 regular file x', '1 symbolic link y', '2 regular file hl', '1 fifo ff', '2 regular file keep/orig', 'orig'],
  },
];

describe('BuildKit parity: end to end', function () {
  this.timeout(300_000);
  let root: string;
  let work: string;

  before(async function () {
    ({ root, work } = await storeWithBusybox(this));
  });
  after(() => removeAll(root, work));

  for (const c of cases) {
    it(c.name, async () => {
      const ctx = await makeTree({ ...c.files, Dockerfile: c.dockerfile });
      const dest = await tempDir('tsb-parity-out-');
      try {
        if (c.setup) await execFileP('sh', ['-ec', c.setup], { cwd: ctx });
        const r = await cli(['build', '--root', root, '--progress=plain', ...(c.args ?? []), '-o', `type=local,dest=${dest}`, ctx]);
        assert.equal(r.code, 0, r.stderr);
        const got = (await readFile(join(dest, 'probe.out'), 'utf8')).split('\n').filter((l) => l !== '');
        assert.deepEqual(got, c.want);
      } finally {
        await removeAll(ctx, dest);
      }
    });
  }
});
