/** Periodic tasks on the injected clock; a task that throws is reported and keeps its schedule. */
import type { Clock, TimerHandle } from '../core/index.js'

export class Periodic {
  private readonly timers = new Set<TimerHandle>()
  private stopped = false

  constructor (private readonly clock: Clock, private readonly onError: (err: unknown) => void) {}

  /**
   * Run `fn` every `ms`. With `jitter` (a random source), each period is drawn from
   * [0.75 ms, 1.25 ms): agents started together (a rollout, a power cut, a benchmark) would
   * otherwise run their syncs in lockstep, every node's burst at the same instant. (The stall the
   * 20-node bench showed once per run turned out to be libp2p's connection monitor, not this.)
   */
  every (ms: number, fn: () => void, jitter?: () => number): void {
    const period = (): number => jitter === undefined ? ms : Math.round(ms * (0.75 + 0.5 * jitter()))
    const arm = (): void => {
      const h = this.clock.setTimeout(() => {
        this.timers.delete(h)
        if (this.stopped) return
        try { fn() } catch (err) { this.onError(err) }
        arm()
      }, period())
      this.timers.add(h)
    }
    arm()
  }

  stopAll (): void {
    this.stopped = true
    for (const t of this.timers) this.clock.clearTimeout(t)
    this.timers.clear()
  }
}
