/**
 * Reconciling soon after a peer comes back (moby#53663 and its kin).
 *
 * While a peer is away (declared failed, or left) its announcements are hidden and their kernel
 * entries removed; meanwhile the kernel may gain entries nobody programmed (learnt, or planted by
 * hand). When the peer returns, the announcements that come back are written with REPLACE by the
 * incremental flush, which repairs their keys — but an entry for an endpoint that went away during
 * the absence is never touched by any event again: only a full reconcile removes it. So the
 * trigger is the peer's return in membership (alive again after failed/left), which NetworkDB
 * reports whether or not any of its endpoints come back, not the table events of its endpoints.
 *
 * `ReturnDetector` recognises returns among NetworkDB's cluster events; `Coalescer` runs one
 * debounced task per key (network): a burst of requests within the delay runs the task once, a
 * request while it runs runs it once more afterwards, and never twice at the same time.
 */
import type { Clock, TimerHandle } from '../core/index.js'
import type { ClusterEvent } from '../networkdb/index.js'

export class ReturnDetector {
  /** Nodes seen failed or left, until they are alive again. */
  private readonly away = new Set<string>()

  constructor (private readonly self: string) {}

  /**
   * The id of the node this event says came back, else undefined. A node may pass through
   * "suspect" on its way back (a newer incarnation heard second-hand): what counts is that it was
   * failed or left and is now alive.
   */
  returned (ev: ClusterEvent): string | undefined {
    if (ev.type !== 'node' || ev.node.id === this.self) return undefined
    const { id, status } = ev.node
    if (status === 'failed' || status === 'left') {
      this.away.add(id)
      return undefined
    }
    if (status !== 'alive') return undefined
    if (!this.away.delete(id) && ev.prev !== 'failed' && ev.prev !== 'left') return undefined
    return id
  }
}

interface Slot { timer: TimerHandle | undefined, running: boolean, again: boolean }

export class Coalescer {
  private readonly slots = new Map<string, Slot>()

  constructor (
    private readonly clock: Clock,
    private readonly delayMs: number,
    private readonly task: (key: string) => Promise<void>
  ) {}

  /** Run the task for `key` after the delay, unless a run is already due. */
  request (key: string): void {
    let slot = this.slots.get(key)
    if (slot === undefined) {
      slot = { timer: undefined, running: false, again: false }
      this.slots.set(key, slot)
    }
    if (slot.timer !== undefined) return
    // Running: what it read may predate this request, so once more afterwards.
    if (slot.running) { slot.again = true; return }
    this.arm(key, slot)
  }

  private arm (key: string, slot: Slot): void {
    slot.timer = this.clock.setTimeout(() => {
      slot.timer = undefined
      slot.running = true
      void this.task(key).catch(() => {}).finally(() => {
        slot.running = false
        if (this.slots.get(key) !== slot) return
        if (slot.again) {
          slot.again = false
          this.arm(key, slot)
        } else {
          this.slots.delete(key)
        }
      })
    }, this.delayMs)
  }

  /** Whether a run of `key` is due or running. */
  pending (key: string): boolean { return this.slots.has(key) }

  /** Forget `key`: a due run is dropped; one running finishes but is not repeated. */
  cancel (key: string): void {
    const slot = this.slots.get(key)
    if (slot === undefined) return
    this.clock.clearTimeout(slot.timer)
    this.slots.delete(key)
  }

  /** Forget every key (a run in progress finishes and is not repeated). */
  cancelAll (): void {
    for (const key of [...this.slots.keys()]) this.cancel(key)
  }
}
