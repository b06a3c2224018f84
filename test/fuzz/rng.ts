/** A small seeded PRNG (xorshift128+ folded to 32 bits): fuzz runs replay from their seed. */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    // splitmix32 spreads a small seed over the four words
    let s = seed >>> 0
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next(); this.b = next(); this.c = next(); this.d = next() | 1
  }

  /** 32 random bits. */
  u32 (): number {
    // xoshiro128**
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0
    const t = this.b << 9
    this.c ^= this.a; this.d ^= this.b; this.b ^= this.c; this.a ^= this.d
    this.c ^= t
    this.d = rotl(this.d, 11)
    return r
  }

  /** An integer in [0, n). */
  int (n: number): number { return n <= 0 ? 0 : this.u32() % n }

  chance (p: number): boolean { return this.u32() / 0x1_0000_0000 < p }

  pick<T> (xs: readonly T[]): T { return xs[this.int(xs.length)]! }

  bytes (n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }
}

function rotl (x: number, k: number): number { return ((x << k) | (x >>> (32 - k))) >>> 0 }
