/**
 * Cheap, stable hashes for anti-entropy digests. Two independent 32-bit FNV-1a words per entry
 * version (64 bits in all) are XOR-ed per bucket, so a digest is order independent and a bucket's
 * digest changes with any entry's version in it. The key hash (which bucket) is the same streaming
 * state taken after "table\0key", so one pass over the characters yields all three.
 */
const FNV_PRIME = 0x01000193
const SEED_A = 0x811c9dc5
const SEED_B = 0x5bd1e995

/** murmur3's fmix32: spreads nearby states over the whole word. */
function fmix (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function fnv1a (s: string, seed: number): number {
  let h = seed
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME)
  return fmix(h)
}

export interface VersionHash { kh: number, h1: number, h2: number }

/** Key hash and the two version words of (table, key, owner, ltime, deleted), in one pass. */
export function versionHash (table: string, key: string, owner: string, ltime: number, deleted: boolean): VersionHash {
  let a = SEED_A
  let b = SEED_B
  for (let i = 0; i < table.length; i++) {
    const c = table.charCodeAt(i)
    a = Math.imul(a ^ c, FNV_PRIME)
    b = Math.imul(b ^ c, FNV_PRIME)
  }
  a = Math.imul(a, FNV_PRIME) // separator (^ 0)
  b = Math.imul(b, FNV_PRIME)
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i)
    a = Math.imul(a ^ c, FNV_PRIME)
    b = Math.imul(b ^ c, FNV_PRIME)
  }
  const kh = fmix(a)
  a = Math.imul(a, FNV_PRIME)
  b = Math.imul(b, FNV_PRIME)
  for (let i = 0; i < owner.length; i++) {
    const c = owner.charCodeAt(i)
    a = Math.imul(a ^ c, FNV_PRIME)
    b = Math.imul(b ^ c, FNV_PRIME)
  }
  // ltime as two 26-bit halves (safe integers), then the deleted flag
  const lo = ltime % 0x4000000
  const hi = Math.floor(ltime / 0x4000000)
  a = Math.imul(Math.imul(Math.imul(a ^ lo, FNV_PRIME) ^ hi, FNV_PRIME) ^ (deleted ? 1 : 2), FNV_PRIME)
  b = Math.imul(Math.imul(Math.imul(b ^ lo, FNV_PRIME) ^ hi, FNV_PRIME) ^ (deleted ? 1 : 2), FNV_PRIME)
  return { kh, h1: fmix(a), h2: fmix(b) }
}

export function hex32 (n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0')
}

/** Smallest power of two >= n/8, within [1, max]: about 8 entries a bucket. */
export function bucketCountFor (entries: number, max: number): number {
  let b = 1
  while (b * 8 < entries && b < max) b *= 2
  return b
}

/** A 64-bit digest (hex) of a string, for comparing summaries cheaply. */
export function digestOf (s: string): string {
  return `${hex32(fnv1a(s, SEED_A))}${hex32(fnv1a(s, SEED_B))}`
}
