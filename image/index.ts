/**
 * image/'s public API: the OCI/Docker formats, lazy images and their edits.
 * Everything here is re-exported from the module that owns it.
 */
export * from './digest.js';
export * from './types.js';
export * from './mediatypes.js';
export * from './image.js';
export * from './errors.js';
export * from './tar/header.js';
export * from './tar/writer.js';
export * from './tar/reader.js';
export * from './compress.js';
export * from './layer-encode.js';
export * from './extract.js';
export * from './platform.js';
export * from './partial.js';
export * from './mutate.js';
export * from './validate.js';
export * from './random.js';
export * from './oci-layout.js';
export * from './docker-archive.js';
