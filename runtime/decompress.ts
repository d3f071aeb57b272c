/**
 * bzip2 and xz decompression by the system tools, streamed: Node has neither codec, and no
 * npm package in this tree decodes them (a pure-JS decoder would add a dependency and run
 * several times slower than the C tools). Only runtime/ spawns processes, so it lives here.
 * Memory stays flat: the source is piped to the tool's stdin and its stdout is read with
 * backpressure; nothing is buffered beyond the pipes.
 */
import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { RuntimeSetupError } from './errors.js';

export type ExternalCodec = 'bzip2' | 'xz';

/** stderr kept for the error message. */
const STDERR_LIMIT = 4096;

/**
 * The decompressed bytes of `source`, read through `bzip2 -dc` or `xz -dc`. The stream errors
 * (RuntimeSetupError, TSB_RUNTIME_SETUP) when the tool is missing or rejects the data; destroying
 * it early (a reader that needs only the head) stops the tool.
 */
export function decompressWith(codec: ExternalCodec, source: Readable): Readable {
  const out = new PassThrough();
  const child = spawn(codec, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < STDERR_LIMIT) stderr += d;
  });
  child.stdin.on('error', () => {}); // EPIPE when the tool exits (or is stopped) before reading all
  source.on('error', (e) => out.destroy(e));
  source.pipe(child.stdin);
  // end only after a clean exit: a truncated or corrupt input must not look like a short archive
  child.stdout.pipe(out, { end: false });
  child.on('error', (e) => out.destroy(new RuntimeSetupError(`cannot run ${codec} to decompress: ${e.message}`, { tool: codec })));
  child.on('close', (code, signal) => {
    if (out.destroyed) return;
    if (code === 0) out.end();
    else out.destroy(new RuntimeSetupError(`${codec} -dc failed (${code ?? signal}): ${stderr.trim()}`, { tool: codec, stderr }));
  });
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    source.destroy();
  });
  return out;
}
