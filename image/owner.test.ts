import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { processStartTime } from './owner.js';

describe('processStartTime: whether a process still runs', () => {
  it('gives this process a start time, and none to a zombie no one reaped yet', async () => {
    assert.match(processStartTime(process.pid) ?? '', /^\d+$/);
    // `sleep 0.05` is a child of the shell, which becomes `sleep 5` and never reaps it
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (b: Buffer) => resolve(b.toString()))));
      for (let i = 0; i < 50 && processStartTime(pid) !== undefined; i++) await sleep(20);
      assert.equal(processStartTime(pid), undefined);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
