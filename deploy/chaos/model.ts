/**
 * What the chaos run believes the cluster holds: the networks it created and the containers it
 * attached. The hosts' own local state is the truth (each host is authoritative for its own
 * endpoints); the model is checked against it after every round, and it is what the ping matrix
 * and the address checks are built from.
 *
 * An operation whose outcome is unknown (a request timing out while a partition holds) marks its
 * container `uncertain`; the next reconciliation with the truth settles it without blame.
 */
import type { NetworkInspect } from '../../agent/index.js'
import { inSubnet, spansOverlap } from '../../core/index.js'

export interface ModelNetwork {
  name: string
  id: string
  subnet: string
  gateway: string
}

export interface ModelContainer {
  host: number
  /** Unique in the run; also the endpoint's Name, which is how the truth is matched to it. */
  name: string
  netns: string
  /** Network name while attached. */
  network?: string
  eid?: string
  /** Without prefix length. */
  ip?: string
  mac?: string
  uncertain?: boolean
  /** An operation on it is in flight (the hosts' workload streams run in parallel). */
  busy?: boolean
  /** Kept where it is for the round (the workload leaves it alone); see ChaosRun.round. */
  pinned?: boolean
}

/** A safety violation found while operating (an address handed out twice, overlapping pools). */
export interface ModelViolation { invariant: 'addresses' | 'pools', detail: string }

export class ClusterModel {
  readonly networks = new Map<string, ModelNetwork>()
  readonly containers: ModelContainer[] = []
  readonly violations: ModelViolation[] = []
  /** Networks whose create or remove had an unknown outcome. */
  readonly uncertainNetworks = new Set<string>()
  /** Networks being drained and removed: no new attach to them. */
  readonly removing = new Set<string>()

  attached (network?: string): ModelContainer[] {
    return this.containers.filter(c => c.network !== undefined && (network === undefined || c.network === network))
  }

  /** Networks open for new attaches. */
  usable (): string[] {
    return [...this.networks.keys()].filter(n => !this.removing.has(n))
  }

  addNetwork (n: ModelNetwork): void {
    for (const other of this.networks.values()) {
      if (other.id !== n.id && spansOverlap(other.subnet, n.subnet)) {
        this.violations.push({ invariant: 'pools', detail: `network ${n.name} got pool ${n.subnet}, overlapping ${other.name}'s ${other.subnet}` })
      }
    }
    this.networks.set(n.name, n)
  }

  /** Record a successful attach; flags an address already held in that network or outside it. */
  recordAttach (c: ModelContainer, network: string, r: { EndpointID: string, IPv4Address: string, MacAddress: string }): void {
    const ip = r.IPv4Address.split('/')[0]!
    // A holder with an operation in flight may be being detached right now (its address already
    // free at the agent): only settled holders count. The snapshots check the hosts' own state.
    const holder = this.attached(network).find(o => o !== c && o.ip === ip && o.uncertain !== true && o.busy !== true)
    if (holder !== undefined) this.violations.push({ invariant: 'addresses', detail: `${ip} in ${network} handed to ${c.name} while ${holder.name} holds it` })
    const n = this.networks.get(network)
    if (n !== undefined && !inSubnet(ip, n.subnet)) this.violations.push({ invariant: 'addresses', detail: `${ip} given to ${c.name} is outside ${network}'s ${n.subnet}` })
    if (n !== undefined && ip === n.gateway) this.violations.push({ invariant: 'addresses', detail: `${ip} given to ${c.name} is ${network}'s gateway` })
    // An attach that raced with the removal of its network (the drain did not see it yet): the
    // removal may have taken the endpoint with it. Let the hosts' own state decide.
    const raced = !this.networks.has(network) || this.removing.has(network)
    Object.assign(c, { network, eid: r.EndpointID, ip, mac: r.MacAddress.toLowerCase(), uncertain: raced })
  }

  recordDetach (c: ModelContainer): void {
    delete c.network
    delete c.eid
    delete c.ip
    delete c.mac
    c.uncertain = false
  }

  /** A graceful stop detaches every endpoint of the host. */
  hostStopped (host: number): void {
    for (const c of this.containers) if (c.host === host) this.recordDetach(c)
  }

  /** The network is gone (removed by the run): its endpoints went with it everywhere. */
  networkRemoved (name: string): void {
    for (const c of this.attached(name)) this.recordDetach(c)
    this.networks.delete(name)
  }

  /**
   * Settle the networks with the cluster's list (the run's networks only, as a host that saw
   * every change lists them). Returns what does not match and was not uncertain.
   */
  reconcileNetworks (cluster: ReadonlyArray<{ name: string, id: string, subnet: string, gateway: string }>): string[] {
    const problems: string[] = []
    const names = new Set(cluster.map(n => n.name))
    for (const n of cluster) {
      const known = this.networks.get(n.name)
      if (known === undefined) {
        if (!this.uncertainNetworks.has(n.name)) problems.push(`network ${n.name} (${n.subnet}) exists but the run never created it`)
        this.addNetwork(n)
      } else if (known.id !== n.id) {
        problems.push(`network ${n.name} has id ${n.id.slice(0, 12)}, the run created ${known.id.slice(0, 12)}`)
      }
    }
    for (const name of [...this.networks.keys()]) {
      if (names.has(name)) continue
      if (!this.uncertainNetworks.has(name)) problems.push(`network ${name} created by the run is gone`)
      this.networkRemoved(name)
    }
    this.uncertainNetworks.clear()
    return problems
  }

  /**
   * Settle the model with one host's truth (its inspect output for every network it knows;
   * `Containers` are its own endpoints). Returns what does not match and was not uncertain.
   */
  reconcile (host: number, truth: ReadonlyMap<string, NetworkInspect>): string[] {
    const problems: string[] = []
    const byName = new Map<string, { network: string, eid: string, ip: string, mac: string }>()
    for (const [, ins] of truth) {
      for (const [eid, c] of Object.entries(ins.Containers)) byName.set(c.Name, { network: ins.Name, eid, ip: c.IPv4Address.split('/')[0]!, mac: c.MacAddress.toLowerCase() })
    }
    for (const c of this.containers.filter(x => x.host === host)) {
      const t = byName.get(c.name)
      byName.delete(c.name)
      if (t === undefined) {
        if (c.network !== undefined && c.uncertain !== true) problems.push(`${c.name}: attached to ${c.network} (${c.ip ?? '?'}) but its host has no such endpoint`)
        if (c.network !== undefined) this.recordDetach(c)
        c.uncertain = false
        continue
      }
      const same = c.network === t.network && c.eid === t.eid && c.ip === t.ip
      if (!same && c.uncertain !== true) {
        problems.push(`${c.name}: the run has ${c.network ?? 'nothing'} ${c.ip ?? ''}, its host has ${t.network} ${t.ip} (${t.eid.slice(0, 12)})`)
      }
      if (!same) Object.assign(c, { network: t.network, eid: t.eid, ip: t.ip, mac: t.mac })
      c.uncertain = false
    }
    for (const [name, t] of byName) problems.push(`host has endpoint ${name} in ${t.network} (${t.ip}) that the run never attached`)
    return problems
  }
}
