/** One tar entry's metadata, as tsbuild's own tar encoder and decoder see it. */
export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarHeader {
  /** Relative path, `/`-separated, no leading `/` or `./`; directories without trailing slash. */
  path: string;
  type: TarEntryType;
  /** Permission and special bits (07777), not the file type. */
  mode: number;
  uid: number;
  gid: number;
  uname?: string;
  gname?: string;
  /** Bytes of content (files only; 0 otherwise). */
  size: number;
  /** Seconds since the epoch (may be fractional). */
  mtime: number;
  /** Symlink target, or the hardlink's target path (relative, like `path`). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, binary-safe (e.g. security.capability). */
  xattrs?: Record<string, Buffer>;
}
