/**
 * Which node is in which network: the latest network event per (network, node), ordered by the
 * network Lamport clock. Pure state.
 */
import type { WireNetworkEvent } from '../proto/index.js'

export type NetworkEventResult = 'joined' | 'left' | 'unchanged' | 'stale'

export class NetworkMembership {
  /** nid -> node -> latest event */
  private readonly nets = new Map<string, Map<string, { ltime: number, join: boolean }>>()

  private nodes (nid: string): Map<string, { ltime: number, join: boolean }> {
    let m = this.nets.get(nid)
    if (m === undefined) { m = new Map(); this.nets.set(nid, m) }
    return m
  }

  get (nid: string, node: string): { ltime: number, join: boolean } | undefined {
    return this.nets.get(nid)?.get(node)
  }

  /** Record our own state unconditionally (we are the authority on it). */
  set (nid: string, node: string, ltime: number, join: boolean): void {
    this.nodes(nid).set(node, { ltime, join })
  }

  /** Apply a remote event if newer than what we hold; says whether membership changed. */
  apply (ev: WireNetworkEvent): NetworkEventResult {
    const nodes = this.nodes(ev.nid)
    const cur = nodes.get(ev.node)
    if (cur !== undefined && ev.ltime <= cur.ltime) return 'stale'
    nodes.set(ev.node, { ltime: ev.ltime, join: ev.join })
    if (cur?.join === ev.join) return 'unchanged'
    return ev.join ? 'joined' : 'left'
  }

  /** Nodes whose latest event for `nid` is a join and that pass `include`. Sorted. */
  members (nid: string, include: (node: string) => boolean): string[] {
    const out: string[] = []
    for (const [node, st] of this.nets.get(nid) ?? []) if (st.join && include(node)) out.push(node)
    return out.sort()
  }

  /** Every event we hold, for push-pull. */
  events (): WireNetworkEvent[] {
    const out: WireNetworkEvent[] = []
    for (const [nid, nodes] of this.nets) for (const [node, st] of nodes) out.push({ node, nid, ltime: st.ltime,
      join: st.join })
    return out
  }

  forgetNode (node: string): void {
    for (const nodes of this.nets.values()) nodes.delete(node)
  }
}
