/** Go time.ParseDuration, table-driven (cases from Go's own behaviour). */
import assert from 'node:assert/strict';
import { parseDuration } from './duration.js';
import { DurationError } from './errors.js';

describe('duration: parseDuration', () => {
  const ok: [string, number][] = [
    ['0', 0],
    ['+0', 0],
    ['-0', 0],
    ['5s', 5e9],
    ['30s', 30e9],
    ['1478s', 1478e9],
    ['-5s', -5e9],
    ['+5s', 5e9],
    ['5.0s', 5e9],
    ['5.6s', 5.6e9],
    ['5.s', 5e9],
    ['.5s', 0.5e9],
    ['1.004s', 1.004e9],
    ['100.00100s', 100.001e9],
    ['10ns', 10],
    ['11us', 11e3],
    ['12µs', 12e3],
    ['12μs', 12e3],
    ['13ms', 13e6],
    ['15m', 15 * 60e9],
    ['16h', 16 * 3600e9],
    ['3h30m', (3 * 3600 + 30 * 60) * 1e9],
    ['10.5s4m', 4 * 60e9 + 10.5e9],
    ['-2m3.4s', -(2 * 60e9 + 3.4e9)],
    ['1h2m3s4ms5us6ns', 3600e9 + 2 * 60e9 + 3e9 + 4e6 + 5e3 + 6],
    ['39h9m14.425s', 39 * 3600e9 + 9 * 60e9 + 14.425e9],
    ['52763797000ns', 52763797000],
    ['0.3333333333333333333h', 20 * 60e9],
  ];
  for (const [s, want] of ok) it(`${s} = ${want}ns`, () => assert.equal(parseDuration(s), want));

  const bad: [string, string][] = [
    ['', 'time: invalid duration ""'],
    ['3', 'time: missing unit in duration "3"'],
    ['-', 'time: invalid duration "-"'],
    ['s', 'time: invalid duration "s"'],
    ['.', 'time: invalid duration "."'],
    ['-.', 'time: invalid duration "-."'],
    ['.s', 'time: invalid duration ".s"'],
    ['+.s', 'time: invalid duration "+.s"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['3000000h', 'time: invalid duration "3000000h"'],
    ['9223372036854775808ns', 'time: invalid duration "9223372036854775808ns"'],
  ];
  for (const [s, msg] of bad) {
    it(`rejects ${JSON.stringify(s)}`, () =>
      assert.throws(() => parseDuration(s), (e: Error) => e instanceof DurationError && e.message === msg));
  }
});
