/**
 * SWIM-style failure detection: each period one member (round robin over a shuffled list) is
 * probed directly; on a miss, `indirectChecks` other members are asked to probe it; if nobody
 * reaches it, it becomes suspect. The suspicion timers and the gossip live in NetworkDB.
 *
 * Local health (Lifeguard, as memberlist's "awareness"): a node that is itself slow — its event
 * loop late, its probes missing peers that others reach — would suspect healthy peers. It keeps a
 * score 0..7: +1 when its own timer fires late by more than a probe timeout, when a direct probe
 * misses a peer that an indirect probe reaches, and when nobody it asks even answers; -1 per
 * direct probe answered. Probe period, probe timeout and (through `scale`) the suspicion timeout
 * are multiplied by 1 + score. Measured on 20 nodes sharing 2 cores at 200 writes/s: without it a
 * burst of load set off hundreds of false suspicions, whose hidden-then-restored entries and
 * syncs made more load.
 */
import type { Clock, TimerHandle, Logger } from '../core/index.js'
import type { NetworkDBConfig } from './config.js'
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
  /** Ask `helper` to probe `target` within `timeoutMs`; true when the helper reached it. */
  indirectProbe(helper: string, target: string, timeoutMs: number): Promise<boolean>
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
  private health = 0
  static readonly MAX_HEALTH = 7

  constructor (private readonly d: FailureDetectorDeps) {}

  /** The local health score: 0 is healthy, MAX_HEALTH is as slow as it counts. */
  get healthScore (): number { return this.health }

  /** A timeout or period stretched by the local health (1x to 8x). */
  scale (ms: number): number { return ms * (1 + this.health) }

  private degrade (): void { this.health = Math.min(FailureDetector.MAX_HEALTH, this.health + 1) }
  private improve (): void { this.health = Math.max(0, this.health - 1) }

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
    const period = this.scale(this.d.config.probeIntervalMs)
    const due = this.d.clock.now() + period
    this.timer = this.d.clock.setTimeout(() => {
      if (this.d.clock.now() - due > this.d.config.probeTimeoutMs) this.degrade() // our own loop is late
      this.tick()
      this.schedule()
    }, period)
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
    const timeout = this.scale(config.probeTimeoutMs)
    try {
      await transport.probe(id, timeout)
      this.improve()
      return
    } catch {
      // direct probe missed: try through others before suspecting
    }
    if (!this.running) return
    const helpers = shuffle(this.d.helpers().filter(m => m.id !== id), this.d.random).slice(0, config.indirectChecks)
    if (helpers.length > 0) {
      const results = await Promise.all(helpers.map(async h =>
        await this.d.indirectProbe(h.id, id, timeout).catch(() => undefined)))
      if (results.some(r => r === true)) { this.degrade(); return } // others reach it: we may be the slow one
      if (results.every(r => r === undefined)) this.degrade() // nobody even answered us
    }
    if (this.running && this.d.targets().some(m => m.id === id)) this.d.onUnreachable(id)
  }
}
