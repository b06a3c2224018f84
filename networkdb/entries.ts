/**
 * The table side of a node: its own writes (argument and ownership checks, a fresh Lamport time,
 * persistence, gossip) and the merging of entries received from peers (gossip, sync, push); both
 * advance the table Lamport clock.
 *
 * A node is the authority on the entries it owns. Peers that hear it left (the cluster or a
 * network) tombstone its entries at their own Lamport time, and such a tombstone beats the live
 * copy of its version (tables.ts `newer`). When that news is stale — the node came back and wrote
 * the entry after (re)joining the network — the node answers the tombstone by writing the entry
 * again at a fresh Lamport time, which beats the tombstone everywhere.
 */
import { MAX_KEY, MAX_NAME, MAX_VALUE, type WireEntry } from '../proto/index.js'
import type { Clock } from '../core/index.js'
import type { NetworkDBConfig } from './config.js'
import {
  EntryExistsError, EntryNotFoundError, InvalidArgumentError, NotInNetworkError, NotOwnerError
} from './errors.js'
import type { GossipQueue } from './gossip-queue.js'
import type { NetworkDBMetrics } from './nodemetrics.js'
import type { NodeStore, StoredEntry } from './store.js'
import type { NodeStatus, WriteOptions } from './types.js'
import { newer, type Tables } from './tables.js'
import { keyAllowed, mayReplace, MAX_LTIME_AHEAD, tooFarAhead } from './trust.js'
import { checkName } from './validate.js'

export interface EntriesDeps {
  tables: Tables
  store: NodeStore
  gossip: GossipQueue
  clock: Clock
  cfg: NetworkDBConfig
  metrics: NetworkDBMetrics
  /** This node's id (the transport's, known once started). */
  self: () => string
  /** Networks this node is in. */
  joined: ReadonlySet<string>
  /** Throws NotStartedError when the node is not running. */
  requireRunning: () => void
  /** An owner's status here (undefined: unknown). */
  status: (owner: string) => NodeStatus | undefined
  /** Whether this node is leaving the cluster (it announced `left`). */
  leaving: () => boolean
  /** Another owner's entry newer than ours was relayed to us (hints.ts). */
  hint: (nid: string, e: WireEntry) => void
  /** Count and log a rejected entry. */
  reject: (reason: string, detail: object) => void
}

export class Entries {
  /** The table Lamport clock: above every entry version this node wrote or received. */
  clock = 0
  /** Per network: the clock when this node (re)entered it; own entries above it were written since. */
  private readonly since = new Map<string, number>()

  constructor (private readonly d: EntriesDeps) {}

  /** Load what the store kept: the clock starts above every own version, even reaped ones. */
  loadClock (persisted: number, entries: readonly StoredEntry[]): void {
    this.clock = Math.max(persisted, ...entries.map(e => e.ltime))
  }

  /** Own entries from the store, at their own versions (networks must be entered first). */
  restore (entries: readonly StoredEntry[]): void {
    const now = this.d.clock.now()
    for (const e of entries) {
      if (!this.d.tables.hasNetwork(e.nid)) continue
      const reapAt = e.deleted ? Math.max(now, e.reapAt) : 0
      this.d.tables.merge(e.nid, e.table, e.key,
        { owner: this.d.self(), ltime: e.ltime, value: e.value, deleted: e.deleted, reapAt, hidden: false }, now, true)
    }
  }

  entered (nid: string): void { this.since.set(nid, this.clock) }

  left (nid: string): void { this.since.delete(nid) }

  async create (table: string, nid: string, key: string, value: Uint8Array): Promise<void> {
    this.checkWrite(table, nid, key, value)
    const cur = this.d.tables.get(table, nid, key)
    if (cur !== undefined && !cur.deleted && !cur.hidden) throw new EntryExistsError(table, nid, key)
    // a hidden entry (its owner failed) still binds its key to that owner (trust.ts)
    if (!mayReplace(cur, this.d.self(), table)) throw new NotOwnerError(table, nid, key, cur!.owner)
    if (!keyAllowed(table, key, this.d.self())) {
      throw new InvalidArgumentError(`${table}: a node writes only the key of its own id`)
    }
    await this.persistOwn(this.write(table, nid, key, value, false), nid)
  }

  async update (table: string, nid: string, key: string, value: Uint8Array, opts: WriteOptions): Promise<void> {
    this.checkWrite(table, nid, key, value)
    this.ownedLive(table, nid, key, opts.takeover === true)
    await this.persistOwn(this.write(table, nid, key, value, false), nid)
  }

  async delete (table: string, nid: string, key: string, opts: WriteOptions): Promise<void> {
    this.checkWrite(table, nid, key, new Uint8Array(0))
    const cur = this.ownedLive(table, nid, key, opts.takeover === true)
    await this.persistOwn(this.write(table, nid, key, cur.value, true), nid)
  }

  /** Tombstone (at fresh Lamport times) every live entry this node owns in `nid`. */
  deleteOwn (nid: string): void {
    for (const { nid: n, table, key, e } of this.d.tables.ownedBy(this.d.self())) {
      if (n === nid && !e.deleted) this.write(table, nid, key, e.value, true)
    }
  }

  private checkWrite (table: string, nid: string, key: string, value: Uint8Array): void {
    this.d.requireRunning()
    checkName('table name', table, MAX_NAME)
    checkName('network id', nid, MAX_NAME)
    checkName('key', key, MAX_KEY)
    if (!(value instanceof Uint8Array)) throw new InvalidArgumentError('value must be a Uint8Array')
    if (value.byteLength > MAX_VALUE) {
      throw new InvalidArgumentError(`value of ${value.byteLength} bytes exceeds ${MAX_VALUE}`)
    }
    if (!this.d.joined.has(nid)) throw new NotInNetworkError(nid)
  }

  private ownedLive (table: string, nid: string, key: string, takeover: boolean): { value: Uint8Array } {
    const cur = this.d.tables.get(table, nid, key)
    if (cur === undefined || cur.deleted || cur.hidden) throw new EntryNotFoundError(table, nid, key)
    if (cur.owner !== this.d.self() && !takeover) throw new NotOwnerError(table, nid, key, cur.owner)
    return cur
  }

  /** Apply a write of our own at a fresh Lamport time and queue it for gossip. */
  private write (table: string, nid: string, key: string, value: Uint8Array, deleted: boolean): WireEntry {
    const now = this.d.clock.now()
    const ltime = ++this.clock
    const ttl = this.d.cfg.tombstoneTtlMs
    this.d.tables.merge(nid, table, key, { owner: this.d.self(), ltime, value, deleted, reapAt: deleted ? now + ttl : 0,
      hidden: false }, now, true)
    const wire: WireEntry = { table, key, owner: this.d.self(), ltime, deleted, value, reapIn: deleted ? ttl : 0 }
    this.d.gossip.add(nid, wire)
    this.d.metrics.tableOps.inc({ op: deleted ? 'delete' : 'write' })
    return wire
  }

  private async persistOwn (e: WireEntry, nid: string): Promise<void> {
    await this.d.store.putEntry({
      nid, table: e.table, key: e.key, ltime: e.ltime, deleted: e.deleted, value: e.value,
      reapAt: e.deleted ? this.d.clock.now() + e.reapIn : 0
    })
  }

  /**
   * Merge entries received from `from` (gossip, sync or push; trust.ts). Only an entry `from`
   * owns is stored; another owner's is a hint (`hint`: ask that owner) or, when it is ours, news
   * for `reassert`. A version that would take a key from its owner, or whose Lamport time jumps
   * far ahead of ours, is rejected and counted.
   */
  mergeRemote (nid: string, from: string, entries: readonly WireEntry[]): void {
    if (!this.d.joined.has(nid)) return
    const now = this.d.clock.now()
    const self = this.d.self()
    for (const e of entries) {
      if (e.owner !== from) {
        if (e.owner === self) {
          if (e.deleted) this.reassert(nid, e)
          else this.disown(nid, e)
        } else {
          const cur = this.d.tables.get(e.table, nid, e.key)
          if (cur === undefined || newer(e, cur)) this.d.hint(nid, e)
        }
        continue
      }
      if (tooFarAhead(e.ltime, this.clock, now, MAX_LTIME_AHEAD)) {
        this.d.reject('clock-jump', { from, nid, ltime: e.ltime })
        continue
      }
      const cur = this.d.tables.get(e.table, nid, e.key)
      if (!mayReplace(cur, e.owner, e.table) || !keyAllowed(e.table, e.key, e.owner)) {
        this.d.reject('key-owner', { from, nid, table: e.table, key: e.key, owner: cur?.owner })
        continue
      }
      if (e.ltime > this.clock) this.clock = e.ltime
      if (e.owner === self) continue // from === self: a frame of ours came back
      const status = this.d.status(e.owner)
      // A live entry of a node that left is dead, like those it held when it left (tables.ts
      // tombstoneOwner); one of a failed node waits, hidden, for its owner. Tombstones never wait.
      const forged = !e.deleted && status === 'left'
      const deleted = e.deleted || forged
      const hidden = !deleted && status === 'failed'
      const ttl = this.d.cfg.tombstoneTtlMs
      const reapAt = deleted ? now + (forged ? ttl : Math.min(e.reapIn, ttl)) : 0
      const version = { owner: e.owner, ltime: e.ltime, value: e.value, deleted, reapAt, hidden }
      this.d.tables.merge(nid, e.table, e.key, version, now, true, forged ? 'owner-left' : 'deleted')
    }
  }

  /**
   * A live entry in our name newer than what we hold (we wrote it before a leave that forgot it,
   * or it is forged): we are its authority, so we state what we hold, at a fresh Lamport time that
   * beats every copy — our live value again, or a tombstone when we hold none. Never over a key
   * another owner holds here.
   */
  private disown (nid: string, e: WireEntry): void {
    const cur = this.d.tables.get(e.table, nid, e.key)
    if (this.d.leaving() || !this.since.has(nid)) return
    if (cur !== undefined && (cur.owner !== e.owner || !newer(e, cur))) return
    const keep = cur !== undefined && !cur.deleted
    void this.persistOwn(this.write(e.table, nid, e.key, keep ? cur.value : e.value, !keep), nid).catch(() => {})
  }

  /**
   * A tombstone of our own entry at the very version we hold live was made by a peer that heard we
   * left (we write our deletes at fresh times), or forged: only we delete our entries. Write the
   * entry again, newer than the tombstone, unless we are leaving (then it is the news we sent).
   * (Before every entry was taken from its owner only, versions from a previous run gave way to
   * such a tombstone; that let any keyed host delete them.)
   */
  private reassert (nid: string, e: WireEntry): boolean {
    const cur = this.d.tables.get(e.table, nid, e.key)
    if (this.d.leaving() || !this.since.has(nid)) return false
    if (cur === undefined || cur.deleted || cur.owner !== e.owner || cur.ltime !== e.ltime) return false
    void this.persistOwn(this.write(e.table, nid, e.key, cur.value, false), nid).catch(() => {})
    return true
  }
}
