import { execFileSync } from 'node:child_process';

/** The docker CLI the oracle checks drive (Debian's docker.io; dockerd started by dockerd-up.sh). */
export const DOCKER = '/usr/bin/docker';

/** Fails (never skips) an oracle check when no dockerd answers: its whole point is the comparison. */
export function requireDockerd(check: string): void {
  try {
    execFileSync(DOCKER, ['info'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    throw new Error(`${check} oracle: no dockerd answering at ${DOCKER} (start one with dockerd-up.sh to run this check)`);
  }
}
