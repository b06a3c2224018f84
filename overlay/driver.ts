/**
 * The overlay driver: VXLAN with one VTEP per host, driven by NetworkDB's peer table.
 *
 * - Control: libnetwork's Driver + NetworkAllocator + TableWatcher contracts (driverapi.ts).
 * - Peers: eventNotify feeds a PeerDB per network (kept before the sandbox exists, replayed when
 *   it is created); this host's own announcements are ignored.
 * - Kernel: one sandbox per network per host, created on the first join (or just before it:
 *   prepareSandbox) and removed with the last leave. Event bursts are coalesced into one
 *   dataplane batch per network; a reconciler compares the kernel with the PeerDB and repairs
 *   drift periodically, after any failure, and soon after a peer of the network returns
 *   (peer-return.ts). When the batches and retries run:
 *   kernel-scheduler.ts. A network's sandbox devices change under its kernel lock held
 *   exclusively; endpoints (veths) and peer programming share it (shared-lock.ts), so attaches
 *   to one network run side by side and different networks never wait for each other.
 * - Restart: sandboxes of a previous run (found by name prefix) are adopted when their network's
 *   first endpoint joins again, and removed if nothing claims them (restoreComplete / grace).
 *   Creating, adopting and removing sandboxes: sandbox-lifecycle.ts.
 */
import { decodePeerRecord, encodePeerRecord, normalizeMac, PEER_TABLE, type PeerRecord } from '../proto/index.js'
import {
  inSubnet, macFromIPv4, parseCidr4, SystemClock, silentLogger, noopMetrics, type Clock, type TimerHandle, type Logger,
  type Counter, type Gauge,
  type Metrics
} from '../core/index.js'
import type { ClusterEvent, NetworkDB, Unsubscribe } from '../networkdb/index.js'
import { DEFAULT_VXLAN_PORT, endpointKey, sandboxName, type Dataplane } from './dataplane.js'
import {
  ActiveEndpointsError, DRIVER_MTU, EndpointExistsError, InvalidJoinError, InvalidParameterError, NoEndpointError,
  NoNetworkError, NotImplementedError, ObjectType,
  type Capability, type Driver, type InterfaceInfo, type IPAMData, type JoinInfo, type NetworkAllocator,
  type NetworkInfo, type TableWatcher
} from './driverapi.js'
import { NetworkExistsError, NoVniError } from './errors.js'
import { checkIpam, optionValue, validMtu, validNodeName } from './options.js'
import { encryptedOption, type EncryptionPort } from './encryption.js'
import { PeerDB } from './peerdb.js'
import { Coalescer, ReturnDetector } from './peer-return.js'
import { KernelScheduler, type ReconcileTrigger } from './kernel-scheduler.js'
import type { ReconcileReport } from './reconciler.js'
import { SandboxLifecycle } from './sandbox-lifecycle.js'
import { networkStatus, newNet, type Endpoint, type Net } from './network-state.js'
import type { OverlayStatus } from './status.js'
import { parseVxlanIdList, VniAllocator, VXLANID_LIST, type VniAllocatorOptions } from './vni.js'

export const OVERLAY_DRIVER_TYPE = 'overlay'
/** Endpoint option naming the interface inside the container (default "eth0"). */
export const IFNAME_OPTION = 'ovnet.ifname'
/**
 * Endpoint option for runtimes that move the interface themselves (Docker's remote driver
 * protocol): its value names the container side, left unconfigured in the agent's namespace and
 * reported as the join's source name (destination prefix "eth"); the sandbox key is not used.
 */
export const HANDOFF_OPTION = 'ovnet.handoff'
/** Endpoint option: the endpoint's own MTU, at most the network's (the VXLAN path's limit). */
export const MTU_OPTION = 'ovnet.mtu'

export interface OverlayDriverOptions {
  dataplane: Dataplane
  /** This node's name, part of every sandbox name (letters, digits, ".", "_", "-"). */
  nodeName: string
  /** This host's VTEP (advertise) address. */
  vtep: string
  /** NetworkDB: needed for VNI allocation; also orders conflicting announcements by Lamport time. */
  db?: NetworkDB
  vni?: Omit<VniAllocatorOptions, 'db' | 'clock' | 'logger' | 'metrics'>
  /** VXLAN UDP port, the same cluster-wide (default 4789; 1024-49151 like Docker, or 4789). */
  dstPort?: number
  /** MTU for every network's devices; else the network's option, else underlay MTU - 50. */
  mtu?: number
  clock?: Clock
  logger?: Logger
  metrics?: Metrics
  /** The encrypted data plane (networks with the `encrypted` option); none: such networks are refused. */
  encryption?: EncryptionPort
  /** Coalescing window of event bursts before one kernel batch (default 0: the same turn). */
  batchDelayMs?: number
  /**
   * Full reconciliation period per sandbox (default 60 s: between kube-proxy's 30 s and Felix's
   * 90 s; each one reads the kernel with a few processes); 0 = only after failures/on demand.
   */
  reconcileIntervalMs?: number
  /** Delay of the reconciliation of a network after a peer in it returns; bursts coalesce (default 500 ms). */
  returnReconcileDelayMs?: number
  /** First retry delay after a kernel failure, doubling up to 30 s (default 500 ms). */
  retryMs?: number
  /** A previous run's sandbox not claimed within this after start is removed (default 60 s). */
  orphanGraceMs?: number
}

export class OverlayDriver implements Driver, NetworkAllocator, TableWatcher {
  readonly nodeName: string
  readonly vtep: string
  readonly dstPort: number
  readonly allocator: VniAllocator | undefined
  private readonly dp: Dataplane
  private readonly db: NetworkDB | undefined
  private readonly clock: Clock
  private readonly log: Logger
  private readonly reconcileIntervalMs: number
  private readonly sched: KernelScheduler
  private readonly sandboxes: SandboxLifecycle
  private readonly nets = new Map<string, Net>()
  private readonly peers = new Map<string, PeerDB>()
  private reconcileTimer: TimerHandle | undefined
  private readonly returns: Coalescer
  private unwatchCluster: Unsubscribe | undefined
  private readonly m: {
    batches: Counter, ops: Counter, repairs: Counter, reconciles: Counter, errors: Counter, badRecords: Counter,
    peers: Gauge
  }

  constructor (opts: OverlayDriverOptions) {
    if (!validNodeName(opts.nodeName)) {
      throw new InvalidParameterError(`invalid node name ${JSON.stringify(opts.nodeName)}`)
    }
    const port = opts.dstPort ?? DEFAULT_VXLAN_PORT
    if (!Number.isInteger(port) || (port !== DEFAULT_VXLAN_PORT && (port < 1024 || port > 49151))) {
      throw new InvalidParameterError(`invalid vxlan port ${port}`)
    }
    if (opts.mtu !== undefined && !validMtu(opts.mtu)) throw new InvalidParameterError(`invalid mtu ${opts.mtu}`)
    this.nodeName = opts.nodeName
    this.vtep = opts.vtep
    this.dstPort = port
    this.dp = opts.dataplane
    this.db = opts.db
    this.clock = opts.clock ?? new SystemClock()
    this.log = (opts.logger ?? silentLogger).child({ component: 'overlay' })
    this.reconcileIntervalMs = opts.reconcileIntervalMs ?? 60_000
    this.returns = new Coalescer(this.clock, opts.returnReconcileDelayMs ?? 500, async nid => {
      const n = this.nets.get(nid)
      if (n !== undefined) await this.reconcileAll([n], 'peer-return')
    })
    const metrics = opts.metrics ?? noopMetrics
    this.allocator = opts.db === undefined
      ? undefined
      : new VniAllocator({ ...opts.vni, db: opts.db, clock: this.clock, logger: this.log, metrics })
    this.m = {
      batches: metrics.counter('ovnet_overlay_kernel_batches_total', 'FDB/neighbour batches sent to the kernel',
        ['path']),
      ops: metrics.counter('ovnet_overlay_kernel_ops_total', 'FDB/neighbour operations sent to the kernel', ['path']),
      repairs: metrics.counter('ovnet_overlay_reconcile_repairs_total', 'Kernel entries repaired by reconciliation',
        ['kind']),
      reconciles: metrics.counter('ovnet_overlay_reconciles_total',
        'Full reconciliations of a sandbox by trigger and result (clean, repaired, failed)', ['trigger', 'result']),
      errors: metrics.counter('ovnet_overlay_dataplane_errors_total', 'Failed dataplane operations', ['op']),
      badRecords: metrics.counter('ovnet_overlay_bad_peer_records_total', 'Undecodable peer table entries ignored'),
      peers: metrics.gauge('ovnet_overlay_peers', 'Remote endpoint announcements known per network', ['nid'])
    }
    this.sched = new KernelScheduler({ clock: this.clock, logger: this.log, metrics: this.m,
      batchDelayMs: opts.batchDelayMs ?? 0, retryMs: opts.retryMs ?? 500 })
    this.sandboxes = new SandboxLifecycle({
      dp: this.dp, nodeName: this.nodeName, vtep: this.vtep, dstPort: port, mtu: opts.mtu, encryption: opts.encryption,
      clock: this.clock, logger: this.log, errors: this.m.errors, sched: this.sched, nets: this.nets,
      peerDb: nid => this.peerDb(nid), cancelTimers: n => { this.cancelTimers(n) },
      orphanGraceMs: opts.orphanGraceMs ?? 60_000
    })
  }

  type (): string { return OVERLAY_DRIVER_TYPE }
  isBuiltIn (): boolean { return true }
  capability (): Capability { return { dataScope: 'global', connectivityScope: 'global' } }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /** Find a previous run's sandboxes (adopted on rejoin) and start the periodic reconciler. */
  async start (): Promise<void> {
    await this.allocator?.start()
    await this.sandboxes.discover()
    this.armReconcile()
    if (this.db !== undefined && this.unwatchCluster === undefined) {
      const detector = new ReturnDetector(this.db.nodeId)
      this.unwatchCluster = this.db.watchCluster(ev => { this.onClusterEvent(detector, ev) })
    }
  }

  /** A peer came back: reconcile soon every network with a sandbox that it is in. */
  private onClusterEvent (detector: ReturnDetector, ev: ClusterEvent): void {
    const node = detector.returned(ev)
    if (node === undefined || this.db === undefined) return
    for (const n of this.nets.values()) {
      if (n.programmer !== undefined && this.db.peers(n.nid).includes(node)) this.returns.request(n.nid)
    }
  }

  /**
   * The agent has re-created every network and endpoint it had: remove previous-run sandboxes
   * nothing claimed and endpoint veths nobody joined again.
   */
  async restoreComplete (): Promise<void> { await this.sandboxes.restoreComplete() }

  /**
   * Stop timers; unless `keepDataplane` (a simulated crash, or handing over to a new process),
   * remove every sandbox this driver created or adopted and every unclaimed one.
   */
  async stop (opts: { keepDataplane?: boolean } = {}): Promise<void> {
    this.clock.clearTimeout(this.reconcileTimer)
    this.reconcileTimer = undefined
    this.sandboxes.cancelGrace()
    this.unwatchCluster?.()
    this.unwatchCluster = undefined
    this.returns.cancelAll()
    this.allocator?.stop()
    for (const n of this.nets.values()) {
      this.cancelTimers(n)
      await n.lock.runExclusive(async () => {
        if (opts.keepDataplane !== true && n.spec !== undefined) await this.sandboxes.removeLocked(n)
      })
    }
    if (opts.keepDataplane !== true) await this.sandboxes.removeUnclaimed()
    this.dp.close?.()
  }

  // ---- NetworkAllocator ----------------------------------------------------------------------

  async networkAllocate (
    nid: string, options: Record<string, string>, ipV4Data: IPAMData[], ipV6Data: IPAMData[]
  ): Promise<Record<string, string>> {
    checkIpam(ipV4Data, ipV6Data)
    if (encryptedOption(options)) this.sandboxes.canEncrypt()
    const listed = optionValue(options, VXLANID_LIST)
    const requested = listed === undefined ? undefined : parseVxlanIdList(listed)
    if (requested !== undefined && requested.length > 1) {
      throw new InvalidParameterError(`one vxlan id per network (one subnet), got ${listed}`)
    }
    if (this.allocator === undefined) {
      if (requested !== undefined) return { [VXLANID_LIST]: String(requested[0]) }
      throw new NotImplementedError('vxlan id allocation without NetworkDB')
    }
    const vni = await this.allocator.allocate(nid, requested?.[0])
    return { [VXLANID_LIST]: String(vni) }
  }

  async networkFree (nid: string): Promise<void> {
    await this.allocator?.free(nid)
  }

  // ---- networks --------------------------------------------------------------------------------

  async createNetwork (
    nid: string, options: Record<string, unknown>, nInfo: NetworkInfo, ipV4Data: IPAMData[], ipV6Data: IPAMData[]
  ): Promise<void> {
    if (nid === '') throw new InvalidParameterError('empty network id')
    if (this.nets.has(nid)) throw new NetworkExistsError(nid)
    checkIpam(ipV4Data, ipV6Data)
    const ipam = ipV4Data[0] as IPAMData
    const listed = optionValue(options, VXLANID_LIST)
    const vni = listed !== undefined ? parseVxlanIdList(listed)[0] : this.allocator?.vniOf(nid)
    if (vni === undefined) throw new NoVniError(nid)
    const mtuText = optionValue(options, DRIVER_MTU)
    const mtuOption = mtuText === undefined ? undefined : Number(mtuText)
    if (mtuOption !== undefined && !validMtu(mtuOption)) {
      throw new InvalidParameterError(`invalid ${DRIVER_MTU} ${mtuText}`)
    }
    const encrypted = encryptedOption(options)
    this.nets.set(nid, newNet({ nid, vni, subnet: ipam.pool, gateway: ipam.gateway, mtuOption, encrypted,
      sandbox: sandboxName(this.nodeName, nid) }))
    // Last: registering replays the table's existing entries into eventNotify right away.
    nInfo.tableEventRegister(PEER_TABLE, ObjectType.EndpointObject)
  }

  async deleteNetwork (nid: string): Promise<void> {
    const n = this.net(nid)
    const joined = [...n.endpoints.values()].filter(e => e.state !== 'created').length
    if (joined > 0) throw new ActiveEndpointsError(nid, joined)
    this.cancelTimers(n)
    await n.lock.runExclusive(async () => {
      // Gone before the lock is let go: a prepareSandbox waiting for it builds nothing.
      this.nets.delete(nid)
      this.peers.delete(nid)
      if (n.spec !== undefined) await this.sandboxes.removeLocked(n)
    })
  }

  // ---- the sandbox ahead of the first endpoint --------------------------------------------------

  /**
   * Build the network's sandbox now, before its first endpoint joins (idempotent): the agent
   * starts it when a host's first attach to the network begins, alongside the address request,
   * so the endpoint's join finds it made. Docker makes it in the first Join; this is the same
   * sandbox, made a few tens of milliseconds earlier. A sandbox no endpoint joins is not left
   * behind: `releaseUnused` (the attach failed), deleteNetwork (the network is gone), stop, or a
   * restart's unclaimed-sandbox sweep removes it.
   */
  async prepareSandbox (nid: string): Promise<void> {
    const n = this.net(nid)
    if (n.spec !== undefined) return
    await n.lock.runExclusive(async () => {
      // deleteNetwork ran meanwhile: build nothing for a network the driver no longer has.
      if (this.nets.get(nid) === n) await this.sandboxes.ensureLocked(n)
    })
  }

  /** Remove the network's sandbox if no endpoint is joined or joining (a prepared one nobody used). */
  async releaseUnused (nid: string): Promise<void> {
    const n = this.nets.get(nid)
    if (n === undefined) return
    const unused = (): boolean => ![...n.endpoints.values()].some(x => x.state !== 'created')
    if (unused() && n.spec !== undefined) await n.lock.runExclusive(async () => {
      if (unused() && n.spec !== undefined) await this.sandboxes.removeLocked(n)
    })
  }

  /** Whether the network's sandbox exists on this host now. */
  hasSandbox (nid: string): boolean {
    return this.nets.get(nid)?.spec !== undefined
  }

  // ---- endpoints -------------------------------------------------------------------------------

  async createEndpoint (
    nid: string, eid: string, ifInfo: InterfaceInfo, _options: Record<string, unknown>
  ): Promise<void> {
    const n = this.net(nid)
    if (eid === '') throw new InvalidParameterError('empty endpoint id')
    if (n.endpoints.has(eid)) throw new EndpointExistsError(eid)
    const address = ifInfo.address()
    if (address === undefined) throw new InvalidParameterError(`endpoint ${eid} has no IPv4 address`)
    const parsed = parseCidr4(address)
    if (parsed === undefined) throw new InvalidParameterError(`invalid endpoint address ${address}`)
    if (!inSubnet(parsed.ip, n.subnet)) {
      throw new InvalidParameterError(`endpoint address ${address} is not in subnet ${n.subnet}`)
    }
    let mac = ifInfo.macAddress()
    if (mac === undefined) {
      mac = macFromIPv4(parsed.ip)
      ifInfo.setMacAddress(mac)
    }
    try {
      mac = normalizeMac(mac)
    } catch {
      throw new InvalidParameterError(`invalid MAC address ${mac}`)
    }
    n.endpoints.set(eid, { eid, address, ip: parsed.ip, mac, state: 'created' })
  }

  async deleteEndpoint (nid: string, eid: string): Promise<void> {
    const n = this.net(nid)
    const ep = this.endpoint(n, eid)
    if (ep.state !== 'created') await this.leave(nid, eid)
    n.endpoints.delete(eid)
  }

  async endpointOperInfo (nid: string, eid: string): Promise<Record<string, unknown>> {
    const ep = this.endpoint(this.net(nid), eid)
    return { 'com.docker.network.endpoint.macaddress': ep.mac, address: ep.address, joined: ep.state === 'joined' }
  }

  async join (
    nid: string,
    eid: string,
    sboxKey: string,
    jinfo: JoinInfo,
    epOpts: Record<string, unknown>,
    _sbOpts: Record<string, unknown>
  ): Promise<void> {
    const n = this.net(nid)
    const ep = this.endpoint(n, eid)
    if (ep.state !== 'created') throw new InvalidJoinError(eid)
    const handoff = optionValue(epOpts, HANDOFF_OPTION)
    if (handoff === '') throw new InvalidParameterError(`empty ${HANDOFF_OPTION} interface name`)
    if (sboxKey === '' && handoff === undefined) throw new InvalidParameterError('empty sandbox key')
    const ifName = handoff ?? optionValue(epOpts, IFNAME_OPTION) ?? 'eth0'
    const mtuText = optionValue(epOpts, MTU_OPTION)
    const epMtu = mtuText === undefined ? undefined : Number(mtuText)
    if (epMtu !== undefined && !validMtu(epMtu)) throw new InvalidParameterError(`invalid ${MTU_OPTION} ${mtuText}`)
    const gatewayIp = n.gateway?.split('/')[0]
    ep.state = 'joining'
    // Another endpoint of this network that holds or is getting the sandbox.
    const others = (): boolean => [...n.endpoints.values()].some(x => x !== ep && x.state !== 'created')
    try {
      // Only the first endpoint builds the sandbox; a 'joining' endpoint keeps it from removal,
      // except by a removal that had started already: then build it again.
      let added = false
      // The endpoint or its network deleted while this join waited: build nothing. A sandbox made
      // for a deleted network belongs to nobody and keeps its VNI (the next network on it failed:
      // "A VXLAN device with the specified VNI already exists").
      const current = (): void => {
        if (this.nets.get(nid) !== n) throw new NoNetworkError(nid)
        if (n.endpoints.get(eid) !== ep) throw new NoEndpointError(eid)
      }
      while (!added) {
        if (n.spec === undefined) {
          await n.lock.runExclusive(async () => { current(); await this.sandboxes.ensureLocked(n) })
        }
        try {
          added = await n.lock.runShared(async () => {
            current()
            const spec = n.spec
            if (spec === undefined) return false
            if (epMtu !== undefined && epMtu > spec.mtu) {
              throw new InvalidParameterError(`${MTU_OPTION} ${epMtu} is above the network's MTU ${spec.mtu}`)
            }
            await this.dp.addEndpoint({
              sandbox: n.sandbox, eid, containerNetns: sboxKey, ifName, mac: ep.mac, address: ep.address,
              gateway: gatewayIp, mtu: epMtu ?? spec.mtu,
              ...(handoff === undefined ? {} : { handoff: true })
            })
            return true
          })
        } catch (e) {
          this.m.errors.inc({ op: 'addEndpoint' })
          if (!others()) await n.lock.runExclusive(async () => {
            if (!others() && n.spec !== undefined) await this.sandboxes.removeLocked(n)
          })
          throw e
        }
      }
    } catch (e) {
      ep.state = 'created'
      throw e
    }
    ep.state = 'joined'
    ep.containerNetns = sboxKey === '' ? undefined : sboxKey
    this.peerDb(nid).addLocal(eid, { ip: ep.ip, mac: ep.mac })
    this.schedule(n)
    // Handed off: the runtime moves `ifName` and names it "eth<n>"; else it is in place already.
    if (handoff !== undefined) jinfo.interfaceName()?.setNames(handoff, 'eth', '')
    else jinfo.interfaceName()?.setNames(`ve-${endpointKey(eid)}`, 'eth', ifName)
    if (gatewayIp !== undefined) jinfo.setGateway(gatewayIp)
    jinfo.addTableEntry(PEER_TABLE, eid, encodePeerRecord({ endpointIP: ep.address, endpointMAC: ep.mac,
      tunnelEndpointIP: this.vtep }))
  }

  async leave (nid: string, eid: string): Promise<void> {
    const n = this.net(nid)
    const ep = this.endpoint(n, eid)
    if (ep.state !== 'joined') return
    await n.lock.runShared(async () => {
      if (n.spec !== undefined) await this.dp.removeEndpoint(n.sandbox, eid)
    })
    ep.state = 'created'
    ep.containerNetns = undefined
    this.peerDb(nid).removeLocal(eid)
    const unused = (): boolean => ![...n.endpoints.values()].some(x => x.state !== 'created')
    if (unused()) await n.lock.runExclusive(async () => {
      if (unused() && n.spec !== undefined) await this.sandboxes.removeLocked(n)
    })
    this.schedule(n)
  }

  // ---- TableWatcher ----------------------------------------------------------------------------

  eventNotify (
    nid: string, tableName: string, key: string, _prev: Uint8Array | undefined, value: Uint8Array | undefined
  ): void {
    if (tableName !== PEER_TABLE) return
    const pdb = this.peerDb(nid)
    const changed = this.applyPeerEvent(pdb, nid, key, value)
    this.m.peers.set({ nid }, pdb.size)
    const n = this.nets.get(nid)
    if (changed && n !== undefined) this.schedule(n)
  }

  /** Update the PeerDB from one event; true if the desired state may have changed. */
  private applyPeerEvent (pdb: PeerDB, nid: string, key: string, value: Uint8Array | undefined): boolean {
    // An update is a replace of the key's announcement (Docker: delete(prev) + add(value)).
    if (value === undefined) return pdb.remove(key)
    let rec: PeerRecord
    try {
      rec = decodePeerRecord(value)
    } catch (err) {
      // The entry's previous value is superseded either way: do not keep programming it.
      this.m.badRecords.inc()
      this.log.warn({ nid, key, err: (err as Error).message }, 'ignoring undecodable peer record')
      return pdb.remove(key)
    }
    // This host's own endpoints are on the bridge, not behind the tunnel.
    if (rec.tunnelEndpointIP === this.vtep) return pdb.remove(key)
    const e = this.db?.getEntry(PEER_TABLE, nid, key)
    return pdb.upsert(key, rec, e === undefined ? undefined : { ltime: e.ltime, owner: e.owner })
  }

  decodeTableEntry (tableName: string, key: string, value: Uint8Array): [string, Record<string, string>] {
    if (tableName !== PEER_TABLE) return [key, {}]
    try {
      return [key, { 'Host IP': decodePeerRecord(value).tunnelEndpointIP }]
    } catch (err) {
      this.log.warn({ key, err: (err as Error).message }, 'cannot decode peer record for display')
      return [key, {}]
    }
  }

  // ---- kernel programming ------------------------------------------------------------------------

  private schedule (n: Net): void { this.sched.schedule(n) }

  private cancelTimers (n: Net): void {
    this.sched.cancel(n)
    this.returns.cancel(n.nid)
  }

  private armReconcile (): void {
    if (this.reconcileIntervalMs <= 0) return
    this.reconcileTimer = this.clock.setTimeout(() => {
      void this.reconcileAll([...this.nets.values()], 'periodic').finally(() => { this.armReconcile() })
    }, this.reconcileIntervalMs)
  }

  /** Full reconciliation of every sandbox (or one network's) now; the reports of those that ran. */
  async reconcile (nid?: string): Promise<ReconcileReport[]> {
    return await this.reconcileAll(nid === undefined ? [...this.nets.values()] : [this.net(nid)], 'request')
  }

  private async reconcileAll (nets: readonly Net[], trigger: ReconcileTrigger): Promise<ReconcileReport[]> {
    const out: ReconcileReport[] = []
    for (const n of nets) {
      await n.lock.runExclusive(async () => {
        const p = n.programmer
        if (p === undefined || n.spec === undefined) return
        try {
          // The devices too: someone may have deleted the vxlan device or the bridge.
          await this.dp.ensureSandbox(n.spec)
          await this.sched.reconcile(n, p, trigger)
          if (n.lastReconcile !== undefined) out.push(n.lastReconcile)
          n.lastError = undefined
          n.retryDelay = 0
        } catch (e) {
          this.sched.failed(n, e, 'reconcile')
        }
      })
    }
    return out
  }

  /** Program pending changes now (skipping the coalescing window) and wait until done. */
  async flush (): Promise<void> {
    for (const n of this.nets.values()) await this.sched.flushNow(n)
  }

  // ---- lookups and status --------------------------------------------------------------------

  private net (nid: string): Net {
    const n = this.nets.get(nid)
    if (n === undefined) throw new NoNetworkError(nid)
    return n
  }

  private endpoint (n: Net, eid: string): Endpoint {
    const ep = n.endpoints.get(eid)
    if (ep === undefined) throw new NoEndpointError(eid)
    return ep
  }

  private peerDb (nid: string): PeerDB {
    let p = this.peers.get(nid)
    if (p === undefined) { p = new PeerDB(); this.peers.set(nid, p) }
    return p
  }

  status (): OverlayStatus {
    const networks = [...this.nets.values()].map(n => networkStatus(n, this.peerDb(n.nid)))
    const pendingNetworks: Record<string, number> = {}
    for (const [nid, p] of this.peers) if (!this.nets.has(nid) && p.size > 0) pendingNetworks[nid] = p.size
    return {
      node: this.nodeName,
      vtep: this.vtep,
      dstPort: this.dstPort,
      networks,
      pendingNetworks,
      unclaimedSandboxes: this.sandboxes.unclaimed(),
      vniConflicts: this.allocator?.conflicts() ?? []
    }
  }
}
