import { BuildUsageError } from './errors.js';

/**
 * `--chmod` values: octal (`755`, `0644`) or symbolic as chmod(1) takes them
 * (`u=rwX,go=rX`, `+x`, `g=u`, `a-w`). Returns a function from the source
 * mode to the new mode, so `X` can look at whether the entry is a directory.
 */
export type ModeFn = (mode: number, isDir: boolean) => number;

export function parseChmod(spec: string): ModeFn {
  if (/^[0-7]{1,4}$/.test(spec)) {
    const m = parseInt(spec, 8);
    return () => m;
  }
  const clauses = spec.split(',').map((c) => {
    const m = /^([ugoa]*)([-+=])([rwxXst]*|[ugo])$/.exec(c);
    if (!m) throw new BuildUsageError(`invalid chmod format: ${JSON.stringify(spec)}`);
    return { who: m[1]!, op: m[2]!, perms: m[3]! };
  });
  return (mode, isDir) => {
    let cur = mode & 0o7777;
    for (const { who, op, perms } of clauses) {
      const w = who === '' || who.includes('a') ? 'ugo' : who;
      let bits = 0;
      if (perms === 'u' || perms === 'g' || perms === 'o') {
        const shift = perms === 'u' ? 6 : perms === 'g' ? 3 : 0;
        const src = (cur >> shift) & 7;
        for (const t of w) bits |= src << (t === 'u' ? 6 : t === 'g' ? 3 : 0);
      } else {
        for (const t of w) {
          const shift = t === 'u' ? 6 : t === 'g' ? 3 : 0;
          for (const p of perms) {
            if (p === 'r') bits |= 4 << shift;
            else if (p === 'w') bits |= 2 << shift;
            else if (p === 'x') bits |= 1 << shift;
            else if (p === 'X' && (isDir || (cur & 0o111) !== 0)) bits |= 1 << shift;
            else if (p === 's' && t !== 'o') bits |= t === 'u' ? 0o4000 : 0o2000;
            else if (p === 't') bits |= 0o1000;
          }
        }
      }
      // Without who, chmod(1) honours the umask for + and =; builds use umask 022-free semantics like BuildKit.
      if (op === '+') cur |= bits;
      else if (op === '-') cur &= ~bits;
      else {
        let mask = 0;
        for (const t of w) mask |= 7 << (t === 'u' ? 6 : t === 'g' ? 3 : 0);
        if (w.includes('u')) mask |= 0o4000;
        if (w.includes('g')) mask |= 0o2000;
        if (w.includes('o')) mask |= 0o1000;
        cur = (cur & ~mask) | bits;
      }
    }
    return cur;
  };
}
