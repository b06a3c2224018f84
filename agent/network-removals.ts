/**
 * Network removal as a replicated fact: `network rm` writes a removal record (table
 * `network_removal_table` in `ovnet-global`, key = network id) before it deletes the definition.
 *
 * Why a record of its own: a definition is re-announced by a live node when its writer fails or
 * leaves (adoption, controller.ts). In a partition, one side may remove a network while the other
 * side, seeing the writer fail, re-announces it; the re-announcement is a newer write (a fresh
 * Lamport time) than the delete, so after the heal last-writer-wins would bring the network back.
 * A removal record does not compete with the definition for one key: it is a separate fact that
 * only ever says "removed", and network ids are never reused, so "removed" is final. Every host
 * that holds a removal record treats the network as gone, whatever `network_table` says, and
 * deletes a live definition of it (a takeover delete) wherever one shows up; removal records are
 * themselves adopted like definitions when their writer fails or leaves, and reaped by their
 * writer `retentionMs` after the removal (after which a definition adopted by a host cut off for
 * longer than that could come back: the bound of the scheme).
 */
import {
  decodeRemovalRecord as decodeRemoval, encodeRemovalRecord as encodeRemoval, NETWORK_TABLE, REMOVAL_TABLE,
  type NetworkRecord, type RemovalRecord
} from '../proto/index.js'
import { EntryNotFoundError, type NetworkDB, type TableEvent, type Unsubscribe } from '../networkdb/index.js'
import { type Clock, type Logger, type TimerHandle } from '../core/index.js'
import { OVERLAY_GLOBAL_NETWORK as GLOBAL } from '../overlay/index.js'

export { REMOVAL_TABLE, type RemovalRecord }

export interface RemovalsOptions {
  db: NetworkDB
  clock: Clock
  logger: Logger
  /** How long a removal record is kept (default 24 h). */
  retentionMs?: number
  /** A removal record is known here (the network is gone, whatever else says): drop it locally. */
  onRemoved(r: RemovalRecord): void
  /** Whether this node re-announces what failed or departed writers left (the adoption rule). */
  adopter(): boolean
}

export class NetworkRemovals {
  /** Removal records this host knows, visible or with their writer gone. */
  private readonly known = new Map<string, RemovalRecord>()
  private readonly db: NetworkDB
  private readonly clock: Clock
  private readonly log: Logger
  private readonly retentionMs: number
  private timer: TimerHandle | undefined

  constructor (private readonly o: RemovalsOptions) {
    this.db = o.db
    this.clock = o.clock
    this.log = o.logger
    this.retentionMs = o.retentionMs ?? 24 * 3600_000
  }

  /** Follow the removal table (existing records first) and reap periodically. Before watching definitions. */
  start (): Unsubscribe {
    const un = this.db.watch(REMOVAL_TABLE, GLOBAL, ev => { this.onEvent(ev) })
    this.arm()
    return () => { un(); this.clock.clearTimeout(this.timer); this.timer = undefined }
  }

  has (nid: string): boolean { return this.known.has(nid) }

  /**
   * Subnets of networks removed within the retention. A new network does not get one of them: a
   * host cut off from the removal may still use the removed network (found by the chaos kit: a
   * subnet removed and re-issued on one side of a partition overlapped the other side's view).
   */
  subnets (): string[] {
    return [...this.known.values()].flatMap(r => r.subnet === undefined ? [] : [r.subnet])
  }

  /** Remove a network: the removal record first (it is what wins), then the definition. */
  async remove (rec: NetworkRecord): Promise<void> {
    const value = encodeRemoval({ nid: rec.id, name: rec.name, removedAt: this.clock.now(), subnet: rec.subnet })
    const cur = this.db.getEntry(REMOVAL_TABLE, GLOBAL, rec.id)
    if (cur === undefined) await this.db.createEntry(REMOVAL_TABLE, GLOBAL, rec.id, value)
    else await this.db.updateEntry(REMOVAL_TABLE, GLOBAL, rec.id, value, { takeover: true })
    await this.purge(rec.id)
  }

  /** Delete a live definition of a removed network (an adoption that raced the removal). */
  async purge (nid: string): Promise<void> {
    if (this.db.getEntry(NETWORK_TABLE, GLOBAL, nid) === undefined) return
    try {
      await this.db.deleteEntry(NETWORK_TABLE, GLOBAL, nid, { takeover: true })
    } catch (err) {
      if (!(err instanceof EntryNotFoundError)) throw err
    }
  }

  /** Re-announce removal records whose writer failed or left (called on the adopter). */
  adoptAll (): void {
    for (const nid of this.known.keys()) this.adopt(nid)
  }

  private adopt (nid: string): void {
    const r = this.known.get(nid)
    if (r === undefined || this.db.getEntry(REMOVAL_TABLE, GLOBAL, nid) !== undefined) return
    this.db.createEntry(REMOVAL_TABLE, GLOBAL, nid, encodeRemoval(r))
      .then(() => { this.log.info({ network: r.name, nid }, 'adopted network removal') })
      .catch((err: unknown) => { this.log.debug({ err: String(err), nid }, 'removal adoption not needed') })
  }

  private onEvent (ev: TableEvent): void {
    if (ev.kind !== 'delete') {
      let r: RemovalRecord
      try {
        r = decodeRemoval(ev.value!)
      } catch (err) {
        this.log.warn({ key: ev.key, err: String(err) }, 'undecodable network removal record')
        return
      }
      const isNew = !this.known.has(r.nid)
      this.known.set(r.nid, r)
      if (isNew) this.o.onRemoved(r)
      this.purgeLater(r.nid)
      return
    }
    // Its writer failed or left: the removal stands; re-announce it if that falls to us.
    if (ev.reason === 'owner-failed' || ev.reason === 'owner-left') {
      if (this.o.adopter()) this.adopt(ev.key)
      return
    }
    this.known.delete(ev.key) // reaped
  }

  private purgeLater (nid: string): void {
    this.purge(nid).catch((err: unknown) => {
      this.log.warn({ err: String(err), nid }, 'deleting the definition of a removed network failed')
    })
  }

  private arm (): void {
    this.timer = this.clock.setTimeout(() => {
      this.sweep()
      this.arm()
    }, Math.min(60_000, Math.max(1000, this.retentionMs / 4)))
  }

  /** Reap our removal records past retention; delete any definition still live for a removed network. */
  sweep (): void {
    const now = this.clock.now()
    for (const [nid, r] of this.known) {
      const e = this.db.getEntry(REMOVAL_TABLE, GLOBAL, nid)
      if (e?.owner === this.db.nodeId && now - r.removedAt >= this.retentionMs) {
        this.db.deleteEntry(REMOVAL_TABLE, GLOBAL, nid).catch((err: unknown) => {
          this.log.debug({ err: String(err), nid }, 'reaping a removal record failed')
        })
        continue
      }
      this.purgeLater(nid)
    }
  }
}
