/**
 * What one node knows of one pool: the replicated record (from the pool's owner), this node's
 * references and its allocator over the part of the pool it owns.
 */
import type { PoolRecord } from '../proto/index.js'
import { parseAddress, parsePrefix, prefixesOverlap, type ParsedPrefix } from './ip-math.js'
import { AddressAllocator } from './pool-allocator.js'
import { formatPoolId } from './pools.js'
import type { StoredPool } from './store.js'

export interface PoolSlot {
  /** libnetwork-format id (space/pool[/sub]); fixed for the instance. */
  readonly poolId: string
  record: PoolRecord
  /** Writer of `record`: the node that owns the pool's space. */
  owner: string
  refs: number
  gwHeld: boolean
  prefix: ParsedPrefix
  sub: ParsedPrefix | undefined
  alloc: AddressAllocator
}

export function makeSlot (record: PoolRecord, owner: string, refs: number, gwHeld = false): PoolSlot {
  const prefix = parsePrefix(record.pool)
  const sub = record.sub === undefined ? undefined : parsePrefix(record.sub)
  if (prefix === undefined || prefix.hostBits || (record.sub !== undefined && sub === undefined)) {
    throw new RangeError(`pool record ${record.instance} has a bad prefix ${record.pool}`)
  }
  const slot: PoolSlot = { poolId: formatPoolId(record.space, record.pool, record.sub), record, owner, refs, gwHeld,
    prefix, sub, alloc: new AddressAllocator(prefix, sub) }
  setRecord(slot, record)
  return slot
}

/** Replace the record, keeping the allocator's view of the shared gateway in step. */
export function setRecord (slot: PoolSlot, record: PoolRecord): void {
  slot.record = record
  const gw = record.gw === undefined ? undefined : parseAddress(record.gw)
  slot.alloc.setGateway(gw !== undefined && gw.family === slot.prefix.family ? gw.value : undefined)
}

export const addrRingId = (instance: string): string => `addr/${instance}`
export const spaceRingId = (space: string, family: 4 | 6): string => `space/${space}/${family}`

/** The instance of an address ring id, or undefined for other rings. */
export function instanceOfRing (id: string): string | undefined {
  return id.startsWith('addr/') ? id.slice(5) : undefined
}

export function poolIdOf (slot: PoolSlot): string {
  return slot.poolId
}

export const isActive = (s: PoolSlot): boolean => s.record.state === 'active'

export function overlapsSlot (s: PoolSlot, p: ParsedPrefix): boolean {
  return prefixesOverlap(s.prefix, p)
}

export function storedOf (s: PoolSlot): StoredPool {
  return { record: { ...s.record, holders: [...s.record.holders] }, owner: s.owner, refs: s.refs, gwHeld: s.gwHeld }
}

/**
 * Does a record newer than what we hold replace it? Higher epoch, then the greater owner; the same owner's key is
 * always its latest word.
 */
export function supersedes (rec: PoolRecord, writer: string, cur: PoolSlot): boolean {
  if (writer === cur.owner) return rec.epoch >= cur.record.epoch
  return rec.epoch > cur.record.epoch || (rec.epoch === cur.record.epoch && writer > cur.owner)
}
