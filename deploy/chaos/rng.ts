/**
 * A seeded pseudo-random generator (mulberry32 over a 32-bit FNV-1a hash of the seed), so that a
 * chaos run is replayable from its seed. `fork(label)` derives an independent stream: the
 * schedule, and each round's workload, draw from streams of their own, so the workload of one
 * round (which depends on timing) never shifts the faults of the next.
 */
import { seededRandom } from '../../core/index.js'

function fnv1a (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}

export class Rng {
  private readonly draw: () => number

  constructor (readonly seed: string) {
    this.draw = seededRandom(fnv1a(seed) || 0x9e3779b9)
  }

  /** Uniform in [0, 1). */
  next (): number { return this.draw() }

  /** Integer in [lo, hi] (both included). */
  int (lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }

  chance (p: number): boolean { return this.next() < p }

  pick<T> (items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list')
    return items[Math.floor(this.next() * items.length)]!
  }

  shuffle<T> (items: readonly T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1))
      ;[out[i], out[j]] = [out[j]!, out[i]!]
    }
    return out
  }

  fork (label: string): Rng { return new Rng(`${this.seed}/${label}`) }
}
