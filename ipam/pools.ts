/**
 * Predefined pools (Docker's default-address-pools: a list of `{base, size}`), the search for a free
 * pool inside the space a node owns, and pool ids.
 */
import { MAX_BITS, parsePrefix, type Family, type ParsedPrefix } from './ip-math.js'
import {
  alignedBlockCount, expandToUnit, intersect, normalize, pickAlignedBlock, subtract, type Interval
} from './ranges.js'

export interface PredefinedPool {
  /** CIDR the pools are cut from. */
  base: string
  /** Prefix length of each pool. */
  size: number
}

/** Docker's global default: 10.0.0.0/8 in /24s. */
export const DEFAULT_GLOBAL_POOLS: readonly PredefinedPool[] = Object.freeze([{ base: '10.0.0.0/8', size: 24 }])

/** Docker's local defaults: three /16s whole, three /14s in /16s, 192.168.0.0/16 in /20s. */
export const DEFAULT_LOCAL_POOLS: readonly PredefinedPool[] = Object.freeze([
  { base: '172.17.0.0/16', size: 16 },
  { base: '172.18.0.0/16', size: 16 },
  { base: '172.19.0.0/16', size: 16 },
  { base: '172.20.0.0/14', size: 16 },
  { base: '172.24.0.0/14', size: 16 },
  { base: '172.28.0.0/14', size: 16 },
  { base: '192.168.0.0/16', size: 20 }
])

export interface ResolvedPool {
  base: ParsedPrefix
  size: number
  /** Addresses per pool. */
  unit: bigint
}

/** Validate a predefined pool list up front, with a message naming the bad entry. */
export function resolvePredefined (list: readonly PredefinedPool[]): ResolvedPool[] {
  return list.map((p, i) => {
    const base = parsePrefix(p.base)
    if (base === undefined || base.hostBits) {
      throw new RangeError(`predefined pool ${i}: invalid base ${String(p.base)}`)
    }
    if (!Number.isInteger(p.size) || p.size < base.bits || p.size > MAX_BITS[base.family]) {
      throw new RangeError(
        `predefined pool ${i}: size ${String(p.size)} must be between ${base.bits} and ${MAX_BITS[base.family]}`)
    }
    return { base, size: p.size, unit: 1n << BigInt(MAX_BITS[base.family] - p.size) }
  })
}

/** Where pools may be cut: owned ∩ base, minus every block a taken or excluded range touches. */
function candidates (p: ResolvedPool, owned: readonly Interval[], blocked: readonly Interval[]): Interval[] {
  return subtract(intersect(owned, [{ s: p.base.first, e: p.base.last }]), expandToUnit(blocked, p.unit))
}

/**
 * The first free predefined pool inside `owned`, in list order then address order (as Docker),
 * not overlapping `taken` (pools held) nor `exclude`.
 */
export function findFreePool (
  list: readonly ResolvedPool[],
  family: Family,
  owned: readonly Interval[],
  taken: readonly Interval[],
  exclude: readonly Interval[] = []
): { first: bigint, bits: number } | undefined {
  const blocked = normalize([...taken, ...exclude])
  for (const p of list) {
    if (p.base.family !== family) continue
    for (const x of candidates(p, owned, blocked)) {
      const start = ((x.s + p.unit - 1n) / p.unit) * p.unit
      if (start + p.unit - 1n <= x.e) return { first: start, bits: p.size }
    }
  }
  return undefined
}

/** How many predefined pools of the family could still be cut from `owned`. */
export function freePoolCount (
  list: readonly ResolvedPool[], family: Family, owned: readonly Interval[], taken: readonly Interval[]
): bigint {
  let n = 0n
  for (const p of list) if (p.base.family === family) n += alignedBlockCount(candidates(p, owned, normalize(taken)),
    p.unit)
  return n
}

/**
 * What a donor gives from its pool space: at most half of its free pools (rounded up) of the
 * predefined entry where it has the most, as one aligned block.
 */
export function pickPoolDonation (
  list: readonly ResolvedPool[], family: Family, owned: readonly Interval[], taken: readonly Interval[]
): Interval | undefined {
  let best: { p: ResolvedPool, free: Interval[], n: bigint } | undefined
  for (const p of list) {
    if (p.base.family !== family) continue
    const free = candidates(p, owned, normalize(taken))
    const n = alignedBlockCount(free, p.unit)
    if (n > 0n && (best === undefined || n > best.n)) best = { p, free, n }
  }
  if (best === undefined) return undefined
  return pickAlignedBlock(best.free, best.p.unit, (best.n + 1n) / 2n)
}

// ---- pool ids ----------------------------------------------------------------------------------

/** libnetwork's format "AddressSpace/Subnet[/ChildSubnet]"; opaque to callers. */
export function formatPoolId (space: string, pool: string, subPool?: string): string {
  return subPool === undefined ? `${space}/${pool}` : `${space}/${pool}/${subPool}`
}

export interface PoolIdParts { space: string, pool: string, subPool: string | undefined }

export function parsePoolId (id: string): PoolIdParts | undefined {
  if (typeof id !== 'string') return undefined
  const parts = id.split('/')
  if (parts.length !== 3 && parts.length !== 5) return undefined
  const [space, a, b, c, d] = parts
  if (space === undefined || space === '' || a === undefined || b === undefined) return undefined
  return { space, pool: `${a}/${b}`, subPool: c === undefined ? undefined : `${c}/${d ?? ''}` }
}
