/**
 * SWIM-style failure detection: each period one member (round robin over a shuffled list) is
 * probed directly; on a miss, `indirectChecks` other members are asked to probe it; if nobody
 * reaches it, it becomes suspect. The suspicion timers and the gossip live in NetworkDB.
 */
import type { Clock, TimerHandle } from './clock.js'
import type { NetworkDBConfig } from './config.js'
import type { Logger } from './logger.js'
import type { Member } from './membership.js'
import type { Transport } from './transport.js'

export interface FailureDetectorDeps {
  transport: Transport
  clock: Clock
  config: NetworkDBConfig
  logger: Logger
  random: () => number
  /** Members that may be probed (alive or suspect, not self). */
  targets(): Member[]
  /** Members that may help with an indirect probe (alive, not self). */
  helpers(): Member[]
  /** Ask `helper` to probe `target`; true when the helper reached it. */
  indirectProbe(helper: string, target: string): Promise<boolean>
  /** Nobody reached `id`. */
  onUnreachable(id: string): void
}

export function shuffle<T> (items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = items[i]!
    items[i] = items[j]!
    items[j] = t
  }
  return items
}

export class FailureDetector {
  private queue: string[] = []
  private timer: TimerHandle | undefined
  private readonly inFlight = new Set<string>()
  private running = false

  constructor (private readonly d: FailureDetectorDeps) {}

  start (): void {
    this.running = true
    this.schedule()
  }

  stop (): void {
    this.running = false
    this.d.clock.clearTimeout(this.timer)
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = this.d.clock.setTimeout(() => {
      this.tick()
      this.schedule()
    }, this.d.config.probeIntervalMs)
  }

  private tick (): void {
    const live = new Set(this.d.targets().map(m => m.id))
    while (this.queue.length > 0 && !live.has(this.queue[0]!)) this.queue.shift()
    if (this.queue.length === 0) this.queue = shuffle([...live], this.d.random)
    const next = this.queue.shift()
    if (next !== undefined) this.probeNow(next)
  }

  /** Probe one member now (also used when its connection drops). Never runs twice at once. */
  probeNow (id: string): void {
    if (!this.running || this.inFlight.has(id)) return
    this.inFlight.add(id)
    this.probe(id)
      .catch((err: unknown) => { this.d.logger.warn({ err: String(err), node: id }, 'probe failed unexpectedly') })
      .finally(() => { this.inFlight.delete(id) })
  }

  private async probe (id: string): Promise<void> {
    const { transport, config } = this.d
    try {
      await transport.probe(id, config.probeTimeoutMs)
      return
    } catch {
      // direct probe missed: try through others before suspecting
    }
    if (!this.running) return
    const helpers = shuffle(this.d.helpers().filter(m => m.id !== id), this.d.random).slice(0, config.indirectChecks)
    if (helpers.length > 0) {
      const results = await Promise.all(helpers.map(h => this.d.indirectProbe(h.id, id).catch(() => false)))
      if (results.some(Boolean)) return
    }
    if (this.running && this.d.targets().some(m => m.id === id)) this.d.onUnreachable(id)
  }
}
