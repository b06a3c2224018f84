/**
 * Local table writes wait here for a short window and leave as one gossip message per network
 * (chunked under the frame limit). A newer write of the same key replaces a queued one.
 */
import { chunkEntries, type WireEntry } from '../proto/index.js'
import type { Clock, TimerHandle } from '../core/index.js'

export class GossipQueue {
  private readonly pending = new Map<string, Map<string, WireEntry>>()
  private timer: TimerHandle | undefined

  constructor (
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly send: (nid: string, entries: WireEntry[]) => Promise<void>
  ) {}

  add (nid: string, e: WireEntry): void {
    let q = this.pending.get(nid)
    if (q === undefined) { q = new Map(); this.pending.set(nid, q) }
    q.set(`${e.table}\u0000${e.key}`, e)
    if (this.timer === undefined) {
      this.timer = this.clock.setTimeout(() => { this.timer = undefined; void this.flush() }, this.windowMs)
    }
  }

  /** Send everything queued now; the sends' promises (they never reject). */
  flush (): Array<Promise<void>> {
    this.cancel()
    const batches = [...this.pending]
    this.pending.clear()
    const sent: Array<Promise<void>> = []
    for (const [nid, q] of batches) for (const chunk of chunkEntries([...q.values()])) sent.push(this.send(nid, chunk))
    return sent
  }

  cancel (): void {
    this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }
}
