/**
 * A joiner's bulk sync of a network: every member at once, each asked for the entries it owns
 * (`own` syncs; a node stores an entry only from its owner, trust.ts), so the table arrives once,
 * each part from its owner, in parallel. (Before entries were owner-bound, the joiner took the
 * whole table from ONE member and then exchanged digests with the others; asking every member for
 * everything had made a joiner of n members receive the table n times.)
 *
 * The join waits for every member that answers. A member that has not started answering within
 * JOIN_SYNC_HEDGE_MS (it accepted the request and hangs: overloaded, about to be found failed) is
 * not waited for: it costs the joiner a second, not the request timeout, and its entries come by
 * gossip and anti-entropy once it answers. When no member answers within that time, the join
 * waits for them all to end.
 */
import type { Clock, TimerHandle } from '../core/index.js'

/** How long a joiner waits for a member's first answer frame before it stops waiting for it. */
export const JOIN_SYNC_HEDGE_MS = 1000

export interface JoinSyncDeps {
  clock: Clock
  /** Bulk sync with one member; false when it failed. `onAnswer` runs at its first answer frame. */
  sync: (peer: string, onAnswer: () => void) => Promise<boolean>
}

export async function joinSync (
  d: JoinSyncDeps, order: readonly string[], hedgeMs = JOIN_SYNC_HEDGE_MS
): Promise<void> {
  const answering = new Set<number>()
  const all = order.map(async (peer, i) => await d.sync(peer, () => { answering.add(i) }))
  let timer: TimerHandle | undefined
  const hedged = new Promise<void>(resolve => { timer = d.clock.setTimeout(resolve, hedgeMs) })
    // nobody answering yet: wait for them all to end rather than join with nothing
    .then(async () => { await Promise.all(answering.size === 0 ? all : all.filter((_, i) => answering.has(i))) })
  await Promise.race([Promise.all(all), hedged])
  d.clock.clearTimeout(timer)
}
