/**
 * Reading a line from the terminal for `login`: the username echoed, the password not (raw mode,
 * nothing echoed, Ctrl-C cancels). Only for a TTY stdin; scripts use --password-stdin.
 */
import type { ReadStream } from 'node:tty';
import { UsageError } from './args.js';
import type { Io } from './common.js';

/** Longest answer accepted: a pasted file is no password. */
const MAX_ANSWER = 4096;

export async function promptLine(question: string, io: Io, opts: { hidden?: boolean; stdin?: ReadStream } = {}): Promise<string> {
  const stdin = opts.stdin ?? (process.stdin as ReadStream);
  const hidden = opts.hidden === true;
  // echo off before the prompt shows: an answer typed (or sent) the moment it appears is not echoed
  if (hidden) stdin.setRawMode(true);
  io.out(question);
  stdin.setEncoding('utf8');
  stdin.resume();
  try {
    return await new Promise<string>((settle, fail) => {
      let answer = '';
      const done = (e?: Error): void => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        if (e) fail(e);
        else settle(answer);
      };
      const onEnd = (): void => done(answer === '' ? new UsageError('login cancelled: end of input at the prompt') : undefined);
      const onData = (chunk: string): void => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') return done();
          if (ch === '\u0003') return done(new UsageError('login cancelled'));
          if (ch === '\u0004' && answer === '') return onEnd();
          if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
          else answer += ch;
          if (answer.length > MAX_ANSWER) return done(new UsageError(`the answer is longer than ${MAX_ANSWER} characters`));
        }
      };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
    });
  } finally {
    if (hidden) {
      stdin.setRawMode(false);
      io.out('\n');
    }
    stdin.pause();
  }
}
