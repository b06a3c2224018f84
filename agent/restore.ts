/**
 * Crash restore of the controller: after a restart, rebuild the plumbing of every endpoint this
 * host had (agent-state.json), then let the driver drop orphans. An endpoint whose network this
 * host has not heard of yet waits for it (up to `graceMs`): a node restarting without seeds (the
 * founder) learns the cluster's networks only once a peer rejoins it, and detaching at once would
 * cut its containers off. Split out of controller.ts, which calls in at start, when a network
 * definition arrives, on detach and on stop; all work runs in the controller's serial turn.
 */
import type { Clock, Logger, TimerHandle } from '../core/index.js'
import type { NetworkRecord } from '../proto/index.js'
import { ErrNoSuchNetwork } from './errors.js'
import type { LocalEndpoint } from './local-state.js'

export interface RestoreHost {
  clock: Clock
  logger: Logger
  /** How long endpoints wait for their network's definition. */
  graceMs: number
  /** Every endpoint this host had (the local state). */
  endpoints: () => Iterable<LocalEndpoint>
  network: (nid: string) => NetworkRecord | undefined
  /** The network's local set-up and the endpoint's plumbing (idempotent). */
  rebuild: (ep: LocalEndpoint, rec: NetworkRecord) => Promise<void>
  detach: (ep: LocalEndpoint) => Promise<void>
  save: () => Promise<void>
  /** Egress to the current view (errors logged, not thrown). */
  syncEgress: () => Promise<void>
  /** The driver may now drop what no endpoint claimed. */
  complete: () => Promise<void>
  /** Run in the controller's cluster-wide turn. */
  serial: (fn: () => Promise<void>) => Promise<void>
}

export class EndpointRestore {
  /** Endpoints of the previous run whose network is not known yet. */
  private readonly pending = new Map<string, LocalEndpoint>()
  private timer: TimerHandle | undefined

  constructor (private readonly h: RestoreHost) {}

  /** Endpoints still wait for their network's definition (egress is left as the killed run left it). */
  get waiting (): boolean { return this.pending.size > 0 }

  isPending (eid: string): boolean { return this.pending.has(eid) }

  /** An endpoint of network `nid` waits for its definition. */
  waitsFor (nid: string): boolean { return [...this.pending.values()].some(e => e.nid === nid) }

  /** The endpoint is going away (detached): it no longer waits. */
  forget (eid: string): void { this.pending.delete(eid) }

  stop (): void {
    this.h.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  /** At start: restore what can be, wait for the definitions of the rest. */
  async start (): Promise<void> {
    // All pending first: a definition arriving meanwhile schedules its endpoints (resume).
    for (const ep of this.h.endpoints()) this.pending.set(ep.eid, ep)
    for (const ep of [...this.pending.values()]) {
      if (this.h.network(ep.nid) !== undefined) await this.restoreEndpoint(ep)
    }
    await this.h.save()
    // Adopts what a killed run left: the rules are rewritten to exactly this view.
    await this.h.syncEgress()
    if (this.pending.size === 0) {
      await this.h.complete()
      return
    }
    this.h.logger.info(
      { endpoints: this.pending.size }, 'waiting for the definitions of networks to restore endpoints of'
    )
    this.timer = this.h.clock.setTimeout(() => {
      void this.h.serial(async () => { await this.finish() })
    }, this.h.graceMs)
  }

  private async restoreEndpoint (ep: LocalEndpoint): Promise<void> {
    this.pending.delete(ep.eid)
    const rec = this.h.network(ep.nid)
    try {
      if (rec === undefined) throw new ErrNoSuchNetwork(ep.nid)
      await this.h.rebuild(ep, rec)
      this.h.logger.info({ eid: ep.eid, network: rec.name }, 'endpoint restored')
    } catch (err) {
      this.h.logger.warn({ eid: ep.eid, err: String(err) }, 'endpoint could not be restored: detaching it')
      await this.h.detach(ep).catch(() => {})
    }
  }

  /** A network definition arrived: restore the endpoints that waited for it. */
  async resume (nid: string): Promise<void> {
    for (const ep of [...this.pending.values()].filter(e => e.nid === nid)) await this.restoreEndpoint(ep)
    await this.h.save()
    await this.h.syncEgress()
    if (this.pending.size === 0 && this.timer !== undefined) await this.finish()
  }

  /** The grace is over (or nothing waits any more): what still waits belonged to removed networks. */
  private async finish (): Promise<void> {
    this.stop()
    for (const ep of [...this.pending.values()]) await this.restoreEndpoint(ep)
    await this.h.save()
    await this.h.syncEgress()
    await this.h.complete()
  }
}
