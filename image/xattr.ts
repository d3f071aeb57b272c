/**
 * @napi-rs/xattr, loaded on first use. It is a native addon: loading it (dlopen plus its
 * CommonJS wrapper) costs ~10 ms of start-up, which a cached rebuild — the command people run
 * most — never needs. Only extraction of layers with xattrs and the runtime's snapshots use it.
 *
 * The bundle (scripts/bundle.mjs) ships the platform's binding beside its chunks as
 * `xattr.node`, so dist/bin needs no node_modules; from source the package is used.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { shippedAssetPaths } from './shipped-asset.js';
import { ImageError } from './errors.js';

type Xattr = typeof import('@napi-rs/xattr');
let loaded: Xattr | undefined;

/** The binding's file name beside the bundle; scripts/bundle.mjs writes it. */
export const BUNDLED_XATTR_BINDING = 'xattr.node';

export function xattr(): Xattr {
  return (loaded ??= loadXattr());
}

function loadXattr(): Xattr {
  const require = createRequire(import.meta.url);
  const bundled = shippedAssetPaths(BUNDLED_XATTR_BINDING, import.meta.url).find((path) => existsSync(path));
  try {
    return (bundled !== undefined ? require(bundled) : require('@napi-rs/xattr')) as Xattr;
  } catch (err) {
    // Not a build error: the installation lacks its native part.
    throw new ImageError(
      'TSB_IMAGE_INSTALL_BROKEN',
      `tsbuild installation is incomplete: cannot load the xattr binding (${(err as Error).message.split('\n')[0]}); ` +
        'reinstall tsbuild (npm ci, or npm run build for dist/bin)',
      { module: '@napi-rs/xattr' },
      { cause: err },
    );
  }
}
