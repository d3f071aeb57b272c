/** The JSON form of a SizeReport (documented in SCHEMA.md): stable key order, 2-space indent. */
import type { SizeReport } from './types.js';

export function renderJson(report: SizeReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
