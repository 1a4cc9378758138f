/** Deterministic packet mutations for fuzz tests: the same seed, the same packets. */

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

/** One mutation of `base`: flipped bits, overwritten runs, truncation, extension, or random bytes. */
export function mutate(base: Buffer, r: () => number): Buffer {
  const b = Buffer.from(base);
  const pick = (n: number) => Math.floor(r() * n);
  switch (pick(6)) {
    case 0: {
      for (let i = 0, n = 1 + pick(8); i < n; i++) b[pick(b.length)]! ^= 1 << pick(8);
      return b;
    }
    case 1: {
      const at = pick(b.length);
      for (let i = at; i < Math.min(b.length, at + 1 + pick(16)); i++) b[i] = pick(256);
      return b;
    }
    case 2:
      return b.subarray(0, pick(b.length));
    case 3:
      return Buffer.concat([b, Buffer.from(Array.from({ length: pick(600) }, () => pick(256)))]);
    case 4:
      return Buffer.from(Array.from({ length: pick(700) }, () => pick(256)));
    default: {
      // Option-area surgery: a random length byte in the options, where loops and overruns hide.
      const at = 240 + pick(Math.max(1, b.length - 240));
      if (at < b.length) b[at] = [0, 52, 255, pick(256)][pick(4)]!;
      if (at + 1 < b.length) b[at + 1] = pick(256);
      return b;
    }
  }
}
