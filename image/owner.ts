/**
 * Which process owns a temp dir or a build record: its pid plus its start time, because pids are
 * reused. Shared by cache/ (store temp dirs) and runtime/ (build records); image/ is the one
 * module both may import.
 */
import { readFileSync } from 'node:fs';

/** Field 22 of /proc/<pid>/stat (clock ticks after boot); undefined when no such process. */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // counted after the parenthesised command name (which may hold spaces)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // a zombie has ended (its locks and mounts are gone) though no one reaped it yet: an orphan
    // whose reaper is slow stays one for a while (measured: a SIGKILLed rootless build's)
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/** `<pid>-<start time>` of this process. */
export function ownerTag(): string {
  return `${process.pid}-${processStartTime(process.pid) ?? '0'}`;
}

/** Whether the process a `<pid>-<start time>` prefix names is still running (false for other names). */
export function ownerAlive(name: string): boolean {
  const m = /^(\d+)-(\d+)(?:-|$)/.exec(name);
  if (!m) return false;
  return processStartTime(Number(m[1])) === m[2];
}
