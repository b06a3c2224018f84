/**
 * Address allocation inside one pool, from the part of it this node owns. Synchronous and
 * in-memory: the caller persists each allocation before handing it out.
 *
 * Lowest-free keeps a lower bound (`hint`) below which every dynamic address is taken, so a run of
 * allocations costs O(1) each; serial allocation continues after the last address handed out
 * and wraps, as libnetwork's `com.docker.network.ipam.serial`.
 */
import { reservedAddresses, type ParsedPrefix } from './ip-math.js'
import { has, indexOf, intersect, normalize, sizeOf, subtract, type Interval } from './ranges.js'

export interface Allocation {
  /** Order of allocation on this node (restores the serial cursor after a restart); unique per node. */
  seq: number
  mac?: string
}

export type AllocateAtResult = 'ok' | 'in-use' | 'reserved' | 'not-owned' | 'out-of-range'

export class AddressAllocator {
  /** Dynamic range: the sub-pool when given, else the pool. */
  readonly dynRange: Interval
  readonly reserved: readonly bigint[]
  private owned: Interval[] = []
  /** owned ∩ dynamic range, minus the reserved addresses. */
  private dyn: Interval[] = []
  /** address -> allocation seq (a number, not an object: one allocation is one map entry). */
  private readonly allocated = new Map<bigint, number>()
  private readonly macOf = new Map<bigint, string>()
  private readonly byMac = new Map<string, bigint>()
  /** The pool's gateway, shared by every host of the network: never handed out as an endpoint's. */
  private gateway: bigint | undefined
  private hint = 0n
  private cursor: bigint | undefined
  private cursorSeq = -1
  private inDyn = 0

  constructor (readonly pool: ParsedPrefix, subPool?: ParsedPrefix) {
    this.dynRange = subPool === undefined ? { s: pool.first, e: pool.last } : { s: subPool.first, e: subPool.last }
    this.reserved = reservedAddresses(pool)
  }

  /** Replace the owned part of the pool (after a ring change). */
  setOwned (owned: readonly Interval[]): void {
    this.owned = intersect(normalize(owned), [{ s: this.pool.first, e: this.pool.last }])
    const reserved = this.reservedIntervals()
    this.dyn = subtract(intersect(this.owned, [this.dynRange]), reserved)
    this.hint = this.dyn[0]?.s ?? 0n
    this.inDyn = 0
    for (const v of this.allocated.keys()) if (has(this.dyn, v)) this.inDyn++
  }

  ownedIntervals (): readonly Interval[] { return this.owned }

  /** The network's gateway (from the pool record): reserved here unless this node allocated it. */
  setGateway (gw: bigint | undefined): void {
    if (gw === this.gateway) return
    this.gateway = gw
    this.setOwned(this.owned)
  }

  private reservedIntervals (): Interval[] {
    const r = this.gateway === undefined ? this.reserved : [...this.reserved, this.gateway]
    return normalize(r.map(v => ({ s: v, e: v })))
  }

  isOwned (v: bigint): boolean { return has(this.owned, v) }

  isAllocated (v: bigint): boolean { return this.allocated.has(v) }

  /** The allocation's seq, or undefined. */
  seqOf (v: bigint): number | undefined { return this.allocated.get(v) }

  byMacAddress (mac: string): bigint | undefined { return this.byMac.get(mac) }

  /** Restore an allocation from the store (no ownership check: it was handed out). */
  restore (v: bigint, a: Allocation): void {
    this.allocated.set(v, a.seq)
    if (a.mac !== undefined) { this.byMac.set(a.mac, v); this.macOf.set(v, a.mac) }
    if (has(this.dyn, v)) this.inDyn++
    if (a.seq > this.cursorSeq && v >= this.dynRange.s && v <= this.dynRange.e) {
      this.cursorSeq = a.seq
      this.cursor = v
    }
  }

  /** A free dynamic address this node owns, or undefined when none is left. */
  pickDynamic (serial: boolean): bigint | undefined {
    return serial ? this.pickSerial() : this.pickLowest()
  }

  private pickLowest (): bigint | undefined {
    for (let i = Math.max(0, this.segmentAtOrAfter(this.hint)); i < this.dyn.length; i++) {
      const x = this.dyn[i]!
      for (let v = x.s > this.hint ? x.s : this.hint; v <= x.e; v++) {
        if (!this.allocated.has(v)) { this.hint = v; return v }
      }
    }
    this.hint = (this.dyn[this.dyn.length - 1]?.e ?? 0n) + 1n
    return undefined
  }

  private pickSerial (): bigint | undefined {
    if (this.dyn.length === 0) return undefined
    const start = this.cursor === undefined ? this.dyn[0]!.s : this.cursor + 1n
    let i = this.segmentAtOrAfter(start)
    if (i < 0) i = this.dyn.length
    // Scan from the cursor to the end, then wrap from the beginning back to the cursor.
    for (let pass = 0; pass < 2; pass++) {
      for (; i < this.dyn.length; i++) {
        const x = this.dyn[i]!
        const from = pass === 0 && start > x.s ? start : x.s
        const to = pass === 1 && this.cursor !== undefined && this.cursor < x.e ? this.cursor : x.e
        for (let v = from; v <= to; v++) if (!this.allocated.has(v)) return v
        if (pass === 1 && this.cursor !== undefined && this.cursor <= x.e) return undefined
      }
      i = 0
    }
    return undefined
  }

  /** First index of a dynamic segment holding v or after it; -1 when none. */
  private segmentAtOrAfter (v: bigint): number {
    const k = indexOf(this.dyn, v)
    if (k >= 0) return k
    for (let i = 0; i < this.dyn.length; i++) if (this.dyn[i]!.s > v) return i
    return -1
  }

  /** Check whether v could be allocated here now. */
  check (v: bigint): AllocateAtResult {
    if (v < this.pool.first || v > this.pool.last) return 'out-of-range'
    if (this.reserved.includes(v)) return 'reserved'
    if (!has(this.owned, v)) return 'not-owned'
    if (this.allocated.has(v)) return 'in-use'
    if (v === this.gateway) return 'reserved'
    return 'ok'
  }

  /** Mark v allocated (the caller checked it); dynamic picks also move the serial cursor. */
  take (v: bigint, a: Allocation): void {
    this.allocated.set(v, a.seq)
    if (a.mac !== undefined) { this.byMac.set(a.mac, v); this.macOf.set(v, a.mac) }
    if (has(this.dyn, v)) {
      this.inDyn++
      this.cursor = v
      this.cursorSeq = a.seq
    }
    if (v === this.hint) this.hint = v + 1n
  }

  release (v: bigint): boolean {
    if (!this.allocated.delete(v)) return false
    const mac = this.macOf.get(v)
    if (mac !== undefined) {
      this.macOf.delete(v)
      if (this.byMac.get(mac) === v) this.byMac.delete(mac)
    }
    if (has(this.dyn, v)) {
      this.inDyn--
      if (v < this.hint) this.hint = v
    }
    return true
  }

  /** Addresses held here (every one, including those outside the dynamic range). */
  used (): number { return this.allocated.size }

  /** Addresses held here. */
  allocations (): IterableIterator<bigint> { return this.allocated.keys() }

  /** Free dynamic addresses this node owns. */
  freeDynamic (): bigint { return sizeOf(this.dyn) - BigInt(this.inDyn) }

  /** Owned addresses with no allocation and not reserved: what can be given away. */
  freeIntervals (): Interval[] {
    const taken = normalize([...this.allocated.keys()].map(v => ({ s: v, e: v })))
    return subtract(subtract(this.owned, this.reservedIntervals()), taken)
  }

  /** Free dynamic intervals: what donations are cut from (so a donation is usable by the receiver). */
  freeDynamicIntervals (): Interval[] {
    return intersect(this.freeIntervals(), [this.dynRange])
  }
}
