/**
 * Answers to peers' requests (entries `req/<peer>/<id>` addressed to this node). Each decision is
 * taken synchronously on the current state, applied at once (a grant leaves this node before the
 * first await) and answered only after it is durable. Answering twice (after a restart) at worst
 * gives space twice; it never gives the same space to two nodes.
 */
import { ansKey, reqKey, type AnswerRecord, type RequestRecord } from '../proto/index.js'
import type { Logger } from '../core/index.js'
import { parsePrefix, rangeText } from './ip-math.js'
import type { ClusterLink } from './link.js'
import { pickPoolDonation } from './pools.js'
import { pickAlignedBlock, sizeOf } from './ranges.js'
import { cover, type Segment } from './ring.js'
import { instanceOfRing, isActive, overlapsSlot, setRecord, spaceRingId } from './slot.js'
import type { Space } from './space.js'

type Answer = Omit<AnswerRecord, 'id' | 'instance' | 'segs'> & Partial<AnswerRecord>

const none = (detail: string): Answer => ({ code: 'none', detail })

export class Responder {
  private readonly inflight = new Set<string>()
  answered = 0

  constructor (private readonly space: Space, private readonly link: ClusterLink, private readonly log: Logger) {}

  onRequest (writer: string, req: RequestRecord): void {
    if (req.to !== this.space.me || writer === this.space.me) return
    const k = `${writer}/${req.id}`
    if (this.inflight.has(k) || this.link.entry(ansKey(this.space.me, writer, req.id)) !== undefined) return
    this.inflight.add(k)
    this.respond(writer, req)
      .catch((err: unknown) => {
        this.log.warn({ from: writer, kind: req.kind, err: String(err) }, 'ipam request not answered')
      })
      .finally(() => { this.inflight.delete(k) })
  }

  /** Drop our answers whose request is gone (its removal may have been missed across a restart). */
  sweep (): void {
    const prefix = `ans/${this.space.me}/`
    for (const e of this.link.own(prefix)) {
      const rest = e.key.slice(prefix.length)
      const slash = rest.indexOf('/')
      const requester = rest.slice(0, slash)
      if (this.link.entry(reqKey(requester, rest.slice(slash + 1))) === undefined && this.space.reachable(requester)) {
        void this.link.remove(e.key)
      }
    }
  }

  /** The requester deleted its request (it has the answer, or gave up): drop our answer. */
  onRequestRemoved (writer: string, id: string): void {
    if (!this.space.reachable(writer)) return
    void this.link.remove(ansKey(this.space.me, writer, id))
  }

  private async respond (from: string, req: RequestRecord): Promise<void> {
    let a: Answer
    switch (req.kind) {
      case 'space': a = await this.giveSpace(from, req); break
      case 'range': a = await this.giveRange(from, req); break
      case 'join': a = await this.admit(from, req); break
      case 'leave': a = await this.dismiss(from, req); break
      case 'handover': a = await this.takeOver(from, req); break
    }
    if (this.space.closed) return
    this.answered++
    await this.space.answer(from, req.id, a)
  }

  /** Give at most half of our free space in the ring, as one aligned block. */
  private async giveSpace (to: string, req: RequestRecord): Promise<Answer> {
    const s = this.space
    const r = s.rings.get(req.ring)
    if (r === undefined) return none('unknown ring')
    const inst = instanceOfRing(req.ring)
    let block
    if (inst === undefined) {
      block = pickPoolDonation(s.d.predefined, r.family, s.rings.owned(req.ring), s.taken(r.family))
    } else {
      const slot = s.pools.get(inst)
      if (slot === undefined || !isActive(slot)) return { code: 'gone', detail: 'no such pool' }
      const free = slot.alloc.freeDynamicIntervals()
      block = pickAlignedBlock(free, 1n, (sizeOf(free) + 1n) / 2n)
    }
    if (block === undefined) return none('no free space')
    return await this.grant(req.ring, block, to)
  }

  private async grant (ringId: string, block: { s: bigint, e: bigint }, to: string): Promise<Answer> {
    const facts: Segment[] = this.space.rings.grant(ringId, block, to)
    if (facts.length === 0) return { code: 'not-owner', detail: 'not the owner' }
    await this.space.rings.persist(ringId)
    const r = this.space.rings.get(ringId)
    this.log.debug({ ring: ringId, to, range: r === undefined ? '' : rangeText(r.family, block.s, block.e) },
      'gave space')
    return { code: 'granted', detail: '', segs: facts }
  }

  /** A specific range: a static pool (pool-space ring) or a preferred address (address ring). */
  private async giveRange (to: string, req: RequestRecord): Promise<Answer> {
    const s = this.space
    const r = s.rings.get(req.ring)
    if (r === undefined || req.s === undefined || req.e === undefined || req.e < req.s) {
      return { code: 'not-owner', detail: 'unknown ring' }
    }
    const inst = instanceOfRing(req.ring)
    if (inst === undefined) {
      if (req.ring !== spaceRingId(s.name, r.family)) return { code: 'refused', detail: 'not a pool-space ring' }
      const p = req.pool === undefined ? undefined : parsePrefix(req.pool)
      if (p === undefined || p.first !== req.s || p.last !== req.e) {
        return { code: 'refused', detail: 'range is not the pool' }
      }
      const over = s.activePools(r.family).filter(x => overlapsSlot(x, p))
      if (over.length > 0) {
        const same = over.length === 1 && req.network !== undefined && over[0]!.record.network === req.network &&
          over[0]!.prefix.cidr === p.cidr && over[0]!.record.sub === req.sub
        return same
          ? { code: 'shared', detail: '', instance: over[0]!.record.instance }
          : { code: 'overlap', detail: `overlaps ${over[0]!.record.pool}` }
      }
      const mine = cover(r.view, req.s, req.e).filter(x => x.o === s.me)
      if (mine.length === 0) return { code: 'not-owner', detail: 'not the owner' }
      const facts: Segment[] = []
      for (const x of mine) facts.push(...s.rings.grant(req.ring, x, to))
      await s.rings.persist(req.ring)
      return { code: 'granted', detail: '', segs: facts }
    }
    const slot = s.pools.get(inst)
    if (slot === undefined || !isActive(slot)) return { code: 'gone', detail: 'no such pool' }
    if (req.s !== req.e) return { code: 'refused', detail: 'one address at a time' }
    switch (slot.alloc.check(req.s)) {
      case 'ok': return await this.grant(req.ring, { s: req.s, e: req.s }, to)
      case 'in-use':
      case 'reserved': return { code: 'in-use', detail: 'address in use' }
      case 'not-owned': return { code: 'not-owner', detail: 'not the owner' }
      case 'out-of-range': return { code: 'refused', detail: 'out of range' }
    }
  }

  /** A host takes a reference on a pool we own: count it before saying yes. */
  private async admit (from: string, req: RequestRecord): Promise<Answer> {
    const slot = req.instance === undefined ? undefined : this.space.pools.get(req.instance)
    if (slot === undefined || !isActive(slot)) return { code: 'gone', detail: 'no such pool' }
    if (slot.owner !== this.space.me) return { code: 'not-owner', detail: `owned by ${slot.owner}` }
    if (!slot.record.holders.includes(from)) {
      setRecord(slot, { ...slot.record, holders: [...slot.record.holders, from].sort() })
    }
    await this.space.persistPool(slot)
    return { code: 'ok', detail: '' }
  }

  private async dismiss (from: string, req: RequestRecord): Promise<Answer> {
    const slot = req.instance === undefined ? undefined : this.space.pools.get(req.instance)
    if (slot === undefined || !isActive(slot)) return { code: 'ok', detail: 'no such pool' }
    if (slot.owner !== this.space.me) return { code: 'not-owner', detail: `owned by ${slot.owner}` }
    setRecord(slot, { ...slot.record, holders: slot.record.holders.filter(h => h !== from) })
    await this.space.settlePool(slot)
    return { code: 'ok', detail: '' }
  }

  /**
   * A leaving node gave us part of a ring: confirm once it is in our durable view, so it can leave
   * (and NetworkDB tombstone its records) without the facts being lost.
   */
  private async takeOver (from: string, req: RequestRecord): Promise<Answer> {
    const s = this.space
    const inst = instanceOfRing(req.ring)
    if (!s.rings.has(req.ring)) {
      const slot = inst === undefined ? undefined : s.pools.get(inst)
      if (inst === undefined || slot === undefined) return { code: 'refused', detail: `ring ${req.ring} unknown here` }
      s.learnRing(req.ring, inst, slot.prefix.family)
    }
    if (req.segs.some(x => x.o !== s.me)) return { code: 'refused', detail: 'handover names another receiver' }
    s.rings.apply(req.ring, req.segs)
    await s.rings.persist(req.ring)
    this.log.info({ from, ring: req.ring }, 'took over ranges of a leaving node')
    return { code: 'ok', detail: '' }
  }
}
