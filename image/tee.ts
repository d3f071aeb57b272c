/**
 * One stream read twice: a layer going to the store and, in the same pass, to an index or a
 * snapshot. Each branch gets every chunk (the slower one sets the pace, so memory stays
 * bounded); an error of the source reaches both. A branch whose consumer gave up is detached
 * and drained, so the other is never stalled by it.
 */
import { PassThrough, type Readable } from 'node:stream';

export interface Tee {
  main: PassThrough;
  side: PassThrough;
  /** Stops feeding `side` (its consumer failed); `main` goes on. */
  detachSide(): void;
}

export function tee(src: Readable): Tee {
  const main = new PassThrough({ highWaterMark: 1 << 20 });
  const side = new PassThrough({ highWaterMark: 1 << 20 });
  // A branch may have no reader when the source fails: its consumer has not started
  // yet (the store awaits a stat first; a small blob is buffered whole) or already
  // gave up. Without a listener that 'error' event crashes the process; a reader
  // that comes later still gets the error (the stream stays errored).
  for (const branch of [main, side]) branch.on('error', () => {});
  src.on('error', (e) => {
    main.destroy(e);
    side.destroy(e);
  });
  src.pipe(main);
  src.pipe(side);
  return {
    main,
    side,
    detachSide: () => {
      src.unpipe(side);
      side.resume();
    },
  };
}
