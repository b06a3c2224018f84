/**
 * Local table writes wait here for a short window and leave as one gossip message per network
 * (chunked under the frame limit). A newer write of the same key replaces a queued one.
 */
import { chunkEntries, type WireEntry } from '../proto/index.js'
import type { Clock, TimerHandle } from './clock.js'

export class GossipQueue {
  private readonly pending = new Map<string, Map<string, WireEntry>>()
  private timer: TimerHandle | undefined

  constructor (
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly send: (nid: string, entries: WireEntry[]) => void
  ) {}

  add (nid: string, e: WireEntry): void {
    let q = this.pending.get(nid)
    if (q === undefined) { q = new Map(); this.pending.set(nid, q) }
    q.set(`${e.table}\u0000${e.key}`, e)
    if (this.timer === undefined) this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.flush() }, this.windowMs)
  }

  flush (): void {
    this.cancel()
    const batches = [...this.pending]
    this.pending.clear()
    for (const [nid, q] of batches) for (const chunk of chunkEntries([...q.values()])) this.send(nid, chunk)
  }

  cancel (): void {
    this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }
}
