/**
 * Which bulk syncs of a network with a peer are done or under way (issue 12: a late joiner's
 * start-up). A member becoming alive is synced with every network we share (member-events.ts),
 * but when it is a node joining the cluster, that exchange has already happened or is happening:
 * the joiner asks every member for its own entries (join-sync.ts), and each member answers that
 * request. Counted at a 20-host lab, every joiner made and served ~95 sync requests for the ~38
 * needed (2 networks x 19 members), each a new libp2p stream on a joiner whose start is CPU-bound.
 *
 * An exchange counts once it is complete in both directions:
 * - one we started: when it succeeded (the peer answered; our push of what it lacked was acked);
 * - one the peer started: when we answered it and nothing is to come back (the requester held no
 *   entry, or no bucket differed), else when its push arrived.
 * `covered(nid, peer, since)` waits for a sync of ours with the peer that is under way, then says
 * whether a complete exchange began at or after `since`.
 */

const key = (nid: string, peer: string): string => `${nid}\u0000${peer}`

export class SyncLedger {
  /** When the last complete exchange of (network, peer) began. */
  private readonly done = new Map<string, number>()
  /** Our syncs under way, by (network, peer), with the time each began. */
  private readonly running = new Map<string, { at: number, result: Promise<boolean> }>()

  /** A sync of ours that began at `at`: recorded while it runs, and as done if it succeeds. */
  track (nid: string, peer: string, at: number, result: Promise<boolean>): Promise<boolean> {
    const k = key(nid, peer)
    const entry = { at, result }
    this.running.set(k, entry)
    void result.then(ok => {
      if (this.running.get(k) === entry) this.running.delete(k)
      if (ok) this.exchanged(nid, peer, at)
    })
    return result
  }

  /** A complete exchange of `nid` with `peer` that began at `at`. */
  exchanged (nid: string, peer: string, at: number): void {
    const k = key(nid, peer)
    if ((this.done.get(k) ?? -Infinity) < at) this.done.set(k, at)
  }

  /** Whether an exchange of `nid` with `peer` that began at or after `since` is complete. */
  async covered (nid: string, peer: string, since: number): Promise<boolean> {
    const k = key(nid, peer)
    const r = this.running.get(k)
    if (r !== undefined && r.at >= since) await r.result
    const at = this.done.get(k)
    return at !== undefined && at >= since
  }

  /** Forget a peer (forgotten member) or a network (left). */
  forgetPeer (peer: string): void {
    for (const k of [...this.done.keys()]) if (k.endsWith(`\u0000${peer}`)) this.done.delete(k)
  }

  forgetNetwork (nid: string): void {
    for (const k of [...this.done.keys()]) if (k.startsWith(`${nid}\u0000`)) this.done.delete(k)
  }
}
