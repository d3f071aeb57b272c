import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTools } from '../test/tools.js';
import { parseChmod } from './chmod.js';

/** --chmod values against chmod(1) itself (umask 000: builds apply none), on a real file or directory. */
describe('builder/chmod: --chmod agrees with chmod(1)', () => {
  let work: string;
  before(function () {
    requireTools(this, ['chmod']);
    work = mkdtempSync(join(tmpdir(), 'tsb-chmod-'));
  });
  after(() => work && rmSync(work, { recursive: true, force: true }));

  const specs = ['755', '0644', '4755', '1777', 'u=rwX,go=rX', '+x', 'a-w', 'g=u', 'o=g', 'u+s', 'g+s,o-rwx', '+t', 'u=rw,g=r,o=', 'go-x', 'ug+rwX', 'a=', 'u-s'];
  const starts = [0o644, 0o600, 0o755, 0o4711, 0o1640];
  let n = 0;
  for (const spec of specs) {
    it(spec, () => {
      for (const start of starts) {
        for (const isDir of [false, true]) {
          const p = join(work, `e${n++}`);
          if (isDir) mkdirSync(p);
          else writeFileSync(p, '');
          chmodSync(p, start);
          execFileSync('sh', ['-c', `umask 000; chmod ${spec} "$1"`, 'sh', p]);
          const real = statSync(p).mode & 0o7777;
          // GNU chmod keeps a directory's setuid/setgid bits unless the mode names them (a GNU rule,
          // not BuildKit's): those two bits of directories are compared only when the spec sets s.
          const ignored = isDir && !spec.includes('s') ? 0o6000 : 0;
          const got = parseChmod(spec)(start, isDir);
          assert.equal((got & ~ignored).toString(8), (real & ~ignored).toString(8), `${isDir ? 'dir' : 'file'} ${start.toString(8)} chmod ${spec}`);
        }
      }
    });
  }
  for (const bad of ['888', 'u=rwz', 'x+r', 'u=rw,', '12345']) {
    it(`rejects ${bad}`, () => assert.throws(() => parseChmod(bad), /invalid chmod format/));
  }
});
