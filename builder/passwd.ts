import { BuildUsageError } from './errors.js';

/**
 * Resolves a `--chown`/WORKDIR owner `user[:group]` (names or numbers) against /etc/passwd and
 * /etc/group text, as BuildKit's file ops do (checked against dockerd 20.10's BuildKit):
 * - a number is the uid and, without a group, also the gid; `root` is 0;
 * - a user name takes its uid and primary gid from passwd; an unknown name is 0:0 (no error);
 * - a group number or name (from /etc/group) replaces the gid; an unknown group name keeps the
 *   user's gid; an empty group (`app:`) is gid 0.
 */
export function resolveOwner(
  spec: string,
  passwd: string | undefined,
  group: string | undefined,
  onUnknown?: (what: 'user' | 'group', name: string) => void,
): { uid: number; gid: number } {
  const colon = spec.indexOf(':');
  const userPart = colon < 0 ? spec : spec.slice(0, colon);
  const groupPart = colon < 0 ? undefined : spec.slice(colon + 1);
  let uid = 0;
  let gid = 0;
  const uidNumber = idNumber(userPart, 'user');
  if (uidNumber !== undefined) {
    uid = uidNumber;
    gid = uidNumber;
  } else {
    const row = parseDb(passwd).find((r) => r[0] === userPart);
    if (row) {
      uid = Number(row[2]) || 0;
      gid = Number(row[3]) || 0;
    } else if (userPart !== '') onUnknown?.('user', userPart);
  }
  if (groupPart === undefined) return { uid, gid };
  if (groupPart === '') return { uid, gid: 0 };
  const gidNumber = idNumber(groupPart, 'group');
  if (gidNumber !== undefined) return { uid, gid: gidNumber };
  const row = parseDb(group).find((r) => r[0] === groupPart);
  if (!row) onUnknown?.('group', groupPart);
  return { uid, gid: row ? Number(row[2]) || 0 : gid };
}

/**
 * Ids are 32-bit signed in BuildKit's file ops, which take a bigger number for a
 * name and so an unknown user (root). We refuse it instead: it is a mistake, and it
 * used to reach the tar writer as a RangeError or a silently wrong owner.
 */
const MAX_ID = 2 ** 31 - 1;

/** `root` or a decimal id (BuildKit's parseUID); anything else is a name. */
function idNumber(s: string, what: 'user' | 'group'): number | undefined {
  if (s === 'root') return 0;
  if (!/^\d+$/.test(s)) return undefined;
  const id = Number(s);
  if (id > MAX_ID) throw new BuildUsageError(`invalid ${what} id ${s}: ids range from 0 to ${MAX_ID}`);
  return id;
}

function parseDb(text: string | undefined): string[][] {
  if (!text) return [];
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
