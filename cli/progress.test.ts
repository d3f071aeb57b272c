import assert from 'node:assert/strict';
import { createProgress } from './progress.js';
import type { BuildEvent } from '../builder/events.js';

const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

const events: BuildEvent[] = [
  { type: 'step', id: '1/2', stage: 'app', name: 'FROM busybox', status: 'started' },
  { type: 'step', id: '1/2', stage: 'app', name: 'FROM busybox', status: 'done', durationMs: 10 },
  { type: 'step', id: '2/2', stage: 'app', name: 'RUN make', status: 'started' },
  { type: 'log', id: '2/2', stream: 'stdout', line: 'compiling' },
  { type: 'step', id: '2/2', stage: 'app', name: 'RUN make', status: 'error', error: 'exit code: 2' },
];

describe('cli/progress', () => {
  it('plain: one line per state change, logs prefixed with the step, no colour', () => {
    let out = '';
    const p = createProgress('plain', { write: (s) => void (out += s), isTTY: false });
    for (const e of events) p.onEvent(e);
    p.close();
    assert.doesNotMatch(out, /\x1b\[/);
    assert.match(out, /^#1\/2 \[app\] FROM busybox$/m);
    assert.match(out, /^#1\/2 DONE 0\.0s$/m);
    assert.match(out, /^#2\/2 \d+\.\d+ compiling$/m);
    assert.match(out, /^#2\/2 ERROR$/m);
    assert.doesNotMatch(out, /exit code: 2/, 'the error is printed once, by the CLI when the build ends');
  });

  it('tty: running steps show live with their output, finished ones stay, a failed step keeps its output', async () => {
    let out = '';
    const p = createProgress('tty', { write: (s) => void (out += s), isTTY: true });
    for (const e of events.slice(0, 4)) p.onEvent(e);
    await new Promise((r) => setTimeout(r, 250));
    assert.match(strip(out), /\[\+\] Building .*\(1 running\)\n => \[app\] RUN make .*\n {4}compiling\n/);
    p.onEvent(events[4]!);
    p.close();
    const screen = strip(out);
    assert.match(screen, /#1\/2 \[app\] FROM busybox 0\.0s/);
    assert.match(screen, /#2\/2 \[app\] RUN make ERROR\n {4}compiling\n/);
    assert.match(out, /\x1b\[\d+F\x1b\[J/, 'the live area is redrawn in place');
  });

  it('rawjson: one JSON event per line', () => {
    let out = '';
    const p = createProgress('rawjson', { write: (s) => void (out += s) });
    for (const e of events) p.onEvent(e);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    assert.equal(lines.length, events.length);
  });
});
