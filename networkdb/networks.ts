/**
 * A node's networks (split out of networkdb.ts): joining one (subscription, a push-pull when no
 * member is known, the joiner's bulk sync, then the announcement), leaving one, and the network
 * events of the cluster, ordered by the network Lamport clock this class keeps (a claim about
 * ourselves newer than the truth is restated; a member leaving tombstones its entries).
 */
import { MAX_NAME, type GossipMessage, type WireNetworkEvent } from '../proto/index.js'
import type { Clock } from '../core/index.js'
import type { NetworkDBConfig } from './config.js'
import type { Entries } from './entries.js'
import { shuffle } from './failure-detector.js'
import { joinSync } from './join-sync.js'
import type { Membership } from './membership.js'
import type { NetworkMembership } from './network-membership.js'
import type { NodeStore } from './store.js'
import type { Tables } from './tables.js'
import type { Transport } from './transport.js'
import { MAX_LTIME_AHEAD, tooFarAhead } from './trust.js'
import type { ClusterEvent } from './types.js'
import { checkName, networkTopic } from './validate.js'

/** Longest wait of a network join's announcement for the join's bulk sync (see Networks.join). */
export const JOIN_ANNOUNCE_MAX_DELAY_MS = 500

export interface NetworksDeps {
  clock: Clock
  cfg: NetworkDBConfig
  random: () => number
  transport: Transport
  store: NodeStore
  tables: Tables
  entries: Entries
  netNodes: NetworkMembership
  /** The networks this node is in (shared with the node and its helpers). */
  joined: Set<string>
  self: () => string
  mem: () => Membership
  peers: (nid: string) => string[]
  pushPull: (peer: string) => Promise<void>
  /** Bulk sync of `nid` with `peer`; false when it failed. */
  sync: (peer: string, nid: string, onAnswer: () => void, own: boolean) => Promise<boolean>
  flushGossip: () => void
  broadcast: (msg: GossipMessage) => void
  reject: (reason: string, detail: object) => void
  persistMeta: () => Promise<void>
  emitCluster: (ev: ClusterEvent) => void
}

export class Networks {
  private ltime = 0

  constructor (private readonly d: NetworksDeps) {}

  /** The network Lamport clock. */
  get clock (): number { return this.ltime }

  loadClock (ltime: number): void { this.ltime = ltime }

  async join (nid: string): Promise<void> {
    const d = this.d
    checkName('network id', nid, MAX_NAME)
    if (d.joined.has(nid)) return
    const ltime = ++this.ltime
    this.enter(nid, ltime)
    // Our picture of who is in the network may lag (a network event gossiped while our
    // connection was new is lost until the next push-pull): with nobody known, ask one member.
    if (d.peers(nid).length <= 1) {
      const any = shuffle(d.mem().others('alive'), d.random)[0]
      if (any !== undefined) await d.pushPull(any.id).catch(() => {})
    }
    d.emitCluster({ type: 'network', nid, node: d.self(), joined: true })
    // Bulk sync (joinSync): the joiner holds the table when this resolves. Gossip reaches us
    // already (the subscription went out first, on the same connections; anti-entropy repairs
    // what slips through). The announcement waits for the table, as Docker's gossip queue delays
    // it, at most JOIN_ANNOUNCE_MAX_DELAY_MS: it wakes every member at once (a signature check
    // each), which on a busy host made the joiner wait for its table twice as long.
    let announced = false
    const announce = (): void => {
      if (announced) return
      announced = true
      d.clock.clearTimeout(timer)
      // a leave (or a leave and a new join) since has announced newer news of us
      if (d.netNodes.get(nid, d.self())?.ltime !== ltime) return
      d.broadcast({ t: 'net', b: { node: d.self(), nid, ltime, join: true } })
    }
    const timer = d.clock.setTimeout(announce, JOIN_ANNOUNCE_MAX_DELAY_MS)
    await Promise.all([d.store.putNetwork({ nid, ltime }), this.joinSync(nid).then(announce)])
  }

  /** Enter `nid` locally at `ltime` (a join, or a restart restoring it); nothing is announced. */
  enter (nid: string, ltime: number): void {
    const d = this.d
    d.joined.add(nid)
    d.tables.addNetwork(nid)
    d.entries.entered(nid)
    d.netNodes.set(nid, d.self(), ltime, true)
    d.transport.subscribe(networkTopic(nid))
  }

  /** Leave `nid`, which this node is in. */
  async leave (nid: string): Promise<void> {
    const d = this.d
    d.entries.deleteOwn(nid)
    d.flushGossip()
    const ltime = ++this.ltime
    d.netNodes.set(nid, d.self(), ltime, false)
    d.broadcast({ t: 'net', b: { node: d.self(), nid, ltime, join: false } })
    d.joined.delete(nid)
    d.entries.left(nid)
    d.transport.unsubscribe(networkTopic(nid))
    d.tables.dropNetwork(nid)
    await d.store.deleteNetwork(nid)
    await d.persistMeta()
    d.emitCluster({ type: 'network', nid, node: d.self(), joined: false })
  }

  /** A network event heard by gossip, in a push-pull's state, or noted by a sync. */
  onEvent (ev: WireNetworkEvent): void {
    const d = this.d
    if (tooFarAhead(ev.ltime, this.ltime, d.clock.now(), MAX_LTIME_AHEAD)) {
      d.reject('clock-jump', { node: ev.node, ltime: ev.ltime })
      return
    }
    if (ev.ltime > this.ltime) this.ltime = ev.ltime
    if (ev.node === d.self()) {
      // Someone holds a newer claim about us than we know (we lost state): restate the truth.
      const cur = d.netNodes.get(ev.nid, d.self())
      const truth = d.joined.has(ev.nid)
      if (cur === undefined ? ev.join : ev.ltime >= cur.ltime && ev.join !== truth) {
        const ltime = ++this.ltime
        d.netNodes.set(ev.nid, d.self(), ltime, truth)
        d.broadcast({ t: 'net', b: { node: d.self(), nid: ev.nid, ltime, join: truth } })
      }
      return
    }
    const r = d.netNodes.apply(ev)
    if (r !== 'joined' && r !== 'left') return
    if (r === 'left' && d.joined.has(ev.nid)) d.tables.tombstoneOwner(ev.node, ev.nid,
      d.clock.now() + d.cfg.tombstoneTtlMs, 'network-left')
    d.emitCluster({ type: 'network', nid: ev.nid, node: ev.node, joined: r === 'joined' })
  }

  /** A joiner's bulk sync (join-sync.ts): alive members first, in random order. */
  private async joinSync (nid: string): Promise<void> {
    const d = this.d
    const others = d.peers(nid).filter(p => p !== d.self())
    const alive = shuffle(others.filter(p => d.mem().get(p)?.status === 'alive'), d.random)
    const order = [...alive, ...others.filter(p => !alive.includes(p))]
    const sync = async (peer: string, onAnswer: () => void): Promise<boolean> =>
      await d.sync(peer, nid, onAnswer, true)
    await joinSync({ clock: d.clock, sync }, order)
  }
}
