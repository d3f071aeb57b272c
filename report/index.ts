/** report/: read-only views of images — size analysis, diffs, CI gates, text/JSON/HTML renderings. */
export { analyzeImage, BASE_LAYERS_LABEL } from './analyze.js';
export { diffReports } from './diff.js';
export type { Delta, LayerDiff, PathDiff, SizeDiff } from './diff.js';
export { checkGates, describeGate, parseDiveCi } from './gates.js';
export type { GateResult, Gates } from './gates.js';
export { renderHtml } from './render-html.js';
export { renderJson } from './render-json.js';
export { renderText } from './render-text.js';
export { renderDiffText } from './render-diff.js';
export type { TextOptions } from './render-text.js';
export { formatDelta, formatPercent, formatSize, parseSize } from './units.js';
export { GateConfigError, InvalidSizeError, LayerReadError, ReportError } from './errors.js';
export type * from './types.js';
