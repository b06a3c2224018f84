/**
 * A small in-test NetworkDB: the table parts of the interface the overlay uses (entries with
 * Lamport times and owners, watch with replay, joinNetwork), with explicit replication so a test
 * chooses when nodes see each other's writes, and partitions. Merge rule: NetworkDB's own `newer`
 * (higher (ltime, owner) wins; a tombstone wins a tie with its live version). Membership as one
 * node sees it: `memberFailed` hides the node's entries (deletes to watchers) and `memberAlive`
 * shows them again, each with its cluster event.
 */
import {
  EntryExistsError, EntryNotFoundError, NotOwnerError, type ClusterEvent, type Diagnostics, type EntryView, type
  NetworkDB, type NetworkDBStats, type NodeInfo, type NodeStatus, type TableEvent, type Unsubscribe, newer
} from '../../networkdb/index.js'

interface Entry { owner: string, ltime: number, value: Uint8Array, deleted: boolean }
type Watcher = { table: string, nid: string | undefined, handler: (ev: TableEvent) => void }

export class FakeCluster {
  readonly nodes: FakeNetworkDB[] = []
  /** Replicate every write at once to connected nodes. */
  auto = true
  private readonly cut = new Set<string>()

  node (id: string, advertise = '192.0.2.1'): FakeNetworkDB {
    const n = new FakeNetworkDB(this, id, advertise)
    this.nodes.push(n)
    return n
  }

  partition (a: FakeNetworkDB, b: FakeNetworkDB): void { this.cut.add(`${a.nodeId}|${b.nodeId}`); this.cut.add(`${b.nodeId}|${a.nodeId}`) }
  heal (): void { this.cut.clear() }

  /** Anti-entropy between every connected pair until nothing changes. */
  sync (): void {
    for (let changed = true; changed;) {
      changed = false
      for (const a of this.nodes) {
        for (const b of this.nodes) {
          if (a === b || this.cut.has(`${a.nodeId}|${b.nodeId}`)) continue
          for (const [k, e] of a.all()) if (b.merge(k, e)) changed = true
        }
      }
    }
  }

  wrote (): void { if (this.auto) this.sync() }
}

export class FakeNetworkDB implements NetworkDB {
  readonly nodeName: string
  private clock = 0
  private readonly entries = new Map<string, Entry>()
  private readonly watchers = new Set<Watcher>()
  private readonly nets = new Set<string>()
  /** Nodes this one sees failed: their entries are hidden. */
  private readonly failed = new Set<string>()
  private readonly clusterWatchers = new Set<(ev: ClusterEvent) => void>()

  constructor (private readonly cluster: FakeCluster, readonly nodeId: string, private readonly advertise: string) {
    this.nodeName = nodeId
  }

  /** Bump the Lamport clock (to order this node's next writes after others'). */
  tick (to: number): void { this.clock = Math.max(this.clock, to) }

  all (): Array<[string, Entry]> { return [...this.entries] }

  private static k (table: string, nid: string, key: string): string { return `${table}\u0000${nid}\u0000${key}` }

  merge (k: string, inc: Entry): boolean {
    const cur = this.entries.get(k)
    if (cur !== undefined && !newer(inc, cur)) return false
    this.clock = Math.max(this.clock, inc.ltime)
    this.entries.set(k, { ...inc })
    const [table, nid, key] = k.split('\u0000') as [string, string, string]
    this.emit(table, nid, key, cur, inc)
    return true
  }

  private visible (e: Entry | undefined): e is Entry { return e !== undefined && !e.deleted && !this.failed.has(e.owner) }

  private emit (table: string, nid: string, key: string, cur: Entry | undefined, next: Entry): void {
    const was = this.visible(cur)
    const is = this.visible(next)
    let ev: TableEvent | undefined
    if (was && is) ev = { table, nid, key, kind: 'update', owner: next.owner, prev: cur.value, value: next.value }
    else if (was) ev = { table, nid, key, kind: 'delete', owner: cur.owner, prev: cur.value, value: undefined }
    else if (is) ev = { table, nid, key, kind: 'create', owner: next.owner, prev: undefined, value: next.value }
    if (ev !== undefined) this.deliver(ev)
  }

  private deliver (ev: TableEvent): void {
    for (const w of [...this.watchers]) if (w.table === ev.table && (w.nid === undefined || w.nid === ev.nid)) w.handler(ev)
  }

  /** This node declares `id` failed: its entries are hidden (deletes), then the cluster event. */
  memberFailed (id: string): void {
    if (this.failed.has(id)) return
    this.failed.add(id)
    this.setOwnerVisible(id, false)
    this.emitCluster({ type: 'node', node: { ...this.infoOf(id), status: 'failed' }, prev: 'alive' })
  }

  /** `id` is alive again here: the cluster event, then its entries come back (creates). */
  memberAlive (id: string): void {
    if (!this.failed.delete(id)) return
    this.emitCluster({ type: 'node', node: this.infoOf(id), prev: 'failed' })
    this.setOwnerVisible(id, true)
  }

  private setOwnerVisible (owner: string, shown: boolean): void {
    for (const [k, e] of this.entries) {
      if (e.owner !== owner || e.deleted) continue
      const [table, nid, key] = k.split('\u0000') as [string, string, string]
      this.deliver(shown
        ? { table, nid, key, kind: 'create', owner, prev: undefined, value: e.value }
        : { table, nid, key, kind: 'delete', owner, prev: e.value, value: undefined, reason: 'owner-failed' })
    }
  }

  emitCluster (ev: ClusterEvent): void {
    for (const h of [...this.clusterWatchers]) h(ev)
  }

  private infoOf (id: string): NodeInfo {
    const n = this.cluster.nodes.find(x => x.nodeId === id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return { ...n.info(), status: this.statusOf(id) }
  }

  private statusOf (id: string): NodeStatus { return this.failed.has(id) ? 'failed' : 'alive' }

  private write (table: string, nid: string, key: string, value: Uint8Array, deleted: boolean): void {
    const k = FakeNetworkDB.k(table, nid, key)
    this.merge(k, { owner: this.nodeId, ltime: ++this.clock, value, deleted })
    this.cluster.wrote()
  }

  async createEntry (table: string, nid: string, key: string, value: Uint8Array): Promise<void> {
    const cur = this.entries.get(FakeNetworkDB.k(table, nid, key))
    if (cur !== undefined && !cur.deleted) throw new EntryExistsError(table, nid, key)
    this.write(table, nid, key, value, false)
  }

  async updateEntry (table: string, nid: string, key: string, value: Uint8Array): Promise<void> {
    const cur = this.entries.get(FakeNetworkDB.k(table, nid, key))
    if (cur === undefined || cur.deleted) throw new EntryNotFoundError(table, nid, key)
    if (cur.owner !== this.nodeId) throw new NotOwnerError(table, nid, key, cur.owner)
    this.write(table, nid, key, value, false)
  }

  async deleteEntry (table: string, nid: string, key: string): Promise<void> {
    const cur = this.entries.get(FakeNetworkDB.k(table, nid, key))
    if (cur === undefined || cur.deleted) throw new EntryNotFoundError(table, nid, key)
    if (cur.owner !== this.nodeId) throw new NotOwnerError(table, nid, key, cur.owner)
    this.write(table, nid, key, new Uint8Array(), true)
  }

  getEntry (table: string, nid: string, key: string): EntryView | undefined {
    const e = this.entries.get(FakeNetworkDB.k(table, nid, key))
    return !this.visible(e) ? undefined : { table, nid, key, owner: e.owner, ltime: e.ltime, value: e.value }
  }

  walkTable (table: string, nid?: string): EntryView[] {
    const out: EntryView[] = []
    for (const [k, e] of this.entries) {
      const [t, n, key] = k.split('\u0000') as [string, string, string]
      if (t === table && (nid === undefined || n === nid) && this.visible(e)) out.push({ table: t, nid: n, key, owner: e.owner, ltime: e.ltime, value: e.value })
    }
    return out
  }

  watch (table: string, nid: string | undefined, handler: (ev: TableEvent) => void): Unsubscribe {
    for (const e of this.walkTable(table, nid)) handler({ table, nid: e.nid, key: e.key, kind: 'create', owner: e.owner, prev: undefined, value: e.value })
    const w: Watcher = { table, nid, handler }
    this.watchers.add(w)
    return () => { this.watchers.delete(w) }
  }

  watcherCount (): number { return this.watchers.size }

  async joinNetwork (nid: string): Promise<void> { this.nets.add(nid) }
  async leaveNetwork (nid: string): Promise<void> { this.nets.delete(nid) }
  networks (): string[] { return [...this.nets] }
  /** Nodes in `nid` this node sees live, itself included when it joined. */
  peers (nid: string): string[] {
    return this.cluster.nodes.filter(n => n.nets.has(nid) && !this.failed.has(n.nodeId)).map(n => n.nodeId).sort()
  }

  members (): NodeInfo[] { return this.cluster.nodes.map(n => ({ ...n.info(), status: this.statusOf(n.nodeId) })) }
  member (id: string): NodeInfo | undefined { return this.members().find(m => m.id === id) }
  info (): NodeInfo {
    return { id: this.nodeId, name: this.nodeName, advertiseAddr: this.advertise, addrs: [], status: 'alive', incarnation: 1, since: 0 }
  }

  async start (): Promise<void> {}
  async join (_seeds: readonly string[]): Promise<void> {}
  async leave (): Promise<void> {}
  async close (): Promise<void> {}
  watchCluster (handler: (ev: ClusterEvent) => void): Unsubscribe {
    this.clusterWatchers.add(handler)
    return () => { this.clusterWatchers.delete(handler) }
  }
  diagnostics (): Diagnostics { throw new Error('not in the fake') }
  /** Writes reach the fake cluster synchronously: nothing is ever pending. */
  async publishPending (): Promise<void> {}
  stats (): NetworkDBStats { return { gossipIn: 0, gossipOut: 0, rejected: 0, dropped: 0, bulkSyncs: 0, bulkSyncEntries: 0 } }
}
