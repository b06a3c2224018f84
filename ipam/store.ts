/**
 * Persistence port of the IPAM: what a node must not lose on kill -9 — its ring views (what it
 * owns and has given away), the pools it knows and holds, and every address it handed out.
 *
 * Contract: writes take effect in the order they are issued, and a write's promise resolves once
 * it is durable. The IPAM relies on both: an allocation is returned only after its write resolved,
 * and ownership is published to the cluster only after the view that grants it is durable.
 */
import type { PoolRecord } from '../proto/index.js'
import type { Segment } from './ring.js'

export interface PendingGrant { to: string, segs: Segment[] }

export interface StoredRing {
  ring: string
  genesis: string
  family: 4 | 6
  view: Segment[]
  /** Grants published but not yet confirmed by the receiver (kept in our ring record until then). */
  pending: PendingGrant[]
}

export interface StoredPool {
  record: PoolRecord
  /** The node whose record this is (the owner of the pool's space). */
  owner: string
  /** This node's references (requestPool calls not yet released). */
  refs: number
  /** This node uses the pool's shared gateway (handed out by a gateway request here). */
  gwHeld: boolean
}

export interface StoredAllocation { instance: string, value: bigint, seq: number, mac?: string }

export interface IpamMeta {
  /** Genesis of the cluster's pool-space rings, once known. */
  genesis: string | undefined
  /** Source of unique ids (pool instances, requests); never reused across restarts. */
  counter: number
}

export interface IpamSnapshot {
  meta: IpamMeta | undefined
  rings: StoredRing[]
  pools: StoredPool[]
  allocations: StoredAllocation[]
}

export interface IpamStore {
  load(): Promise<IpamSnapshot>
  putMeta(meta: IpamMeta): Promise<void>
  putRing(ring: StoredRing): Promise<void>
  deleteRing(ring: string): Promise<void>
  putPool(pool: StoredPool): Promise<void>
  deletePool(instance: string): Promise<void>
  putAllocation(a: StoredAllocation): Promise<void>
  deleteAllocation(instance: string, value: bigint): Promise<void>
  /** Every allocation of a pool instance (the pool was released). */
  deleteAllocations(instance: string): Promise<void>
  close(): Promise<void>
}

const allocKey = (instance: string, value: bigint): string => `a\u0000${instance}\u0000${value.toString(16)}`
const clone = <T>(x: T): T => structuredClone(x)

/** In memory; survives a simulated restart when the same object is handed to the next instance. */
export class MemoryIpamStore implements IpamStore {
  private meta: IpamMeta | undefined
  private readonly rings = new Map<string, StoredRing>()
  private readonly pools = new Map<string, StoredPool>()
  private readonly allocs = new Map<string, StoredAllocation>()
  writes = 0

  async load (): Promise<IpamSnapshot> {
    return {
      meta: clone(this.meta),
      rings: [...this.rings.values()].map(clone),
      pools: [...this.pools.values()].map(clone),
      allocations: [...this.allocs.values()].map(clone)
    }
  }

  async putMeta (meta: IpamMeta): Promise<void> { this.writes++; this.meta = clone(meta) }
  async putRing (ring: StoredRing): Promise<void> { this.writes++; this.rings.set(ring.ring, clone(ring)) }
  async deleteRing (ring: string): Promise<void> { this.writes++; this.rings.delete(ring) }
  async putPool (pool: StoredPool): Promise<void> { this.writes++; this.pools.set(pool.record.instance, clone(pool)) }
  async deletePool (instance: string): Promise<void> { this.writes++; this.pools.delete(instance) }
  async putAllocation (a: StoredAllocation): Promise<void> {
    this.writes++
    this.allocs.set(allocKey(a.instance, a.value), { ...a })
  }
  async deleteAllocation (instance: string, value: bigint): Promise<void> {
    this.writes++
    this.allocs.delete(allocKey(instance, value))
  }
  async deleteAllocations (instance: string): Promise<void> {
    this.writes++
    for (const [k, a] of this.allocs) if (a.instance === instance) this.allocs.delete(k)
  }

  async close (): Promise<void> {}
}
