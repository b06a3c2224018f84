/**
 * The encrypted data plane of this host (docs/encryption.md): one WireGuard device towards every
 * other host, configured from NetworkDB's `wireguard_peer_table`, and the steering that puts
 * encrypted networks' VXLAN into it. Implements the overlay's EncryptionPort.
 *
 * - Start: detect kernel/userspace/none, load or make the key pair, publish {public key, port,
 *   mode} under this node's id. The device is made on first need (the first encrypted sandbox;
 *   or at once when a previous run's device is still there), so hosts that never use an
 *   encrypted network run no WireGuard.
 * - Peers: every live member with a record, endpoint and allowed address = its advertise address
 *   as membership knows it; a record whose key is not its owner is ignored (owner-bound). A member
 *   that fails or leaves: its record is hidden or tombstoned, and it leaves the device's config.
 *   Any table or membership change re-syncs the device (coalesced), and so does a periodic pass.
 * - Rotation: new key pair saved, device key replaced, record republished; peers replace the old
 *   public key by the new one when the record arrives, so traffic stops for about one gossip
 *   round plus one handshake.
 */
import {
  SystemClock, type Clock, type Counter, type Gauge, type Logger, type Metrics, type TimerHandle
} from '../../core/index.js'
import type { NetworkDB, Unsubscribe } from '../../networkdb/index.js'
import { OVERLAY_GLOBAL_NETWORK, type EncryptionPort } from '../../overlay/index.js'
import {
  decodeWireguardPeer, encodeWireguardPeer, WIREGUARD_PEER_TABLE, type WireguardMode, type WireguardPeerRecord
} from '../../proto/index.js'
import { detectMode, WgDevice, type WgPeerSpec } from './device.js'
import { generateKeyPair, KeyStore, type KeyPair } from './keys.js'
import { installSteering, removeSteering } from './steering.js'

/** WireGuard's per-packet overhead over IPv4 (20 IP + 8 UDP + 32 WireGuard) and IPv6 (+20). */
export const WG_OVERHEAD_IPV4 = 60
export const WG_OVERHEAD_IPV6 = 80

export interface EncryptionOptions {
  db: NetworkDB
  dataDir: string
  /** This host's advertise (underlay) address. */
  vtep: string
  /** WireGuard device name (default ovwg0). Unique per machine for userspace (socket path). */
  device: string
  /** WireGuard listen port. */
  listenPort: number
  /** UDP port of encrypted networks' VXLAN. */
  vxlanPort: number
  /** MTU of the underlay interface (the device's is this minus the overhead). */
  underlayMtu: () => Promise<number | undefined>
  logger: Logger
  metrics: Metrics
  clock?: Clock
  /** Skip detection (tests). */
  mode?: WireguardMode
  /** Periodic re-sync of the device's peers (default 10 s). */
  resyncMs?: number
}

export interface EncryptionPeerView {
  Name: string
  PublicKey: string
  Endpoint: string
  /** Unix seconds, 0 before the first handshake. */
  LatestHandshake: number
  RxBytes: number
  TxBytes: number
}

export interface EncryptionView {
  Mode: WireguardMode
  Interface: string
  PublicKey: string
  ListenPort: number
  VxlanPort: number
  /** The device and steering are up (an encrypted network has a sandbox here). */
  Ready: boolean
  Peers: EncryptionPeerView[]
}

export class WireguardEncryption implements EncryptionPort {
  readonly dstPort: number
  readonly overhead: number
  private readonly db: NetworkDB
  private readonly keys: KeyStore
  private readonly log: Logger
  private readonly clock: Clock
  private readonly resyncMs: number
  private mode: WireguardMode = 'none'
  private pair: KeyPair | undefined
  private device: WgDevice | undefined
  private ready = false
  private ensuring: Promise<void> | undefined
  private syncing: Promise<void> = Promise.resolve()
  private syncQueued = false
  private timer: TimerHandle | undefined
  private unwatch: Unsubscribe[] = []
  private stopped = false
  private readonly m: { mode: Gauge, peers: Gauge, rotations: Counter, ignored: Counter, syncErrors: Counter }

  constructor (private readonly o: EncryptionOptions) {
    this.db = o.db
    this.dstPort = o.vxlanPort
    this.overhead = o.vtep.includes(':') ? WG_OVERHEAD_IPV6 : WG_OVERHEAD_IPV4
    this.keys = new KeyStore(o.dataDir)
    this.log = o.logger.child({ component: 'wireguard' })
    this.clock = o.clock ?? new SystemClock()
    this.resyncMs = o.resyncMs ?? 10_000
    this.m = {
      mode: o.metrics.gauge('ovnet_wireguard_mode',
        'How this host runs WireGuard (1 for the mode in use: kernel, userspace or none)', ['mode']),
      peers: o.metrics.gauge('ovnet_wireguard_peers', 'Peers configured on the WireGuard device'),
      rotations: o.metrics.counter('ovnet_wireguard_key_rotations_total', 'WireGuard key rotations of this host'),
      ignored: o.metrics.counter('ovnet_wireguard_ignored_records_total',
        'Peer records ignored at a device sync (not their owner\'s key, undecodable, no such member)'),
      syncErrors: o.metrics.counter('ovnet_wireguard_sync_errors_total', 'Failed syncs of the WireGuard device')
    }
  }

  get publicKey (): string | undefined { return this.pair?.publicKey }

  async start (): Promise<void> {
    this.mode = this.o.mode ?? await detectMode()
    for (const m of ['kernel', 'userspace', 'none'] as const) this.m.mode.set({ mode: m }, m === this.mode ? 1 : 0)
    this.pair = await this.keys.loadOrCreate()
    if (this.mode !== 'none') this.device = new WgDevice(this.o.device, this.mode, this.log)
    if (!this.db.networks().includes(OVERLAY_GLOBAL_NETWORK)) await this.db.joinNetwork(OVERLAY_GLOBAL_NETWORK)
    await this.publish()
    this.unwatch.push(this.db.watch(WIREGUARD_PEER_TABLE, OVERLAY_GLOBAL_NETWORK, () => { this.requestSync() }))
    this.unwatch.push(this.db.watchCluster(ev => { if (ev.type === 'node') this.requestSync() }))
    this.log.info({ mode: this.mode, publicKey: this.pair.publicKey, device: this.o.device }, 'wireguard ready')
    // A previous run's device (agent killed): bring it back to our config at once.
    if (this.device !== undefined && await this.device.exists()) {
      await this.ensure().catch((err: unknown) => {
        this.log.warn({ err: String(err) }, 'cannot adopt the WireGuard device')
      })
    }
    this.arm()
  }

  check (): void {
    if (this.pair === undefined) throw new Error('encryption is not started')
    if (this.mode === 'none') {
      throw new Error(
        'encrypted networks need WireGuard: no kernel module and no wireguard-go (with /dev/net/tun) on this host'
      )
    }
  }

  async ensure (): Promise<void> {
    this.check()
    if (this.ready) return
    this.ensuring ??= (async () => {
      const underlay = await this.o.underlayMtu() ?? 1500
      await this.device!.ensure(this.keys.path, this.o.listenPort, underlay - this.overhead)
      const warning = await installSteering({ device: this.o.device, port: this.dstPort })
      if (warning !== undefined) this.log.warn({}, warning)
      this.ready = true
      this.log.info({ device: this.o.device, mode: this.mode, mtu: underlay - this.overhead }, 'wireguard device up')
    })().finally(() => { this.ensuring = undefined })
    await this.ensuring
    this.requestSync()
    await this.syncing
  }

  private async publish (): Promise<void> {
    const rec: WireguardPeerRecord = { publicKey: this.pair!.publicKey, port: this.o.listenPort, mode: this.mode }
    const me = this.db.nodeId
    const value = encodeWireguardPeer(rec)
    const cur = this.db.getEntry(WIREGUARD_PEER_TABLE, OVERLAY_GLOBAL_NETWORK, me)
    if (cur !== undefined && cur.owner === me) {
      await this.db.updateEntry(WIREGUARD_PEER_TABLE, OVERLAY_GLOBAL_NETWORK, me, value)
    } else {
      await this.db.createEntry(WIREGUARD_PEER_TABLE, OVERLAY_GLOBAL_NETWORK, me, value)
    }
  }

  /** The peers the device should have: live members with a valid record of their own. */
  desiredPeers (count = false): Array<WgPeerSpec & { name: string }> {
    const out: Array<WgPeerSpec & { name: string, ltime: number }> = []
    for (const e of this.db.walkTable(WIREGUARD_PEER_TABLE, OVERLAY_GLOBAL_NETWORK)) {
      if (e.owner === this.db.nodeId) continue
      const member = this.db.member(e.owner)
      if (e.key !== e.owner || member === undefined) { if (count) this.m.ignored.inc(); continue }
      if (member.status !== 'alive' && member.status !== 'suspect') continue
      let rec: WireguardPeerRecord
      try {
        rec = decodeWireguardPeer(e.value)
      } catch {
        if (count) this.m.ignored.inc()
        continue
      }
      if (rec.mode === 'none') continue
      out.push({
        name: member.name,
        publicKey: rec.publicKey,
        endpoint: `${member.advertiseAddr}:${rec.port}`,
        allowedIp: `${member.advertiseAddr}/32`,
        ltime: e.ltime
      })
    }
    // One peer per address and per key: the newest record wins (a restarted host's new id).
    out.sort((a, b) => b.ltime - a.ltime)
    const ips = new Set<string>()
    const pubs = new Set<string>()
    return out.filter(p => {
      if (ips.has(p.allowedIp) || pubs.has(p.publicKey) || p.publicKey === this.pair?.publicKey) return false
      ips.add(p.allowedIp)
      pubs.add(p.publicKey)
      return true
    }).map(({ ltime: _l, ...p }) => p)
  }

  private requestSync (): void {
    if (!this.ready || this.syncQueued || this.stopped) return
    this.syncQueued = true
    this.syncing = this.syncing.then(async () => {
      this.syncQueued = false
      if (!this.ready || this.stopped) return
      try {
        const want = this.desiredPeers(true)
        const changed = await this.device!.syncPeers(want)
        this.m.peers.set({}, want.length)
        if (changed.added + changed.removed > 0) {
          this.log.info({ ...changed, peers: want.map(p => p.name) }, 'wireguard peers updated')
        }
      } catch (err) {
        this.m.syncErrors.inc()
        this.log.warn({ err: String(err) }, 'wireguard peer sync failed; retrying')
        this.clock.setTimeout(() => { this.requestSync() }, 1000)
      }
    })
  }

  private arm (): void {
    if (this.resyncMs <= 0 || this.stopped) return
    this.timer = this.clock.setTimeout(() => {
      // The device too: someone may have deleted it or its process died.
      if (this.ready) {
        void this.device!.exists().then(async ok => {
          if (!ok) { this.ready = false; await this.ensure() }
        }).catch(() => {})
      }
      this.requestSync()
      this.arm()
    }, this.resyncMs)
  }

  /** A new key pair: saved, set on the device, announced. Returns the new public key. */
  async rotate (): Promise<string> {
    this.check()
    const pair = generateKeyPair()
    await this.keys.save(pair)
    this.pair = pair
    if (this.ready) await this.device!.setKey(this.keys.path, this.o.listenPort)
    await this.publish()
    await this.db.publishPending()
    this.m.rotations.inc()
    this.log.info({ publicKey: pair.publicKey }, 'wireguard key rotated')
    return pair.publicKey
  }

  /** The mode a member announced (undefined: no record, e.g. an agent without this feature). */
  modeOf (nodeId: string): WireguardMode | undefined {
    const e = this.db.getEntry(WIREGUARD_PEER_TABLE, OVERLAY_GLOBAL_NETWORK, nodeId)
    if (e === undefined || e.owner !== nodeId) return undefined
    try { return decodeWireguardPeer(e.value).mode } catch { return undefined }
  }

  async status (): Promise<EncryptionView> {
    const live = this.ready ? await this.device!.state().catch(() => undefined) : undefined
    const names = new Map(this.desiredPeers().map(p => [p.publicKey, p.name]))
    return {
      Mode: this.mode,
      Interface: this.o.device,
      PublicKey: this.pair?.publicKey ?? '',
      ListenPort: this.o.listenPort,
      VxlanPort: this.dstPort,
      Ready: this.ready,
      Peers: (live?.peers ?? []).map(p => ({
        Name: names.get(p.publicKey) ?? '', PublicKey: p.publicKey, Endpoint: p.endpoint ?? '',
        LatestHandshake: p.latestHandshake, RxBytes: p.rx, TxBytes: p.tx
      }))
    }
  }

  /** Graceful stop: the device (and a userspace process) and the steering go. */
  async stop (opts: { keepDataplane?: boolean } = {}): Promise<void> {
    this.stopped = true
    this.clock.clearTimeout(this.timer)
    for (const u of this.unwatch.splice(0)) u()
    await this.syncing
    if (opts.keepDataplane === true) return
    if (this.ready || (await this.device?.exists()) === true) {
      await removeSteering()
      await this.device?.destroy()
    }
    this.ready = false
  }
}
