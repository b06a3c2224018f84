/**
 * When a network's FDB and neighbour entries reach the kernel: PeerDB changes are coalesced into
 * one dataplane batch per network (a flush after `batchDelayMs`); after a kernel failure the
 * next sync is a full reconciliation, retried with a doubling delay up to 30 s. Every flush and
 * reconciliation holds the network's kernel lock shared (endpoint veths go on meanwhile) and runs
 * on the network's programming queue (one at a time). Split out of the overlay driver, which
 * keeps the sandbox and endpoint lifecycle.
 */
import type { Clock, Logger, Counter } from '../core/index.js'
import type { Net } from './network-state.js'
import type { ReconcileReport, SandboxProgrammer } from './reconciler.js'

const MAX_RETRY_MS = 30_000

/** What started a full reconciliation (a metric label). */
export type ReconcileTrigger = 'periodic' | 'peer-return' | 'retry' | 'sandbox' | 'request'

export interface KernelMetrics { batches: Counter, ops: Counter, repairs: Counter, reconciles: Counter,
  errors: Counter }

export interface KernelSchedulerOptions {
  clock: Clock
  logger: Logger
  metrics: KernelMetrics
  /** Coalescing window of event bursts before one kernel batch (0: the next timer turn). */
  batchDelayMs: number
  /** First retry delay after a kernel failure, doubling up to 30 s. */
  retryMs: number
}

export class KernelScheduler {
  private readonly clock: Clock
  private readonly log: Logger
  private readonly m: KernelMetrics

  constructor (private readonly o: KernelSchedulerOptions) {
    this.clock = o.clock
    this.log = o.logger
    this.m = o.metrics
  }

  /** The PeerDB of `n` changed: program it after the coalescing window (unless already due). */
  schedule (n: Net): void {
    // Without a sandbox the PeerDB just accumulates; creating the sandbox programs everything.
    if (n.programmer === undefined || n.flushTimer !== undefined || n.retryTimer !== undefined) return
    n.flushTimer = this.clock.setTimeout(() => {
      n.flushTimer = undefined
      void this.sync(n)
    }, this.o.batchDelayMs)
  }

  /** Program pending changes of `n` now (skipping the window) and wait until done. */
  async flushNow (n: Net): Promise<void> {
    this.clock.clearTimeout(n.flushTimer)
    n.flushTimer = undefined
    await this.sync(n)
  }

  /** Bring the kernel up to date: incremental flush, or full reconcile after a failure. */
  sync (n: Net, full = false): Promise<void> {
    return n.lock.runShared(() => n.programming.run(async () => {
      const p = n.programmer
      if (p === undefined) return
      try {
        if (full || n.needsReconcile) {
          await this.reconcileLocked(n, p, 'retry')
        } else {
          const ops = await p.flush()
          if (ops > 0) { this.m.batches.inc({ path: 'flush' }); this.m.ops.inc({ path: 'flush' }, ops) }
        }
        n.retryDelay = 0
        n.lastError = undefined
      } catch (e) {
        this.failed(n, e, 'apply')
      }
    }))
  }

  /**
   * Full reconciliation of `n`'s sandbox: the caller holds the kernel lock (shared or exclusive);
   * it runs on the programming queue. Throws on a kernel failure (the caller calls `failed`).
   */
  async reconcile (n: Net, p: SandboxProgrammer, trigger: ReconcileTrigger, empty = false): Promise<void> {
    await n.programming.run(() => this.reconcileLocked(n, p, trigger, empty))
  }

  /** `empty`: the tables are known empty (a vxlan device made just now): nothing to read. */
  private async reconcileLocked (
    n: Net, p: SandboxProgrammer, trigger: ReconcileTrigger, empty = false
  ): Promise<void> {
    n.needsReconcile = true
    let r: ReconcileReport
    try {
      r = await p.reconcile(() => this.clock.now(), empty)
    } catch (e) {
      this.m.reconciles.inc({ trigger, result: 'failed' })
      throw e
    }
    n.needsReconcile = false
    n.lastReconcile = r
    const repaired = r.missing + r.wrong + r.learned + r.stale
    this.m.reconciles.inc({ trigger, result: repaired > 0 ? 'repaired' : 'clean' })
    if (repaired > 0) {
      this.m.batches.inc({ path: 'reconcile' })
      this.m.ops.inc({ path: 'reconcile' }, repaired)
      for (const kind of ['missing', 'wrong', 'learned', 'stale'] as const) {
        if (r[kind] > 0) this.m.repairs.inc({ kind }, r[kind])
      }
      this.log.info({ nid: n.nid, trigger, missing: r.missing, wrong: r.wrong, learned: r.learned, stale: r.stale },
        'reconciled sandbox')
    }
  }

  /** A kernel operation of `n` failed: its state is unknown, so reconcile fully after a backoff. */
  failed (n: Net, e: unknown, op: string): void {
    this.m.errors.inc({ op })
    n.lastError = (e as Error).message
    n.needsReconcile = true
    n.retryDelay = Math.min(MAX_RETRY_MS, n.retryDelay === 0 ? this.o.retryMs : n.retryDelay * 2)
    this.log.warn({ nid: n.nid, op, err: n.lastError, retryMs: n.retryDelay },
      'kernel programming failed; will reconcile')
    this.clock.clearTimeout(n.retryTimer)
    n.retryTimer = this.clock.setTimeout(() => {
      n.retryTimer = undefined
      void this.sync(n, true)
    }, n.retryDelay)
  }

  /** Forget `n`'s pending flush and retry. */
  cancel (n: Net): void {
    this.clock.clearTimeout(n.flushTimer)
    this.clock.clearTimeout(n.retryTimer)
    n.flushTimer = n.retryTimer = undefined
  }
}
