// setxattr.mjs FILE NAME VALUE: sets an extended attribute (no setfattr on a minimal Debian).
// VALUE "hex:…" is binary (security.capability needs a vfs_cap_data struct).
import { createRequire } from 'node:module';
const require = createRequire(new URL('../../package.json', import.meta.url));
const { setAttributeSync } = require('@napi-rs/xattr');
const [file, name, value] = process.argv.slice(2);
setAttributeSync(file, name, value.startsWith('hex:') ? Buffer.from(value.slice(4), 'hex') : value);
