/**
 * ClusterIpam: libnetwork's Ipam contract for a cluster with no central store.
 *
 * DESIGN (longer version in ipam/DESIGN.md)
 *
 * Ownership rings. Every space is covered by rings: per address space and family a pool-space ring
 * over ALL addresses of the family (so static pools anywhere are arbitrated too), and per pool an
 * address ring over the pool. A ring says which node owns each address, as segments
 * {first, last, version, owner}; join takes the higher (version, owner) per address (ring.ts), a
 * CRDT. A node only cuts pools / hands out addresses from what it owns in its own view, so it
 * allocates with no network round trip. Each node publishes, in NetworkDB entries it alone writes
 * (`ring/<node>/<ring>`), what it owns plus grants in flight; NetworkDB's owner rule does the rest.
 *
 * Moving space. Only the owner creates facts about its space: a grant raises the version of the
 * given segments by one and names the receiver. The giver applies it to its view synchronously
 * (it stops using the range at once), persists it, and only then publishes it and answers. Ways
 * space moves: a donation (a node out of space asks the peer with the most free space; it gives
 * at most half, one aligned block), a targeted grant (a static pool or a preferred address owned
 * elsewhere: the owner decides overlap / in-use and grants exactly that), a graceful leave (all to
 * live peers, confirmed), and `reclaim(node)` (operator only, refused while the node is alive;
 * version + 1,000,000 so it wins even over a node that was alive in a partition — which is why it
 * is dangerous). A node that stops answering keeps its space: requests that need it fail with
 * ErrIpamUnavailable instead of guessing.
 *
 * Genesis. Only the node configured `bootstrap` (the one that started the cluster) creates the
 * pool-space rings, owning everything; joiners learn the genesis from records and ask for space.
 * There is no start-up split to race on. Records of another genesis never merge (two bootstraps =
 * misconfiguration, reported as conflicts).
 *
 * Pools. Records `pool/<owner>/<instance>` are kept by the owner of the pool's space. A pool lies
 * wholly in its owner's space, and donations never give away space holding a pool, so the owner
 * knows every pool in its space: dynamic pools are cut from owned space avoiding every known pool;
 * a static pool is created only when the whole prefix is owned (after targeted grants) and no
 * known pool overlaps. A cluster network is named by the option `ovnet.ipam.network`: requests with
 * the same value join the same pool (the owner counts holders before confirming; it frees the pool
 * only when its own references and all holders are gone, and says so with a higher-epoch record).
 * A static request may name the network's gateway (`ovnet.ipam.gateway`): a pool it creates keeps
 * that gateway reserved in its record from the start.
 *
 * Invariants and why they hold:
 *  I1 one owner per address per ring at any version (grants come only from the owner; reclaim is
 *     the operator's explicit exception), and a node uses only what its durable view says it owns;
 *  I2 no address is handed out twice in one pool: addresses come from owned address-ring space,
 *     each allocation is durable before it is returned, and a restarted node reloads every
 *     allocation and its views before serving;
 *  I3 no two GlobalDefault pools overlap: I1 on the pool-space ring plus "the owner knows all pools
 *     in its space". Partitions only delay grants; crashes lose nothing published (persist before
 *     publish); views only grow, so an entry vanishing from NetworkDB (failed node) takes back nothing.
 */
import {
  SystemClock, silentLogger, noopMetrics, type Clock, type TimerHandle, type Logger, type Counter, type Metrics
} from '../core/index.js'
import type { NetworkDB } from '../networkdb/index.js'
import type { IpamRecord } from '../proto/index.js'
import { formatAddress, parseAddress, parsePrefix, prefixContains, type ParsedPrefix } from './ip-math.js'
import { resolveIpamConfig, type IpamConfig, type ResolvedIpamConfig } from './config.js'
import { handOver, reclaim, type HandoverReport } from './handover.js'
import {
  GlobalDefault as GLOBAL, LocalDefault as LOCAL, ErrBadPool, ErrInvalidAddress, ErrInvalidAddressSpace, ErrInvalidPool,
  ErrInvalidSubPool, ErrIpamClosed, ErrIPOutOfRange,
  ErrPoolNotFound, GatewayOption, NetworkOption,
  type AllocatedAddress, type AllocatedPool, type Capability, type DefaultAddressSpaces, type Ipam, type PoolRequest
} from './ipamapi.js'
import { ClusterLink } from './link.js'
import { parsePoolId } from './pools.js'
import { normalize } from './ranges.js'
import { Responder } from './responder.js'
import { addrRingId, instanceOfRing, isActive, makeSlot, poolIdOf, spaceRingId, type PoolSlot } from './slot.js'
import { Space } from './space.js'
import { poolsStatus, spaceStatus, type IpamStatus } from './status.js'
import { MemoryIpamStore, type IpamMeta, type IpamStore } from './store.js'

const OK_ADDRESS = Object.freeze({ op: 'requestAddress', result: 'ok' })

export interface ClusterIpamOptions {
  db: NetworkDB
  /** Where ranges and allocations persist (LmdbIpamStore in the data dir); the caller closes it. */
  store?: IpamStore
  clock?: Clock
  logger?: Logger
  metrics?: Metrics
  config?: Partial<IpamConfig>
}

/** Details of a pool held here, beyond the opaque pool id (tests, diagnostics). */
export interface PoolInfo { instance: string, owner: string, holders: string[], refs: number,
  network: string | undefined, gateway: string | undefined }

export class ClusterIpam implements Ipam {
  readonly config: ResolvedIpamConfig
  private readonly db: NetworkDB
  private readonly store: IpamStore
  private readonly clock: Clock
  private readonly log: Logger
  private readonly requests: Counter
  private link: ClusterLink | undefined
  private global: Space | undefined
  private local: Space | undefined
  private responder: Responder | undefined
  private meta: IpamMeta = { genesis: undefined, counter: 0 }
  private epoch = 0
  private ids = 0
  private seq = 0
  private running = false
  private closed = false
  private timer: TimerHandle | undefined

  constructor (opts: ClusterIpamOptions) {
    this.config = resolveIpamConfig(opts.config)
    this.db = opts.db
    this.clock = opts.clock ?? new SystemClock()
    this.log = (opts.logger ?? silentLogger).child({ component: 'ipam' })
    const inner = opts.store ?? new MemoryIpamStore()
    this.store = guard(inner, () => this.closed)
    const m = opts.metrics ?? noopMetrics
    this.requests = m.counter('ovnet_ipam_requests_total', 'IPAM contract calls by operation and result',
      ['op', 'result'])
  }

  get nodeId (): string { return this.db.nodeId }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Load the store, join the IPAM network of NetworkDB (which must be started) and serve. */
  async start (): Promise<void> {
    if (this.running) return
    const snap = await this.store.load()
    this.meta = snap.meta ?? { genesis: undefined, counter: 0 }
    // A fresh id range per run: ids (requests, pool instances) are never reused after a crash.
    this.epoch = this.meta.counter + 1
    this.meta = { ...this.meta, counter: this.epoch }
    await this.store.putMeta(this.meta)
    this.seq = snap.allocations.reduce((m, a) => Math.max(m, a.seq), 0)
    const me = this.db.nodeId
    this.link = new ClusterLink(this.db, this.clock, this.log,
      { nid: this.config.nid, table: this.config.table, requestTimeoutMs: this.config.requestTimeoutMs })
    const deps = {
      me,
      cfg: this.config,
      clock: this.clock,
      log: this.log,
      store: this.store,
      nextId: () => `${this.epoch.toString(36)}.${(++this.ids).toString(36)}`,
      nextSeq: () => ++this.seq,
      genesisKnown: (g: string) => {
        this.meta = { ...this.meta, genesis: g }
        void this.store.putMeta(this.meta).catch(() => {})
      }
    }
    const global = new Space({ ...deps, name: GLOBAL, shared: true, predefined: this.config.global, link: this.link })
    const local = new Space({ ...deps, name: LOCAL, shared: false, predefined: this.config.local, link: undefined })
    const spaceOfPool = new Map<string, Space>()
    for (const p of snap.pools) {
      // Freed pools are kept as tombstones while running; a restart is when they are let go.
      if (p.record.state === 'freed') { await this.store.deletePool(p.record.instance); continue }
      const space = p.record.space === LOCAL ? local : global
      space.pools.set(p.record.instance, makeSlot(p.record, p.owner, p.refs, p.gwHeld))
      spaceOfPool.set(p.record.instance, space)
    }
    for (const r of snap.rings) {
      const inst = instanceOfRing(r.ring)
      const space = inst !== undefined ? spaceOfPool.get(inst) ?? global
        : r.ring.startsWith(`space/${LOCAL}/`) ? local : global
      space.rings.restore(r)
    }
    for (const space of [global, local]) {
      for (const slot of space.pools.values()) slot.alloc.setOwned(space.rings.owned(addrRingId(slot.record.instance)))
    }
    // A crash between freeing a pool and dropping its ring leaves the ring behind: finish the job.
    for (const r of [...global.rings.all(), ...local.rings.all()]) {
      const inst = instanceOfRing(r.id)
      const space = inst === undefined ? undefined : spaceOfPool.get(inst)
      const slot = inst === undefined ? undefined : space?.pools.get(inst)
      if (inst !== undefined && (slot === undefined || !isActive(slot))) await (space ?? global).rings.drop(r.id)
    }
    const orphans = new Set<string>()
    for (const a of snap.allocations) {
      const slot = spaceOfPool.get(a.instance)?.pools.get(a.instance)
      if (slot === undefined) { orphans.add(a.instance); continue }
      slot.alloc.restore(a.value, a.mac === undefined ? { seq: a.seq } : { seq: a.seq, mac: a.mac })
    }
    // Addresses of a pool freed just before a crash: the pool is gone, so are they.
    for (const inst of orphans) await this.store.deleteAllocations(inst)
    if (!local.rings.has(spaceRingId(LOCAL, 4))) local.bootstrap('local')
    if (this.meta.genesis !== undefined && global.rings.has(spaceRingId(GLOBAL, 4))) global.genesis = this.meta.genesis
    else if (this.config.bootstrap) {
      const genesis = `${me}@${this.clock.now()}`
      global.bootstrap(genesis)
      this.meta = { ...this.meta, genesis }
      await this.store.putMeta(this.meta)
      this.log.info({ genesis }, 'bootstrapped the cluster address space')
    }
    this.global = global
    this.local = local
    this.responder = new Responder(global, this.link, this.log)
    this.running = true
    await this.link.start({
      record: (writer, key, rec) => { this.onRecord(writer, key, rec) },
      removed: (writer, key, kind) => {
        const rest = key.slice(`${kind}/${writer}/`.length)
        if (kind === 'req') this.responder?.onRequestRemoved(writer, rest)
        else if (kind === 'pool') global.replication.onPoolRemoved(writer, rest)
      }
    })
    // Requests of a previous run have nobody waiting for them any more.
    for (const e of this.link.own('req/')) await this.link.remove(e.key)
    for (const e of this.link.own('ring/')) {
      if (!global.rings.has(e.key.slice(`ring/${me}/`.length))) await this.link.remove(e.key)
    }
    for (const e of this.link.own('pool/')) {
      if (!global.pools.has(e.key.slice(`pool/${me}/`.length))) await this.link.remove(e.key)
    }
    for (const r of [...global.rings.all()]) global.replication.publishRing(r.id)
    await Promise.all([...global.pools.values()].filter(slot => slot.owner === me).map(async slot => {
      await global.persistPool(slot)
    }))
    this.arm()
    this.log.info({ pools: global.pools.size + local.pools.size, allocations: snap.allocations.length }, 'ipam started')
  }

  private arm (): void {
    this.timer = this.clock.setTimeout(() => {
      if (this.closed) return
      this.global?.replication.reconcile()
      this.responder?.sweep()
      this.arm()
    }, this.config.reconcileIntervalMs)
  }

  private onRecord (writer: string, _key: string, rec: IpamRecord): void {
    const g = this.global
    if (g === undefined) return
    switch (rec.t) {
      case 'ring': g.replication.onRing(writer, rec.b); return
      case 'pool': g.replication.onPool(writer, rec.b); return
      case 'req': this.responder?.onRequest(writer, rec.b); return
      case 'ans': return
      case 'gone':
        if (rec.b.node === this.db.nodeId) this.log.error({ by: writer },
          'an operator reclaimed this node\'s ranges: allocations made here since may be duplicated')
        else g.forget(rec.b.node)
    }
  }

  /** Stop serving (as a crash would, minus in-flight writes): NetworkDB is left to its owner. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.running = false
    this.clock.clearTimeout(this.timer)
    this.global?.close()
    this.local?.close()
    this.link?.close()
  }

  /** Graceful leave: hand every range to live peers, then close. Call before NetworkDB's leave(). */
  async leave (): Promise<HandoverReport> {
    const g = this.requireRunning().global
    const report = await handOver(g, this.log)
    await this.close()
    return report
  }

  /** Operator action `ovnet ipam reclaim NODE`: take over a dead node's ranges. See handover.ts. */
  async reclaim (node: string): Promise<string[]> {
    const g = this.requireRunning().global
    return await reclaim(g, this.link, node, this.config.reclaimBump, this.clock.now())
  }

  private requireRunning (): { global: Space, local: Space } {
    if (!this.running || this.global === undefined || this.local === undefined) throw new ErrIpamClosed()
    return { global: this.global, local: this.local }
  }

  private spaceOf (name: string): Space {
    const s = this.requireRunning()
    if (name === GLOBAL) return s.global
    if (name === LOCAL) return s.local
    throw new ErrInvalidAddressSpace()
  }

  private async counted<T> (op: string, fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn()
      this.requests.inc({ op, result: 'ok' })
      return r
    } catch (err) {
      this.requests.inc({ op, result: err instanceof Error ? err.name : 'error' })
      throw err
    }
  }

  // ---- the Ipam contract ----------------------------------------------------------------------

  async getDefaultAddressSpaces (): Promise<DefaultAddressSpaces> {
    return { local: LOCAL, global: GLOBAL }
  }

  isBuiltIn (): boolean { return false }

  capabilities (): Capability {
    return { requiresMACAddress: this.config.requiresMACAddress, requiresRequestReplay: false }
  }

  async requestPool (req: PoolRequest): Promise<AllocatedPool> {
    return await this.counted('requestPool', async () => {
      const space = this.spaceOf(req.addressSpace)
      let pool: ParsedPrefix | undefined
      let sub: ParsedPrefix | undefined
      if (req.pool !== undefined && req.pool !== '') {
        pool = parsePrefix(req.pool)
        if (pool === undefined || pool.hostBits) throw new ErrInvalidPool()
        if ((pool.family === 6) !== req.v6) throw new ErrBadPool()
      }
      if (req.subPool !== undefined && req.subPool !== '') {
        if (pool === undefined) throw new ErrInvalidSubPool()
        sub = parsePrefix(req.subPool)
        if (sub === undefined || sub.hostBits || !prefixContains(pool, sub)) throw new ErrInvalidSubPool()
      }
      const exclude = (req.exclude ?? []).map(x => {
        const p = parsePrefix(x)
        if (p === undefined) throw new ErrInvalidPool()
        return p
      })
      const family = pool?.family ?? (req.v6 ? 6 : 4)
      const network = req.options?.[NetworkOption]
      const slot = await space.requestPool({
        family,
        pool,
        sub,
        network: network === undefined || network === '' ? undefined : network,
        gateway: gatewayOf(req.options?.[GatewayOption], pool),
        exclude: normalize(exclude.filter(p => p.family === family).map(p => ({ s: p.first, e: p.last })))
      })
      return { poolId: poolIdOf(slot), pool: slot.prefix.cidr, meta: {} }
    })
  }

  private held (poolId: string): { space: Space, slot: PoolSlot } {
    const { global, local } = this.requireRunning()
    const quick = poolId.startsWith(`${GLOBAL}/`) ? global : poolId.startsWith(`${LOCAL}/`) ? local : undefined
    const hit = quick?.heldSlot(poolId)
    if (quick !== undefined && hit !== undefined) return { space: quick, slot: hit }
    const parts = parsePoolId(poolId)
    if (parts === undefined) throw new ErrPoolNotFound(poolId)
    const space = this.spaceOf(parts.space)
    const slot = space.heldSlot(poolId)
    if (slot === undefined) throw new ErrPoolNotFound(poolId)
    return { space, slot }
  }

  async releasePool (poolId: string): Promise<void> {
    await this.counted('releasePool', async () => {
      const { space, slot } = this.held(poolId)
      await space.releasePool(slot)
    })
  }

  async requestAddress (
    poolId: string, ip: string | undefined, options: Record<string, string> = {}
  ): Promise<AllocatedAddress> {
    // The hot path of the layer: no wrapper closure, one try.
    try {
      const { space, slot } = this.held(poolId)
      const v = await space.addresses.requestAddress(slot, ip, options)
      this.requests.inc(OK_ADDRESS)
      return { address: `${formatAddress(slot.prefix.family, v)}/${slot.prefix.bits}`, meta: {} }
    } catch (err) {
      this.requests.inc({ op: 'requestAddress', result: err instanceof Error ? err.name : 'error' })
      throw err
    }
  }

  async releaseAddress (poolId: string, ip: string): Promise<void> {
    await this.counted('releaseAddress', async () => {
      const { space, slot } = this.held(poolId)
      await space.addresses.releaseAddress(slot, ip)
    })
  }

  // ---- diagnostics ----------------------------------------------------------------------------

  status (): IpamStatus {
    const { global, local } = this.requireRunning()
    const statusOf = (n: string): string => this.link?.status(n) ?? 'unknown'
    return {
      node: this.db.nodeId,
      spaces: [...spaceStatus(global, statusOf), ...spaceStatus(local, () => 'alive')],
      pools: [...poolsStatus(global), ...poolsStatus(local)],
      rejectedRecords: this.link?.rejected ?? 0
    }
  }

  /** A pool held here (refs > 0), or undefined. Answers from memory, also after close. */
  inspectPool (poolId: string): PoolInfo | undefined {
    const parts = parsePoolId(poolId)
    if (parts === undefined) return undefined
    const space = parts.space === GLOBAL ? this.global : parts.space === LOCAL ? this.local : undefined
    const slot = space?.heldSlot(poolId)
    if (slot === undefined) return undefined
    return { instance: slot.record.instance, owner: slot.owner, holders: [...slot.record.holders], refs: slot.refs,
      network: slot.record.network, gateway: slot.record.gw }
  }

  /**
   * Every address this node holds, per pool instance (active pools): what the cluster property
   * test checks for duplicates.
   */
  allocations (): Map<string, { pool: string, addresses: bigint[] }> {
    const out = new Map<string, { pool: string, addresses: bigint[] }>()
    for (const space of [this.global, this.local]) {
      for (const slot of space?.pools.values() ?? []) {
        if (!isActive(slot) || slot.alloc.used() === 0) continue
        out.set(slot.record.instance, { pool: slot.record.pool, addresses: [...slot.alloc.allocations()] })
      }
    }
    return out
  }

  /** Pools this node holds (refs > 0), with the state of their record: a held pool must be active. */
  heldPools (): Array<{ instance: string, pool: string, refs: number, state: string }> {
    const out: Array<{ instance: string, pool: string, refs: number, state: string }> = []
    for (const space of [this.global, this.local]) {
      for (const slot of space?.pools.values() ?? []) if (slot.refs > 0) out.push({ instance: slot.record.instance,
        pool: slot.record.pool, refs: slot.refs, state: slot.record.state })
    }
    return out
  }

  /** What this node believes it owns, per GlobalDefault ring (invariant checks: owners never overlap). */
  ownedRanges (): Map<string, Array<{ s: bigint, e: bigint }>> {
    const out = new Map<string, Array<{ s: bigint, e: bigint }>>()
    const g = this.global
    for (const r of g?.rings.all() ?? []) out.set(r.id, g!.rings.owned(r.id))
    return out
  }

  /** The ring views of GlobalDefault (for agreement checks): ring id -> canonical text. */
  ringDigest (): Map<string, string> {
    const out = new Map<string, string>()
    for (const r of this.global?.rings.all() ?? []) out.set(r.id,
      r.view.map(x => `${x.s.toString(16)}-${x.e.toString(16)}@${x.v}:${x.o}`).join(','))
    return out
  }
}

/** The gateway a static pool request names (GatewayOption): an address of the pool. */
function gatewayOf (opt: string | undefined, pool: ParsedPrefix | undefined): bigint | undefined {
  if (opt === undefined || opt === '') return undefined
  if (pool === undefined) throw new ErrInvalidPool()
  const a = parseAddress(opt)
  if (a === undefined || a.family !== pool.family) throw new ErrInvalidAddress(opt)
  if (a.value < pool.first || a.value > pool.last) throw new ErrIPOutOfRange()
  return a.value
}

/**
 * Refuse writes once closed: after a "crash" nothing more reaches the disk. No extra async frame: this is on the
 * allocation path.
 */
function guard (s: IpamStore, closed: () => boolean): IpamStore {
  const refuse = async (): Promise<never> => { throw new ErrIpamClosed() }
  return {
    load: async () => await s.load(),
    putMeta: async (m) => await (closed() ? refuse() : s.putMeta(m)),
    putRing: async (r) => await (closed() ? refuse() : s.putRing(r)),
    deleteRing: async (id) => await (closed() ? refuse() : s.deleteRing(id)),
    putPool: async (p) => await (closed() ? refuse() : s.putPool(p)),
    deletePool: async (i) => await (closed() ? refuse() : s.deletePool(i)),
    putAllocation: (a) => closed() ? refuse() : s.putAllocation(a),
    deleteAllocation: async (i, v) => await (closed() ? refuse() : s.deleteAllocation(i, v)),
    deleteAllocations: async (i) => await (closed() ? refuse() : s.deleteAllocations(i)),
    close: async () => { await s.close() }
  }
}
