/**
 * A shared/exclusive lock, first come first served: a waiting exclusive hold is not overtaken by
 * later shared ones. The overlay driver holds one per network as its kernel lock: a sandbox's
 * devices (create, rebuild, remove) change under an exclusive hold; endpoint veths and FDB/neighbour
 * programming touch disjoint objects and share it, so concurrent attaches to one network do not
 * wait for each other's iproute2 processes. The agent's controller holds one for cluster-wide
 * operations (exclusive) against per-network ones (shared).
 */
interface Waiter { exclusive: boolean, start: () => void }

export class SharedLock {
  private shared = 0
  private exclusive = false
  private readonly waiting: Waiter[] = []

  /** Run `fn` alongside other shared holders (never alongside an exclusive one). */
  runShared<T> (fn: () => Promise<T>): Promise<T> { return this.run(false, fn) }

  /** Run `fn` alone. */
  runExclusive<T> (fn: () => Promise<T>): Promise<T> { return this.run(true, fn) }

  private async run<T> (exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await this.acquire(exclusive)
    try {
      return await fn()
    } finally {
      if (exclusive) this.exclusive = false
      else this.shared--
      this.pump()
    }
  }

  private acquire (exclusive: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.free(exclusive)) {
      this.take(exclusive)
      return Promise.resolve()
    }
    return new Promise(resolve => { this.waiting.push({ exclusive, start: resolve }) })
  }

  private free (exclusive: boolean): boolean {
    return exclusive ? !this.exclusive && this.shared === 0 : !this.exclusive
  }

  private take (exclusive: boolean): void {
    if (exclusive) this.exclusive = true
    else this.shared++
  }

  private pump (): void {
    while (this.waiting.length > 0 && this.free(this.waiting[0]!.exclusive)) {
      const w = this.waiting.shift()!
      this.take(w.exclusive)
      w.start()
    }
  }
}
