/**
 * @napi-rs/xattr, loaded on first use. It is a native addon: loading it (dlopen plus its
 * CommonJS wrapper) costs ~10 ms of start-up, which a cached rebuild — the command people run
 * most — never needs. Only extraction of layers with xattrs and the runtime's snapshots use it.
 */
import { createRequire } from 'node:module';

type Xattr = typeof import('@napi-rs/xattr');
let loaded: Xattr | undefined;

export function xattr(): Xattr {
  return (loaded ??= createRequire(import.meta.url)('@napi-rs/xattr') as Xattr);
}
