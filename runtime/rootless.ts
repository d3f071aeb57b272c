/**
 * Rootless mode: a command run by a user other than root re-runs itself inside a user namespace
 * (and a mount namespace of its own) where root is that user and uids/gids 1…65536 are the
 * user's subordinate range from /etc/subuid and /etc/subgid, mapped by the setuid
 * newuidmap/newgidmap (Debian: `uidmap`). There the whole command is uid 0: the store is written
 * with the image's own owners (a file of uid 1000 is host uid start+999, and reads back as 1000,
 * so layer tars carry exact owners), overlay mounts with `userxattr` (Linux ≥ 5.11), and
 * runc/crun run inside without cgroup limits (cgroup v1 has no delegation).
 *
 * Nothing outlives the command: the launcher (setpriv) gives unshare PDEATHSIG=KILL and unshare
 * kills the command with it (`--kill-child`); the command's RUN watchdogs kill their containers;
 * the namespaces and every mount in them end with their last process.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { xattr } from '../image/xattr.js';
import { RuntimeSetupError } from './errors.js';
import { which } from './exec.js';

/** How many ids rootless mode maps above root: the range images use (as podman and buildah do). */
export const MAPPED_IDS = 65536;

export interface IdRange {
  start: number;
  count: number;
}

/** The first range of `user` (by name or uid) in an /etc/subuid-format text. */
export function subordinateRange(text: string, user: string, id: number): IdRange | undefined {
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner === undefined || start === undefined || count === undefined) continue;
    if (owner !== user && owner !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && s > 0 && c > 0) return { start: s, count: c };
  }
  return undefined;
}

/** What decides whether rootless mode can start here; read by readRootlessFacts, a table in tests. */
export interface RootlessFacts {
  user: string;
  uid: number;
  gid: number;
  subuid: string;
  subgid: string;
  newuidmap: string | undefined;
  newgidmap: string | undefined;
  /** Whether both helpers are setuid root (or their modes could not be read: then unshare tells). */
  helpersPrivileged: boolean;
  unshare: string | undefined;
  /** /proc/sys values; undefined where the file does not exist (the knob is absent: allowed). */
  unprivilegedUsernsClone: string | undefined;
  maxUserNamespaces: string | undefined;
  apparmorRestrictUserns: string | undefined;
}

export interface RootlessPlan {
  uid: number;
  gid: number;
  subuid: IdRange;
  subgid: IdRange;
  unshare: string;
}

/** The one-line reason rootless mode cannot start, saying what to install or set; else the plan. */
export function planRootless(facts: RootlessFacts): RootlessPlan | string {
  const who = `user ${facts.user} (uid ${facts.uid})`;
  if (facts.unprivilegedUsernsClone === '0') {
    return 'rootless: user namespaces are disabled for unprivileged users: as root, run "sysctl -w kernel.unprivileged_userns_clone=1"';
  }
  if (facts.maxUserNamespaces === '0') {
    return 'rootless: user namespaces are disabled (user.max_user_namespaces is 0): as root, run "sysctl -w user.max_user_namespaces=15000"';
  }
  if (facts.apparmorRestrictUserns !== undefined && facts.apparmorRestrictUserns !== '0') {
    return 'rootless: AppArmor forbids unprivileged user namespaces: as root, run "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"';
  }
  if (!facts.newuidmap || !facts.newgidmap) {
    return 'rootless: newuidmap/newgidmap not found: install them as root ("apt-get install uidmap" on Debian/Ubuntu, "dnf install shadow-utils" on Fedora)';
  }
  if (!facts.helpersPrivileged) {
    return `rootless: ${facts.newuidmap} and ${facts.newgidmap} must be setuid root or have file capabilities: as root, reinstall the uidmap package or run "chmod u+s ${facts.newuidmap} ${facts.newgidmap}"`;
  }
  if (!facts.unshare) return 'rootless: unshare not found: install util-linux';
  const subuid = subordinateRange(facts.subuid, facts.user, facts.uid);
  const subgid = subordinateRange(facts.subgid, facts.user, facts.uid);
  if (!subuid || !subgid) {
    const file = !subuid && !subgid ? '/etc/subuid and /etc/subgid' : !subuid ? '/etc/subuid' : '/etc/subgid';
    return `rootless: ${who} has no subordinate id range in ${file}: as root, run "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${facts.user}" (any free range of ${MAPPED_IDS} ids)`;
  }
  return { uid: facts.uid, gid: facts.gid, subuid, subgid, unshare: facts.unshare };
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** setuid root (Debian) or file capabilities (Fedora); a helper that cannot be read is given the benefit of the doubt. */
function privilegedHelper(path: string | undefined): boolean {
  if (!path) return false;
  try {
    const st = statSync(path);
    if (st.uid === 0 && (st.mode & 0o4000) !== 0) return true;
    return xattr().getAttributeSync(path, 'security.capability') !== null;
  } catch {
    return true;
  }
}

export async function readRootlessFacts(): Promise<RootlessFacts> {
  const me = userInfo();
  const [newuidmap, newgidmap, unshare] = await Promise.all([which('newuidmap'), which('newgidmap'), which('unshare')]);
  return {
    user: me.username,
    uid: me.uid,
    gid: me.gid,
    subuid: readOptional('/etc/subuid') ?? '',
    subgid: readOptional('/etc/subgid') ?? '',
    newuidmap,
    newgidmap,
    helpersPrivileged: privilegedHelper(newuidmap) && privilegedHelper(newgidmap),
    unshare,
    unprivilegedUsernsClone: readOptional('/proc/sys/kernel/unprivileged_userns_clone'),
    maxUserNamespaces: readOptional('/proc/sys/user/max_user_namespaces'),
    apparmorRestrictUserns: readOptional('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
  };
}

/** unshare's arguments: root → the user, 1…65536 → the subordinate ranges, a private mount namespace. */
export function unshareArgs(plan: RootlessPlan, command: readonly string[]): string[] {
  const uids = Math.min(plan.subuid.count, MAPPED_IDS);
  const gids = Math.min(plan.subgid.count, MAPPED_IDS);
  return [
    '--user',
    '--map-root-user',
    `--map-users=${plan.subuid.start},1,${uids}`,
    `--map-groups=${plan.subgid.start},1,${gids}`,
    '--mount',
    '--propagation',
    'private',
    '--fork',
    '--kill-child',
    '--',
    ...command,
  ];
}

/** This program's own command line: the compiled executable, or node with its loader flags and script. */
export function selfCommand(argv: readonly string[]): string[] {
  const script = process.argv[1];
  const compiled = script === undefined || script.startsWith('/$bunfs/') || script.startsWith('B:/~BUN/');
  return compiled ? [process.execPath, ...argv] : [process.execPath, ...process.execArgv, script, ...argv];
}

/**
 * Runs `argv` (this program's arguments) again inside the rootless user namespace, with our
 * stdio, and resolves to its exit status. SIGINT/SIGTERM sent to us alone are passed on.
 */
export async function runInUserNamespace(argv: readonly string[]): Promise<number> {
  const plan = planRootless(await readRootlessFacts());
  if (typeof plan === 'string') throw new RuntimeSetupError(plan, { rootless: true });
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', plan.unshare, ...unshareArgs(plan, selfCommand(argv))], {
    stdio: 'inherit',
    env: { ...process.env, TSBUILD_ROOTLESS_UID: String(plan.uid) },
  });
  const pass = (sig: NodeJS.Signals): void => void child.kill(sig);
  process.on('SIGINT', pass);
  process.on('SIGTERM', pass);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', (e) => reject(new RuntimeSetupError(`rootless: cannot start ${plan.unshare}: ${e.message}`, {})));
      child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGINT' ? 2 : 15)));
    });
  } finally {
    process.removeListener('SIGINT', pass);
    process.removeListener('SIGTERM', pass);
  }
}

/** Whether a command must run in the rootless namespace: not root, and not there already. */
export function needsUserNamespace(): boolean {
  return process.getuid?.() !== undefined && process.getuid() !== 0;
}
