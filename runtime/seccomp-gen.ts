/**
 * Regenerates `runtime/seccomp-default.json` (the shipped amd64 profile) from the moby-format
 * profile: `npx tsx runtime/seccomp-gen.ts [/usr/share/containers/seccomp.json] > runtime/seccomp-default.json`.
 */
import { readFileSync } from 'node:fs';
import { convertSeccomp, MOBY_PROFILE_PATH, type MobySeccompProfile } from './seccomp.js';
import { DEFAULT_CAPS } from './spec.js';

const src = process.argv[2] ?? MOBY_PROFILE_PATH;
const profile = JSON.parse(readFileSync(src, 'utf8')) as MobySeccompProfile;
process.stdout.write(JSON.stringify(convertSeccomp(profile, DEFAULT_CAPS, 'x64'), null, 1) + '\n');
