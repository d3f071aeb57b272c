/** What the plain and tty renderers share: BuildKit's step numbers and step titles. */
import type { BuildEvent, StepEvent } from '../builder/events.js';

/** `[label] NAME` (or NAME alone, e.g. `exporting to image`), on one line. */
export function stepTitle(event: StepEvent): string {
  return `${event.label !== undefined ? `[${event.label}] ` : ''}${oneLine(event.name)}`;
}

/**
 * BuildKit's `#N`: steps are numbered in the order they start, shown ones only; events of a step
 * that is hidden or never started have no number.
 */
export class StepNumbers {
  readonly #byId = new Map<string, number>();
  of(event: BuildEvent): number | undefined {
    if (event.type === 'message') return undefined;
    const known = this.#byId.get(event.id);
    if (known !== undefined || event.type !== 'step' || event.status !== 'started' || event.hidden) return known;
    const n = this.#byId.size + 1;
    this.#byId.set(event.id, n);
    return n;
  }
  get count(): number {
    return this.#byId.size;
  }
}

/** The first line of a multi-line instruction (a heredoc, a continued RUN), marked as cut. */
export function oneLine(text: string): string {
  const first = text.split('\n')[0] ?? '';
  return text.includes('\n') ? `${first} …` : first;
}
