/**
 * This node's knowledge of every ownership ring, and the one rule that keeps it safe:
 * **ownership is published only once it is durable.** A grant is joined into the view (so this
 * node stops using the range at once), written to the store, and only when that write resolved is
 * the ring record that tells the receiver published. A crash in between loses nothing anyone saw.
 *
 * Views only grow (join is monotone): an entry that disappears from NetworkDB (its writer failed or
 * left) does not take back what it said, and the views are persisted, so a restart remembers the
 * facts of nodes that are down.
 */
import type { RingRecord } from '../proto/index.js'
import type { Family } from './ip-math.js'
import { beats, cover, grantFacts, join, ownedBy, subsumes, viewsEqual, type RingView, type Segment } from './ring.js'
import type { Interval } from './ranges.js'
import type { PendingGrant, StoredRing } from './store.js'

export interface PeerRing {
  segs: Segment[]
  used: number
  free: bigint
  /** All of `segs` passed `allowed` when last applied (none refused). */
  whole?: boolean
}

export interface RingState {
  id: string
  genesis: string
  family: Family
  view: Segment[]
  pending: PendingGrant[]
  /** Latest record of every writer (this node excluded). */
  peers: Map<string, PeerRing>
  /** Facts seen that tied with another owner at one version (operator mistakes; see ring.ts). */
  conflicts: number
  seq: number
  persisted: number
}

export interface RingBookDeps {
  me: string
  putRing(r: StoredRing): Promise<void>
  deleteRing(id: string): Promise<void>
  /** The view changed (what this node owns may have). Called synchronously. */
  changed(id: string): void
  /** The latest state of the ring is durable: publish our record. */
  publish(id: string): void
  /** Whether a node is alive or suspect here (a reclaim of it is refused while it is). */
  reachable(node: string): boolean
  /** The version bump of a reclaim (IpamConfig.reclaimBump): a smaller jump is not a reclaim. */
  reclaimBump: number
}

export class RingBook {
  private readonly rings = new Map<string, RingState>()

  constructor (private readonly d: RingBookDeps) {}

  get (id: string): RingState | undefined { return this.rings.get(id) }

  all (): IterableIterator<RingState> { return this.rings.values() }

  has (id: string): boolean { return this.rings.has(id) }

  /** Restore from the store (no persist, no publish). */
  restore (r: StoredRing): RingState {
    const st: RingState = { id: r.ring, genesis: r.genesis, family: r.family, view: r.view, pending: r.pending,
      peers: new Map(), conflicts: 0, seq: 0, persisted: 0 }
    this.rings.set(r.ring, st)
    return st
  }

  /** A ring this node starts knowing, with its first facts (the genesis, or nothing yet). */
  create (id: string, genesis: string, family: Family, facts: Segment[]): RingState {
    const existing = this.rings.get(id)
    if (existing !== undefined) return existing
    const st: RingState = { id, genesis, family, view: join([], facts).view, pending: [], peers: new Map(),
      conflicts: 0, seq: 0, persisted: 0 }
    this.rings.set(id, st)
    void this.persist(id).catch(() => {})
    this.d.changed(id)
    return st
  }

  owned (id: string): Interval[] {
    const r = this.rings.get(id)
    return r === undefined ? [] : ownedBy(r.view, this.d.me)
  }

  /** Join facts; persists (then publishes) when anything changed. Returns whether it did. */
  apply (id: string, facts: readonly Segment[]): boolean {
    const r = this.rings.get(id)
    if (r === undefined || facts.length === 0) return false
    const j = join(r.view, facts)
    r.conflicts += j.conflicts
    if (!j.changed) return false
    r.view = j.view
    this.d.changed(id)
    void this.persist(id).catch(() => {})
    return true
  }

  /**
   * A peer's record: remember its usage, join the facts it may state (`allowed`), retire our
   * grants it now confirms. A record can release what another record claimed, so the held
   * records of the others are tried again.
   */
  applyRecord (writer: string, rec: RingRecord): void {
    const r = this.rings.get(rec.ring)
    if (r === undefined || rec.genesis !== r.genesis || writer === this.d.me) return
    const prev = r.peers.get(writer)
    const peer: PeerRing = { segs: rec.segs, used: rec.used, free: rec.free, whole: false }
    r.peers.set(writer, peer)
    // Only the counts changed (most records: an attach or detach on the writer's host), and all
    // of the same facts were applied before: applying them again changes nothing (views only
    // grow), and the writer released nothing. A record refused in part is tried again in full:
    // what it claims may pass now (the former owner failed, or released it).
    if (prev?.whole === true && viewsEqual(prev.segs, rec.segs)) {
      peer.whole = true
      if (r.pending.length > 0 && this.confirm(r, writer, rec.segs)) void this.persist(rec.ring).catch(() => {})
      return
    }
    const refusedBefore = r.conflicts
    let changed = this.apply(rec.ring, this.allowed(r, writer, rec.segs))
    peer.whole = r.conflicts === refusedBefore
    // a record that states less than before may have released what another one claims
    for (let again = true; again;) {
      again = false
      for (const [w, p] of r.peers) {
        if (w !== writer && this.apply(rec.ring, this.allowed(r, w, p.segs))) again = changed = true
      }
    }
    const confirmed = this.confirm(r, writer, rec.segs)
    if (confirmed && !changed) void this.persist(rec.ring).catch(() => {})
  }

  /**
   * The parts of `writer`'s facts that it may state (docs/security.md, "A keyed but hostile host"):
   * where a fact would change an address's owner, the owner before must be the writer itself (a
   * grant, or its own range), or have released it (its latest record no longer claims it; a leaver's handover grants
   * are its own facts), or the
   * fact is a reclaim (a jump of at least reclaimBump) of a node that is not alive or suspect
   * here. Addresses nobody is known to own pass (a node learning the ring from records). This node
   * knows what it owns: nobody else's record takes it away, short of a reclaim of a node that
   * failed. Rejected parts are counted with the conflicts.
   */
  private allowed (r: RingState, writer: string, facts: readonly Segment[]): Segment[] {
    const out: Segment[] = []
    for (const f of facts) {
      for (const x of cover(r.view, f.s, f.e)) {
        const piece = { s: x.s, e: x.e, v: f.v, o: f.o }
        if (x.o === undefined || x.o === writer || x.o === f.o || !beats(f.v, f.o, x.v, x.o)) {
          out.push(piece)
          continue
        }
        const reclaim = f.v >= x.v + this.d.reclaimBump && !this.d.reachable(x.o)
        const released = x.o !== this.d.me && !claims(r.peers.get(x.o)?.segs, x.o, x.s, x.e, x.v)
        if (reclaim || released) out.push(piece)
        else r.conflicts++
      }
    }
    return out
  }

  /**
   * Drop pending grants to `writer` that its own record now states, and any grant that newer facts
   * have replaced (the receiver gave the range on; its record no longer shows it).
   */
  private confirm (r: RingState, writer: string, segs: readonly Segment[]): boolean {
    const before = r.pending.length
    const theirs = join([], segs).view
    r.pending = r.pending.filter(g => !((g.to === writer && subsumes(theirs, g.segs)) || superseded(r.view, g.segs)))
    return r.pending.length !== before
  }

  /**
   * Give the parts of `range` this node owns to `to` (version + bump). Synchronous: from this
   * call on this node no longer owns them. The caller awaits `persist` before telling anyone.
   */
  grant (id: string, range: Interval, to: string, bump = 1): Segment[] {
    const r = this.rings.get(id)
    if (r === undefined) return []
    const facts = grantFacts(r.view, range, this.d.me, to, bump)
    if (facts.length === 0) return []
    r.view = join(r.view, facts).view
    r.pending.push({ to, segs: facts })
    this.d.changed(id)
    return facts
  }

  /** Take over what `from` owns in the ring (operator reclaim): facts at version + bump. */
  seize (id: string, from: string, bump: number): Segment[] {
    const r = this.rings.get(id)
    if (r === undefined) return []
    const facts = r.view.filter(x => x.o === from).map(x => ({ ...x, v: x.v + bump, o: this.d.me }))
    if (facts.length === 0) return []
    r.view = join(r.view, facts).view
    r.peers.delete(from)
    this.d.changed(id)
    return facts
  }

  /** Write the current state; resolves when durable, then publishes if nothing newer is pending. */
  async persist (id: string): Promise<void> {
    const r = this.rings.get(id)
    if (r === undefined) return
    const seq = ++r.seq
    await this.d.putRing({ ring: r.id, genesis: r.genesis, family: r.family, view: r.view.map(x => ({ ...x })),
      pending: r.pending.map(g => ({ to: g.to, segs: g.segs.map(x => ({ ...x })) })) })
    if (seq > r.persisted) r.persisted = seq
    if (r.persisted === r.seq && this.rings.get(id) === r) this.d.publish(id)
  }

  /** Whether the state we would publish now is durable. */
  durable (id: string): boolean {
    const r = this.rings.get(id)
    return r !== undefined && r.persisted === r.seq
  }

  /** Our record of a ring: the segments we own plus grants not yet confirmed by their receiver. */
  record (id: string, used: number, free: bigint): RingRecord | undefined {
    const r = this.rings.get(id)
    if (r === undefined) return undefined
    const segs: Segment[] = r.view.filter(x => x.o === this.d.me)
    for (const g of r.pending) segs.push(...g.segs)
    return { ring: r.id, genesis: r.genesis, family: r.family, segs, used, free }
  }

  async drop (id: string): Promise<void> {
    if (!this.rings.delete(id)) return
    await this.d.deleteRing(id)
  }
}

/** Does `owner`'s record state that it owns some of s..e at version `v` or later? */
function claims (segs: readonly Segment[] | undefined, owner: string, s: bigint, e: bigint, v: number): boolean {
  return segs === undefined || segs.some(g => g.o === owner && g.s <= e && g.e >= s && g.v >= v)
}

/** Is every address of `facts` known in `view` at a strictly higher version? */
function superseded (view: RingView, facts: readonly Segment[]): boolean {
  return facts.every(f => cover(view, f.s, f.e).every(x => x.o !== undefined && x.v > f.v))
}
