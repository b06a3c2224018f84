/**
 * The names the resolver answers for, indexed from the replicated endpoint table (the records
 * `inspect --verbose` shows): per network, each endpoint's name and aliases -> its address, and
 * each address -> the endpoint's name for PTR. Kept up to date from the table's watch events, so
 * a lookup walks no table: one map read per network the asking container is on.
 *
 * Names are case-insensitive (DNS) and answered bare (`db`) or qualified with the network's name
 * (`db.web`, as Docker answers `container.network`).
 */

export interface NamedEndpoint {
  nid: string
  eid: string
  name: string
  /** Address without prefix length. */
  ip: string
  aliases: readonly string[]
}

export interface NamedNetwork {
  id: string
  name: string
  internal: boolean
}

/** A lookup's outcome: addresses on the asker's networks, a name only other networks have, or unknown. */
export type Lookup = { kind: 'found', ips: string[] } | { kind: 'foreign' } | { kind: 'unknown' }
export type Reverse = { kind: 'found', name: string } | { kind: 'foreign' } | { kind: 'unknown' }

/** Lower case, no trailing dot: the form names are indexed and compared in. */
export function normalize (name: string): string {
  const n = name.toLowerCase()
  return n.endsWith('.') ? n.slice(0, -1) : n
}

interface NetIndex {
  /** name -> eid -> address. */
  names: Map<string, Map<string, string>>
  /** address -> eid -> endpoint name. */
  addrs: Map<string, Map<string, string>>
}

export class NameTable {
  private readonly nets = new Map<string, NetIndex>()
  private readonly endpoints = new Map<string, NamedEndpoint>()
  private readonly networks = new Map<string, NamedNetwork>()
  /** Round robin: answers per name so far, to rotate the next one. */
  private readonly turns = new Map<string, number>()

  private index (nid: string): NetIndex {
    let n = this.nets.get(nid)
    if (n === undefined) { n = { names: new Map(), addrs: new Map() }; this.nets.set(nid, n) }
    return n
  }

  setNetwork (n: NamedNetwork): void { this.networks.set(n.id, n) }
  deleteNetwork (id: string): void { this.networks.delete(id) }
  network (id: string): NamedNetwork | undefined { return this.networks.get(id) }

  /** Add or replace an endpoint (keyed by network and endpoint id). */
  upsert (ep: NamedEndpoint): void {
    this.remove(ep.nid, ep.eid)
    const copy = { ...ep, aliases: [...ep.aliases] }
    this.endpoints.set(`${ep.nid}/${ep.eid}`, copy)
    const idx = this.index(ep.nid)
    for (const n of new Set([ep.name, ...ep.aliases].map(normalize))) {
      if (n === '') continue
      let m = idx.names.get(n)
      if (m === undefined) { m = new Map(); idx.names.set(n, m) }
      m.set(ep.eid, ep.ip)
    }
    let a = idx.addrs.get(ep.ip)
    if (a === undefined) { a = new Map(); idx.addrs.set(ep.ip, a) }
    a.set(ep.eid, ep.name)
  }

  remove (nid: string, eid: string): void {
    const key = `${nid}/${eid}`
    const ep = this.endpoints.get(key)
    if (ep === undefined) return
    this.endpoints.delete(key)
    const idx = this.index(nid)
    for (const n of new Set([ep.name, ...ep.aliases].map(normalize))) {
      const m = idx.names.get(n)
      m?.delete(eid)
      if (m?.size === 0) { idx.names.delete(n); this.turns.delete(n) }
    }
    const a = idx.addrs.get(ep.ip)
    a?.delete(eid)
    if (a?.size === 0) idx.addrs.delete(ep.ip)
    if (idx.names.size === 0 && idx.addrs.size === 0) this.nets.delete(nid)
  }

  get size (): number { return this.endpoints.size }

  /** The addresses of `name` on the networks `nids` (all of them, rotated per answer). */
  lookup (name: string, nids: ReadonlySet<string>): Lookup {
    const q = normalize(name)
    const ips = new Set<string>()
    for (const nid of nids) for (const ip of this.addressesIn(nid, q)) ips.add(ip)
    if (ips.size > 0) return { kind: 'found', ips: this.rotate(q, [...ips]) }
    for (const nid of this.nets.keys()) {
      if (!nids.has(nid) && this.addressesIn(nid, q).length > 0) return { kind: 'foreign' }
    }
    return { kind: 'unknown' }
  }

  /** `name` in one network: bare, or qualified with that network's name. */
  private addressesIn (nid: string, q: string): string[] {
    const idx = this.nets.get(nid)
    if (idx === undefined) return []
    const bare = idx.names.get(q)
    if (bare !== undefined) return [...bare.values()]
    const net = this.networks.get(nid)
    if (net === undefined) return []
    const suffix = `.${normalize(net.name)}`
    if (!q.endsWith(suffix) || q.length === suffix.length) return []
    return [...(idx.names.get(q.slice(0, -suffix.length))?.values() ?? [])]
  }

  /** The endpoint holding `ip` on the networks `nids`, as `name.network`. */
  reverse (ip: string, nids: ReadonlySet<string>): Reverse {
    for (const nid of nids) {
      const found = this.nets.get(nid)?.addrs.get(ip)
      if (found === undefined) continue
      const name = [...found.values()][0]!
      const net = this.networks.get(nid)
      return { kind: 'found', name: net === undefined ? name : `${name}.${net.name}` }
    }
    for (const [nid, idx] of this.nets) if (!nids.has(nid) && idx.addrs.has(ip)) return { kind: 'foreign' }
    return { kind: 'unknown' }
  }

  private rotate (q: string, ips: string[]): string[] {
    if (ips.length < 2) return ips
    const turn = this.turns.get(q) ?? 0
    this.turns.set(q, turn + 1)
    const k = turn % ips.length
    return [...ips.slice(k), ...ips.slice(0, k)]
  }
}
