// mktar.mjs OUT.tar PATH=file:CONTENT|hardlink:TARGET|symlink:TARGET|dir: ...
// Writes a tar with exactly these entries (uid/gid 0, mtime 1700000000), for case contexts that
// need entries GNU tar cannot make from a directory (a hardlink to a file not in the archive).
import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
const require = createRequire(new URL('../../package.json', import.meta.url));
const { pack } = require('tar-stream');
const [out, ...specs] = process.argv.slice(2);
const p = pack();
p.pipe(createWriteStream(out));
const mtime = new Date(1700000000 * 1000);
for (const spec of specs) {
  const eq = spec.indexOf('=');
  const name = spec.slice(0, eq);
  const colon = spec.indexOf(':', eq);
  const kind = spec.slice(eq + 1, colon);
  const value = spec.slice(colon + 1);
  const base = { name, uid: 0, gid: 0, mtime };
  if (kind === 'file') p.entry({ ...base, mode: 0o644 }, value);
  else if (kind === 'dir') p.entry({ ...base, type: 'directory', mode: 0o755 });
  else if (kind === 'hardlink') p.entry({ ...base, type: 'link', linkname: value, mode: 0o644 });
  else if (kind === 'symlink') p.entry({ ...base, type: 'symlink', linkname: value, mode: 0o777 });
  else throw new Error(`mktar: unknown kind ${kind}`);
}
p.finalize();
