/**
 * A small seeded fuzzer for the input decoders (no dependency): each target
 * mutates a corpus of real inputs with a deterministic PRNG and asserts that
 * the decoder either succeeds or throws a branded tsbuild error — never a
 * TypeError, RangeError or stack overflow, never a hang. CI runs a fixed seed
 * for a few seconds per target; FUZZ_SEED and FUZZ_SECONDS run it longer
 * locally. A failure prints the seed, the iteration and the input (base64),
 * which then becomes a table case in the decoder's unit test.
 */
const BRAND = Symbol.for('tsbuild.error');

/** mulberry32: tiny, fast, good enough to drive mutations; the same seed gives the same run. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** 0 <= n < max */
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

export function isBranded(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

export const FUZZ_SEED = Number(process.env['FUZZ_SEED'] ?? 20240611);
/** Seconds per target (CI: 3). */
export const FUZZ_SECONDS = Number(process.env['FUZZ_SECONDS'] ?? 3);
/** One input taking this long is a hang (or a quadratic blow-up) in the making. */
const SLOW_CASE_MS = Number(process.env['FUZZ_SLOW_MS'] ?? 2000);

export interface FuzzFinding {
  iteration: number;
  input: string;
  error: string;
}

/**
 * Runs `check` on mutated inputs for FUZZ_SECONDS; returns the first finding
 * (an unbranded error, or a case slower than SLOW_CASE_MS), or undefined.
 */
export async function fuzz<T>(o: {
  name: string;
  generate: (rng: Rng) => T;
  check: (input: T) => unknown;
  show: (input: T) => string;
  maxIterations?: number;
}): Promise<{ iterations: number; finding?: FuzzFinding }> {
  const rng = new Rng(FUZZ_SEED ^ hash(o.name));
  const end = Date.now() + FUZZ_SECONDS * 1000;
  let i = 0;
  for (; Date.now() < end && i < (o.maxIterations ?? Infinity); i++) {
    const input = o.generate(rng);
    const t0 = Date.now();
    let failure: string | undefined;
    try {
      await withTimeout(Promise.resolve().then(() => o.check(input)), SLOW_CASE_MS * 5);
    } catch (e) {
      if (!isBranded(e)) failure = `${(e as Error)?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack?.split('\n').slice(1, 6).join('\n')}`;
    }
    const ms = Date.now() - t0;
    if (failure === undefined && ms > SLOW_CASE_MS) failure = `slow: ${ms} ms for one input`;
    if (failure !== undefined) return { iterations: i + 1, finding: { iteration: i, input: o.show(input), error: failure } };
  }
  return { iterations: i };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hang: no result after ${ms} ms`)), ms)));
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Byte-level mutations shared by the targets. */
export function mutateBytes(rng: Rng, input: Buffer, dictionary: readonly Buffer[] = []): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length ? rng.int(b.length) : 0;
    switch (rng.int(7)) {
      case 0: // flip a bit
        if (b.length) b[at] = b[at]! ^ (1 << rng.int(8));
        break;
      case 1: // set a byte to an interesting value
        if (b.length) b[at] = rng.pick([0, 0x20, 0x30, 0x37, 0x7f, 0x80, 0xff, 0x0a, 0x5c]);
        break;
      case 2: // truncate
        b = b.subarray(0, at);
        break;
      case 3: // delete a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(64)))]);
        break;
      case 4: // duplicate a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + rng.int(512)), b.subarray(at)]);
        break;
      case 5: // insert a dictionary token
        if (dictionary.length) b = Buffer.concat([b.subarray(0, at), rng.pick(dictionary), b.subarray(at)]);
        break;
      default: // insert random bytes
        b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + rng.int(8) }, () => rng.int(256))), b.subarray(at)]);
    }
  }
  return b;
}
