/**
 * The controller: libnetwork's model (networks, endpoints, a sandbox per container namespace)
 * over NetworkDB, the global IPAM and the overlay driver.
 *
 * - A network is a cluster object: its definition lives in `network_table` of NetworkDB's
 *   cluster-wide network, created on any host, visible on every host, removed from any host once
 *   no endpoint remains anywhere. When the node that wrote it fails, the live node with the
 *   smallest id re-announces it, so a network does not vanish with a host. A removal is a record
 *   of its own that wins over any re-announcement (network-removals.ts).
 * - An endpoint is owned by the host that attached it: `endpoint_table` (cluster-wide, for
 *   inspect and the active-endpoints check) and the overlay's peer table (per network, for the
 *   data plane). Its local plumbing is remembered in LocalState to be rebuilt after a crash.
 * - Each host that uses a network holds the network's IPAM pool (the same pool cluster-wide,
 *   reference counted) and its gateway, and asks the IPAM for its endpoints' addresses
 *   (local-networks.ts). New networks keep away from every known network's subnet.
 */
import { randomBytes } from 'node:crypto'
import {
  decodeEndpointRecord, decodeNetworkRecord, encodeNetworkRecord, ENDPOINT_TABLE, MAX_RECORD_NAME, NETWORK_TABLE,
  type NetworkRecord
} from '../proto/index.js'
import { type NetworkDB, type TableEvent, type Unsubscribe } from '../networkdb/index.js'
import { macFromIPv4, SystemClock, type Clock, type Logger } from '../core/index.js'
import { OVERLAY_GLOBAL_NETWORK, type OverlayDriver, type TableGlue } from '../overlay/index.js'
import { MacAddress } from '../ipam/index.js'
import type {
  AttachmentView, AttachRequest, AttachResponse, ControlEvent, DetachRequest, DiagnosticsView, IpamReclaimResponse,
  IpamStatusView, MemberView,
  NetworkCreateRequest, NetworkCreateResponse, NetworkInspect, NetworkSummary
} from './api-types.js'
import {
  ActiveEndpointsError, AmbiguousNetworkError, BadRequestError, ErrInvalidJoin, ErrNoSuchEndpoint, ErrNoSuchNetwork
} from './errors.js'
import { EventHub } from './events.js'
import { buildInspect, summary } from './inspect.js'
import type { IpamPort } from './ipam-port.js'
import { LocalNetworks } from './local-networks.js'
import type { LocalEndpoint, LocalState } from './local-state.js'
import { checkNetnsTarget, netnsSyntaxError } from './netns-target.js'
import { NetworkRemovals } from './network-removals.js'
import { createClusterNetwork, type NetworkCreateDeps } from './network-create.js'
import { EndpointPlumbing } from './endpoint-plumbing.js'
import { egressView, parsePublish, type EgressPort } from './egress/index.js'
import { checkDnsRequest, type DnsPort } from './dns/index.js'
import { OpLocks } from './op-locks.js'
import { EndpointRestore } from './restore.js'
import { HandoffEndpoints, type HandoffRequest } from './handoff.js'
import { NetworkPreparations } from './network-prepare.js'

export interface PeerHealth {
  setPeers(ips: Iterable<string>): void
  rtt(ip: string): number | null
}

export interface ControllerOptions {
  db: NetworkDB
  driver: OverlayDriver
  glue: TableGlue
  ipam: IpamPort
  state: LocalState
  health: PeerHealth
  logger: Logger
  vtep: string
  /**
   * How long endpoints of the previous run wait for their network's definition (default 30 s, below the driver's
   * orphan grace).
   */
  restoreGraceMs?: number
  /** How long a network's removal record is kept (default 24 h; see network-removals.ts). */
  removalRetentionMs?: number
  /** Time of network records, the restore grace timer, the removal records (default: the system clock). */
  clock?: Clock
  /** Uplinks, NAT and published ports (agent/egress); none in the in-memory tests. */
  egress?: EgressPort
  /** The embedded DNS (agent/dns); none in the in-memory tests. */
  dns?: DnsPort
}

const GLOBAL = OVERLAY_GLOBAL_NETWORK

export class Controller {
  private readonly db: NetworkDB
  private readonly driver: OverlayDriver
  /** The endpoints' kernel and table steps (endpoint-plumbing.ts). */
  private readonly plumbing: EndpointPlumbing
  private readonly ipam: IpamPort
  private readonly state: LocalState
  private readonly health: PeerHealth
  private readonly log: Logger
  /** Every network of the cluster, by id. */
  private readonly networks = new Map<string, NetworkRecord>()
  /** Pools, gateways and driver networks this host holds. */
  private readonly local: LocalNetworks
  private readonly removals: NetworkRemovals
  private readonly events = new EventHub()
  private readonly unwatch: Unsubscribe[] = []
  /** Cluster-wide mutations run alone; attach/detach only take turns per network (op-locks.ts). */
  private readonly ops = new OpLocks()
  /** `nid\0netns` of attaches between their address and their saved endpoint. */
  private readonly attaching = new Set<string>()
  /** Endpoints of the previous run, rebuilt after a restart (restore.ts). */
  private readonly restorer: EndpointRestore
  /** Endpoints Docker's plugin configures (handoff.ts). */
  private readonly handoff: HandoffEndpoints
  /** A host's first attach to a network: its data plane made alongside the IPAM (network-prepare.ts). */
  private readonly prep: NetworkPreparations
  private readonly clock: Clock
  private readonly egress: EgressPort | undefined
  private readonly dns: DnsPort | undefined

  constructor (o: ControllerOptions) {
    this.db = o.db
    this.driver = o.driver
    this.ipam = o.ipam
    this.state = o.state
    this.health = o.health
    this.log = o.logger.child({ component: 'controller' })
    this.plumbing = new EndpointPlumbing({ db: o.db, driver: o.driver, glue: o.glue, vtep: o.vtep })
    this.clock = o.clock ?? new SystemClock()
    this.egress = o.egress
    this.dns = o.dns
    this.dns?.setEventSink((action, nid, attrs) => {
      this.events.emit('dns', action, nid, { network: this.networks.get(nid)?.name ?? '', ...attrs })
    })
    this.local = new LocalNetworks({ ipam: o.ipam, driver: o.driver, glue: o.glue, state: o.state, logger: this.log })
    this.removals = new NetworkRemovals({
      db: o.db,
      clock: this.clock,
      logger: this.log,
      retentionMs: o.removalRetentionMs,
      onRemoved: r => { this.dropNetwork(r.nid, r.name, { removal: true }) },
      adopter: () => this.isAdopter()
    })
    this.prep = new NetworkPreparations({ db: o.db, driver: o.driver, local: this.local, logger: this.log,
      inUse: nid => this.state.endpointsOf(nid).length > 0, syncEgress: async () => { await this.syncEgress() },
      dns: o.dns })
    this.restorer = new EndpointRestore({
      clock: this.clock,
      logger: this.log,
      graceMs: o.restoreGraceMs ?? 30_000,
      endpoints: () => this.state.endpoints.values(),
      network: nid => this.networks.get(nid),
      rebuild: async (ep, rec) => { await this.local.ensure(rec); await this.plumbing.plumb(ep) },
      detach: async ep => { await this.detachLocal(ep) },
      save: async () => { await this.state.save() },
      syncEgress: async () => { await this.syncEgressQuiet() },
      complete: async () => { await this.driver.restoreComplete() },
      serial: async fn => { await this.serial(fn) }
    })
    this.handoff = new HandoffEndpoints({
      logger: this.log,
      networks: this.networks,
      state: o.state,
      ipam: o.ipam,
      local: this.local,
      ops: this.ops,
      inNetwork: async (rec, fn, after) => await this.inNetwork(rec, fn, after),
      plumb: async ep => { await this.plumbing.plumb(ep) },
      unplumb: async ep => { await this.plumbing.unplumb(ep) },
      detachLocal: async ep => { await this.detachLocal(ep) },
      syncEgress: async () => { await this.syncEgressQuiet() },
      publishPending: async () => { await this.db.publishPending() }
    })
  }

  /** A cluster-wide operation: alone. */
  private serial<T> (fn: () => Promise<T>): Promise<T> {
    return this.ops.exclusive(fn)
  }

  /**
   * An operation on one network's endpoints: alongside others, `fn` taking turns with those of
   * the same network only. The network's pool and driver network are set up first, cluster-wide
   * (once per network and host), so the IPAM's pool requests never overlap.
   */
  private async inNetwork<T> (rec: NetworkRecord, fn: () => Promise<T>, after?: (v: T) => Promise<void>): Promise<T> {
    if (!this.local.isReady(rec.id)) {
      await this.serial(async () => { if (this.networks.has(rec.id)) await this.local.ensure(rec) })
    }
    return await this.ops.shared(async () => {
      const v = await this.ops.network(rec.id, fn)
      if (after !== undefined) await after(v)
      return v
    })
  }

  /** Join the cluster-wide network, follow the tables, rebuild what this host had attached. */
  async start (): Promise<void> {
    await this.db.joinNetwork(GLOBAL)
    await this.serial(async () => { await this.local.pruneLost() })
    // Removals first: a definition replayed next is known to be removed already.
    this.unwatch.push(this.removals.start())
    this.unwatch.push(this.db.watch(NETWORK_TABLE, GLOBAL, ev => { this.onNetworkEvent(ev) }))
    this.unwatch.push(this.db.watch(ENDPOINT_TABLE, GLOBAL, ev => { this.onEndpointEvent(ev) }))
    this.unwatch.push(this.db.watchCluster(ev => {
      this.refreshPeers()
      if (ev.type === 'node' && ev.node.id !== this.db.nodeId && ev.node.status !== ev.prev) {
        this.events.emit('peer', ev.node.status, ev.node.id, { name: ev.node.name, address: ev.node.advertiseAddr })
        if (ev.node.status === 'failed' || ev.node.status === 'left') this.adoptNetworksOf(ev.node.id)
      }
    }))
    this.refreshPeers()
    await this.serial(async () => { await this.restorer.start() })
  }

  /** Graceful stop: detach every local endpoint (kernel objects go), then the caller leaves. */
  async stop (): Promise<void> {
    this.restorer.stop()
    await this.serial(async () => {
      for (const ep of [...this.state.endpoints.values()]) {
        await this.detachLocal(ep).catch((err: unknown) => {
          this.log.warn({ err: String(err), eid: ep.eid }, 'detach on stop failed')
        })
      }
    })
    for (const u of this.unwatch) u()
    this.unwatch.length = 0
  }

  // ---- reactions to replicated state --------------------------------------------------------

  private onNetworkEvent (ev: TableEvent): void {
    if (ev.kind !== 'delete' && ev.value !== undefined) {
      try {
        const rec = decodeNetworkRecord(ev.value)
        if (this.removals.has(rec.id)) {
          // A re-announcement that raced the network's removal: the removal wins.
          void this.removals.purge(rec.id).catch((err: unknown) => {
            this.log.warn({ err: String(err), nid: rec.id }, 'deleting the definition of a removed network failed')
          })
          return
        }
        const isNew = !this.networks.has(rec.id)
        this.networks.set(rec.id, rec)
        if (isNew) this.events.emit('network', 'create', rec.id, { name: rec.name })
        // A new subnet is one more the uplinks must not reach.
        if (isNew && this.egress !== undefined) void this.serial(async () => { await this.syncEgressQuiet() })
        if (this.restorer.waitsFor(rec.id)) void this.serial(async () => { await this.restorer.resume(rec.id) })
      } catch (err) {
        this.log.warn({ key: ev.key, err: String(err) }, 'undecodable network record')
      }
      return
    }
    if (ev.reason === 'owner-failed' || ev.reason === 'owner-left') {
      // The writer died or left the cluster; the network lives on. Re-announce it if it falls to us.
      this.adoptNetworksOf(ev.owner)
      return
    }
    const rec = this.networks.get(ev.key)
    if (rec !== undefined) this.dropNetwork(rec.id, rec.name, { reason: ev.reason, owner: ev.owner })
  }

  /** The network is gone (removed, here or elsewhere): forget it and release what this host holds of it. */
  private dropNetwork (nid: string, name: string, cause: Record<string, unknown>): void {
    const known = this.networks.delete(nid)
    if (known) this.log.info({ network: name, nid, ...cause }, 'network dropped')
    if (known) this.events.emit('network', 'destroy', nid, { name })
    if (known && this.egress !== undefined) void this.serial(async () => { await this.syncEgressQuiet() })
    if (known || this.state.networks.has(nid) || this.state.endpointsOf(nid).length > 0) {
      void this.serial(async () => { await this.releaseLocalNetwork(nid) })
    }
  }

  private onEndpointEvent (ev: TableEvent): void {
    const value = ev.kind === 'delete' ? ev.prev : ev.value
    if (value === undefined) return
    try {
      const r = decodeEndpointRecord(value)
      if (ev.kind === 'create') {
        this.events.emit('endpoint', 'attach', r.eid, {
          network: r.nid, name: r.name, node: r.node, ip: r.ip,
          ...(r.aliases === undefined ? {} : { aliases: r.aliases.join(',') })
        })
      } else if (ev.kind === 'delete') {
        this.events.emit('endpoint', 'detach', r.eid, {
          network: r.nid, name: r.name, node: r.node, reason: ev.reason ?? 'deleted'
        })
      }
    } catch (err) {
      this.log.warn({ key: ev.key, err: String(err) }, 'undecodable endpoint record')
    }
  }

  /** The live node with the smallest id re-announces what failed or departed writers left. */
  private isAdopter (): boolean {
    const live = this.db.members().filter(m => m.status === 'alive' || m.status === 'suspect').map(m => m.id).sort()
    return live[0] === this.db.nodeId
  }

  /** Networks whose writer failed are re-announced by the adopter (removals too: they must outlive their writer). */
  private adoptNetworksOf (failed: string): void {
    if (!this.isAdopter()) return
    this.removals.adoptAll()
    for (const rec of this.networks.values()) {
      if (this.db.getEntry(NETWORK_TABLE, GLOBAL, rec.id) !== undefined) continue
      this.db.createEntry(NETWORK_TABLE, GLOBAL, rec.id, encodeNetworkRecord(rec))
        .then(() => { this.log.info({ network: rec.name, from: failed }, 'adopted network definition') })
        .catch((err: unknown) => { this.log.debug({ err: String(err), network: rec.name }, 'adoption not needed') })
    }
  }

  private refreshPeers (): void {
    this.health.setPeers(
      this.db.members().filter(m => m.id !== this.db.nodeId && m.status !== 'left').map(m => m.advertiseAddr)
    )
  }

  // ---- lookups --------------------------------------------------------------------------------

  private resolve (nameOrId: string): NetworkRecord {
    const byId = this.networks.get(nameOrId)
    if (byId !== undefined) return byId
    const byName = [...this.networks.values()].filter(n => n.name === nameOrId)
    if (byName.length === 1) return byName[0]!
    if (byName.length > 1) throw new AmbiguousNetworkError(nameOrId, byName.length, 'name')
    const byPrefix = nameOrId.length >= 3 ? [...this.networks.values()].filter(n => n.id.startsWith(nameOrId)) : []
    if (byPrefix.length === 1) return byPrefix[0]!
    if (byPrefix.length > 1) throw new AmbiguousNetworkError(nameOrId, byPrefix.length, 'ID prefix')
    throw new ErrNoSuchNetwork(nameOrId)
  }

  // ---- control API ----------------------------------------------------------------------------

  async members (): Promise<MemberView[]> {
    return this.db.members()
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(m => ({
        Name: m.name, ID: m.id, Address: m.advertiseAddr, Status: m.status,
        RTT: m.id === this.db.nodeId ? 0 : this.health.rtt(m.advertiseAddr)
      }))
  }

  async listNetworks (): Promise<NetworkSummary[]> {
    return [...this.networks.values()].sort((a, b) => a.name.localeCompare(b.name)).map(summary)
  }

  /**
   * `exclude`: prefixes a dynamic pool must not overlap (Docker's host routes, see the plugin).
   */
  async createNetwork (req: NetworkCreateRequest, opts: { exclude?: string[] } = {}): Promise<NetworkCreateResponse> {
    const deps: NetworkCreateDeps = {
      db: this.db, driver: this.driver, ipam: this.ipam, state: this.state, clock: this.clock, log: this.log,
      networks: this.networks, removedSubnets: () => this.removals.subnets()
    }
    return await this.serial(async () => await createClusterNetwork(deps, req, opts))
  }

  async removeNetwork (network: string): Promise<void> {
    await this.serial(async () => {
      const rec = this.resolve(network)
      if (this.plumbing.endpointsIn(rec.id).length > 0 || this.state.endpointsOf(rec.id).length > 0) {
        throw new ActiveEndpointsError(rec.name, rec.id)
      }
      await this.removals.remove(rec)
      await this.db.publishPending()
      // every host (this one included, through the watch) releases what it holds
    })
  }

  /** Drop what this host holds of a removed network: endpoints, driver state, gateway, pool reference. */
  private async releaseLocalNetwork (nid: string): Promise<void> {
    for (const ep of this.state.endpointsOf(nid)) await this.detachLocal(ep).catch(() => {})
    await this.local.release(nid)
  }

  async attach (network: string, req: AttachRequest): Promise<AttachResponse> {
    const rec = this.resolve(network)
    const key = `${rec.id}\u0000${req.Netns}`
    const publish = (req.Publish ?? []).map(parsePublish)
    if (publish.length > 0 && this.egress === undefined) {
      throw new BadRequestError('this agent has no egress: ports cannot be published')
    }
    if (req.DNS === true) checkDnsRequest(this.dns, rec, req.Netns)
    this.checkJoin(rec.id, key, req)
    // A first attach here: the network's sandbox, uplink and NetworkDB join start now, alongside the IPAM.
    const prep = this.prep.begin(rec)
    // The address is picked in the network's turn; the kernel work and the publication run
    // alongside other attaches (the driver orders what must be ordered).
    const ep = await this.inNetwork(rec, async () => {
      if (!this.networks.has(rec.id)) throw new ErrNoSuchNetwork(network)
      this.checkJoin(rec.id, key, req)
      await this.egress?.check(rec, publish, [...this.state.endpoints.values()].flatMap(e => e.publish ?? []))
      await checkNetnsTarget(req.Netns)
      const poolId = await this.local.ensure(rec)
      const opts: Record<string, string> = req.MAC === undefined ? {} : { [MacAddress]: req.MAC }
      const addr = await this.ipam.requestAddress(poolId, req.IP, opts)
      const eid = randomBytes(32).toString('hex')
      const mac = (req.MAC ?? macFromIPv4(addr.address.split('/')[0]!)).toLowerCase()
      this.attaching.add(key)
      const ep: LocalEndpoint = {
        nid: rec.id, eid, name: req.Name ?? `${rec.name.slice(0, MAX_RECORD_NAME - 13)}-${eid.slice(0, 12)}`,
        netns: req.Netns, address: addr.address, mac,
        entries: [], ...(publish.length > 0 ? { publish } : {})
      }
      if (req.IfName !== undefined && req.IfName !== 'eth0') ep.ifName = req.IfName
      if (req.MTU !== undefined) ep.mtu = req.MTU
      if (req.ContainerID !== undefined && req.CNINetwork !== undefined) {
        ep.cni = { containerId: req.ContainerID, network: req.CNINetwork }
      }
      if (req.Aliases !== undefined && req.Aliases.length > 0) ep.aliases = [...new Set(req.Aliases)]
      if (req.DNS === true) ep.dns = true
      return ep
    }, async ep => {
      try {
        // Durable before the answer, written while the kernel works (a crash meanwhile: the
        // restart re-plumbs it, as any saved endpoint).
        this.state.endpoints.set(ep.eid, ep)
        const done = await Promise.allSettled([this.plumbing.plumb(ep), this.state.save(), prep.ready])
        for (const r of done) if (r.status === 'rejected') throw r.reason
        await this.syncEgress()
        await this.dns?.changed(ep)
      } catch (err) {
        this.state.endpoints.delete(ep.eid)
        await this.state.save().catch(() => {})
        await this.plumbing.unplumb(ep).catch(() => {})
        await this.syncEgressQuiet()
        await this.ops.network(rec.id, async () => {
          const ln = this.state.networks.get(rec.id)
          if (ln !== undefined) await this.ipam.releaseAddress(ln.poolId, ep.address.split('/')[0]!).catch(() => {})
        })
        throw err
      } finally {
        this.attaching.delete(key)
      }
      // Answer once the other hosts have been sent the endpoint.
      await this.db.publishPending()
    }).finally(async () => { await prep.end() })
    this.log.info({ network: rec.name, eid: ep.eid, ip: ep.address, netns: ep.netns }, 'endpoint attached')
    const dns = this.dns?.resolverFor(rec.id)
    return {
      EndpointID: ep.eid, IPv4Address: ep.address, MacAddress: ep.mac,
      ...(rec.gateway === '' ? {} : { Gateway: rec.gateway }), ...(dns === undefined ? {} : { DNS: dns })
    }
  }

  async detach (network: string, req: DetachRequest): Promise<void> {
    const rec = this.resolve(network)
    await this.ops.shared(async () => {
      await this.ops.network(rec.id, async () => {
        if (req.ContainerID !== undefined) {
          const ep = this.findCni(req.ContainerID, req.IfName)
          if (ep?.nid !== rec.id) {
            throw new ErrNoSuchEndpoint(
              `in network ${rec.name} for container ${req.ContainerID} ${req.IfName ?? 'eth0'}`
            )
          }
          await this.detachLocal(ep)
          return
        }
        const ep = this.state.endpointsOf(rec.id).find(e => e.netns === req.Netns)
        if (ep === undefined) throw new ErrNoSuchEndpoint(`in network ${rec.name} for namespace ${req.Netns}`)
        await this.detachLocal(ep)
      })
      await this.db.publishPending()
    })
  }

  /** A namespace name of bad syntax, an attach of that namespace (or CNI container) in the network already. */
  private checkJoin (nid: string, key: string, req: AttachRequest): void {
    const syntax = netnsSyntaxError(req.Netns)
    if (syntax !== undefined) throw new BadRequestError(syntax)
    const cni = req.ContainerID === undefined ? undefined : this.findCni(req.ContainerID, req.IfName)
    const taken = this.attaching.has(key) || this.state.endpointsOf(nid).some(e => e.netns === req.Netns)
    if (taken || cni !== undefined) throw new ErrInvalidJoin()
  }

  /** The CNI attachment (container id, interface name) of this host, in any network. */
  private findCni (containerId: string, ifName = 'eth0'): LocalEndpoint | undefined {
    return [...this.state.endpoints.values()]
      .find(e => e.cni?.containerId === containerId && (e.ifName ?? 'eth0') === ifName)
  }

  async attachments (network: string): Promise<AttachmentView[]> {
    const rec = this.resolve(network)
    return this.state.endpointsOf(rec.id).map(e => ({
      EndpointID: e.eid,
      Name: e.name,
      Netns: e.netns,
      IfName: e.handoff ?? e.ifName ?? 'eth0',
      IPv4Address: e.address,
      MacAddress: e.mac,
      ...(rec.gateway === '' ? {} : { Gateway: rec.gateway }),
      ...(e.mtu === undefined ? {} : { MTU: e.mtu }),
      ...(e.cni === undefined ? {} : { ContainerID: e.cni.containerId, CNINetwork: e.cni.network })
    }))
  }

  private async detachLocal (ep: LocalEndpoint): Promise<void> {
    this.restorer.forget(ep.eid)
    await this.plumbing.unpublish(ep)
    // The durable write goes alongside the kernel's veth removal (tens of ms): a crash between
    // the two leaves an orphan veth, which a restart removes. The address is released after
    // both: no new endpoint gets it (and its MAC) while the old veth is still there.
    this.state.endpoints.delete(ep.eid)
    const [, saved] = await Promise.allSettled([this.plumbing.unplumbKernel(ep), this.state.save()])
    const ln = this.state.networks.get(ep.nid)
    // A handed-off endpoint's address belongs to the runtime that requested it.
    if (ln !== undefined && ep.handoff === undefined) {
      await this.ipam.releaseAddress(ln.poolId, ep.address.split('/')[0]!).catch((err: unknown) => {
        this.log.warn({ err: String(err), eid: ep.eid }, 'address release failed')
      })
    }
    if (saved.status === 'rejected') throw saved.reason
    await this.syncEgressQuiet()
    await this.dns?.changed(ep).catch((err: unknown) => {
      this.log.warn({ err: String(err), eid: ep.eid }, 'resolv.conf update failed')
    })
    this.log.info({ nid: ep.nid, eid: ep.eid }, 'endpoint detached')
  }

  // ---- egress (agent/egress) -------------------------------------------------------------------

  /** Networks with endpoints here (those still waiting for their definition left out). */
  private currentEgressView (): ReturnType<typeof egressView> {
    return egressView(
      this.networks.values(), [...this.state.endpoints.values()].filter(e => !this.restorer.isPending(e.eid)),
      this.prep.preparing()
    )
  }

  /**
   * Bring uplinks and rules to the current view. Not while endpoints of the previous run wait
   * for their network's definition: their uplinks and ports stay as the killed run left them.
   */
  private async syncEgress (): Promise<void> {
    if (this.egress === undefined || this.restorer.waiting) return
    await this.egress.apply(this.currentEgressView())
  }

  private async syncEgressQuiet (): Promise<void> {
    await this.syncEgress().catch((err: unknown) => { this.log.warn({ err: String(err) }, 'egress reconcile failed') })
  }

  // ---- endpoints another runtime configures (Docker's remote plugin, agent/docker-plugin) -------

  /** The network with this exact name or id, if this host knows it. */
  findNetwork (nameOrId: string): NetworkRecord | undefined {
    const byId = this.networks.get(nameOrId)
    if (byId !== undefined) return byId
    const byName = [...this.networks.values()].filter(n => n.name === nameOrId)
    if (byName.length > 1) {
      throw new BadRequestError(
        `network name ${nameOrId} is ambiguous: ${byName.map(n => n.id.slice(0, 12)).join(', ')}`
      )
    }
    return byName[0]
  }

  /**
   * The VNI of every network this host knows, by its definition: these outlive their VNI claims
   * (hidden while the claimer is failed, gone when it left), so the overlay's VNI allocator asks
   * here before it hands a VNI out.
   */
  networkVnis (): Array<{ vni: number, nid: string }> {
    return [...this.networks.values()].map(n => ({ vni: n.vni, nid: n.id }))
  }

  /** This host's endpoint with this id, if any. */
  localEndpoint (eid: string): LocalEndpoint | undefined {
    return this.state.endpoints.get(eid)
  }

  // The plugin's PluginController port: handoff.ts does the work.
  async requestAddress (nid: string, ip: string | undefined, options: Record<string, string>): Promise<string> {
    return await this.handoff.requestAddress(nid, ip, options)
  }

  async releaseAddress (nid: string, ip: string): Promise<void> { await this.handoff.releaseAddress(nid, ip) }
  async attachHandoff (nid: string, req: HandoffRequest): Promise<{ gateway: string }> {
    return await this.handoff.attach(nid, req)
  }
  async detachHandoff (eid: string): Promise<void> { await this.handoff.detach(eid) }

  async inspectNetwork (network: string, verbose: boolean): Promise<NetworkInspect> {
    const rec = this.resolve(network)
    return buildInspect({
      rec,
      verbose,
      local: this.state.endpointsOf(rec.id),
      endpoints: this.plumbing.endpointsIn(rec.id),
      peers: this.db.peers(rec.id).map(id => this.db.member(id)).filter(m => m !== undefined).map(m => ({
        Name: m.name, IP: m.advertiseAddr, RTT: m.id === this.db.nodeId ? 0 : this.health.rtt(m.advertiseAddr)
      })),
      driver: this.driver.status(),
      ipam: verbose ? this.ipam.statusView(() => rec.name) : undefined,
      self: this.db.nodeId,
      dns: this.dns?.view(rec.id)
    })
  }

  async ipamStatus (): Promise<IpamStatusView> {
    const names = new Map([...this.networks.values()].map(n => [n.id, n.name]))
    return this.ipam.statusView(id => names.get(id) ?? '')
  }

  async ipamReclaim (node: string): Promise<IpamReclaimResponse> {
    const m = this.db.members().find(x => x.name === node || x.id === node)
    if (m === undefined) throw new BadRequestError(`unknown node ${node}`)
    return { Node: m.name, Reclaimed: await this.ipam.reclaim(m.id) }
  }

  subscribeEvents (listener: (ev: ControlEvent) => void): Unsubscribe {
    return this.events.subscribe(listener)
  }

  async diagnostics (): Promise<DiagnosticsView> {
    return this.db.diagnostics()
  }
}
