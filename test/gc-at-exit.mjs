// Preloaded (`node --expose-gc --import ./test/gc-at-exit.mjs`) by test/quiet-stderr.e2e.test.ts:
// a full garbage collection when the CLI is done, so a FileHandle nobody closed makes Node print
// its "Closing file descriptor N on garbage collection" warning (DEP0137) now instead of by chance.
process.once('beforeExit', () => {
  globalThis.gc?.();
  setTimeout(() => {}, 100); // the warning is emitted on a later tick
});
