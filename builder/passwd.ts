import { BuildUsageError } from './errors.js';

/** Resolves `user[:group]` (names or numbers) against /etc/passwd and /etc/group text. */
export function resolveOwner(
  spec: string,
  passwd: string | undefined,
  group: string | undefined,
): { uid: number; gid: number } {
  const [u = '', g] = spec.split(':', 2);
  const users = parseDb(passwd);
  let uid: number;
  if (/^\d+$/.test(u)) uid = Number(u);
  else {
    const row = users.find((r) => r[0] === u);
    if (!row) throw new BuildUsageError(`unable to find user ${u}: no matching entries in passwd file`);
    uid = Number(row[2]);
  }
  // docker documents: a user without a group uses the same number as the gid.
  if (g === undefined || g === '') return { uid, gid: uid };
  if (/^\d+$/.test(g)) return { uid, gid: Number(g) };
  const row = parseDb(group).find((r) => r[0] === g);
  if (!row) throw new BuildUsageError(`unable to find group ${g}: no matching entries in group file`);
  return { uid, gid: Number(row[2]) };
}

function parseDb(text: string | undefined): string[][] {
  if (!text) return [];
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
