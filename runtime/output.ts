/**
 * A step's output: every byte goes to the log file (never clipped), complete lines go to the
 * caller as they arrive, and the last 20 lines are kept for error messages.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';

export const LAST_LINES = 20;

export class StepOutput {
  readonly #log: WriteStream;
  readonly #last: string[] = [];
  readonly #partial = { stdout: '', stderr: '' };
  readonly #onOutput: ((stream: 'stdout' | 'stderr', line: string) => void) | undefined;

  constructor(
    readonly logFile: string,
    onOutput?: (stream: 'stdout' | 'stderr', line: string) => void,
  ) {
    this.#log = createWriteStream(logFile, { flags: 'a' });
    this.#log.on('error', () => {}); // a full disk must not crash the build; the step result still reports
    this.#onOutput = onOutput;
  }

  attach(stream: 'stdout' | 'stderr', readable: Readable | null): void {
    readable?.on('data', (b: Buffer) => this.write(stream, b));
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.#log.write(chunk);
    const text = this.#partial[stream] + chunk.toString('utf8');
    const lines = text.split('\n');
    this.#partial[stream] = lines.pop() ?? '';
    for (const l of lines) this.#line(stream, l);
  }

  /** A line that did not come from the container (the runtime's own error, a timeout note). */
  note(line: string): void {
    this.#log.write(line + '\n');
    this.#line('stderr', line);
  }

  #line(stream: 'stdout' | 'stderr', raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    this.#last.push(line);
    if (this.#last.length > LAST_LINES) this.#last.shift();
    try {
      this.#onOutput?.(stream, line);
    } catch {
      /* a throwing progress display must not break the step */
    }
  }

  lastLines(): string[] {
    return [...this.#last];
  }

  async close(): Promise<void> {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.#partial[s] !== '') {
        const l = this.#partial[s];
        this.#partial[s] = '';
        this.#line(s, l);
      }
    }
    await new Promise<void>((resolve) => this.#log.end(resolve));
  }
}
