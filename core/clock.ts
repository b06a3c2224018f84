/**
 * Clock port. Cluster logic never reads wall time or calls the global timers directly, so the same
 * code runs on the system clock and on a FakeClock that tests advance by hand (no sleeps).
 */
export type TimerHandle = { readonly id: number }

export interface Clock {
  /** Milliseconds; monotonic for SystemClock, virtual for FakeClock. */
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(handle: TimerHandle | undefined): void
}

/** Real time. `now()` is wall-clock ms (Date.now) so values survive restarts (incarnations). */
export class SystemClock implements Clock {
  private readonly timers = new Map<number, NodeJS.Timeout>()
  private next = 1

  now (): number { return Date.now() }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    const id = this.next++
    const t = setTimeout(() => { this.timers.delete(id); fn() }, Math.max(0, ms))
    t.unref?.()
    this.timers.set(id, t)
    return { id }
  }

  clearTimeout (handle: TimerHandle | undefined): void {
    if (handle === undefined) return
    const t = this.timers.get(handle.id)
    if (t !== undefined) { clearTimeout(t); this.timers.delete(handle.id) }
  }
}

interface FakeTimer { id: number, at: number, seq: number, fn: () => void }

/** Flush pending promise jobs and I/O callbacks queued by them (one macrotask turn). */
export async function flushMicrotasks (rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>(resolve => setImmediate(resolve))
}

/**
 * Virtual time. Timers fire only inside `advance()`, in (time, creation) order; async work
 * started by a timer runs to its next await before the following timer fires.
 */
export class FakeClock implements Clock {
  private t: number
  private seq = 0
  private nextId = 1
  private readonly timers = new Map<number, FakeTimer>()

  constructor (start = 1_000_000) { this.t = start }

  now (): number { return this.t }

  setTimeout (fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), seq: this.seq++, fn })
    return { id }
  }

  clearTimeout (handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.timers.delete(handle.id)
  }

  pending (): number { return this.timers.size }

  private nextDue (limit: number): FakeTimer | undefined {
    let best: FakeTimer | undefined
    for (const tm of this.timers.values()) {
      if (tm.at > limit) continue
      if (best === undefined || tm.at < best.at || (tm.at === best.at && tm.seq < best.seq)) best = tm
    }
    return best
  }

  /** Advance virtual time by `ms`, firing due timers and letting their async work settle. */
  async advance (ms: number): Promise<void> {
    const target = this.t + ms
    await flushMicrotasks()
    for (;;) {
      const tm = this.nextDue(target)
      if (tm === undefined) break
      this.timers.delete(tm.id)
      this.t = Math.max(this.t, tm.at)
      tm.fn()
      await flushMicrotasks()
    }
    this.t = target
    await flushMicrotasks()
  }
}
