/**
 * USER resolution against the rootfs' own /etc/passwd and /etc/group (never the host's), with the
 * rules of runc/moby `GetExecUser`: a numeric uid needs no passwd entry (gid then defaults to 0),
 * a name must exist, `user:group` overrides the primary group, and the user's supplementary
 * groups come from /etc/group membership.
 */
import { readFileSync } from 'node:fs';
import { RunRequestError } from './errors.js';
import { resolveInRoot } from '../image/safe-path.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^[0-9]+$/;
const MAX_ID = 2 ** 32 - 2;

function readRootFile(root: string, path: string): string {
  const r = resolveInRoot(root, path);
  if (!r.exists) return '';
  try {
    return readFileSync(r.host, 'utf8');
  } catch {
    return ''; // a directory or unreadable file counts as absent, like runc
  }
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!NUMERIC.test(f[2]!) || !NUMERIC.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]! });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || f[0] === '' || line.startsWith('#') || !NUMERIC.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter((m) => m !== '') });
  }
  return out;
}

function checkId(n: number, spec: string): number {
  if (!Number.isSafeInteger(n) || n > MAX_ID) throw new RunRequestError(`invalid user ${JSON.stringify(spec)}`, { user: spec });
  return n;
}

/** Resolves `name`, `uid`, `name:group`, `uid:gid` (any mix) inside `root`. Empty → root. */
export function resolveUser(root: string, spec: string | undefined): ResolvedUser {
  const s = (spec ?? '').trim();
  const [userPart = '', groupPart] = s === '' ? ['0'] : s.split(':', 2);
  const passwd = parsePasswd(readRootFile(root, '/etc/passwd'));
  const groups = parseGroup(readRootFile(root, '/etc/group'));

  let uid: number;
  let gid = 0;
  let home = '/';
  let name: string | undefined;
  if (NUMERIC.test(userPart)) {
    uid = checkId(Number(userPart), s);
    const p = passwd.find((e) => e.uid === uid);
    if (p) ({ gid, home, name } = p);
  } else {
    const p = passwd.find((e) => e.name === userPart);
    if (!p) throw new RunRequestError(`unable to find user ${userPart}: no matching entries in passwd file`, { user: s });
    ({ uid, gid, home, name } = p);
  }

  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) gid = checkId(Number(groupPart), s);
    else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw new RunRequestError(`unable to find group ${groupPart}: no matching entries in group file`, { user: s });
      gid = g.gid;
    }
  }

  // Supplementary groups by membership; with an explicit group, runc still adds memberships.
  const additional = new Set<number>();
  if (name !== undefined) for (const g of groups) if (g.members.includes(name) && g.gid !== gid) additional.add(g.gid);
  return { uid, gid, additionalGids: [...additional].sort((a, b) => a - b), home };
}
