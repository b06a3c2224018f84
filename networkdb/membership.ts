/**
 * Cluster membership state: the SWIM rules for merging node events. Pure state; NetworkDB does the
 * probing, the timers and the gossip.
 *
 * Order of a node's states: a higher incarnation always wins; at equal incarnation
 * alive < suspect < failed < left. Only the node itself raises its incarnation — to refute a
 * suspicion or a failure, or on a restart — so a live node always overrides what others thought.
 */
import type { NodeEventKind, WireNodeEvent } from '../proto/index.js'
import type { NodeInfo, NodeStatus } from './types.js'

const RANK: Record<NodeStatus, number> = { alive: 0, suspect: 1, failed: 2, left: 3 }

export interface Member {
  id: string
  name: string
  advertise: string
  addrs: string[]
  inc: number
  status: NodeStatus
  since: number
}

export type MemberChange = { member: Member, prev: NodeStatus | undefined }

export class Membership {
  private readonly members = new Map<string, Member>()
  readonly self: Member

  constructor (self: Omit<Member, 'status' | 'since'>, now: number) {
    this.self = { ...self, status: 'alive', since: now }
    this.members.set(self.id, this.self)
  }

  get (id: string): Member | undefined { return this.members.get(id) }

  all (): Member[] { return [...this.members.values()] }

  /** Members other than self in one of `statuses`. */
  others (...statuses: NodeStatus[]): Member[] {
    return this.all().filter(m => m.id !== this.self.id && statuses.includes(m.status))
  }

  isLive (id: string): boolean {
    const m = this.members.get(id)
    return m !== undefined && (m.status === 'alive' || m.status === 'suspect')
  }

  /**
   * Apply an event about another node. Returns the change, or undefined when the event is old news.
   * Events about self are the caller's business (refute): see `refutes`.
   */
  apply (ev: WireNodeEvent, now: number): MemberChange | undefined {
    if (ev.node === this.self.id) return undefined
    const m = this.members.get(ev.node)
    if (m === undefined) {
      // A node first heard of as suspect/failed/left is still recorded, so its entries can be handled.
      const created: Member = { id: ev.node, name: ev.name, advertise: ev.advertise, addrs: ev.addrs, inc: ev.inc,
        status: ev.kind, since: now }
      this.members.set(ev.node, created)
      return { member: created, prev: undefined }
    }
    const supersedes = ev.inc > m.inc || (ev.inc === m.inc && RANK[ev.kind] > RANK[m.status])
    // A new listen address after a restart always comes with a new incarnation: old news is ignored.
    if (!supersedes) return undefined
    const prev = m.status
    m.inc = ev.inc
    if (ev.kind === 'alive' || m.name === '' || m.addrs.length === 0) {
      m.name = ev.name
      m.advertise = ev.advertise
      m.addrs = ev.addrs
    }
    // A new incarnation with the same status (a restart nobody noticed) is still a change.
    if (prev === ev.kind) return { member: m, prev }
    m.status = ev.kind
    m.since = now
    return { member: m, prev }
  }

  /**
   * An event about self that must be refuted (someone suspects us, thinks we failed or left while
   * we run): raises our incarnation above it. Returns true when the caller must announce alive.
   */
  refutes (ev: WireNodeEvent): boolean {
    if (ev.node !== this.self.id || ev.kind === 'alive') return false
    if (ev.inc < this.self.inc) return false
    this.self.inc = ev.inc + 1
    return true
  }

  /** Local status change decided by this node (suspect after a failed probe, failed on timeout). */
  mark (id: string, status: NodeStatus, now: number): MemberChange | undefined {
    const m = this.members.get(id)
    if (m === undefined || m.id === this.self.id) return undefined
    return this.apply(this.event(m, status), now)
  }

  /** The wire event describing a member's current state. */
  event (m: Member, kind: NodeEventKind = m.status): WireNodeEvent {
    return { kind, node: m.id, name: m.name, advertise: m.advertise, addrs: m.addrs, inc: m.inc }
  }

  /** Forget members that have been failed or left for longer than `afterMs`. */
  forget (now: number, afterMs: number): string[] {
    const gone: string[] = []
    for (const m of this.members.values()) {
      if (m.id !== this.self.id && (m.status === 'failed' || m.status === 'left') && now - m.since >= afterMs) {
        this.members.delete(m.id)
        gone.push(m.id)
      }
    }
    return gone
  }
}

export function toNodeInfo (m: Member): NodeInfo {
  return { id: m.id, name: m.name, advertiseAddr: m.advertise, addrs: [...m.addrs], status: m.status,
    incarnation: m.inc, since: m.since }
}
