/**
 * ftk's seeded random number generator: xoshiro128** (Blackman & Vigna, 2018) seeded through
 * splitmix32, so that every seed, including 0 and small integers, gives a well-mixed state.
 *
 * Library code never calls `Math.random`: whatever is random takes a `seed` and builds its own
 * `Rng` (scikit-learn's `check_random_state` habit). Same seed, same sequence, on every platform.
 *
 * ```ts
 * const rng = new Rng(42);
 * rng.next();          // float in [0, 1)
 * rng.int(10);         // integer in [0, 10)
 * rng.shuffle([1, 2, 3]);
 * ```
 */
import { OptionsError } from '../errors.js';

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;

  /** @param seed any integer (taken modulo 2^32 after truncation); a non-integer is an error. */
  constructor(seed: number) {
    if (!Number.isFinite(seed) || !Number.isInteger(seed)) {
      throw new OptionsError(`Rng seed must be an integer. Received seed=${seed}.`, {
        code: 'RNG_BAD_SEED',
        suggestion: 'Pass an integer seed such as 0 or 42.',
      });
    }
    // Fold in the high bits so that seeds differing above 2^32 differ.
    const hi = Math.floor(seed / 4294967296) >>> 0;
    const mix = splitmix32((seed >>> 0) ^ Math.imul(hi, 0x9e3779b1));
    this.s0 = mix();
    this.s1 = mix();
    this.s2 = mix();
    this.s3 = mix();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** A float uniformly distributed in [0, 1), with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** An integer uniformly distributed in [0, n), without modulo bias. `n` in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
      throw new OptionsError(`Rng.int(n) needs an integer n in [1, 2^32]. Received n=${n}.`, { code: 'RNG_BAD_RANGE' });
    }
    if (n === 1) return 0;
    const limit = 4294967296 - (4294967296 % n); // accept draws below a multiple of n
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** A standard normal draw (Box-Muller, the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `array` in place (Fisher-Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A new generator whose seed is drawn from this one (for independent sub-streams). */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
