/**
 * NetworkDB: one node's replica of the cluster's tables and its view of the membership.
 *
 * Gossip: one cluster topic (node and network-membership events) and one topic per network
 * (table events, only nodes in the network subscribe). Repair: push-pull of the cluster state and
 * digest-first bulk sync per network (anti-entropy.ts). Failure detection: failure-detector.ts.
 * Joining and re-dialling: reconnect.ts. Joining and leaving networks, network events: networks.ts.
 * Ownership: only an entry's owner writes it, and a gossiped entry must come from its owner; own
 * writes and remote merges: entries.ts.
 */
import {
  decodeGossip, decodeRequest, encodeGossip, encodeRequest, encodeResponse, decodeResponse, WireError,
  type ClusterState, type GossipMessage, type WireNodeEvent
} from '../proto/index.js'
import { answerSync, syncWith, type SyncDeps } from './anti-entropy.js'
import {
  SystemClock, silentLogger, noopMetrics, type Clock, type Logger, type Metrics
} from '../core/index.js'
import { resolveConfig, type NetworkDBConfig } from './config.js'
import { NotInNetworkError, NotStartedError } from './errors.js'
import { Entries } from './entries.js'
import { FailureDetector, shuffle } from './failure-detector.js'
import { Membership, toNodeInfo } from './membership.js'
import { NetworkDBMetrics } from './nodemetrics.js'
import { NetworkMembership } from './network-membership.js'
import { GossipQueue } from './gossip-queue.js'
import { MemoryStore, type NodeStore } from './store.js'
import { newer, Tables } from './tables.js'
import { Hints } from './hints.js'
import type { Transport } from './transport.js'
import type {
  ClusterEvent, Diagnostics, EntryView, NetworkDB, NetworkDBStats, NodeInfo, TableEvent, Unsubscribe, WriteOptions
} from './types.js'
import { digestOf } from './hash.js'
import { authenticate, CLUSTER_TOPIC, networkTopic } from './validate.js'
import { Periodic } from './periodic.js'
import { Reconnector } from './reconnect.js'
import { SyncLedger } from './sync-ledger.js'
import { MemberEvents } from './member-events.js'
import { screenNetworkEvent, screenNodeEvent } from './trust.js'
import { JOIN_ANNOUNCE_MAX_DELAY_MS, Networks } from './networks.js'

export { CLUSTER_TOPIC, networkTopic, JOIN_ANNOUNCE_MAX_DELAY_MS }

export interface NetworkDBOptions {
  transport: Transport
  name: string
  /** Underlay address announced to others (the VTEP address). */
  advertiseAddr: string
  clock?: Clock
  logger?: Logger
  metrics?: Metrics
  store?: NodeStore
  random?: () => number
  config?: Partial<NetworkDBConfig>
}

export class NetworkDBNode implements NetworkDB {
  readonly nodeName: string
  private readonly transport: Transport
  private readonly clock: Clock
  private readonly log: Logger
  private readonly store: NodeStore
  private readonly random: () => number
  private readonly cfg: NetworkDBConfig
  private readonly m: NetworkDBMetrics
  private readonly tables: Tables
  private readonly advertise: string
  private membership: Membership | undefined
  private readonly netNodes = new NetworkMembership()
  private readonly joined = new Set<string>()
  private readonly entries: Entries
  /** Our joins and leaves of networks, network events, the network clock. */
  private readonly nets: Networks
  private running = false
  private fd: FailureDetector | undefined
  private readonly timers: Periodic
  private readonly memberEvents: MemberEvents
  private readonly reconnect: Reconnector
  private readonly gossipQueue: GossipQueue
  private readonly clusterWatchers = new Set<(ev: ClusterEvent) => void>()
  private readonly hints: Hints
  /** Syncs done and under way, per network and peer: a member's alive sync is skipped when one covers it. */
  private readonly ledger = new SyncLedger()
  private readonly counts: NetworkDBStats = { gossipIn: 0, gossipOut: 0, rejected: 0, dropped: 0, bulkSyncs: 0,
    bulkSyncEntries: 0 }

  constructor (opts: NetworkDBOptions) {
    this.transport = opts.transport
    this.nodeName = opts.name
    this.advertise = opts.advertiseAddr
    this.clock = opts.clock ?? new SystemClock()
    this.log = (opts.logger ?? silentLogger).child({ component: 'networkdb', node: opts.name })
    this.store = opts.store ?? new MemoryStore()
    this.random = opts.random ?? Math.random
    this.cfg = resolveConfig(opts.config)
    this.m = new NetworkDBMetrics(opts.metrics ?? noopMetrics)
    this.tables = new Tables((err, table) => { this.log.error({ err: String(err), table }, 'table watcher threw') })
    this.timers = new Periodic(this.clock, (err) => { this.log.error({ err: String(err) }, 'periodic task failed') })
    this.gossipQueue = new GossipQueue(this.clock, this.cfg.gossipFlushMs,
      (nid, entries) => this.publish(networkTopic(nid), { t: 'tables', b: { nid, entries } }))
    this.entries = new Entries({
      tables: this.tables,
      store: this.store,
      gossip: this.gossipQueue,
      clock: this.clock,
      cfg: this.cfg,
      metrics: this.m,
      self: () => this.nodeId,
      joined: this.joined,
      requireRunning: () => { this.requireRunning() },
      status: (owner) => this.membership?.get(owner)?.status,
      leaving: () => this.membership?.self.status === 'left',
      hint: (nid, e) => { this.hints.add(nid, e) },
      reject: (reason, detail) => { this.reject(reason, detail) }
    })
    this.nets = new Networks({
      clock: this.clock,
      cfg: this.cfg,
      random: this.random,
      transport: this.transport,
      store: this.store,
      tables: this.tables,
      entries: this.entries,
      netNodes: this.netNodes,
      joined: this.joined,
      self: () => this.nodeId,
      mem: () => this.mem,
      peers: nid => this.peers(nid),
      pushPull: async (peer) => { await this.pushPull(peer) },
      sync: async (peer, nid, onAnswer, own) => await this.sync(peer, nid, onAnswer, own),
      flushGossip: () => { void this.gossipQueue.flush() },
      broadcast: msg => { this.broadcast(msg) },
      reject: (reason, detail) => { this.reject(reason, detail) },
      persistMeta: async () => { await this.persistMeta() },
      emitCluster: ev => { this.emitCluster(ev) }
    })
    this.hints = new Hints({
      clock: this.clock,
      eligible: (nid, owner) => this.running && owner !== this.nodeId && this.peers(nid).includes(owner),
      stillNewer: (nid, table, key, v) => {
        const cur = this.tables.get(table, nid, key)
        return cur === undefined || newer(v, cur)
      },
      sync: async (nid, owner) => await this.sync(owner, nid, undefined, true)
    })
    this.reconnect = new Reconnector({
      transport: this.transport,
      clock: this.clock,
      cfg: this.cfg,
      log: this.log,
      mem: () => this.mem,
      running: () => this.running,
      pushPull: async (peer) => { await this.pushPull(peer) },
      announce: () => { this.broadcastNode(this.mem.event(this.mem.self)) }
    })
    this.memberEvents = new MemberEvents({
      clock: this.clock,
      log: this.log,
      cfg: this.cfg,
      transport: this.transport,
      tables: this.tables,
      self: () => this.nodeId,
      mem: () => this.mem,
      running: () => this.running,
      fd: () => this.fd,
      joined: this.joined,
      peers: nid => this.peers(nid),
      sync: async (peer, nid) => await this.sync(peer, nid),
      covered: async (nid, peer, since) => await this.ledger.covered(nid, peer, since),
      broadcastNode: ev => { this.broadcastNode(ev) },
      reject: (reason, detail) => { this.reject(reason, detail) },
      persistMeta: async () => { await this.persistMeta() },
      changed: ev => { this.updateMemberGauges(); this.emitCluster(ev) }
    })
  }

  get nodeId (): string { return this.transport.localId }

  private get mem (): Membership {
    if (this.membership === undefined) throw new NotStartedError()
    return this.membership
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  async start (): Promise<void> {
    if (this.running) return
    const state = await this.store.load()
    const now = this.clock.now()
    // A restart must out-rank everything said about the previous run: new incarnation.
    const inc = Math.max((state.meta?.incarnation ?? 0) + 1, now)
    this.entries.loadClock(state.meta?.tableClock ?? 0, state.entries)
    this.nets.loadClock(Math.max(state.meta?.networkClock ?? 0, ...state.networks.map(n => n.ltime)))
    await this.transport.start({
      onMessage: (topic, from, data) => { this.onGossip(topic, from, data) },
      onRequest: async (from, data) => await this.onRequest(from, data),
      onPeerConnected: (peer) => { this.onPeerConnected(peer) },
      onPeerDisconnected: (peer) => { this.onPeerDisconnected(peer) }
    })
    this.membership = new Membership({ id: this.transport.localId, name: this.nodeName, advertise: this.advertise,
      addrs: this.transport.addresses(), inc }, now)
    this.running = true
    await this.persistMeta()
    this.transport.subscribe(CLUSTER_TOPIC)
    for (const n of state.networks) this.nets.enter(n.nid, n.ltime)
    this.entries.restore(state.entries)
    this.fd = new FailureDetector({
      transport: this.transport,
      clock: this.clock,
      config: this.cfg,
      logger: this.log,
      random: this.random,
      targets: () => this.mem.others('alive', 'suspect'),
      helpers: () => this.mem.others('alive'),
      indirectProbe: async (helper, target, timeoutMs) => await this.indirectProbe(helper, target, timeoutMs),
      onUnreachable: (id) => { this.memberEvents.suspect(id) }
    })
    this.fd.start()
    this.timers.every(this.cfg.reconnectIntervalMs, () => { this.reconnect.tick() })
    this.timers.every(this.cfg.pushPullIntervalMs, () => { this.pushPullRandom() }, this.random)
    this.timers.every(this.cfg.bulkSyncIntervalMs, () => { this.syncRandom() }, this.random)
    this.timers.every(this.cfg.reapIntervalMs, () => { void this.reap() }, this.random)
    this.updateMemberGauges()
    this.log.info({ id: this.nodeId, inc, networks: state.networks.length, entries: state.entries.length },
      'networkdb started')
  }

  async join (seeds: readonly string[], timeoutMs = this.cfg.joinTimeoutMs): Promise<void> {
    this.requireRunning()
    await this.reconnect.join(seeds, timeoutMs)
  }

  /**
   * Graceful leave. Peers learn `left` and tombstone every entry of ours themselves (watchers see
   * reason 'owner-left', which lets owners of cluster-wide objects hand them over); the news goes
   * by gossip and, so that stopping right after cannot lose it, by a push-pull to every live member.
   */
  async leave (): Promise<void> {
    if (!this.running) return
    void this.gossipQueue.flush()
    this.mem.self.status = 'left'
    this.broadcastNode(this.mem.event(this.mem.self, 'left'))
    await Promise.all(this.mem.others('alive', 'suspect')
      .map(async m => { await this.pushPull(m.id, this.cfg.probeIntervalMs * 2).catch(() => {}) }))
    for (const nid of [...this.joined]) await this.store.deleteNetwork(nid)
    await this.persistMeta()
    this.log.info({}, 'left cluster')
    await this.close()
  }

  async close (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.fd?.stop()
    this.timers.stopAll()
    this.memberEvents.cancel()
    this.gossipQueue.cancel()
    this.hints.cancel()
    await this.persistMeta().catch(() => {})
    await this.transport.stop()
    await this.store.close()
  }

  private requireRunning (): void {
    if (!this.running) throw new NotStartedError()
  }

  private async persistMeta (): Promise<void> {
    if (this.membership === undefined) return
    await this.store.putMeta({ incarnation: this.membership.self.inc, tableClock: this.entries.clock,
      networkClock: this.nets.clock })
  }

  // ---- networks -------------------------------------------------------------------------------

  async joinNetwork (nid: string): Promise<void> {
    this.requireRunning()
    await this.nets.join(nid)
  }

  async leaveNetwork (nid: string): Promise<void> {
    this.requireRunning()
    if (!this.joined.has(nid)) throw new NotInNetworkError(nid)
    this.ledger.forgetNetwork(nid)
    await this.nets.leave(nid)
  }

  peers (nid: string): string[] {
    return this.netNodes.members(nid, node => node === this.nodeId ? this.joined.has(nid) : this.mem.isLive(node))
  }

  networks (): string[] { return [...this.joined].sort() }

  members (): NodeInfo[] { return this.mem.all().map(toNodeInfo) }

  member (id: string): NodeInfo | undefined {
    const m = this.mem.get(id)
    return m === undefined ? undefined : toNodeInfo(m)
  }

  // ---- tables ---------------------------------------------------------------------------------

  async createEntry (table: string, nid: string, key: string, value: Uint8Array): Promise<void> {
    await this.entries.create(table, nid, key, value)
  }

  async updateEntry (
    table: string, nid: string, key: string, value: Uint8Array, opts: WriteOptions = {}
  ): Promise<void> {
    await this.entries.update(table, nid, key, value, opts)
  }

  async deleteEntry (table: string, nid: string, key: string, opts: WriteOptions = {}): Promise<void> {
    await this.entries.delete(table, nid, key, opts)
  }

  async publishPending (): Promise<void> {
    await Promise.all(this.gossipQueue.flush())
  }

  getEntry (table: string, nid: string, key: string): EntryView | undefined {
    return this.tables.view(table, nid, key)
  }

  walkTable (table: string, nid?: string): EntryView[] {
    return this.tables.walk(table, nid)
  }

  watch (table: string, nid: string | undefined, handler: (ev: TableEvent) => void): Unsubscribe {
    return this.tables.watch(table, nid, handler)
  }

  watchCluster (handler: (ev: ClusterEvent) => void): Unsubscribe {
    this.clusterWatchers.add(handler)
    return () => { this.clusterWatchers.delete(handler) }
  }

  // ---- gossip ---------------------------------------------------------------------------------

  private broadcast (msg: GossipMessage): void { void this.publish(CLUSTER_TOPIC, msg) }

  private broadcastNode (ev: WireNodeEvent): void { this.broadcast({ t: 'node', b: ev }) }

  /** Never rejects (a failed publish is logged); resolves once the transport has the message. */
  private publish (topic: string, msg: GossipMessage): Promise<void> {
    if (!this.running) return Promise.resolve()
    const data = encodeGossip(msg)
    this.counts.gossipOut++
    this.m.gossip.inc({ dir: 'out', type: msg.t })
    return this.transport.publish(topic, data)
      .catch((err: unknown) => { this.log.debug({ err: String(err), topic }, 'publish failed') })
  }

  private drop (reason: string, detail: object): void {
    this.counts.dropped++
    this.m.dropped.inc({ reason })
    this.log.warn({ reason, ...detail }, 'dropped message')
  }

  private reject (reason: string, detail: object): void {
    this.counts.rejected++
    this.m.rejected.inc({ reason })
    this.log.warn({ reason, ...detail }, 'rejected message')
  }

  private onGossip (topic: string, from: string, data: Uint8Array): void {
    if (!this.running) return
    let msg: GossipMessage
    try {
      msg = decodeGossip(data)
    } catch (err) {
      this.drop(err instanceof WireError ? err.reason : 'undecodable', { from, topic, err: String(err) })
      return
    }
    this.counts.gossipIn++
    this.m.gossip.inc({ dir: 'in', type: msg.t })
    const violation = authenticate(topic, from, msg)
    if (violation !== undefined) {
      this.reject(violation, { from, topic, type: msg.t })
      return
    }
    switch (msg.t) {
      case 'node': this.memberEvents.onNodeEvent(msg.b); return
      case 'net': this.nets.onEvent(msg.b); return
      case 'tables': this.entries.mergeRemote(msg.b.nid, from, msg.b.entries)
    }
  }

  // ---- request / response ---------------------------------------------------------------------

  private syncDeps (): SyncDeps {
    return {
      tables: this.tables,
      transport: this.transport,
      clock: this.clock,
      requestTimeoutMs: this.cfg.requestTimeoutMs,
      mergeRemote: (nid, from, e) => { this.entries.mergeRemote(nid, from, e) },
      self: this.nodeId,
      joinedAt: (nid) => this.joined.has(nid) ? this.netNodes.get(nid, this.nodeId)?.ltime : undefined,
      noteJoin: (node, nid, ltime) => { this.nets.onEvent({ node, nid, ltime, join: true }) },
      isMember: (node, nid) => this.netNodes.get(nid, node)?.join === true,
      answered: (from, nid) => { this.ledger.exchanged(nid, from, this.clock.now()) },
      refuse: (reason, detail) => { this.reject(reason, detail) }
    }
  }

  private async onRequest (from: string, data: Uint8Array): Promise<Iterable<Uint8Array>> {
    if (!this.running) throw new NotStartedError()
    let req
    try {
      req = decodeRequest(data)
    } catch (err) {
      this.drop(err instanceof WireError ? err.reason : 'undecodable', { from, err: String(err) })
      throw err
    }
    switch (req.t) {
      case 'pushpull':
        this.applyClusterState(req.b, from)
        return [encodeResponse({ t: 'pushpull', b: this.clusterState() })]
      case 'sync':
        this.counts.bulkSyncs++
        this.m.bulkSyncs.inc({ role: 'responder' })
        return answerSync(this.syncDeps(), from, req.b)
      case 'push':
        if (this.netNodes.get(req.b.nid, from)?.join !== true) {
          this.reject('not-member', { from, nid: req.b.nid, type: 'push' })
          return [encodeResponse({ t: 'ack', b: { ok: false, detail: `not a member of ${req.b.nid}` } })]
        }
        this.entries.mergeRemote(req.b.nid, from, req.b.entries)
        this.ledger.exchanged(req.b.nid, from, this.clock.now())
        return [encodeResponse({ t: 'ack', b: { ok: true, detail: '' } })]
      case 'pingreq': {
        // the asker's timeout is stretched by its local health; a bound keeps a request cheap
        const timeoutMs = Math.min(Math.max(req.b.timeoutMs, 1),
          this.cfg.probeTimeoutMs * (FailureDetector.MAX_HEALTH + 1))
        const ok = await this.transport.probe(req.b.target, timeoutMs).then(() => true, () => false)
        return [encodeResponse({ t: 'ack', b: { ok, detail: '' } })]
      }
    }
  }

  private async indirectProbe (helper: string, target: string, timeoutMs: number): Promise<boolean> {
    const frames = await this.transport.request(helper, encodeRequest({ t: 'pingreq', b: { target, timeoutMs } }),
      timeoutMs * 2)
    const res = frames[0] === undefined ? undefined : this.decodeAnswer(helper, frames[0])
    return res?.t === 'ack' && res.b.ok
  }

  /** Bulk sync of `nid` with `peer`; false (logged) when it failed. */
  private async sync (peer: string, nid: string, onAnswer?: () => void, own = false): Promise<boolean> {
    return await this.ledger.track(nid, peer, this.clock.now(), this.syncOnce(peer, nid, onAnswer, own))
  }

  private async syncOnce (peer: string, nid: string, onAnswer?: () => void, own = false): Promise<boolean> {
    try {
      const r = await syncWith(this.syncDeps(), peer, nid, onAnswer, own)
      this.counts.bulkSyncs++
      this.counts.bulkSyncEntries += r.received + r.pushed
      this.m.bulkSyncs.inc({ role: 'initiator' })
      if (r.differing > 0) this.log.debug({ peer, nid, ...r }, 'bulk sync repaired differences')
      return true
    } catch (err) {
      // an answer frame that did not decode is counted like any other dropped frame
      if (err instanceof WireError) this.drop(err.reason, { from: peer, nid, err: String(err) })
      this.log.debug({ peer, nid, err: String(err) }, 'bulk sync failed')
      return false
    }
  }

  /** Decode a response frame of `from`; an undecodable one is dropped and counted, then thrown. */
  private decodeAnswer (from: string, frame: Uint8Array): ReturnType<typeof decodeResponse> {
    try {
      return decodeResponse(frame)
    } catch (err) {
      this.drop(err instanceof WireError ? err.reason : 'undecodable', { from, err: String(err) })
      throw err
    }
  }

  // ---- cluster state --------------------------------------------------------------------------

  private clusterState (): ClusterState {
    return { nodes: this.mem.all().map(m => this.mem.event(m)), networks: this.netNodes.events(),
      ltime: this.nets.clock }
  }

  /** A push-pull's state from `from`: what it says of other nodes is screened (trust.ts). */
  private applyClusterState (s: ClusterState, from: string): void {
    for (const n of s.nodes) this.memberEvents.onNodeEvent(screenNodeEvent(n, from, this.mem.get(n.node)))
    for (const n of s.networks) if (screenNetworkEvent(n, from)) this.nets.onEvent(n)
  }

  private async pushPull (peer: string, timeoutMs = this.cfg.requestTimeoutMs): Promise<void> {
    const frames = await this.transport.request(peer, encodeRequest({ t: 'pushpull', b: this.clusterState() }),
      timeoutMs)
    const res = frames[0] === undefined ? undefined : this.decodeAnswer(peer, frames[0])
    if (res?.t !== 'pushpull') throw new Error(`bad push-pull answer from ${peer}`)
    this.applyClusterState(res.b, peer)
  }

  private pushPullRandom (): void {
    const peer = shuffle(this.mem.others('alive'), this.random)[0]
    if (peer !== undefined) {
      this.pushPull(peer.id)
        .catch((err: unknown) => { this.log.debug({ peer: peer.id, err: String(err) }, 'push-pull failed') })
    }
  }

  private syncRandom (): void {
    for (const nid of this.joined) {
      const peer = shuffle(this.peers(nid).filter(p => p !== this.nodeId), this.random)[0]
      if (peer !== undefined) void this.sync(peer, nid)
    }
  }

  private onPeerConnected (peer: string): void {
    if (!this.running) return
    const m = this.mem.get(peer)
    if (m === undefined || m.status === 'failed') {
      this.pushPull(peer)
        .catch((err: unknown) => { this.log.debug({ peer, err: String(err) }, 'push-pull on connect failed') })
    }
  }

  private onPeerDisconnected (peer: string): void {
    if (!this.running) return
    if (this.mem.isLive(peer)) this.fd?.probeNow(peer)
  }

  private async reap (): Promise<void> {
    const now = this.clock.now()
    const gone = this.tables.reap(now, this.cfg.failedEntryRetentionMs)
    for (const g of gone) {
      if (g.owner === this.nodeId) await this.store.deleteEntry(g.nid, g.table, g.key).catch(() => {})
    }
    for (const id of this.mem.forget(now, this.cfg.forgetMemberAfterMs)) {
      this.netNodes.forgetNode(id)
      this.ledger.forgetPeer(id)
    }
    this.m.entries(this.tables, this.joined)
    await this.persistMeta().catch(() => {})
  }

  private updateMemberGauges (): void {
    this.m.members(this.mem.all())
  }

  private emitCluster (ev: ClusterEvent): void {
    for (const w of [...this.clusterWatchers]) {
      try { w(ev) } catch (err) { this.log.error({ err: String(err) }, 'cluster watcher threw') }
    }
  }

  // ---- diagnostics ----------------------------------------------------------------------------

  diagnostics (): Diagnostics {
    const networks = this.networks().map(nid => ({ nid, peers: this.peers(nid), tables: this.tables.stats(nid),
      digest: this.tables.digest(nid) }))
    return {
      node: toNodeInfo(this.mem.self),
      members: this.members(),
      networks,
      digest: digestOf(networks.map(n => `${n.nid}=${n.digest}`).join('\n')),
      clocks: { network: this.nets.clock, table: this.entries.clock }
    }
  }

  stats (): NetworkDBStats { return { ...this.counts } }
}
