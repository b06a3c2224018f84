/** The LMDB adapter of the NodeStore port (store.ts); reached through networkdb/adapters.ts. */
import { open, type RootDatabase } from 'lmdb'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { NodeStore, PersistedState, StoredEntry, StoredMeta, StoredNetwork } from './store.js'

/*
 * LMDB keys are arrays (lmdb-js's multi-part keys): a string with NUL separators is decoded as an
 * array by lmdb's ordered-binary encoding once it is long enough, and then falls outside a range
 * given with string bounds — own entries silently missing after a restart. Arrays compare element
 * by element, so ['e', ...] lies between ['e'] and ['f'].
 */
type Key = string[]
const lmdbEntryKey = (nid: string, table: string, key: string): Key => ['e', nid, table, key]
const lmdbNetKey = (nid: string): Key => ['n', nid]

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
  async deleteEntry (nid: string, table: string, key: string): Promise<void> {
    await this.db.remove(lmdbEntryKey(nid, table, key))
  }
  async close (): Promise<void> { await this.db.close() }
}
