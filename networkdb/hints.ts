/**
 * Hints: another owner's entry in a bulk sync answer is never stored (trust.ts), but when it is
 * newer than our copy, its owner has something we lack. We ask the owner itself (an `own` sync),
 * not at once: the entry is usually still on its way by gossip (on a loaded cluster every periodic
 * sync sees writes in flight, and syncing with every owner they name at once fed the load). After
 * HINT_DELAY_MS, if any hinted version is still newer than ours, one sync with that owner.
 */
import type { WireEntry } from '../proto/index.js'
import type { Clock, TimerHandle } from '../core/index.js'
import type { Version } from './tables.js'

export const HINT_DELAY_MS = 1000
/** Versions remembered per (network, owner) until the check; more add nothing to the decision. */
const MAX_HINTED = 64

export interface HintDeps {
  clock: Clock
  /** Whether we may sync `nid` with `owner` (a live member of the network, not us). */
  eligible(nid: string, owner: string): boolean
  /** Whether the hinted version is still newer than our copy. */
  stillNewer(nid: string, table: string, key: string, v: Version): boolean
  sync(nid: string, owner: string): Promise<unknown>
}

interface Pending {
  nid: string
  owner: string
  versions: Array<Version & { table: string, key: string }>
  timer: TimerHandle
}

export class Hints {
  private readonly pending = new Map<string, Pending>()

  constructor (private readonly d: HintDeps) {}

  add (nid: string, e: WireEntry): void {
    const id = `${nid}\u0000${e.owner}`
    let p = this.pending.get(id)
    if (p === undefined) {
      if (!this.d.eligible(nid, e.owner)) return
      const timer = this.d.clock.setTimeout(() => { this.check(id) }, HINT_DELAY_MS)
      p = { nid, owner: e.owner, versions: [], timer }
      this.pending.set(id, p)
    }
    if (p.versions.length < MAX_HINTED) {
      p.versions.push({ table: e.table, key: e.key, ltime: e.ltime, owner: e.owner, deleted: e.deleted })
    }
  }

  private check (id: string): void {
    const p = this.pending.get(id)
    this.pending.delete(id)
    if (p === undefined || !this.d.eligible(p.nid, p.owner)) return
    if (p.versions.some(v => this.d.stillNewer(p.nid, v.table, v.key, v))) void this.d.sync(p.nid, p.owner)
  }

  cancel (): void {
    for (const p of this.pending.values()) this.d.clock.clearTimeout(p.timer)
    this.pending.clear()
  }
}
