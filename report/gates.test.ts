import assert from 'node:assert/strict';
import { analyzeImage } from './analyze.js';
import { GateConfigError } from './errors.js';
import { checkGates, parseDiveCi, type Gates } from './gates.js';
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
});
