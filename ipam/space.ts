/**
 * One address space (GlobalDefault shared through the cluster, or LocalDefault kept on this host):
 * its pool-space rings (one per family), its pools and their address rings, and pool requests.
 * The replication of all this through NetworkDB records lives in space-replication.ts, address
 * requests in address-requests.ts, answering peers in responder.ts, leave and reclaim in
 * handover.ts; all work on this state.
 *
 * Safety rests on two local rules, both enforced synchronously (no await between check and use):
 *   - a pool is cut, and an address handed out, only from space this node owns in its view;
 *   - space leaves this node (a grant) before anyone is told, and is told only once durable.
 */
import {
  ansKey, poolKey, ringKey, type AnswerRecord, type PoolRecord, type RequestRecord
} from '../proto/index.js'
import type { Clock, Logger } from '../core/index.js'
import {
  formatAddress, formatPrefix, parsePrefix, rangeText, universe, type Family, type ParsedPrefix
} from './ip-math.js'
import type { ResolvedIpamConfig } from './config.js'
import { Addresses } from './address-requests.js'
import { SpaceReplication } from './space-replication.js'
import { ErrIpamUnavailable, ErrNoMoreSubnets, ErrPoolOverlap } from './ipamapi.js'
import type { ClusterLink } from './link.js'
import { RingBook } from './ownership.js'
import { findFreePool, type ResolvedPool } from './pools.js'
import { covers, normalize, type Interval } from './ranges.js'
import { cover } from './ring.js'
import {
  addrRingId, instanceOfRing, isActive, makeSlot, overlapsSlot, setRecord, spaceRingId, storedOf, type PoolSlot
} from './slot.js'
import type { IpamStore } from './store.js'

export interface SpaceDeps {
  me: string
  name: string
  /** Replicated through the cluster (GlobalDefault) or this host's alone (LocalDefault). */
  shared: boolean
  predefined: ResolvedPool[]
  cfg: ResolvedIpamConfig
  clock: Clock
  log: Logger
  store: IpamStore
  link: ClusterLink | undefined
  /** A fresh id, unique across restarts. */
  nextId(): string
  /** Allocation order counter. */
  nextSeq(): number
  /** The cluster's genesis became known (persist it). */
  genesisKnown(genesis: string): void
}

/**
 * What asking donors for space gave: 'none' only when every donor that may have free space said it
 * has none; `{ busy }` when some did not answer in time or were not asked (the caller says "retry").
 */
export type ObtainResult = 'granted' | 'none' | 'unavailable' | { busy: string }

export interface PoolAsk {
  family: Family
  pool: ParsedPrefix | undefined
  sub: ParsedPrefix | undefined
  network: string | undefined
  /** The gateway a pool created by this (static) request keeps in its record from the start. */
  gateway?: bigint | undefined
  exclude: Interval[]
}

const MAX_ATTEMPTS = 8

export class Space {
  readonly rings: RingBook
  readonly pools = new Map<string, PoolSlot>()
  /** Address requests against this space's pools (address-requests.ts). */
  readonly addresses: Addresses
  /** The space's records in NetworkDB: publishing ours, applying peers' (space-replication.ts). */
  readonly replication: SpaceReplication
  genesis: string | undefined
  private readonly donations = new Map<string, Promise<ObtainResult>>()
  private readonly waiters = new Set<() => void>()
  private adoptQueued = false
  /** The last pool looked up by id: a burst of requests hits one pool. */
  private lastHeld: PoolSlot | undefined
  /** Pool instances with a join (count) or a leave in flight. */
  private readonly joining = new Map<string, number>()
  private readonly leaving = new Map<string, Promise<void>>()
  closed = false

  constructor (readonly d: SpaceDeps) {
    this.rings = new RingBook({
      me: d.me,
      putRing: async r => { await d.store.putRing(r) },
      deleteRing: async id => { await d.store.deleteRing(id) },
      changed: id => { this.onRingChanged(id) },
      publish: id => { this.replication.publishRing(id) },
      reachable: node => this.reachable(node),
      reclaimBump: d.cfg.reclaimBump
    })
    this.addresses = new Addresses(this)
    this.replication = new SpaceReplication(this)
  }

  get me (): string { return this.d.me }
  get name (): string { return this.d.name }

  // ---- setup ----------------------------------------------------------------------------------

  /** Create the pool-space rings with this node owning everything (cluster bootstrap, or LocalDefault). */
  bootstrap (genesis: string): void {
    this.genesis = genesis
    for (const f of [4, 6] as const) {
      const u = universe(f)
      this.rings.create(spaceRingId(this.name, f), genesis, f, [{ s: u.first, e: u.last, v: 1, o: this.me }])
    }
  }

  private onRingChanged (id: string): void {
    const inst = instanceOfRing(id)
    if (inst !== undefined) {
      const slot = this.pools.get(inst)
      if (slot !== undefined) slot.alloc.setOwned(this.rings.owned(id))
    } else if (!this.adoptQueued) {
      this.adoptQueued = true
      queueMicrotask(() => { this.adoptQueued = false; this.adoptPools() })
    }
    this.wake()
  }

  /**
   * Start knowing an address ring: with what every writer currently publishes about it, not only
   * what arrives from now on (a ring forgotten and learnt again would otherwise miss facts).
   */
  learnRing (id: string, genesis: string, family: Family): void {
    if (this.rings.has(id)) return
    this.rings.create(id, genesis, family, [])
    for (const { writer, rec } of this.d.link?.ringRecords(id) ?? []) {
      if (rec.genesis === genesis && writer !== this.me) this.rings.applyRecord(writer, rec)
    }
  }

  /** Resolve every waitChange(). */
  wake (): void {
    const ws = [...this.waiters]
    this.waiters.clear()
    for (const w of ws) w()
  }

  /** Wait until a ring or pool changes, or `ms` passes. */
  async waitChange (ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const h = this.d.clock.setTimeout(() => { this.waiters.delete(done); resolve() }, ms)
      const done = (): void => { this.d.clock.clearTimeout(h); resolve() }
      this.waiters.add(done)
    })
  }

  // ---- queries --------------------------------------------------------------------------------

  activePools (family?: Family): PoolSlot[] {
    return [...this.pools.values()].filter(s => isActive(s) && (family === undefined || s.prefix.family === family))
  }

  taken (family: Family): Interval[] {
    return normalize(this.activePools(family).map(s => ({ s: s.prefix.first, e: s.prefix.last })))
  }

  heldSlot (poolId: string): PoolSlot | undefined {
    const last = this.lastHeld
    if (last !== undefined && last.poolId === poolId && last.refs > 0 &&
        this.pools.get(last.record.instance) === last) {
      return last
    }
    for (const s of this.pools.values()) {
      if (s.refs > 0 && s.poolId === poolId) { this.lastHeld = s; return s }
    }
    return undefined
  }

  private poolOfNetwork (network: string, family: Family): PoolSlot | undefined {
    const mine = this.activePools(family).filter(s => s.record.network === network)
    mine.sort((a, b) => (a.prefix.first < b.prefix.first ? -1 : 1))
    return mine[0]
  }

  reachable (node: string): boolean { return this.d.link?.reachable(node) ?? node === this.me }

  // ---- pools ----------------------------------------------------------------------------------

  async requestPool (ask: PoolAsk): Promise<PoolSlot> {
    return ask.pool === undefined ? await this.requestDynamicPool(ask) : await this.requestStaticPool(ask, ask.pool)
  }

  private requireSpace (family: Family): string {
    const id = spaceRingId(this.name, family)
    if (!this.rings.has(id)) {
      throw new ErrIpamUnavailable('the cluster\'s address space is not known yet (no bootstrap node reached)')
    }
    return id
  }

  private async requestDynamicPool (ask: PoolAsk): Promise<PoolSlot> {
    const ringId = this.requireSpace(ask.family)
    for (let attempt = 0; attempt < MAX_ATTEMPTS + this.d.cfg.maxDonors; attempt++) {
      if (ask.network !== undefined) {
        const existing = this.poolOfNetwork(ask.network, ask.family)
        if (existing !== undefined) {
          const joined = await this.joinPool(existing)
          if (joined !== undefined) return joined
          continue
        }
      }
      const found = findFreePool(this.d.predefined, ask.family, this.rings.owned(ringId), this.taken(ask.family),
        ask.exclude)
      if (found !== undefined) {
        const prefix = parsePrefix(formatPrefix(ask.family, found.first, found.bits))!
        return await this.createPool(prefix, undefined, ask.network)
      }
      if (!this.d.shared) throw new ErrNoMoreSubnets()
      const got = await this.obtainSpace(ringId, undefined)
      if (got === 'none') throw new ErrNoMoreSubnets()
      if (got === 'unavailable') throw new ErrIpamUnavailable('the free address space is held by unreachable nodes')
      if (typeof got === 'object') throw new ErrIpamUnavailable(`${got.busy}, asked for address space: retry`)
    }
    throw new ErrNoMoreSubnets()
  }

  private async requestStaticPool (ask: PoolAsk, p: ParsedPrefix): Promise<PoolSlot> {
    const ringId = this.requireSpace(ask.family)
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const over = this.activePools(ask.family).filter(s => overlapsSlot(s, p))
      if (over.length > 0) {
        const same = over.length === 1 && sharesPool(over[0]!, p, ask.sub, ask.network) ? over[0]! : undefined
        if (same === undefined) throw new ErrPoolOverlap()
        const joined = await this.joinPool(same)
        if (joined !== undefined) return joined
        continue
      }
      const r = this.rings.get(ringId)!
      const foreign = cover(r.view, p.first, p.last).find(x => x.o !== this.me)
      // Everything the pool covers is ours: every pool there is one we know, and none overlaps.
      if (foreign === undefined) return await this.createPool(p, ask.sub, ask.network, ask.gateway)
      const owner = this.decider(foreign, ask.family, `pool ${p.cidr}`)
      const a = await this.ask(owner, { kind: 'range', ring: ringId, s: p.first, e: p.last, pool: p.cidr,
        sub: ask.sub?.cidr, network: ask.network })
      switch (a?.code) {
        case 'granted': this.rings.apply(ringId, a.segs); break
        case 'overlap': throw new ErrPoolOverlap()
        case 'shared': {
          const slot = await this.slotOf(a.instance)
          if (slot === undefined) {
            throw new ErrIpamUnavailable(`pool ${p.cidr} is shared by ${owner} but its record did not arrive`)
          }
          const joined = await this.joinPool(slot)
          if (joined !== undefined) return joined
          break
        }
        case 'not-owner': await this.waitChange(this.d.cfg.requestTimeoutMs / 4); break
        case undefined: throw new ErrIpamUnavailable(
          `no answer from ${owner}, which owns ${rangeText(ask.family, foreign.s, foreign.e)}`)
        default: throw new ErrIpamUnavailable(`${owner} answered ${a?.code ?? "nothing"}: ${a?.detail ?? ""}`)
      }
    }
    throw new ErrIpamUnavailable(`ownership of ${p.cidr} kept changing`)
  }

  /** The node to ask about a segment; throws when nobody can decide. */
  decider (seg: { s: bigint, e: bigint, o: string | undefined }, family: Family, what: string): string {
    const range = rangeText(family, seg.s, seg.e)
    if (seg.o === undefined) throw new ErrIpamUnavailable(`no node is known to own ${range} (needed for ${what})`)
    if (!this.reachable(seg.o)) {
      throw new ErrIpamUnavailable(`${seg.o}, which owns ${range} (needed for ${what}), is unreachable`)
    }
    return seg.o
  }

  /** The slot of an instance, waiting briefly for its record. */
  private async slotOf (instance: string | undefined): Promise<PoolSlot | undefined> {
    if (instance === undefined) return undefined
    for (let i = 0; i < 4 && !this.pools.has(instance); i++) await this.waitChange(this.d.cfg.requestTimeoutMs / 4)
    return this.pools.get(instance)
  }

  /** Cut a new pool from our own space. Synchronous up to the first await, so checks still hold. */
  private async createPool (
    prefix: ParsedPrefix, sub: ParsedPrefix | undefined, network: string | undefined, gateway?: bigint
  ): Promise<PoolSlot> {
    const instance = `${this.me}:${this.d.nextId()}`
    const gw = gateway === undefined ? undefined : formatAddress(prefix.family, gateway)
    const record: PoolRecord = { instance, space: this.name, pool: prefix.cidr, sub: sub?.cidr, network, epoch: 1,
      state: 'active', holders: [], gw }
    const slot = makeSlot(record, this.me, 1)
    this.pools.set(instance, slot)
    this.rings.create(addrRingId(instance), instance, prefix.family,
      [{ s: prefix.first, e: prefix.last, v: 1, o: this.me }])
    slot.alloc.setOwned(this.rings.owned(addrRingId(instance)))
    await this.persistPool(slot)
    this.replication.usageChanged(spaceRingId(this.name, prefix.family))
    return slot
  }

  /** Take a reference on an existing pool; undefined when it turned out to be gone. */
  private async joinPool (slot: PoolSlot): Promise<PoolSlot | undefined> {
    if (slot.refs > 0 || slot.owner === this.me) {
      slot.refs++
      await this.persistPool(slot)
      return slot
    }
    const owner = slot.owner
    const instance = slot.record.instance
    // Our own leave must reach the owner first, or it would undo this join (and the owner could
    // free a pool we hold). Once it is answered, the caller looks at the pool again.
    const leave = this.leaving.get(instance)
    if (leave !== undefined) { await leave; return undefined }
    if (!this.reachable(owner)) {
      throw new ErrIpamUnavailable(`${owner}, which owns pool ${slot.record.pool}, is unreachable`)
    }
    // While the join is in flight the owner's record may already list us: that is not a leftover.
    this.joining.set(instance, (this.joining.get(instance) ?? 0) + 1)
    let a: AnswerRecord | undefined
    try {
      a = await this.ask(owner, { kind: 'join', ring: addrRingId(instance), instance })
    } finally {
      const n = (this.joining.get(instance) ?? 1) - 1
      if (n > 0) this.joining.set(instance, n)
      else this.joining.delete(instance)
    }
    const cur = this.pools.get(instance)
    switch (a?.code) {
      case 'ok':
        if (cur === undefined) return undefined
        cur.refs++
        this.learnRing(addrRingId(cur.record.instance), cur.record.instance, cur.prefix.family)
        cur.alloc.setOwned(this.rings.owned(addrRingId(cur.record.instance)))
        await this.persistPool(cur)
        return cur
      case 'gone':
        if (cur !== undefined && cur.owner === owner && cur.refs === 0) {
          setRecord(cur, { ...cur.record, state: 'freed' })
        }
        return undefined
      case 'not-owner':
        await this.waitChange(this.d.cfg.requestTimeoutMs / 4)
        return undefined
      case undefined: throw new ErrIpamUnavailable(`no answer from ${owner}, which owns pool ${slot.record.pool}`)
      default: throw new ErrIpamUnavailable(`${owner} answered ${a?.code ?? "nothing"}: ${a?.detail ?? ""}`)
    }
  }

  async releasePool (slot: PoolSlot): Promise<void> {
    slot.refs--
    if (slot.refs > 0) { await this.persistPool(slot); return }
    for (const v of [...slot.alloc.allocations()]) slot.alloc.release(v)
    slot.gwHeld = false
    void this.d.store.deleteAllocations(slot.record.instance).catch(() => {})
    if (slot.owner === this.me) {
      if (slot.record.holders.length === 0) await this.freePool(slot)
      else await this.persistPool(slot)
      return
    }
    // Give our part of the pool back to its owner, then leave (retried by reconcile until answered).
    const ringId = addrRingId(slot.record.instance)
    let gave = false
    for (const iv of this.rings.owned(ringId)) gave = this.rings.grant(ringId, iv, slot.owner).length > 0 || gave
    if (gave) await this.rings.persist(ringId)
    await this.persistPool(slot)
    void this.leavePool(slot)
  }

  /** Tell the owner we no longer hold the pool. */
  async leavePool (slot: PoolSlot): Promise<void> {
    const instance = slot.record.instance
    if (this.leaving.has(instance) || this.joining.has(instance) || slot.refs > 0 || slot.owner === this.me ||
        !this.reachable(slot.owner)) {
      return
    }
    const p = this.ask(slot.owner, { kind: 'leave', ring: addrRingId(instance), instance }).then(a => {
      if (a !== undefined && a.code !== 'ok') {
        this.d.log.debug({ pool: slot.record.pool, code: a.code }, 'pool leave answered')
      }
    }).finally(() => { this.leaving.delete(instance) })
    this.leaving.set(instance, p)
    await p
  }

  /** The owner frees a pool nobody holds: a freed record (higher epoch) tells everyone. */
  async freePool (slot: PoolSlot): Promise<void> {
    setRecord(slot, { ...slot.record, state: 'freed', epoch: slot.record.epoch + 1, holders: [], gw: undefined })
    slot.refs = 0
    await this.persistPool(slot)
    await this.dropRing(addrRingId(slot.record.instance))
    this.replication.usageChanged(spaceRingId(this.name, slot.prefix.family))
  }

  async dropRing (id: string): Promise<void> {
    await this.rings.drop(id)
    if (this.d.shared) await this.d.link?.remove(ringKey(this.me, id))
  }

  async persistPool (slot: PoolSlot): Promise<void> {
    await this.d.store.putPool(storedOf(slot))
    if (this.d.shared && slot.owner === this.me && !this.closed) {
      await this.d.link?.put(poolKey(this.me, slot.record.instance), { t: 'pool', b: slot.record })
    }
  }

  // ---- space from peers -----------------------------------------------------------------------

  /** Ask donors (most free first) for part of their space; one request per ring at a time. */
  async obtainSpace (ringId: string, slot: PoolSlot | undefined): Promise<ObtainResult> {
    const inflight = this.donations.get(ringId)
    if (inflight !== undefined) return await inflight
    const p = this.askDonors(ringId, slot).finally(() => { this.donations.delete(ringId) })
    this.donations.set(ringId, p)
    return await p
  }

  private async askDonors (ringId: string, slot: PoolSlot | undefined): Promise<ObtainResult> {
    const r = this.rings.get(ringId)
    const peers = r === undefined ? [] : [...r.peers.entries()].filter(([n, p]) => n !== this.me && p.free > 0n)
    const live = peers.filter(([n]) => this.reachable(n))
      .sort(([a, p], [b, q]) => (p.free !== q.free ? (p.free > q.free ? -1 : 1) : a < b ? -1 : 1)).map(([n]) => n)
    // A holder that has not yet seen any record of the pool's ring asks the pool's owner.
    if (slot !== undefined && slot.owner !== this.me && !live.includes(slot.owner) && this.reachable(slot.owner)) {
      live.push(slot.owner)
    }
    const asked = live.slice(0, this.d.cfg.maxDonors)
    const silent: string[] = []
    for (const donor of asked) {
      const a = await this.ask(donor, { kind: 'space', ring: ringId })
      if (a?.code === 'granted' && a.segs.length > 0) {
        this.rings.apply(ringId, a.segs)
        return 'granted'
      }
      // No answer in time is not "no space": a busy donor may grant it late (its record brings it).
      if (a === undefined) silent.push(donor)
    }
    if (silent.length > 0) return { busy: `no answer from ${silent.join(', ')}` }
    if (live.length > asked.length) {
      return { busy: `${asked.length} donors had no free space, ${live.length - asked.length} more were not asked` }
    }
    // Nobody reachable could give; if unreachable nodes have free space, say so rather than "full".
    return peers.some(([n]) => !this.reachable(n)) ? 'unavailable' : 'none'
  }

  /** Send a request and wait for its answer (undefined on timeout). */
  async ask (
    to: string,
    req: Omit<RequestRecord, 'id' | 'to' | 's' | 'e' | 'pool' | 'sub' | 'network' | 'instance' | 'segs'> &
      Partial<RequestRecord>
  ): Promise<AnswerRecord | undefined> {
    const link = this.d.link
    if (link === undefined) return undefined
    const full: RequestRecord = { id: this.d.nextId(), to, kind: req.kind, ring: req.ring, s: req.s, e: req.e,
      pool: req.pool, sub: req.sub, network: req.network, instance: req.instance, segs: req.segs ?? [] }
    return await link.ask(full)
  }

  async answer (
    requester: string, id: string, a: Omit<AnswerRecord, 'id' | 'instance' | 'segs'> & Partial<AnswerRecord>
  ): Promise<void> {
    await this.d.link?.put(ansKey(this.me, requester, id),
      { t: 'ans', b: { id, code: a.code, detail: a.detail, instance: a.instance, segs: a.segs ?? [] } })
  }

  // ---- replication ----------------------------------------------------------------------------

  /** The operator reclaimed `dead`: stop counting it as a holder of our pools. */
  forget (dead: string): void {
    for (const slot of this.pools.values()) {
      if (slot.owner !== this.me || !isActive(slot) || !slot.record.holders.includes(dead)) continue
      setRecord(slot, { ...slot.record, holders: slot.record.holders.filter(h => h !== dead) })
      void this.settlePool(slot)
    }
  }

  /** Free a pool we own once nobody holds it, else just persist and publish it. */
  async settlePool (slot: PoolSlot): Promise<void> {
    if (slot.owner === this.me && slot.refs === 0 && slot.record.holders.length === 0 && isActive(slot)) {
      await this.freePool(slot)
    } else {
      await this.persistPool(slot)
    }
  }

  /**
   * Pools lying in space we now own but recorded by another node (its space came to us by a leave
   * or a reclaim) become ours: a record at a higher epoch says so to everyone.
   */
  adoptPools (slots: Iterable<PoolSlot> = this.pools.values()): void {
    if (this.closed) return
    for (const slot of slots) {
      if (slot.owner === this.me || !isActive(slot)) continue
      const owned = this.rings.owned(spaceRingId(this.name, slot.prefix.family))
      if (!covers(owned, slot.prefix.first, slot.prefix.last)) continue
      const prev = slot.owner
      slot.owner = this.me
      setRecord(slot, { ...slot.record, epoch: slot.record.epoch + 1,
        holders: slot.record.holders.filter(h => h !== this.me && h !== prev) })
      this.d.log.info({ pool: slot.record.pool, from: prev }, 'adopted pool')
      void this.settlePool(slot).catch(() => {})
    }
  }

  close (): void {
    this.closed = true
    this.replication.close()
    this.wake()
  }
}

/** A static request names the same pool as an existing one of the same cluster network. */
function sharesPool (
  slot: PoolSlot, p: ParsedPrefix, sub: ParsedPrefix | undefined, network: string | undefined
): boolean {
  return network !== undefined && slot.record.network === network && slot.prefix.cidr === p.cidr &&
    slot.sub?.cidr === sub?.cidr
}

