/**
 * Errors of parser/. parser/ imports nothing of ours, so it restates the
 * `tsbuild.error` brand (Symbol.for makes it the same symbol everywhere).
 */
export const ERROR_BRAND: unique symbol = Symbol.for('tsbuild.error') as never;

export class ParserBaseError extends Error {
  readonly [ERROR_BRAND] = true;
  constructor(
    readonly code: string,
    message: string,
    readonly data: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}
