/**
 * Persistence port for what a node must not lose on a crash: its incarnation, its Lamport clocks,
 * the networks it joined and the entries it owns (tombstones included). Entries of other nodes are
 * not stored: they come back by anti-entropy.
 */
export interface StoredEntry {
  nid: string
  table: string
  key: string
  ltime: number
  deleted: boolean
  value: Uint8Array
  /** Clock ms (wall clock on the SystemClock, so it survives a restart) after which a tombstone may be forgotten. */
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

/** Keeps state in memory; survives a simulated restart when the same object is handed back. */
export class MemoryStore implements NodeStore {
  private meta: StoredMeta | undefined
  private readonly nets = new Map<string, StoredNetwork>()
  private readonly entries = new Map<string, StoredEntry>()

  async load (): Promise<PersistedState> {
    return { meta: this.meta === undefined ? undefined : { ...this.meta }, networks: [...this.nets.values()],
      entries: [...this.entries.values()] }
  }

  async putMeta (meta: StoredMeta): Promise<void> { this.meta = { ...meta } }
  async putNetwork (net: StoredNetwork): Promise<void> { this.nets.set(net.nid, { ...net }) }
  async deleteNetwork (nid: string): Promise<void> {
    this.nets.delete(nid)
    for (const [k, e] of this.entries) if (e.nid === nid) this.entries.delete(k)
  }

  async putEntry (e: StoredEntry): Promise<void> { this.entries.set(entryKey(e.nid, e.table, e.key), { ...e }) }
  async deleteEntry (nid: string, table: string, key: string): Promise<void> {
    this.entries.delete(entryKey(nid, table, key))
  }
  async close (): Promise<void> {}
}
