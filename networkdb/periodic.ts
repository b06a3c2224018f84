/** Periodic tasks on the injected clock; a task that throws is reported and keeps its schedule. */
import type { Clock, TimerHandle } from './clock.js'

export class Periodic {
  private readonly timers = new Set<TimerHandle>()
  private stopped = false

  constructor (private readonly clock: Clock, private readonly onError: (err: unknown) => void) {}

  every (ms: number, fn: () => void): void {
    const arm = (): void => {
      const h = this.clock.setTimeout(() => {
        this.timers.delete(h)
        if (this.stopped) return
        try { fn() } catch (err) { this.onError(err) }
        arm()
      }, ms)
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
