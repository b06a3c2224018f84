/**
 * Reaching the cluster: joining through seeds (retried until a timeout), and keeping in touch —
 * failed members are re-dialled every tick so a healed partition merges; members that left, every
 * 10th tick (a node restarted after a graceful stop comes back at the same address and may have no
 * seed to dial us: the cluster's founder); and a node that finds itself alone (e.g. restarted
 * inside a partition) keeps knocking on its seeds, as Docker does.
 */
import type { Clock, Logger } from '../core/index.js'
import type { NetworkDBConfig } from './config.js'
import { JoinError } from './errors.js'
import type { Membership } from './membership.js'
import type { Transport } from './transport.js'

export interface ReconnectDeps {
  transport: Transport
  clock: Clock
  cfg: NetworkDBConfig
  log: Logger
  mem: () => Membership
  running: () => boolean
  /** Exchange cluster state with a peer. */
  pushPull: (peer: string) => Promise<void>
  /** Announce ourselves alive (after a join). */
  announce: () => void
}

export class Reconnector {
  private readonly reconnecting = new Set<string>()
  /** Seeds of the last join: retried in the background while this node sees no live member. */
  private seeds: string[] = []
  private rejoining = false
  private ticks = 0

  constructor (private readonly d: ReconnectDeps) {}

  /** Join the cluster through any of the seeds; retries until one answers or the timeout. */
  async join (seeds: readonly string[], timeoutMs: number): Promise<void> {
    if (seeds.length === 0) return
    this.seeds = [...seeds]
    const deadline = this.d.clock.now() + timeoutMs
    for (;;) {
      const err = await this.joinThrough(seeds,
        Math.min(this.d.cfg.requestTimeoutMs, Math.max(1, deadline - this.d.clock.now())))
      if (err === undefined) return
      if (!this.d.running()) throw new JoinError('networkdb stopped while joining')
      if (this.d.clock.now() >= deadline) {
        throw new JoinError(`could not join cluster through ${seeds.join(', ')} (${err})`)
      }
      await new Promise<void>(resolve => { this.d.clock.setTimeout(resolve, this.d.cfg.joinRetryMs) })
    }
  }

  /** One tick of the reconnect timer. */
  tick (): void {
    const mem = this.d.mem()
    if (this.seeds.length > 0 && mem.others('alive', 'suspect').length === 0 && !this.rejoining) {
      this.rejoining = true
      void this.joinThrough(this.seeds, this.d.cfg.probeIntervalMs).finally(() => { this.rejoining = false })
    }
    this.ticks++
    const due = this.ticks % 10 === 0 ? mem.others('failed', 'left') : mem.others('failed')
    for (const m of due) {
      if (this.reconnecting.has(m.id)) continue
      this.reconnecting.add(m.id)
      this.d.transport.connect(m.id, m.addrs, this.d.cfg.probeIntervalMs)
        .then(async () => { await this.d.pushPull(m.id) })
        .catch(() => {})
        .finally(() => { this.reconnecting.delete(m.id) })
    }
  }

  /** One pass over the seeds: the first that answers gives us the cluster. Returns the last error. */
  private async joinThrough (seeds: readonly string[], dialTimeoutMs: number): Promise<string | undefined> {
    let lastErr = 'no seed answered'
    for (const seed of seeds) {
      try {
        const peer = await this.d.transport.dial(seed, dialTimeoutMs)
        if (peer === this.d.transport.localId) continue
        // Members the push-pull made alive are dialled by their alive change (member-events.ts):
        // a second connect of each cost a joiner a peer-store merge and a dial lookup per member.
        const known = new Set(this.d.mem().others('alive').map(m => m.id))
        await this.d.pushPull(peer)
        this.d.announce()
        for (const m of this.d.mem().others('alive')) {
          if (known.has(m.id)) this.d.transport.connect(m.id, m.addrs, this.d.cfg.requestTimeoutMs).catch(() => {})
        }
        this.d.log.info({ seed, peer }, 'joined cluster')
        return undefined
      } catch (err) {
        lastErr = `${seed}: ${(err as Error).message}`
      }
    }
    return lastErr
  }
}
