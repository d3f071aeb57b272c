import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';

/** Append to a case's change file; remembers the original so restore() puts bytes and mtime back. */
export class ChangeFile {
  private readonly original: Buffer;
  private readonly atime: Date;
  private readonly mtime: Date;
  private n = 0;
  constructor(readonly path: string) {
    this.original = readFileSync(path);
    const st = statSync(path);
    this.atime = st.atime;
    this.mtime = st.mtime;
  }
  change(): void {
    this.n++;
    // leading newline: never glue the comment onto a last line without one
    writeFileSync(this.path, Buffer.concat([this.original, Buffer.from(`\n# bench change ${this.n} ${process.hrtime.bigint()}\n`)]));
  }
  restore(): void {
    writeFileSync(this.path, this.original);
    utimesSync(this.path, this.atime, this.mtime);
  }
}
