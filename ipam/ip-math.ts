/**
 * Address math for IPAM through ip-num: parsing and formatting of IPv4/IPv6 addresses and CIDR
 * prefixes, containment and overlap of prefixes. The rest of the layer works on the bigint values
 * ip-num yields (an address is its 32- or 128-bit number), so rings and allocators are
 * family-agnostic and the hot path does integer compares instead of object allocations.
 */
import { IPv4, IPv4CidrRange, IPv6, IPv6CidrRange, RangedSet, Validator, collapseIPv6Number } from 'ip-num'

export type Family = 4 | 6

export interface ParsedPrefix {
  family: Family
  /** Network address (the first of the prefix). */
  first: bigint
  /** Last address (IPv4 broadcast). */
  last: bigint
  bits: number
  size: bigint
  /** Canonical text, e.g. "10.0.0.0/24", "2001:db8::/64". */
  cidr: string
  /** The written form had host bits set (e.g. "10.0.0.5/24"). */
  hostBits: boolean
  range: IPv4CidrRange | IPv6CidrRange
}

export interface ParsedAddress { family: Family, value: bigint }

export const MAX_BITS: Readonly<Record<Family, number>> = { 4: 32, 6: 128 }

/** Every address of a family as one interval: what the cluster's pool-space rings cover. */
export function universe (family: Family): { first: bigint, last: bigint } {
  return { first: 0n, last: (1n << BigInt(MAX_BITS[family])) - 1n }
}

export function parseAddress (s: string): ParsedAddress | undefined {
  if (typeof s !== 'string' || s.length === 0 || s.length > 64 || s.includes('/')) return undefined
  if (Validator.isValidIPv4String(s)[0]) {
    try { return { family: 4, value: IPv4.fromString(s).getValue() } } catch { return undefined }
  }
  if (Validator.isValidIPv6String(s)[0]) {
    try { return { family: 6, value: IPv6.fromString(s).getValue() } } catch { return undefined }
  }
  return undefined
}

export function parsePrefix (s: string): ParsedPrefix | undefined {
  if (typeof s !== 'string' || s.length > 64) return undefined
  const slash = s.indexOf('/')
  if (slash <= 0) return undefined
  const addr = parseAddress(s.slice(0, slash))
  const bitsText = s.slice(slash + 1)
  if (addr === undefined || !/^\d{1,3}$/.test(bitsText)) return undefined
  const bits = Number(bitsText)
  if (bits > MAX_BITS[addr.family]) return undefined
  try {
    const range = addr.family === 4 ? IPv4CidrRange.fromCidr(s) : IPv6CidrRange.fromCidr(s)
    const first = range.getFirst().getValue()
    return {
      family: addr.family,
      first,
      last: range.getLast().getValue(),
      bits,
      size: range.getSize(),
      cidr: formatPrefix(addr.family, first, bits),
      hostBits: first !== addr.value,
      range
    }
  } catch {
    return undefined
  }
}

export function formatAddress (family: Family, value: bigint): string {
  if (family === 4) {
    // Hot path (every address handed out): ip-num formats through binary strings, ~1.3 µs; this
    // is the same dotted quad (checked against ip-num in the tests) at a few ns.
    const n = Number(value)
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
  }
  return collapseIPv6Number(IPv6.fromBigInt(value).toString())
}

/** ip-num's own formatting, for the tests that check the fast path. */
export function formatAddressSlow (family: Family, value: bigint): string {
  return family === 4 ? IPv4.fromNumber(value).toString() : collapseIPv6Number(IPv6.fromBigInt(value).toString())
}

export function formatPrefix (family: Family, value: bigint, bits: number): string {
  return `${formatAddress(family, value)}/${bits}`
}

/**
 * Do two prefixes share an address? Compared on the bounds ip-num parsed: this runs against every
 * known pool on each pool request, and ip-num's own `isOverlapping` recomputes masks through
 * strings (~25 µs a call). `prefixesOverlapIpNum` is the reference the tests check it against.
 */
export function prefixesOverlap (a: ParsedPrefix, b: ParsedPrefix): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last
}

/**
 * ip-num's CIDR overlap (counts containment both ways, the only way two prefixes meet; its
 * RangedSet overlap misses ranges sharing exactly one end address, so arbitrary intervals are
 * compared as integers in ranges.ts).
 */
export function prefixesOverlapIpNum (a: ParsedPrefix, b: ParsedPrefix): boolean {
  if (a.family !== b.family) return false
  return a.family === 4
    ? (a.range as IPv4CidrRange).isOverlapping(b.range as IPv4CidrRange)
    : (a.range as IPv6CidrRange).isOverlapping(b.range as IPv6CidrRange)
}

/** Is `inner` inside `outer` (equal counts)? */
export function prefixContains (outer: ParsedPrefix, inner: ParsedPrefix): boolean {
  if (outer.family !== inner.family) return false
  return outer.family === 4
    ? (outer.range as IPv4CidrRange).contains(inner.range as IPv4CidrRange)
    : (outer.range as IPv6CidrRange).contains(inner.range as IPv6CidrRange)
}

export function prefixContainsAddress (p: ParsedPrefix, a: ParsedAddress): boolean {
  return p.family === a.family && a.value >= p.first && a.value <= p.last
}

/** An interval as text: CIDR when it is one ("10.0.0.0/25"), else "first-last". */
export function rangeText (family: Family, first: bigint, last: bigint): string {
  const set = family === 4
    ? new RangedSet(IPv4.fromNumber(first), IPv4.fromNumber(last))
    : new RangedSet(IPv6.fromBigInt(first), IPv6.fromBigInt(last))
  if (set.isCidrAble()) {
    const bits = MAX_BITS[family] - log2(last - first + 1n)
    return formatPrefix(family, first, bits)
  }
  return `${formatAddress(family, first)}-${formatAddress(family, last)}`
}

/**
 * Addresses never handed out: IPv4 network and broadcast (not on /31 and /32); IPv6 the subnet-router anycast (not on
 * /127 and /128).
 */
export function reservedAddresses (p: ParsedPrefix): bigint[] {
  if (p.family === 4) return p.bits >= 31 ? [] : [p.first, p.last]
  return p.bits >= 127 ? [] : [p.first]
}

/** The gateway's address: the first one that is not reserved. */
export function firstUsable (p: ParsedPrefix): bigint {
  return reservedAddresses(p).includes(p.first) ? p.first + 1n : p.first
}

/** floor(log2(n)) for n >= 1. */
export function log2 (n: bigint): number {
  let k = 0
  while (n > 1n) { n >>= 1n; k++ }
  return k
}
