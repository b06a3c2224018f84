/**
 * The replicated tables of one node: entries indexed by network, table and key; the merge rule;
 * tombstones; hiding the entries of failed owners; watchers; digests for anti-entropy.
 *
 * Pure state: no I/O and no timers. NetworkDB feeds it local writes and remote entries and asks it
 * what to send; every visible change is reported to the watchers synchronously, in order.
 *
 * Per network, the anti-entropy digest (XOR of version hashes in MAX_BUCKETS buckets, which folds to
 * any smaller power of two), the sync count and the per-table counts are kept up to date at every
 * change (`account`), so a digest exchange, the metrics and the reaper of a network without
 * tombstones cost nothing per entry: at 100,000 entries, walking them every few seconds stalled
 * the node for tens of ms each time.
 */
import { MAX_BUCKETS, type WireEntry } from '../proto/index.js'
import { hex32, versionHash } from './hash.js'
import type { DeleteReason, EntryView, TableEvent, TableStats, Unsubscribe } from './types.js'

export interface Entry {
  owner: string
  ltime: number
  value: Uint8Array
  deleted: boolean
  /** For tombstones: clock ms after which the tombstone is forgotten. */
  reapAt: number
  /** A live entry whose owner is failed: kept (to restore when it returns) but invisible. */
  hidden: boolean
  /** Clock ms when hidden; hidden entries are forgotten after the retention. */
  hiddenAt: number
  kh: number
  h1: number
  h2: number
}

type Watcher = { table: string, nid: string | undefined, handler: (ev: TableEvent) => void }

/** One network's entries and the running sums `account` keeps of them. */
interface Net {
  tables: Map<string, Map<string, Entry>>
  /** Two words per bucket (MAX_BUCKETS buckets): XOR of the version hashes of non-hidden entries. */
  hashes: Uint32Array
  /** XOR of the version hashes of visible entries (`digest`). */
  liveA: number
  liveB: number
  /** Per table: visible entries, tombstones, hidden entries. */
  counts: Map<string, TableStats>
}

const BUCKET_MASK = MAX_BUCKETS - 1

/** What identifies one version of an entry (and what its digest hashes). */
export interface Version { ltime: number, owner: string, deleted: boolean }

/**
 * The order of versions: higher Lamport time wins; a tie goes to the greater owner id; at equal
 * (ltime, owner) the tombstone wins. The last rule matters for tombstones that peers make of a
 * leaver's entries at the entries' own Lamport time ('owner-left', 'network-left'): a live copy of
 * that version held by a node that missed the leave loses to it everywhere, in either order, so
 * every node ends with the same version (and the same digest). An owner never writes a live and a
 * deleted version at one Lamport time itself: its deletes take a fresh one.
 */
export function newer (a: Version, b: Version): boolean {
  if (a.ltime !== b.ltime) return a.ltime > b.ltime
  if (a.owner !== b.owner) return a.owner > b.owner
  return a.deleted && !b.deleted
}

function sameVersion (a: Version, b: Version): boolean {
  return a.ltime === b.ltime && a.owner === b.owner && a.deleted === b.deleted
}

function visible (e: Entry | undefined): e is Entry {
  return e !== undefined && !e.deleted && !e.hidden
}

export type MergeResult = 'applied' | 'restored' | 'stale' | 'duplicate'

export class Tables {
  /** nid -> network (table -> key -> entry, and running sums) */
  private readonly nets = new Map<string, Net>()
  private readonly watchers = new Set<Watcher>()

  /** `onWatcherError` hears of a watcher that threw; the store and the other watchers go on. */
  constructor (private readonly onWatcherError: (err: unknown, table: string) => void = () => {}) {}

  networks (): string[] { return [...this.nets.keys()] }

  hasNetwork (nid: string): boolean { return this.nets.has(nid) }

  addNetwork (nid: string): void {
    if (!this.nets.has(nid)) {
      this.nets.set(nid, { tables: new Map(), hashes: new Uint32Array(2 * MAX_BUCKETS), liveA: 0, liveB: 0,
        counts: new Map() })
    }
  }

  /** Add (sign 1) or remove (sign -1) an entry's part in its network's sums. */
  private account (net: Net, table: string, e: Entry, sign: 1 | -1): void {
    let c = net.counts.get(table)
    if (c === undefined) { c = { table, entries: 0, tombstones: 0, hidden: 0 }; net.counts.set(table, c) }
    if (e.hidden) {
      c.hidden += sign
      return
    }
    const b = (e.kh & BUCKET_MASK) * 2
    net.hashes[b] = net.hashes[b]! ^ e.h1
    net.hashes[b + 1] = net.hashes[b + 1]! ^ e.h2
    if (e.deleted) {
      c.tombstones += sign
    } else {
      c.entries += sign
      net.liveA = (net.liveA ^ e.h1) >>> 0
      net.liveB = (net.liveB ^ e.h2) >>> 0
    }
  }

  /** Sum of one count over a network's tables (a handful). */
  private total (net: Net, f: (c: TableStats) => number): number {
    let n = 0
    for (const c of net.counts.values()) n += f(c)
    return n
  }

  /** Forget a network's entries (this node left it); watchers see deletes of visible entries. */
  dropNetwork (nid: string): void {
    const net = this.nets.get(nid)
    if (net === undefined) return
    this.nets.delete(nid)
    for (const [table, entries] of net.tables) {
      for (const [key, e] of entries) if (visible(e)) this.emit(table, nid, key, 'delete', e.owner, e.value, undefined,
        'network-left')
    }
  }

  get (table: string, nid: string, key: string): Entry | undefined {
    return this.nets.get(nid)?.tables.get(table)?.get(key)
  }

  view (table: string, nid: string, key: string): EntryView | undefined {
    const e = this.get(table, nid, key)
    return visible(e) ? { table, nid, key, owner: e.owner, ltime: e.ltime, value: e.value } : undefined
  }

  walk (table: string, nid?: string): EntryView[] {
    const out: EntryView[] = []
    const nids = nid === undefined ? [...this.nets.keys()] : [nid]
    for (const n of nids) {
      const entries = this.nets.get(n)?.tables.get(table)
      if (entries === undefined) continue
      for (const [key, e] of entries) if (visible(e)) out.push({ table, nid: n, key, owner: e.owner, ltime: e.ltime,
        value: e.value })
    }
    return out
  }

  /**
   * Apply an entry version (local write or remote). Returns what happened. `fromOwner` says the
   * sender is the entry's owner itself, which is what may restore a hidden copy. `reason` is what
   * watchers are told when a tombstone deletes an entry they know of.
   */
  merge (
    nid: string,
    table: string,
    key: string,
    incoming: Omit<Entry, 'kh' | 'h1' | 'h2' | 'hiddenAt'>,
    now: number,
    fromOwner: boolean,
    reason: DeleteReason = 'deleted'
  ): MergeResult {
    const net = this.nets.get(nid)
    if (net === undefined) return 'stale'
    let entries = net.tables.get(table)
    if (entries === undefined) { entries = new Map(); net.tables.set(table, entries) }
    const cur = entries.get(key)
    if (cur !== undefined && !newer(incoming, cur)) {
      if (sameVersion(cur, incoming)) {
        if (cur.hidden && fromOwner && !incoming.hidden) {
          this.account(net, table, cur, -1)
          cur.hidden = false
          this.account(net, table, cur, 1)
          if (!cur.deleted) this.emit(table, nid, key, 'create', cur.owner, undefined, cur.value)
          return 'restored'
        }
        return 'duplicate'
      }
      return 'stale'
    }
    const { kh, h1, h2 } = versionHash(table, key, incoming.owner, incoming.ltime, incoming.deleted)
    const next: Entry = {
      owner: incoming.owner,
      ltime: incoming.ltime,
      value: incoming.value,
      deleted: incoming.deleted,
      reapAt: incoming.reapAt,
      hidden: incoming.hidden,
      hiddenAt: incoming.hidden ? now : 0,
      kh,
      h1,
      h2
    }
    if (cur !== undefined) this.account(net, table, cur, -1)
    entries.set(key, next)
    this.account(net, table, next, 1)
    const hiddenLive = cur !== undefined && cur.hidden && !cur.deleted ? cur : undefined
    const tombstone = next.deleted
    // A tombstone of the very version we hold live was made by a peer that heard its owner left
    // (the owner deletes at a fresh Lamport time). Say so: owners of cluster-wide objects hand
    // them over on 'owner-left', while 'deleted' means the object is gone.
    const why = tombstone && cur !== undefined && !cur.deleted && cur.ltime === next.ltime && cur.owner === next.owner
      ? 'owner-left'
      : reason
    const was = visible(cur)
    const is = visible(next)
    if (was && is) this.emit(table, nid, key, 'update', next.owner, cur.value, next.value)
    // A tombstone is a deletion even when its writer is failed here: only a live copy is hidden.
    else if (was) this.emit(table, nid, key, 'delete', cur.owner, cur.value, undefined,
      next.hidden && !tombstone ? 'owner-failed' : why)
    else if (is) this.emit(table, nid, key, 'create', next.owner, undefined, next.value)
    // Watchers were told a hidden entry might come back ('owner-failed'); a tombstone replacing
    // it says it will not. Without this they keep it forever (the chaos kit found a network
    // deleted during a partition still listed by the partitioned node).
    else if (hiddenLive !== undefined && tombstone) this.emit(table, nid, key, 'delete', hiddenLive.owner,
      hiddenLive.value, undefined, why)
    return 'applied'
  }

  /**
   * Hide (failed owner) or show again every live entry of `owner`; returns how many changed.
   * Tombstones are never hidden: a deletion is the newest word whoever relays it, and it must keep
   * taking part in sync so that every node (the returning owner included) ends with it.
   */
  setOwnerHidden (owner: string, hidden: boolean, now: number): number {
    let n = 0
    for (const [nid, net] of this.nets) {
      for (const [table, entries] of net.tables) {
        for (const [key, e] of entries) {
          if (e.owner !== owner || e.deleted || e.hidden === hidden) continue
          this.account(net, table, e, -1)
          e.hidden = hidden
          e.hiddenAt = hidden ? now : 0
          this.account(net, table, e, 1)
          n++
          if (hidden) this.emit(table, nid, key, 'delete', e.owner, e.value, undefined, 'owner-failed')
          else this.emit(table, nid, key, 'create', e.owner, undefined, e.value)
        }
      }
    }
    return n
  }

  /**
   * The owner left (the cluster, or one network): its entries become tombstones at their own
   * Lamport time. Such a tombstone beats the live copy of its version (see `newer`), so a stale copy
   * arriving later, or held by a node that missed the leave, cannot resurrect the entry.
   */
  tombstoneOwner (owner: string, nid: string | undefined, reapAt: number, reason: DeleteReason): number {
    let n = 0
    const nids = nid === undefined ? [...this.nets.keys()] : [nid]
    for (const id of nids) {
      const net = this.nets.get(id)
      if (net === undefined) continue
      for (const [table, entries] of net.tables) {
        for (const [key, e] of entries) {
          if (e.owner !== owner || e.deleted) continue
          const { h1, h2 } = versionHash(table, key, e.owner, e.ltime, true)
          const t: Entry = { ...e, deleted: true, reapAt, hidden: false, hiddenAt: 0, h1, h2 }
          this.account(net, table, e, -1)
          entries.set(key, t)
          this.account(net, table, t, 1)
          n++
          // Also for a hidden copy: its watchers were told it might come back ('owner-failed').
          this.emit(table, id, key, 'delete', e.owner, e.value, undefined, reason)
        }
      }
    }
    return n
  }

  /** Forget tombstones past their reap time and hidden entries past the retention. */
  reap (now: number, hiddenRetentionMs: number): Array<{ nid: string, table: string, key: string, owner: string }> {
    const gone: Array<{ nid: string, table: string, key: string, owner: string }> = []
    for (const [nid, net] of this.nets) {
      if (this.total(net, c => c.tombstones + c.hidden) === 0) continue
      for (const [table, entries] of net.tables) {
        for (const [key, e] of entries) {
          if ((e.deleted && e.reapAt <= now) || (e.hidden && now - e.hiddenAt >= hiddenRetentionMs)) {
            this.account(net, table, e, -1)
            entries.delete(key)
            gone.push({ nid, table, key, owner: e.owner })
          }
        }
        if (entries.size === 0) { net.tables.delete(table); net.counts.delete(table) }
      }
    }
    return gone
  }

  /** Every entry of `owner` (tombstones included): what a node re-announces after a restart. */
  ownedBy (owner: string): Array<{ nid: string, table: string, key: string, e: Entry }> {
    const out: Array<{ nid: string, table: string, key: string, e: Entry }> = []
    for (const [nid, net] of this.nets) {
      for (const [table, entries] of net.tables) {
        for (const [key, e] of entries) if (e.owner === owner) out.push({ nid, table, key, e })
      }
    }
    return out
  }

  // ---- anti-entropy ---------------------------------------------------------------------------

  /** Entries that take part in sync: everything but hidden copies (those wait for their owner). */
  syncCount (nid: string): number {
    const net = this.nets.get(nid)
    return net === undefined ? 0 : this.total(net, c => c.entries + c.tombstones)
  }

  /** Two words per bucket (`buckets` a power of two <= MAX_BUCKETS): XOR of the entries' version hashes. */
  bucketHashes (nid: string, buckets: number): number[] {
    const out = new Array<number>(2 * buckets).fill(0)
    const h = this.nets.get(nid)?.hashes
    if (h === undefined) return out
    const mask = buckets - 1
    for (let i = 0; i < MAX_BUCKETS; i++) {
      const b = (i & mask) * 2
      out[b] = (out[b]! ^ h[2 * i]!) >>> 0
      out[b + 1] = (out[b + 1]! ^ h[2 * i + 1]!) >>> 0
    }
    return out
  }

  /**
   * Entries (with tombstones, without hidden ones) whose bucket is in `wanted`, as wire entries;
   * only `owner`'s when given.
   */
  entriesInBuckets (
    nid: string, buckets: number, wanted: ReadonlySet<number>, now: number, owner?: string
  ): WireEntry[] {
    const out: WireEntry[] = []
    const net = this.nets.get(nid)
    if (net === undefined) return out
    const mask = buckets - 1
    const all = wanted.size === buckets
    for (const [table, entries] of net.tables) {
      for (const [key, e] of entries) {
        if (e.hidden || (owner !== undefined && e.owner !== owner)) continue
        if (all || wanted.has(e.kh & mask)) out.push(toWire(table, key, e, now))
      }
    }
    return out
  }

  // ---- diagnostics ----------------------------------------------------------------------------

  stats (nid: string): TableStats[] {
    const net = this.nets.get(nid)
    if (net === undefined) return []
    return [...net.tables.keys()]
      .map(table => ({ ...(net.counts.get(table) ?? { table, entries: 0, tombstones: 0, hidden: 0 }) }))
      .sort((a, b) => a.table.localeCompare(b.table))
  }

  /** Digest of the visible live entries of a network: equal on two nodes iff they see the same. */
  digest (nid: string): string {
    const net = this.nets.get(nid)
    return net === undefined
      ? `${hex32(0)}${hex32(0)}-0`
      : `${hex32(net.liveA)}${hex32(net.liveB)}-${this.total(net, c => c.entries)}`
  }

  // ---- watchers -------------------------------------------------------------------------------

  watch (table: string, nid: string | undefined, handler: (ev: TableEvent) => void): Unsubscribe {
    const w: Watcher = { table, nid, handler }
    // Synthetic creates first, so a watcher never misses what existed before it subscribed.
    for (const v of this.walk(table, nid)) {
      handler({ table, nid: v.nid, key: v.key, kind: 'create', owner: v.owner, prev: undefined, value: v.value })
    }
    this.watchers.add(w)
    return () => { this.watchers.delete(w) }
  }

  private emit (
    table: string,
    nid: string,
    key: string,
    kind: TableEvent['kind'],
    owner: string,
    prev: Uint8Array | undefined,
    value: Uint8Array | undefined,
    reason?: DeleteReason
  ): void {
    if (this.watchers.size === 0) return
    const ev: TableEvent = reason === undefined
      ? { table, nid, key, kind, owner, prev, value }
      : { table, nid, key, kind, owner, prev, value, reason }
    for (const w of [...this.watchers]) {
      if (w.table !== table || (w.nid !== undefined && w.nid !== nid)) continue
      try {
        w.handler(ev)
      } catch (err) {
        this.onWatcherError(err, table)
      }
    }
  }
}

export function toWire (table: string, key: string, e: Entry, now: number): WireEntry {
  return {
    table,
    key,
    owner: e.owner,
    ltime: e.ltime,
    deleted: e.deleted,
    value: e.value,
    reapIn: e.deleted ? Math.max(0, Math.round(e.reapAt - now)) : 0
  }
}
