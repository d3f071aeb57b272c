import assert from 'node:assert/strict';
import { InvalidSizeError } from './errors.js';
import { formatDelta, formatPercent, formatSize, parseSize } from './units.js';

describe('report/units', () => {
  const sizes: Array<[string, number]> = [
    ['0', 0],
    ['512', 512],
    ['512B', 512],
    ['100k', 100_000],
    ['100 kB', 100_000],
    ['100KiB', 102_400],
    ['10MB', 10_000_000],
    ['10mb', 10_000_000],
    ['10Mi', 10 * 2 ** 20],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['1.5GB', 1_500_000_000],
    ['2TiB', 2 * 2 ** 40],
    ['1,000', 1000],
    [' 20MB ', 20_000_000],
    ['0.5', 0],
  ];
  for (const [input, want] of sizes) {
    it(`parseSize(${JSON.stringify(input)}) = ${want}`, () => assert.equal(parseSize(input), want));
  }
  for (const bad of ['', 'MB', '10XB', '-5MB', '1e3', 'ten', '10 M B']) {
    it(`parseSize(${JSON.stringify(bad)}) throws a typed error`, () => {
      assert.throws(() => parseSize(bad), (e: unknown) => e instanceof InvalidSizeError && e.code === 'TSB_REPORT_BAD_SIZE');
    });
  }
  it('formats sizes, deltas and percents', () => {
    const table: Array<[number, string]> = [
      [0, '0 B'],
      [1023, '1023 B'],
      [1024, '1.0 KiB'],
      [1536, '1.5 KiB'],
      [10 * 2 ** 20, '10.0 MiB'],
      [3 * 2 ** 30, '3.0 GiB'],
      [-2048, '-2.0 KiB'],
    ];
    for (const [n, s] of table) assert.equal(formatSize(n), s);
    assert.equal(formatDelta(2048), '+2.0 KiB');
    assert.equal(formatDelta(-10), '-10 B');
    assert.equal(formatPercent(0.1234), '12.3%');
  });
});
