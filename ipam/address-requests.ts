/**
 * Address requests of one space: the fast path (a free address this node owns, persisted, then
 * returned), preferred addresses and the gateway (asking their owner when another node owns them),
 * and getting more space from peers when none is left here.
 */
import { firstUsable, formatAddress, parseAddress } from './ip-math.js'
import {
  AllocSerialPrefix, ErrIPAlreadyAllocated, ErrIPOutOfRange, ErrInvalidAddress, ErrIpamUnavailable, ErrNoAvailableIPs,
  ErrPoolNotFound, Gateway, MacAddress, RequestAddressType
} from './ipamapi.js'
import { ownerAt } from './ring.js'
import { addrRingId, isActive, poolIdOf, setRecord, type PoolSlot } from './slot.js'
import type { Space } from './space.js'

const MAX_ATTEMPTS = 8

export class Addresses {
  constructor (private readonly s: Space) {}

  requestAddress (slot: PoolSlot, ip: string | undefined, options: Record<string, string>): Promise<bigint> {
    // Fast path (no extra async frame): a plain dynamic request served from owned space.
    if ((ip === undefined || ip === '') && options[MacAddress] === undefined &&
        options[RequestAddressType] === undefined) {
      const v = slot.alloc.pickDynamic(options[AllocSerialPrefix] === 'true')
      if (v !== undefined) return this.commit(slot, v, undefined)
    }
    return this.requestAddressSlow(slot, ip, options)
  }

  private async requestAddressSlow (
    slot: PoolSlot, ip: string | undefined, options: Record<string, string>
  ): Promise<bigint> {
    const mac = options[MacAddress]
    if (this.s.d.cfg.requiresMACAddress && mac !== undefined) {
      const had = slot.alloc.byMacAddress(mac)
      if (had !== undefined) return had
    }
    let want: bigint | undefined
    if (ip !== undefined && ip !== '') {
      const a = parseAddress(ip)
      if (a === undefined) throw new ErrInvalidAddress(ip)
      if (a.family !== slot.prefix.family || a.value < slot.prefix.first || a.value > slot.prefix.last) {
        throw new ErrIPOutOfRange()
      }
      want = a.value
    }
    if (options[RequestAddressType] === Gateway) {
      const shared = await this.sharedGateway(slot, want)
      if (shared !== undefined) return shared
      want ??= firstUsable(slot.prefix)
      let v: bigint
      try {
        v = await this.allocateAt(slot, want, mac)
      } catch (err) {
        // The owner may just have taken it as the gateway: its record is on the way.
        if (!(err instanceof ErrIPAlreadyAllocated) || slot.owner === this.s.me) throw err
        await this.s.waitChange(this.s.d.cfg.requestTimeoutMs / 4)
        const late = await this.sharedGateway(slot, want)
        if (late === undefined) throw err
        return late
      }
      slot.gwHeld = true
      if (slot.owner === this.s.me) setRecord(slot, { ...slot.record, gw: formatAddress(slot.prefix.family, v) })
      await this.s.persistPool(slot)
      return v
    }
    if (want !== undefined) return await this.allocateAt(slot, want, mac)
    return await this.allocateDynamic(slot, options[AllocSerialPrefix] === 'true', mac)
  }

  /**
   * The network's gateway, when the pool record has one (and it is the one asked for): every host
   * of an overlay puts it on its bridge, so it is handed to each host once, not allocated again.
   */
  private async sharedGateway (slot: PoolSlot, want: bigint | undefined): Promise<bigint | undefined> {
    const gw = slot.record.gw === undefined ? undefined : parseAddress(slot.record.gw)?.value
    if (gw === undefined || (want !== undefined && want !== gw)) return undefined
    if (slot.gwHeld) throw new ErrIPAlreadyAllocated()
    slot.gwHeld = true
    await this.s.persistPool(slot)
    return gw
  }

  private async allocateAt (slot: PoolSlot, v: bigint, mac: string | undefined): Promise<bigint> {
    const ringId = addrRingId(slot.record.instance)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      switch (slot.alloc.check(v)) {
        case 'out-of-range': throw new ErrIPOutOfRange()
        case 'reserved':
        case 'in-use': throw new ErrIPAlreadyAllocated()
        case 'ok': return await this.commit(slot, v, mac)
        case 'not-owned': break
      }
      const r = this.s.rings.get(ringId)
      const seg = r === undefined ? undefined : ownerAt(r.view, v)
      const what = `address ${formatAddress(slot.prefix.family, v)}`
      const owner = this.s.decider(seg ?? { s: v, e: v, o: slot.owner === this.s.me ? undefined : slot.owner },
        slot.prefix.family, what)
      if (owner === this.s.me) throw new ErrIpamUnavailable(`${what} is in flight between owners`)
      const a = await this.s.ask(owner, { kind: 'range', ring: ringId, s: v, e: v })
      this.requireHeld(slot)
      switch (a?.code) {
        case 'granted': this.s.rings.apply(ringId, a.segs); break
        case 'in-use': throw new ErrIPAlreadyAllocated()
        case 'not-owner': await this.s.waitChange(this.s.d.cfg.requestTimeoutMs / 4); break
        case undefined: throw new ErrIpamUnavailable(`no answer from ${owner}, which owns ${what}`)
        default: throw new ErrIpamUnavailable(`${owner} answered ${a?.code ?? "nothing"}: ${a?.detail ?? ""}`)
      }
    }
    throw new ErrIpamUnavailable(`ownership of ${formatAddress(slot.prefix.family, v)} kept changing`)
  }

  private async allocateDynamic (slot: PoolSlot, serial: boolean, mac: string | undefined): Promise<bigint> {
    for (;;) {
      const v = slot.alloc.pickDynamic(serial)
      if (v !== undefined) return await this.commit(slot, v, mac)
      if (!this.s.d.shared) throw new ErrNoAvailableIPs()
      const got = await this.s.obtainSpace(addrRingId(slot.record.instance), slot)
      this.requireHeld(slot)
      if (got === 'none') throw new ErrNoAvailableIPs()
      if (got === 'unavailable') {
        throw new ErrIpamUnavailable(`the free addresses of ${slot.record.pool} are held by unreachable nodes`)
      }
      if (typeof got === 'object') {
        // A late grant may have arrived meanwhile (another donor's record): use it rather than fail.
        const late = slot.alloc.pickDynamic(serial)
        if (late !== undefined) return await this.commit(slot, late, mac)
        throw new ErrIpamUnavailable(`${got.busy}, asked for free addresses of ${slot.record.pool}: retry`)
      }
    }
  }

  /** The pool may have been released while we waited for a peer. */
  private requireHeld (slot: PoolSlot): void {
    if (slot.refs <= 0 || this.s.pools.get(slot.record.instance) !== slot || !isActive(slot)) {
      throw new ErrPoolNotFound(poolIdOf(slot))
    }
  }

  /** Mark, persist, and only then hand out. */
  private async commit (slot: PoolSlot, v: bigint, mac: string | undefined): Promise<bigint> {
    const seq = this.s.d.nextSeq()
    const a = mac === undefined ? { seq } : { seq, mac }
    slot.alloc.take(v, a)
    try {
      await this.s.d.store.putAllocation(mac === undefined
        ? { instance: slot.record.instance, value: v, seq }
        : { instance: slot.record.instance, value: v, seq, mac })
    } catch (err) {
      if (slot.alloc.seqOf(v) === seq) slot.alloc.release(v)
      throw err
    }
    // The pool was released on this host meanwhile (which dropped its addresses): nothing to hand out.
    if (slot.alloc.seqOf(v) !== seq) throw new ErrPoolNotFound(poolIdOf(slot))
    this.s.replication.usageChanged(addrRingId(slot.record.instance))
    return v
  }

  async releaseAddress (slot: PoolSlot, ip: string): Promise<void> {
    const a = parseAddress(ip)
    if (a === undefined) throw new ErrInvalidAddress(ip)
    if (a.family !== slot.prefix.family || a.value < slot.prefix.first || a.value > slot.prefix.last) {
      throw new ErrIPOutOfRange()
    }
    const gw = slot.record.gw === undefined ? undefined : parseAddress(slot.record.gw)?.value
    if (gw === a.value && slot.gwHeld) {
      slot.gwHeld = false
      if (slot.owner === this.s.me) setRecord(slot, { ...slot.record, gw: undefined })
      await this.s.persistPool(slot)
    }
    if (!slot.alloc.release(a.value)) return
    await this.s.d.store.deleteAllocation(slot.record.instance, a.value)
    this.s.replication.usageChanged(addrRingId(slot.record.instance))
  }
}
