/**
 * The embedded DNS of one host (docs/dns.md): a resolver listening on each network's gateway
 * address inside that network's sandbox namespace (the sandbox exists once per network and host
 * while the host has endpoints in it; its bridge holds the gateway, the containers' default
 * route), answering from the replicated endpoint table for the networks the asking container
 * is on.
 *
 * - Names: `endpoint_table` (cluster-wide) and `network_table`, watched; the index follows every
 *   create, update and delete, so a detached endpoint, or one of a failed host (hidden by
 *   NetworkDB), stops resolving the moment this host hears of it.
 * - Listeners: a sandbox gets one while this host owns endpoint records in the network (or a first
 *   attach to it is under way: bound while the attach waits for its address); bound
 *   once per sandbox (netns-bind.ts), re-bound when the sandbox namespace was made anew, closed
 *   when the last local endpoint goes. Reconciled on those events and every `reconcileMs`.
 * - Askers: a query's source address is a local endpoint of the listener's network; its
 *   namespace's other local endpoints add their networks. Anything else gets no answer.
 * - resolv.conf of containers attached with `--dns` (resolv-conf.ts).
 */
import { stat } from 'node:fs/promises'
import {
  decodeEndpointRecord, decodeNetworkRecord, ENDPOINT_TABLE, NETWORK_TABLE
} from '../../proto/index.js'
import type { Logger, Metrics } from '../../core/index.js'
import type { NetworkDB, TableEvent, Unsubscribe } from '../../networkdb/index.js'
import { OVERLAY_GLOBAL_NETWORK, sandboxName } from '../../overlay/index.js'
import type { LocalEndpoint, LocalState } from '../local-state.js'
import { Forwarder } from './forwarder.js'
import { dnsMetrics, type DnsMetrics } from './metrics.js'
import { NameTable } from './names.js'
import { bindInNetns, type NetnsSockets } from './netns-bind.js'
import { HostResolvers, resolvConfPath, writeResolvConf, type Upstream } from './resolv-conf.js'
import { Resolver, type Asker } from './resolver.js'
import { serveTcp, serveUdp, type Serving } from './server.js'

export const DNS_PORT = 53

/** What the controller calls. */
export interface DnsPort {
  /** The resolver's address for a network (`GATEWAY:53`), or undefined when it has no gateway. */
  resolverFor(nid: string): string | undefined
  /** For inspect: the resolver's address and whether it listens in the network's sandbox now. */
  view(nid: string): { Resolver: string, Listening: boolean } | undefined
  /** After an attach, detach or restore of `ep`: its container's resolv.conf and the listeners. */
  changed(ep: LocalEndpoint): Promise<void>
  /**
   * A first attach to `nid` is under way and its sandbox exists (`on`), or is over: the sandbox
   * gets its listener now, while the attach waits for the IPAM, not as it answers.
   */
  preparing?(nid: string, on: boolean): void
  /** Where `listen`/`close` events of the resolvers go (`ovnet events`). */
  setEventSink(sink: (action: string, nid: string, attrs: Record<string, string>) => void): void
  stop(): Promise<void>
}

export interface DnsServiceOptions {
  db: NetworkDB
  /** This host's endpoints (read only): who asks, and with `dns` set, whose resolv.conf to write. */
  state: LocalState
  nodeName: string
  logger: Logger
  metrics: Metrics
  /** The host's resolv.conf, whose `nameserver`s get other names (default /etc/resolv.conf). */
  resolvConf?: string
  /** Upstreams instead of the host's resolv.conf (host:port). */
  upstreams?: Upstream[]
  /** Per upstream attempt (default 2000 ms). */
  forwardTimeoutMs?: number
  /** Re-check listeners this often (default 5 s; 0 = only on events). */
  reconcileMs?: number
  /** Binds in a sandbox (default: nsenter helper); tests inject their own. */
  bind?: (netnsPath: string, address: string, port: number) => Promise<NetnsSockets>
  port?: number
  /** Where sandbox namespaces are mounted (default /run/netns). */
  netnsDir?: string
  /** Where containers' resolv.conf files go for namespace names (default /etc: /etc/netns/NAME/resolv.conf). */
  etcDir?: string
}

interface Listener { nid: string, address: string, ino: number, udp: Serving, tcp: Serving }

export class DnsService implements DnsPort {
  readonly names = new NameTable()
  readonly resolver: Resolver
  private readonly log: Logger
  private readonly metrics: DnsMetrics
  private readonly gateways = new Map<string, string>()
  /** Own endpoint records per network: where listeners belong. */
  private readonly own = new Map<string, Set<string>>()
  /** Networks whose first attach here is under way (sandbox made): where listeners belong too. */
  private readonly prepared = new Set<string>()
  private readonly listeners = new Map<string, Listener>()
  private readonly unwatch: Unsubscribe[] = []
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again = false
  private stopped = false
  private sink: ((action: string, nid: string, attrs: Record<string, string>) => void) | undefined

  constructor (private readonly o: DnsServiceOptions) {
    this.log = o.logger.child({ component: 'dns' })
    this.metrics = dnsMetrics(o.metrics)
    const host = new HostResolvers(o.resolvConf ?? '/etc/resolv.conf')
    const servers = o.upstreams === undefined ? async () => await host.get() : async () => o.upstreams!
    const forwarder = new Forwarder({ servers, timeoutMs: o.forwardTimeoutMs, metrics: this.metrics })
    this.resolver = new Resolver({ names: this.names, forwarder, metrics: this.metrics })
  }

  start (): void {
    const g = OVERLAY_GLOBAL_NETWORK
    this.unwatch.push(this.o.db.watch(NETWORK_TABLE, g, ev => { this.onNetwork(ev) }))
    this.unwatch.push(this.o.db.watch(ENDPOINT_TABLE, g, ev => { this.onEndpoint(ev) }))
    const every = this.o.reconcileMs ?? 5000
    if (every > 0) {
      this.timer = setInterval(() => { this.reconcile() }, every)
      this.timer.unref()
    }
    this.reconcile()
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    for (const u of this.unwatch) u()
    this.unwatch.length = 0
    await this.running
    for (const l of [...this.listeners.values()]) this.close(l)
  }

  setEventSink (sink: (action: string, nid: string, attrs: Record<string, string>) => void): void { this.sink = sink }

  resolverFor (nid: string): string | undefined {
    const gw = this.gateways.get(nid)
    return gw === undefined ? undefined : `${gw}:${this.o.port ?? DNS_PORT}`
  }

  view (nid: string): { Resolver: string, Listening: boolean } | undefined {
    const gw = this.gateways.get(nid)
    return gw === undefined
      ? undefined
      : { Resolver: `${gw}:${this.o.port ?? DNS_PORT}`, Listening: this.listeners.has(nid) }
  }

  preparing (nid: string, on: boolean): void {
    if (on) this.prepared.add(nid)
    else this.prepared.delete(nid)
    this.reconcile()
  }

  /** A listener belongs in the network's sandbox: own endpoints there, or a first attach under way. */
  private wanted (nid: string): boolean {
    return this.own.has(nid) || this.prepared.has(nid)
  }

  async changed (ep: LocalEndpoint): Promise<void> {
    this.reconcile()
    if (ep.netns === '') return
    const path = resolvConfPath(ep.netns, this.o.etcDir)
    if (path === undefined) return
    const servers = [...this.o.state.endpoints.values()]
      .filter(e => nsKey(e.netns) === nsKey(ep.netns) && e.dns === true)
      .map(e => this.gateways.get(e.nid))
      .filter((s): s is string => s !== undefined)
    // Only a namespace that asked (now or before) gets its file written or removed.
    if (servers.length === 0 && ep.dns !== true) return
    await writeResolvConf(path, [...new Set(servers)])
  }

  /** The asker behind `src` on network `nid`, if it is an endpoint of this host there. */
  identify (nid: string, src: string): Asker | undefined {
    let self: LocalEndpoint | undefined
    for (const e of this.o.state.endpoints.values()) {
      if (e.nid === nid && e.address.split('/')[0] === src) { self = e; break }
    }
    if (self === undefined) return undefined
    const nids = new Set([nid])
    const ns = nsKey(self.netns)
    if (ns !== '') for (const e of this.o.state.endpoints.values()) if (nsKey(e.netns) === ns) nids.add(e.nid)
    let forward = false
    for (const n of nids) if (this.names.network(n)?.internal === false) forward = true
    return { nids, forward }
  }

  private onNetwork (ev: TableEvent): void {
    if (ev.kind === 'delete' || ev.value === undefined) {
      this.names.deleteNetwork(ev.key)
      this.gateways.delete(ev.key)
    } else {
      try {
        const r = decodeNetworkRecord(ev.value)
        this.names.setNetwork({ id: r.id, name: r.name, internal: r.internal })
        if (r.gateway === '') this.gateways.delete(r.id)
        else this.gateways.set(r.id, r.gateway)
      } catch { /* counted by the controller */ }
    }
    this.reconcile()
  }

  private onEndpoint (ev: TableEvent): void {
    const slash = ev.key.indexOf('/')
    const nid = ev.key.slice(0, slash)
    const eid = ev.key.slice(slash + 1)
    if (ev.kind === 'delete' || ev.value === undefined) {
      this.names.remove(nid, eid)
      this.own.get(nid)?.delete(eid)
    } else {
      try {
        const r = decodeEndpointRecord(ev.value)
        this.names.upsert({ nid: r.nid, eid: r.eid, name: r.name, ip: r.ip.split('/')[0]!, aliases: r.aliases ?? [] })
        if (ev.owner === this.o.db.nodeId) {
          let s = this.own.get(nid)
          if (s === undefined) { s = new Set(); this.own.set(nid, s) }
          s.add(eid)
        }
      } catch { /* counted by the controller */ }
    }
    if (this.own.get(nid)?.size === 0) this.own.delete(nid)
    if (ev.owner === this.o.db.nodeId) this.reconcile()
  }

  /** Bring the listeners to the own endpoints (serialized; a call while one runs runs once more after it). */
  private reconcile (): void {
    if (this.stopped) return
    if (this.running !== undefined) { this.again = true; return }
    this.running = (async () => {
      do {
        this.again = false
        await this.reconcileOnce().catch((err: unknown) => {
          this.log.warn({ err: String(err) }, 'dns listener reconcile failed')
        })
      } while (this.again && !this.stopped)
    })().finally(() => { this.running = undefined })
  }

  private async reconcileOnce (): Promise<void> {
    const dir = this.o.netnsDir ?? '/run/netns'
    for (const nid of new Set([...this.own.keys(), ...this.prepared])) {
      const address = this.gateways.get(nid)
      if (address === undefined || this.stopped) continue
      const path = `${dir}/${sandboxName(this.o.nodeName, nid)}`
      const ino = (await stat(path).catch(() => undefined))?.ino
      if (ino === undefined) continue
      const l = this.listeners.get(nid)
      if (l !== undefined && l.ino === ino && l.address === address) continue
      if (l !== undefined) this.close(l)
      try {
        const s = await (this.o.bind ?? bindInNetns)(path, address, this.o.port ?? DNS_PORT)
        if (this.stopped || !this.wanted(nid)) { s.udp.close(); s.tcp.close(); continue }
        const serve = {
          resolver: this.resolver, identify: (src: string) => this.identify(nid, src), metrics: this.metrics
        }
        this.listeners.set(nid, { nid, address, ino: s.ino, udp: serveUdp(s.udp, serve), tcp: serveTcp(s.tcp, serve) })
        this.metrics.listeners(this.listeners.size)
        this.log.info({ nid, address }, 'dns resolver listening in the network sandbox')
        this.sink?.('listen', nid, { address: `${address}:${this.o.port ?? DNS_PORT}` })
      } catch (err) {
        this.log.warn({ nid, address, err: String(err) }, 'dns resolver could not listen in the sandbox (retrying)')
      }
    }
    for (const l of [...this.listeners.values()]) if (!this.wanted(l.nid) || !this.gateways.has(l.nid)) this.close(l)
  }

  private close (l: Listener): void {
    this.listeners.delete(l.nid)
    l.udp.close()
    l.tcp.close()
    this.metrics.listeners(this.listeners.size)
    this.log.info({ nid: l.nid }, 'dns resolver closed')
    this.sink?.('close', l.nid, { address: `${l.address}:${this.o.port ?? DNS_PORT}` })
  }
}

/** One namespace however the attach named it: `c1`, `/run/netns/c1` and `/var/run/netns/c1` are the same. */
function nsKey (netns: string): string {
  return netns.replace(/^\/(?:var\/)?run\/netns\//, '')
}
