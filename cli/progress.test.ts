import assert from 'node:assert/strict';
import { createProgress } from './progress.js';
import type { BuildEvent } from '../builder/events.js';

const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

const events: BuildEvent[] = [
  { type: 'step', id: '1/3', stage: 'app', label: 'app 1/2', name: 'FROM docker.io/library/busybox:latest', status: 'started' },
  { type: 'step', id: '1/3', stage: 'app', label: 'app 1/2', name: 'FROM docker.io/library/busybox:latest', status: 'done', durationMs: 10 },
  { type: 'step', id: '2/3', stage: 'app', name: 'ENV A=1', status: 'started', hidden: true },
  { type: 'step', id: '2/3', stage: 'app', name: 'ENV A=1', status: 'done', hidden: true },
  { type: 'step', id: '3/3', stage: 'app', label: 'app 2/2', name: 'RUN make', status: 'started' },
  { type: 'log', id: '3/3', stream: 'stdout', line: 'compiling' },
  { type: 'step', id: '3/3', stage: 'app', label: 'app 2/2', name: 'RUN make', status: 'error', error: 'exit code: 2' },
];

const exportEvents: BuildEvent[] = [
  { type: 'step', id: 'export-0', stage: '', name: 'exporting to image', status: 'started' },
  { type: 'status', id: 'export-0', text: 'exporting layers', status: 'started' },
  { type: 'status', id: 'export-0', text: 'exporting layers', status: 'done', durationMs: 0 },
  { type: 'status', id: 'export-0', text: 'naming to docker.io/library/app:1', status: 'started' },
  { type: 'status', id: 'export-0', text: 'naming to docker.io/library/app:1', status: 'done', durationMs: 120 },
  { type: 'step', id: 'export-0', stage: '', name: 'exporting to image', status: 'done', durationMs: 130 },
];

describe('cli/progress', () => {
  it('plain: BuildKit numbering and labels, metadata steps left out, blank lines between steps, no colour', () => {
    let out = '';
    const p = createProgress('plain', { write: (s) => void (out += s), isTTY: false });
    for (const e of [...events.slice(0, 4), ...exportEvents]) p.onEvent(e);
    p.close();
    assert.doesNotMatch(out, /\x1b\[/);
    assert.equal(
      out,
      '#1 [app 1/2] FROM docker.io/library/busybox:latest\n#1 DONE 0.0s\n\n' +
        '#2 exporting to image\n#2 exporting layers done\n#2 naming to docker.io/library/app:1 0.1s done\n#2 DONE 0.1s\n',
    );
  });

  it('plain: output lines carry the step number and its time; an error is marked once, without its message', () => {
    let out = '';
    const p = createProgress('plain', { write: (s) => void (out += s), isTTY: false });
    for (const e of events) p.onEvent(e);
    p.close();
    assert.match(out, /^#2 \[app 2\/2\] RUN make$/m);
    assert.match(out, /^#2 \d+\.\d{3} compiling$/m);
    assert.match(out, /^#2 ERROR$/m);
    assert.doesNotMatch(out, /ENV A=1/);
    assert.doesNotMatch(out, /exit code: 2/, 'the error is printed once, by the CLI when the build ends');
  });

  it('tty: finished steps with right-aligned times, live running steps, a failed step keeps its output, a FINISHED line', async () => {
    let out = '';
    const p = createProgress('tty', { write: (s: string) => void (out += s), isTTY: true, columns: 60 } as never);
    for (const e of events.slice(0, 6)) p.onEvent(e);
    await new Promise((r) => setTimeout(r, 250));
    assert.match(strip(out), /\[\+\] Building \d+\.\ds \(1\/2\)\n => \[app 2\/2\] RUN make {2,}\d+\.\ds\n {4}compiling\n/);
    p.onEvent(events[6]!);
    for (const e of exportEvents) p.onEvent(e);
    p.close();
    const lines = strip(out).split('\n');
    const row = (start: string): string => lines.find((l) => l.startsWith(start)) ?? '';
    assert.match(row(' => [app 1/2] FROM'), /^ => \[app 1\/2\] FROM docker\.io\/library\/busybox:latest {2,}0\.0s$/);
    assert.equal(row(' => [app 1/2] FROM').length, 60, 'the time is flush with the right edge');
    assert.match(row(' => ERROR [app 2/2] RUN make'), /^ => ERROR \[app 2\/2\] RUN make +\d+\.\ds$/);
    assert.match(strip(out), / => ERROR \[app 2\/2\] RUN make +\d+\.\ds\n {4}compiling\n/);
    assert.match(row(' => => naming to'), /^ => => naming to docker\.io\/library\/app:1 +0\.1s$/);
    assert.match(lines.filter(Boolean).at(-1)!, /^\[\+\] Building \d+\.\ds \(3\/3\) FINISHED$/);
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
