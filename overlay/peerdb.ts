/**
 * The peer database of one network: every remote endpoint announced in the peer table and the
 * local endpoints joined here, and from them the FDB and neighbour entries the sandbox should
 * hold. Pure state, no I/O.
 *
 * Conflict rule (an endpoint moved, an IP reused): all announcements are kept; a remote peer is
 * programmed only if it is the newest announcement of its IP and the newest of its MAC, and no
 * local endpoint uses that IP or MAC. When the newest goes, the next newest is restored.
 * "Newest" is the rank of the announcement: the NetworkDB Lamport time (then owner) when known,
 * which every node sees alike, else the arrival order here.
 *
 * Changes mark the affected IPs and MACs dirty, so a flush recomputes only those keys.
 */
import type { PeerRecord } from '../proto/index.js'

export interface Peer {
  eid: string
  /** Bare address (no prefix). */
  ip: string
  /** CIDR as announced. */
  cidr: string
  mac: string
  vtep: string
  /** Order of announcements: higher is newer. */
  rank: PeerRank
}

export interface PeerRank { ltime: number, owner: string, seq: number }

export interface LocalEndpoint { ip: string, mac: string }

export type PeerState = 'programmable' | 'shadowed'

function newer (a: PeerRank, b: PeerRank): boolean {
  if (a.ltime !== b.ltime) return a.ltime > b.ltime
  if (a.owner !== b.owner) return a.owner > b.owner
  return a.seq > b.seq
}

function addTo (m: Map<string, Set<string>>, k: string, v: string): void {
  let s = m.get(k)
  if (s === undefined) { s = new Set(); m.set(k, s) }
  s.add(v)
}

function removeFrom (m: Map<string, Set<string>>, k: string, v: string): void {
  const s = m.get(k)
  if (s === undefined) return
  s.delete(v)
  if (s.size === 0) m.delete(k)
}

export class PeerDB {
  private readonly peers = new Map<string, Peer>()
  private readonly byIp = new Map<string, Set<string>>()
  private readonly byMac = new Map<string, Set<string>>()
  private readonly locals = new Map<string, LocalEndpoint>()
  private readonly localIps = new Map<string, Set<string>>()
  private readonly localMacs = new Map<string, Set<string>>()
  private dirtyIps = new Set<string>()
  private dirtyMacs = new Set<string>()
  private seq = 0

  get size (): number { return this.peers.size }

  get (eid: string): Peer | undefined { return this.peers.get(eid) }

  all (): IterableIterator<Peer> { return this.peers.values() }

  /**
   * Add or replace the remote announcement `eid`. Returns false when nothing changed (a duplicate
   * delivery keeps its rank, so it cannot reorder winners).
   */
  upsert (eid: string, rec: PeerRecord, order: { ltime: number, owner: string } = { ltime: 0, owner: '' }): boolean {
    const ip = rec.endpointIP.slice(0, rec.endpointIP.indexOf('/'))
    const cur = this.peers.get(eid)
    if (cur !== undefined && cur.cidr === rec.endpointIP && cur.mac === rec.endpointMAC &&
        cur.vtep === rec.tunnelEndpointIP &&
        cur.rank.ltime === order.ltime && cur.rank.owner === order.owner) return false
    if (cur !== undefined) this.unindex(cur)
    const peer: Peer = { eid, ip, cidr: rec.endpointIP, mac: rec.endpointMAC, vtep: rec.tunnelEndpointIP,
      rank: { ...order, seq: ++this.seq } }
    this.peers.set(eid, peer)
    addTo(this.byIp, ip, eid)
    addTo(this.byMac, peer.mac, eid)
    this.touch(ip, peer.mac)
    return true
  }

  /** Forget announcement `eid`; returns false if it was unknown. */
  remove (eid: string): boolean {
    const cur = this.peers.get(eid)
    if (cur === undefined) return false
    this.unindex(cur)
    this.peers.delete(eid)
    this.touch(cur.ip, cur.mac)
    return true
  }

  private unindex (p: Peer): void {
    // Mark before and after: the keys' winners may change either way.
    this.touch(p.ip, p.mac)
    removeFrom(this.byIp, p.ip, p.eid)
    removeFrom(this.byMac, p.mac, p.eid)
  }

  /** A local endpoint joined: its IP and MAC shadow any remote announcement of them. */
  addLocal (eid: string, ep: LocalEndpoint): void {
    this.removeLocal(eid)
    this.locals.set(eid, ep)
    addTo(this.localIps, ep.ip, eid)
    addTo(this.localMacs, ep.mac, eid)
    this.touch(ep.ip, ep.mac)
  }

  removeLocal (eid: string): void {
    const ep = this.locals.get(eid)
    if (ep === undefined) return
    this.locals.delete(eid)
    removeFrom(this.localIps, ep.ip, eid)
    removeFrom(this.localMacs, ep.mac, eid)
    this.touch(ep.ip, ep.mac)
  }

  /** Mark an IP and a MAC dirty, plus the keys whose winner depends on them (one level). */
  private touch (ip: string, mac: string): void {
    this.dirtyIps.add(ip)
    this.dirtyMacs.add(mac)
    for (const e of this.byIp.get(ip) ?? []) {
      const p = this.peers.get(e)
      if (p !== undefined) this.dirtyMacs.add(p.mac)
    }
    for (const e of this.byMac.get(mac) ?? []) {
      const p = this.peers.get(e)
      if (p !== undefined) this.dirtyIps.add(p.ip)
    }
  }

  private winner (set: Set<string> | undefined): Peer | undefined {
    let best: Peer | undefined
    for (const e of set ?? []) {
      const p = this.peers.get(e)
      if (p !== undefined && (best === undefined || newer(p.rank, best.rank))) best = p
    }
    return best
  }

  /** True if this announcement should be in the kernel. */
  programmable (p: Peer): boolean {
    return !this.localIps.has(p.ip) && !this.localMacs.has(p.mac) &&
      this.winner(this.byIp.get(p.ip)) === p && this.winner(this.byMac.get(p.mac)) === p
  }

  /** Desired neighbour entry for `ip`: the MAC, or undefined for none. */
  desiredNeigh (ip: string): string | undefined {
    const w = this.winner(this.byIp.get(ip))
    return w !== undefined && this.programmable(w) ? w.mac : undefined
  }

  /** Desired FDB entry for `mac`: the VTEP, or undefined for none. */
  desiredFdb (mac: string): string | undefined {
    const w = this.winner(this.byMac.get(mac))
    return w !== undefined && this.programmable(w) ? w.vtep : undefined
  }

  /** The whole desired state (for reconciliation and fresh sandboxes). */
  desired (): { fdb: Map<string, string>, neigh: Map<string, string> } {
    const fdb = new Map<string, string>()
    const neigh = new Map<string, string>()
    for (const p of this.peers.values()) {
      if (!this.programmable(p)) continue
      fdb.set(p.mac, p.vtep)
      neigh.set(p.ip, p.mac)
    }
    return { fdb, neigh }
  }

  /** Take the dirty keys (the caller diffs them against what the kernel holds). */
  takeDirty (): { ips: Set<string>, macs: Set<string> } {
    const out = { ips: this.dirtyIps, macs: this.dirtyMacs }
    this.dirtyIps = new Set()
    this.dirtyMacs = new Set()
    return out
  }

  /** Put keys back (a flush failed). */
  restoreDirty (d: { ips: Iterable<string>, macs: Iterable<string> }): void {
    for (const ip of d.ips) this.dirtyIps.add(ip)
    for (const mac of d.macs) this.dirtyMacs.add(mac)
  }

  clearDirty (): void {
    this.dirtyIps.clear()
    this.dirtyMacs.clear()
  }

  get dirty (): boolean { return this.dirtyIps.size > 0 || this.dirtyMacs.size > 0 }
}
