import type { FlagSpec } from './args.js';

/** dive's CI gates; `analyze` and `build --report` take the same flags. */
export const GATE_FLAGS: FlagSpec[] = [
  { name: 'max-size', type: 'string', valueName: 'SIZE', description: 'gate: fail (exit 3) when the image is larger (e.g. 200MB)' },
  { name: 'min-efficiency', type: 'string', valueName: 'RATIO', description: "gate: dive's efficiency score at least RATIO (0..1)" },
  { name: 'max-wasted', type: 'string', valueName: 'SIZE', description: 'gate: wasted bytes at most SIZE (reclaimable bytes plus package-manager caches in the final image)' },
  { name: 'max-wasted-percent', type: 'string', valueName: 'RATIO', description: 'gate: wasted bytes / bytes added on top of the base at most RATIO (0..1)' },
];
