/** What the plain and tty renderers share: BuildKit's step numbers and step titles. */
import type { BuildEvent, StepEvent } from '../builder/events.js';

/** `[label] NAME` (or NAME alone, e.g. `exporting to image`), on one line. */
export function stepTitle(e: StepEvent): string {
  return `${e.label !== undefined ? `[${e.label}] ` : ''}${oneLine(e.name)}`;
}

/**
 * BuildKit's `#N`: steps are numbered in the order they start, shown ones only; events of a step
 * that is hidden or never started have no number.
 */
export class StepNumbers {
  readonly #byId = new Map<string, number>();
  of(e: BuildEvent): number | undefined {
    if (e.type === 'message') return undefined;
    const known = this.#byId.get(e.id);
    if (known !== undefined || e.type !== 'step' || e.status !== 'started' || e.hidden) return known;
    const n = this.#byId.size + 1;
    this.#byId.set(e.id, n);
    return n;
  }
  get count(): number {
    return this.#byId.size;
  }
}

/** The first line of a multi-line instruction (a heredoc, a continued RUN), marked as cut. */
export function oneLine(s: string): string {
  const first = s.split('\n')[0] ?? '';
  return s.includes('\n') ? `${first} …` : first;
}
