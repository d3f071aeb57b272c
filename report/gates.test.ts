import assert from 'node:assert/strict';
import { analyzeImage } from './analyze.js';
import { GateConfigError } from './errors.js';
import { checkGates, describeGate, parseDiveCi, type GateResult, type Gates } from './gates.js';
import { imageOf, MiB } from './test-util.js';
import type { SizeReport } from './types.js';

describe('report/gates', function () {
  this.timeout(30_000);

  describe('parseDiveCi', () => {
    const table: Array<[string, string, Gates]> = [
      ['empty file → dive defaults', '', { minEfficiency: 0.9, maxWastedPercent: 0.1 }],
      [
        'dive README example',
        `rules:
  # If the efficiency is measured below X%, mark as failed.
  lowestEfficiency: 0.95
  # If the amount of wasted space is at least X or larger than X, mark as failed.
  highestWastedBytes: 20MB
  highestUserWastedPercent: 0.20
`,
        { minEfficiency: 0.95, maxWasted: 20_000_000, maxWastedPercent: 0.2 },
      ],
      [
        'disabled rules, quoted values, CRLF',
        'rules:\r\n  lowestEfficiency: "disabled"\r\n  highestWastedBytes: \'1.5GiB\'\r\n  highestUserWastedPercent: disabled\r\n',
        { maxWasted: 1.5 * 2 ** 30 },
      ],
      ['tsbuild extension: wastedMeasure', 'rules:\n  wastedMeasure: dive\n', { minEfficiency: 0.9, maxWastedPercent: 0.1, wastedMeasure: 'dive' }],
    ];
    for (const [name, text, want] of table) it(name, () => assert.deepEqual(parseDiveCi(text), want));

    for (const bad of ['rules:\n  lowestEfficiency: 1.5\n', 'rules:\n  highestWastedBytes: lots\n', 'rules:\n  highestUserWastedPercent: x\n', 'wastedMeasure: both']) {
      it(`rejects ${JSON.stringify(bad)}`, () => {
        assert.throws(() => parseDiveCi(bad), (e: unknown) => e instanceof GateConfigError && e.code === 'TSB_REPORT_BAD_GATE');
      });
    }
  });

  describe('checkGates', () => {
    let r: SizeReport;
    before(async () => {
      // base 1 MiB; +2 MiB file overwritten by a 1 MiB file: reclaimable 2 MiB, dive wasted 3 MiB
      r = await analyzeImage(
        await imageOf([
          { createdBy: 'base', entries: [{ file: 'base.bin', size: MiB }] },
          { createdBy: 'v1', entries: [{ file: 'app.bin', size: 2 * MiB, fill: 1 }] },
          { createdBy: 'v2', entries: [{ file: 'app.bin', size: MiB, fill: 2 }] },
        ]),
      );
      assert.equal(r.reclaimableBytes, 2 * MiB);
      assert.equal(r.diveWastedBytes, 3 * MiB);
    });

    const table: Array<[string, Gates, Array<[string, boolean]>]> = [
      ['nothing configured', {}, []],
      ['size passes', { maxSize: 10 * MiB }, [['maxSize', true]]],
      ['size fails', { maxSize: 3 * MiB }, [['maxSize', false]]],
      ['compressed size passes (filler compresses)', { maxSize: MiB, sizeMeasure: 'compressed' }, [['maxSize', true]]],
      // efficiency = (1 + 1) / (1 + 3) MiB = 0.5
      ['efficiency 0.5 passes ≥ 0.5', { minEfficiency: 0.5 }, [['minEfficiency', true]]],
      ['efficiency 0.5 fails 0.6', { minEfficiency: 0.6 }, [['minEfficiency', false]]],
      ['reclaimable 2 MiB within 2 MiB', { maxWasted: 2 * MiB }, [['maxWasted', true]]],
      ['dive’s 3 MiB over 2 MiB', { maxWasted: 2 * MiB, wastedMeasure: 'dive' }, [['maxWasted', false]]],
      // user bytes 3 MiB: reclaimable 2/3, dive 3/3
      ['percent 0.67 fails 0.5', { maxWastedPercent: 0.5 }, [['maxWastedPercent', false]]],
      ['percent 0.67 passes 0.7', { maxWastedPercent: 0.7 }, [['maxWastedPercent', true]]],
      ['dive percent 1.0 fails 0.7', { maxWastedPercent: 0.7, wastedMeasure: 'dive' }, [['maxWastedPercent', false]]],
      [
        'all at once, from a .dive-ci',
        { ...parseDiveCi('rules:\n  lowestEfficiency: 0.4\n  highestWastedBytes: 1MB\n  highestUserWastedPercent: 0.9\n'), maxSize: 100 * MiB },
        [['maxSize', true], ['minEfficiency', true], ['maxWasted', false], ['maxWastedPercent', true]],
      ],
    ];
    for (const [name, gates, want] of table) {
      it(name, () => {
        const got = checkGates(r, gates);
        assert.deepEqual(got.map((g) => [g.gate, g.passed]), want);
        for (const g of got) assert.equal(typeof g.actual, 'number');
      });
    }
    it('reports limit and actual', () => {
      assert.deepEqual(checkGates(r, { maxWasted: MiB }), [{ gate: 'maxWasted', limit: MiB, actual: 2 * MiB, passed: false }]);
      const [eff] = checkGates(r, { minEfficiency: 0.9 });
      assert.equal(eff!.actual, 0.5);
    });
  });

  describe('caches in the final image count against the wasted gates', () => {
    it('97 MiB of /var/cache/apt fails --max-wasted 20MB although dive’s efficiency is 100%', async () => {
      const r = await analyzeImage(
        await imageOf([
          { createdBy: 'base', entries: [{ file: 'base.bin', size: MiB }] },
          { createdBy: 'RUN apt-get install', entries: [{ file: 'var/cache/apt/archives/big_1.0_amd64.deb', size: 97 * MiB }, { file: 'usr/bin/tool', size: MiB }] },
        ]),
      );
      assert.equal(r.efficiency, 1);
      assert.equal(r.reclaimableBytes, 0);
      const results = checkGates(r, { maxWasted: 20_000_000, maxWastedPercent: 0.5, minEfficiency: 0.9 });
      assert.deepEqual(results.map((g) => [g.gate, g.actual, g.passed]), [
        ['minEfficiency', 1, true],
        ['maxWasted', 97 * MiB, false],
        ['maxWastedPercent', 97 / 98, false],
      ]);
      // dive's own measure does not see the cache
      assert.deepEqual(checkGates(r, { maxWasted: 20_000_000, wastedMeasure: 'dive' }).map((g) => g.passed), [true]);
    });
  });

  describe('describeGate: human units', () => {
    const table: Array<[GateResult, string]> = [
      [{ gate: 'maxWasted', limit: 20_000_000, actual: 101_606_195, passed: false }, 'wasted 96.9 MiB exceeds the limit 19.1 MiB'],
      [{ gate: 'maxWasted', limit: 2 * MiB, actual: MiB, passed: true }, 'wasted 1.0 MiB is within the limit 2.0 MiB'],
      [{ gate: 'maxWasted', limit: MiB, actual: 3 * MiB, passed: false, measure: 'dive' }, "dive's wasted 3.0 MiB exceeds the limit 1.0 MiB"],
      [{ gate: 'maxSize', limit: 1000, actual: 1536, passed: false }, 'size 1.5 KiB exceeds the limit 1000 B'],
      [{ gate: 'minEfficiency', limit: 0.9, actual: 0.5, passed: false }, "dive's efficiency 50.0% is below the limit 90.0%"],
      [{ gate: 'minEfficiency', limit: 0.9, actual: 0.997, passed: true }, "dive's efficiency 99.7% meets the limit 90.0%"],
      [{ gate: 'maxWastedPercent', limit: 0.1, actual: 0.25, passed: false }, 'wasted share of added bytes 25.0% exceeds the limit 10.0%'],
      [{ gate: 'maxWastedPercent', limit: 0.1, actual: Number.POSITIVE_INFINITY, passed: false, measure: 'dive' }, "dive's wasted share of added bytes unbounded (no added bytes) exceeds the limit 10.0%"],
    ];
    for (const [result, want] of table) {
      it(want, () => {
        const text = describeGate(result);
        assert.equal(text, want);
        assert.doesNotMatch(text, /\d{5,}/, 'no raw byte counts');
      });
    }
  });
});
