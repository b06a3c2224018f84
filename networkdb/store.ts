/**
 * Persistence port for what a node must not lose on a crash: its incarnation, its Lamport clocks,
 * the networks it joined and the entries it owns (tombstones included). Entries of other nodes are
 * not stored: they come back by anti-entropy.
 */
import { open, type RootDatabase } from 'lmdb'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

export interface StoredEntry {
  nid: string
  table: string
  key: string
  ltime: number
  deleted: boolean
  value: Uint8Array
  /** Wall-clock ms after which a tombstone may be forgotten. */
  reapAt: number
}

export interface StoredMeta { incarnation: number, tableClock: number, networkClock: number }

export interface StoredNetwork { nid: string, ltime: number }

export interface PersistedState {
  meta: StoredMeta | undefined
  networks: StoredNetwork[]
  entries: StoredEntry[]
}

export interface NodeStore {
  load(): Promise<PersistedState>
  putMeta(meta: StoredMeta): Promise<void>
  putNetwork(net: StoredNetwork): Promise<void>
  deleteNetwork(nid: string): Promise<void>
  putEntry(e: StoredEntry): Promise<void>
  deleteEntry(nid: string, table: string, key: string): Promise<void>
  close(): Promise<void>
}

const entryKey = (nid: string, table: string, key: string): string => `e\u0000${nid}\u0000${table}\u0000${key}`

/*
 * LMDB keys are arrays (lmdb-js's multi-part keys): a string with NUL separators is decoded as an
 * array by lmdb's ordered-binary encoding once it is long enough, and then falls outside a range
 * given with string bounds — own entries silently missing after a restart. Arrays compare element
 * by element, so ['e', ...] lies between ['e'] and ['f'].
 */
type Key = string[]
const lmdbEntryKey = (nid: string, table: string, key: string): Key => ['e', nid, table, key]
const lmdbNetKey = (nid: string): Key => ['n', nid]

/** Keeps state in memory; survives a simulated restart when the same object is handed back. */
export class MemoryStore implements NodeStore {
  private meta: StoredMeta | undefined
  private readonly nets = new Map<string, StoredNetwork>()
  private readonly entries = new Map<string, StoredEntry>()

  async load (): Promise<PersistedState> {
    return { meta: this.meta === undefined ? undefined : { ...this.meta }, networks: [...this.nets.values()], entries: [...this.entries.values()] }
  }

  async putMeta (meta: StoredMeta): Promise<void> { this.meta = { ...meta } }
  async putNetwork (net: StoredNetwork): Promise<void> { this.nets.set(net.nid, { ...net }) }
  async deleteNetwork (nid: string): Promise<void> {
    this.nets.delete(nid)
    for (const [k, e] of this.entries) if (e.nid === nid) this.entries.delete(k)
  }

  async putEntry (e: StoredEntry): Promise<void> { this.entries.set(entryKey(e.nid, e.table, e.key), { ...e }) }
  async deleteEntry (nid: string, table: string, key: string): Promise<void> { this.entries.delete(entryKey(nid, table, key)) }
  async close (): Promise<void> {}
}

/**
 * LMDB in `<dataDir>/networkdb`: every write is a committed transaction before its promise
 * resolves, so an acknowledged write survives kill -9.
 */
export class LmdbStore implements NodeStore {
  private readonly db: RootDatabase<unknown, Key | string>

  constructor (dataDir: string) {
    const path = join(dataDir, 'networkdb')
    mkdirSync(path, { recursive: true, mode: 0o700 })
    this.db = open<unknown, Key | string>({ path, compression: false })
  }

  async load (): Promise<PersistedState> {
    const meta = this.db.get('meta') as StoredMeta | undefined
    const networks: StoredNetwork[] = []
    for (const { value } of this.db.getRange({ start: ['n'], end: ['o'] })) networks.push(value as StoredNetwork)
    const entries: StoredEntry[] = []
    for (const { value } of this.db.getRange({ start: ['e'], end: ['f'] })) {
      const e = value as StoredEntry
      entries.push({ ...e, value: new Uint8Array(e.value) })
    }
    return { meta, networks, entries }
  }

  async putMeta (meta: StoredMeta): Promise<void> { await this.db.put('meta', meta) }
  async putNetwork (net: StoredNetwork): Promise<void> { await this.db.put(lmdbNetKey(net.nid), net) }

  async deleteNetwork (nid: string): Promise<void> {
    await this.db.transaction(() => {
      void this.db.remove(lmdbNetKey(nid))
      for (const key of this.db.getKeys({ start: ['e', nid], end: ['f'] })) {
        if ((key as Key)[1] !== nid) break
        void this.db.remove(key)
      }
    })
  }

  async putEntry (e: StoredEntry): Promise<void> { await this.db.put(lmdbEntryKey(e.nid, e.table, e.key), e) }
  async deleteEntry (nid: string, table: string, key: string): Promise<void> { await this.db.remove(lmdbEntryKey(nid, table, key)) }
  async close (): Promise<void> { await this.db.close() }
}
