/**
 * The IPAM's status snapshot: one plain object that feeds `ovnet ipam status` (table and JSON),
 * inspect's `Status.IPAM.Subnets` and the metrics. Counts are numbers (IPv6 sizes are clamped to
 * Number.MAX_SAFE_INTEGER).
 */
import { rangeText, reservedAddresses, type Family } from './ip-math.js'
import { has, intersect, sizeOf } from './ranges.js'
import { ownedBy } from './ring.js'
import { addrRingId, isActive, poolIdOf, spaceRingId, type PoolSlot } from './slot.js'
import type { Space } from './space.js'

export interface IpamRangeStatus {
  /** CIDR when the range is one, else "first-last". */
  range: string
  owner: string
  /** Addresses in use in the range; null when it is another node's (only its total is known). */
  inUse: number | null
}

export interface IpamNodeUsage { node: string, inUse: number, free: number }

export interface IpamPoolStatus {
  space: string
  poolId: string
  pool: string
  subPool: string | undefined
  /** Cluster network the pool serves ('' when the request named none). */
  network: string
  instance: string
  /** Node that owns the pool's space (keeps its record). */
  owner: string
  /** Other nodes holding the pool. */
  holders: string[]
  /** This node's references. */
  refs: number
  /** Addresses in use cluster-wide (as last published by each node). */
  inUse: number
  /** Free addresses of the dynamic range cluster-wide. */
  available: number
  ranges: IpamRangeStatus[]
  nodes: IpamNodeUsage[]
}

export interface IpamSpaceNode {
  node: string
  /** Membership status as seen here: alive, suspect, failed, left, unknown. */
  status: string
  /** Ranges of the space the node owns. */
  owned: string[]
  /** Predefined pools the node can still cut (as it last published; exact for this node). */
  freePools: number
  /** Pools whose records the node keeps. */
  pools: number
}

export interface IpamSpaceStatus {
  space: string
  family: Family
  genesis: string
  /** Facts that tied with another owner (operator mistakes: double bootstrap, reclaim of a live node). */
  conflicts: number
  nodes: IpamSpaceNode[]
}

export interface IpamStatus {
  node: string
  spaces: IpamSpaceStatus[]
  pools: IpamPoolStatus[]
  /** Records dropped as undecodable or misattributed. */
  rejectedRecords: number
}

const num = (n: bigint): number =>
  Number(n > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : n < 0n ? 0n : n)

export function spaceStatus (space: Space, statusOf: (node: string) => string): IpamSpaceStatus[] {
  const out: IpamSpaceStatus[] = []
  for (const f of [4, 6] as const) {
    const id = spaceRingId(space.name, f)
    const r = space.rings.get(id)
    if (r === undefined) continue
    const nodes = new Set(r.view.map(x => x.o))
    const rows: IpamSpaceNode[] = [...nodes].sort().map(node => {
      const pools = space.activePools(f).filter(s => s.owner === node).length
      const free = node === space.me ? space.replication.usage(id).free : r.peers.get(node)?.free ?? 0n
      return { node, status: statusOf(node), owned: ownedBy(r.view, node).map(x => rangeText(f, x.s, x.e)),
        freePools: num(free), pools }
    })
    out.push({ space: space.name, family: f, genesis: r.genesis, conflicts: r.conflicts, nodes: rows })
  }
  return out
}

export function poolStatus (space: Space, slot: PoolSlot): IpamPoolStatus {
  const f = slot.prefix.family
  const r = space.rings.get(addrRingId(slot.record.instance))
  const view = r?.view ?? []
  const usage = new Map<string, { inUse: number, free: bigint }>()
  usage.set(space.me, { inUse: slot.alloc.used(), free: slot.alloc.freeDynamic() })
  for (const [n, p] of r?.peers ?? []) if (n !== space.me) usage.set(n, { inUse: p.used, free: p.free })
  const owners = [...new Set(view.map(x => x.o))].sort()
  const ranges: IpamRangeStatus[] = []
  for (const o of owners) {
    for (const x of ownedBy(view, o)) {
      let inUse: number | null = null
      if (o === space.me) {
        inUse = 0
        for (const v of slot.alloc.allocations()) if (v >= x.s && v <= x.e) inUse++
      }
      ranges.push({ range: rangeText(f, x.s, x.e), owner: o, inUse })
    }
  }
  let inUse = 0
  for (const u of usage.values()) inUse += u.inUse
  const dyn = [slot.alloc.dynRange]
  const reserved = reservedAddresses(slot.prefix).filter(v => has(dyn, v)).length
  const dynSize = sizeOf(intersect(dyn, [{ s: slot.prefix.first, e: slot.prefix.last }])) - BigInt(reserved)
  let usedInDyn = 0n
  for (const v of slot.alloc.allocations()) if (has(dyn, v)) usedInDyn++
  for (const [n, u] of usage) if (n !== space.me) usedInDyn += BigInt(u.inUse)
  return {
    space: slot.record.space,
    poolId: poolIdOf(slot),
    pool: slot.record.pool,
    subPool: slot.record.sub,
    network: slot.record.network ?? '',
    instance: slot.record.instance,
    owner: slot.owner,
    holders: [...slot.record.holders],
    refs: slot.refs,
    inUse,
    available: num(dynSize - usedInDyn),
    ranges,
    nodes: [...usage.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([node, u]) => ({ node, inUse: u.inUse, free: num(u.free) }))
  }
}

export function poolsStatus (space: Space): IpamPoolStatus[] {
  return [...space.pools.values()].filter(isActive).sort((a, b) => (a.prefix.first < b.prefix.first ? -1 : 1))
    .map(s => poolStatus(space, s))
}
