/**
 * The replication of one address space through NetworkDB records (split out of space.ts, which
 * keeps the pools and pool requests): our ring records (ownership and usage figures, published
 * after a short delay when only usage changed), and peers' ring and pool records applied to the
 * space's state; a periodic reconcile retries unconfirmed leaves and forgets pools whose live
 * owner stopped publishing them.
 */
import { poolKey, ringKey, type PoolRecord, type RingRecord } from '../proto/index.js'
import type { TimerHandle } from '../core/index.js'
import { freePoolCount } from './pools.js'
import { viewsEqual, type Segment } from './ring.js'
import {
  addrRingId, instanceOfRing, isActive, makeSlot, setRecord, spaceRingId, storedOf, supersedes, type PoolSlot
} from './slot.js'
import type { Space } from './space.js'

export class SpaceReplication {
  private readonly usageDirty = new Set<string>()
  private usageTimer: TimerHandle | undefined
  /** Whether usageTimer is the short one. */
  private usageSoon = false
  /** Our last ring record per ring (its usage figures, and its segments). */
  private readonly published = new Map<string, { used: number, free: bigint, segs: Segment[] }>()
  /** Pools of others whose record was not visible at the last reconcile. */
  private readonly missing = new Set<string>()

  constructor (private readonly s: Space) {}

  /** Learn the cluster's genesis from a peer's record (a node that did not bootstrap). */
  adoptGenesis (genesis: string): void {
    this.s.genesis = genesis
    for (const f of [4, 6] as const) this.s.rings.create(spaceRingId(this.s.name, f), genesis, f, [])
    this.s.d.genesisKnown(genesis)
  }

  /**
   * Usage figures of a ring changed (not ownership): publish them later. Within the short delay
   * (`publishDelayMs`) when a figure crossed zero since our last record (a donor's "no free space"
   * or a first address: what donor choice and "no space" answers depend on); otherwise within
   * `usagePublishMs`, so that a busy host's attaches cost the cluster one record per period, not
   * one each (each record is a gossip message every member receives).
   */
  usageChanged (ringId: string): void {
    if (!this.s.d.shared || this.s.closed) return
    this.usageDirty.add(ringId)
    const soon = this.crossedZero(ringId)
    if (this.usageTimer !== undefined && (!soon || this.usageSoon)) return
    if (this.usageTimer !== undefined) this.s.d.clock.clearTimeout(this.usageTimer)
    this.usageSoon = soon
    this.usageTimer = this.s.d.clock.setTimeout(() => {
      this.usageTimer = undefined
      for (const id of this.usageDirty) if (this.s.rings.durable(id)) this.publishRing(id)
      this.usageDirty.clear()
    }, soon ? this.s.d.cfg.publishDelayMs : this.s.d.cfg.usagePublishMs)
  }

  private crossedZero (ringId: string): boolean {
    const last = this.published.get(ringId)
    if (last === undefined) return true
    const now = this.usage(ringId)
    return (last.used === 0) !== (now.used === 0) || (last.free === 0n) !== (now.free === 0n)
  }

  usage (ringId: string): { used: number, free: bigint } {
    const inst = instanceOfRing(ringId)
    if (inst !== undefined) {
      const slot = this.s.pools.get(inst)
      return slot === undefined ? { used: 0, free: 0n } : { used: slot.alloc.used(), free: slot.alloc.freeDynamic() }
    }
    const r = this.s.rings.get(ringId)
    if (r === undefined) return { used: 0, free: 0n }
    const mine = this.s.activePools(r.family).filter(s => s.owner === this.s.me).length
    const free = freePoolCount(this.s.d.predefined, r.family, this.s.rings.owned(ringId), this.s.taken(r.family))
    return { used: mine, free }
  }

  publishRing (id: string): void {
    if (!this.s.d.shared || this.s.closed || this.s.d.link === undefined) return
    const u = this.usage(id)
    const rec = this.s.rings.record(id, u.used, u.free)
    if (rec === undefined) return
    const key = ringKey(this.s.me, id)
    const current = this.s.d.link.entry(key)?.owner === this.s.me
    if (rec.segs.length === 0 && u.used === 0 && !current) return
    // The ring changed elsewhere (a grant between two other nodes, a new holder's first range)
    // and our record says what it said: every node republishing it had made one ownership
    // change cost a message from each node to each node (19 x 19 at 20 hosts).
    const last = this.published.get(id)
    if (current && last !== undefined && last.used === u.used && last.free === u.free &&
      viewsEqual(last.segs, rec.segs)) return
    this.published.set(id, { ...u, segs: rec.segs })
    void this.s.d.link.put(key, { t: 'ring', b: rec })
  }

  onRing (writer: string, rec: RingRecord): void {
    if (writer === this.s.me) {
      // Our own record restored by NetworkDB after a restart: what we said is ours to know.
      if (this.s.rings.get(rec.ring)?.genesis === rec.genesis) this.s.rings.apply(rec.ring, rec.segs)
      return
    }
    const inst = instanceOfRing(rec.ring)
    if (inst === undefined) {
      if (rec.ring !== spaceRingId(this.s.name, rec.family)) return
      if (this.s.genesis === undefined) this.adoptGenesis(rec.genesis)
      if (rec.genesis !== this.s.genesis) {
        const r = this.s.rings.get(rec.ring)
        if (r !== undefined) r.conflicts++
        this.s.d.log.error({ writer, genesis: rec.genesis, ours: this.s.genesis },
          'ipam record of another cluster genesis ignored (two nodes bootstrapped the address space)')
        return
      }
    } else {
      const slot = this.s.pools.get(inst)
      if (slot !== undefined && !isActive(slot)) return
      this.s.learnRing(rec.ring, inst, rec.family)
    }
    this.s.rings.applyRecord(writer, rec)
  }

  onPool (writer: string, rec: PoolRecord): void {
    if (rec.space !== this.s.name) return
    const cur = this.s.pools.get(rec.instance)
    if (writer === this.s.me) {
      if (cur === undefined) {
        this.s.d.log.warn({ instance: rec.instance }, 'own pool record without local state ignored')
      }
      return
    }
    if (cur !== undefined && !supersedes(rec, writer, cur)) return
    let slot: PoolSlot
    if (cur !== undefined) {
      // Updated in place: requests in flight hold this object and its allocator.
      if (cur.owner === this.s.me) {
        this.s.d.log.error({ pool: rec.pool, by: writer },
          'a pool this node owned was taken over (reclaim while this node was alive)')
      }
      setRecord(cur, rec)
      cur.owner = writer
      slot = cur
    } else {
      try {
        slot = makeSlot(rec, writer, 0)
      } catch (err) {
        this.s.d.log.warn({ writer, err: String(err) }, 'bad pool record ignored')
        return
      }
      slot.alloc.setOwned(this.s.rings.owned(addrRingId(rec.instance)))
      this.s.pools.set(rec.instance, slot)
    }
    if (!isActive(slot)) {
      if (slot.refs > 0) this.s.d.log.error({ pool: rec.pool }, 'the owner freed a pool this node still holds')
      else void this.s.dropRing(addrRingId(rec.instance)).catch(() => {})
    }
    void this.s.d.store.putPool(storedOf(slot)).catch(() => {})
    // We hold no reference but the owner still counts us (a join that timed out, a crash): leave.
    if (isActive(slot) && slot.refs === 0 && slot.record.holders.includes(this.s.me)) void this.s.leavePool(slot)
    this.s.adoptPools([slot])
    this.s.wake()
  }

  /**
   * Periodic: retry leaves the owner has not confirmed, and forget pools whose live owner no longer
   * publishes them (it freed them and dropped the record while we were cut off).
   */
  reconcile (): void {
    const me = this.s.me
    for (const slot of [...this.s.pools.values()]) {
      const unconfirmedLeave = isActive(slot) && slot.refs === 0 && slot.owner !== me &&
        slot.record.holders.includes(me)
      if (unconfirmedLeave) void this.s.leavePool(slot)
      // Missing on two rounds in a row: not a record still on its way after a restart or a heal.
      const inst = slot.record.instance
      if (slot.owner === me || this.s.d.link?.entry(poolKey(slot.owner, inst)) !== undefined) {
        this.missing.delete(inst)
        continue
      }
      if (this.missing.has(inst)) {
        this.missing.delete(inst)
        this.onPoolRemoved(slot.owner, inst)
      } else this.missing.add(inst)
    }
  }

  /**
   * A pool record went away. Only its live writer's word counts: a failed writer's records are
   * hidden, not withdrawn, and we keep what they said. A pool held here is never forgotten.
   * Forgetting another node's pool is safe: overlap is decided by the owner of the space, our copy
   * only lets us answer sooner.
   */
  onPoolRemoved (writer: string, instance: string): void {
    const slot = this.s.pools.get(instance)
    if (slot === undefined || slot.owner !== writer || writer === this.s.me) return
    if (slot.refs > 0 || !this.s.reachable(writer)) return
    this.s.pools.delete(instance)
    void this.s.d.store.deletePool(instance).catch(() => {})
    void this.s.dropRing(addrRingId(instance)).catch(() => {})
    this.s.wake()
  }

  close (): void {
    this.s.d.clock.clearTimeout(this.usageTimer)
  }
}
