/**
 * Cheap, stable hashes for anti-entropy digests. Two independent 32-bit FNV-1a words per entry
 * (64 bits in all) are XOR-ed per bucket, so a digest is order independent and a bucket's digest
 * changes with any entry's version in it.
 */
const FNV_PRIME = 0x01000193

function fnv1a (s: string, seed: number): number {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, FNV_PRIME)
  }
  // final avalanche (murmur3 fmix32) so that nearby inputs spread over the buckets
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const SEED_A = 0x811c9dc5
const SEED_B = 0x5bd1e995

/** Hash of an entry's identity (table, key): picks its bucket, the same for every version. */
export function keyHash (table: string, key: string): number {
  return fnv1a(`${table}\u0000${key}`, SEED_A)
}

/** Two 32-bit words over an entry's version: (table, key, owner, ltime, deleted). */
export function versionHash (table: string, key: string, owner: string, ltime: number, deleted: boolean): [number, number] {
  const s = `${table}\u0000${key}\u0000${owner}\u0000${ltime}\u0000${deleted ? 1 : 0}`
  return [fnv1a(s, SEED_A), fnv1a(s, SEED_B)]
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
