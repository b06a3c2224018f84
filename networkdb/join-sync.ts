/**
 * A joiner's bulk sync of a network: the whole table from ONE member, then a digest exchange with
 * every other member at once, in which each sends only the buckets that still differ (and gets
 * what it lacks). Asking every member for everything at once made a joiner of a network of n
 * members receive and merge the table n times.
 *
 * Members are asked in the given order (alive ones first). The next member is asked when one
 * fails, and also, without giving up on it, when one has not started answering within
 * JOIN_SYNC_HEDGE_MS: a member that accepted the request and hangs (overloaded, about to be
 * found failed) costs a joiner a second, not the request timeout.
 */
import type { Clock, TimerHandle } from './clock.js'

/** How long a joiner waits for a member's first answer frame before also asking the next one. */
export const JOIN_SYNC_HEDGE_MS = 1000

export interface JoinSyncDeps {
  clock: Clock
  /** Bulk sync with one member; false when it failed. `onAnswer` runs at its first answer frame. */
  sync: (peer: string, onAnswer: () => void) => Promise<boolean>
}

export async function joinSync (d: JoinSyncDeps, order: readonly string[], hedgeMs = JOIN_SYNC_HEDGE_MS): Promise<void> {
  const slow: Array<Promise<boolean>> = []
  let have = false
  let tableIn: () => void = () => {}
  // a slow member that delivers after all ends the asking at once
  const table = new Promise<'have'>(resolve => { tableIn = () => { resolve('have') } })
  let next = 0
  while (next < order.length && !have) {
    const peer = order[next++]!
    let answered: () => void = () => {}
    const answering = new Promise<'answering'>(resolve => { answered = () => { resolve('answering') } })
    const attempt = d.sync(peer, () => { answered() })
    let timer: TimerHandle | undefined
    const hedge = new Promise<'slow'>(resolve => { timer = d.clock.setTimeout(() => { resolve('slow') }, hedgeMs) })
    const first = await Promise.race([attempt.then(ok => ok ? 'done' : 'failed'), answering, hedge, table])
    d.clock.clearTimeout(timer)
    if (first === 'have') break // this member's answer goes on in the background
    if (first === 'failed') continue
    if (first === 'slow') {
      // keep it: if it delivers after all, the table is whole
      slow.push(attempt.then(ok => { if (ok) { have = true; tableIn() } return ok }))
      continue
    }
    have = await attempt
  }
  if (!have) await Promise.race([table, Promise.all(slow)])
  await Promise.all(order.slice(next).map(async p => await d.sync(p, () => {})))
}
