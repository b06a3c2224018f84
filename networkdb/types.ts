/**
 * NetworkDB's public contract: replicated tables scoped to networks, cluster membership and
 * diagnostics. Modelled on libnetwork's NetworkDB (docs/networkdb.md), carried over a `Transport`.
 */

export type NodeStatus = 'alive' | 'suspect' | 'failed' | 'left'

export interface NodeInfo {
  /** Transport identity (libp2p peer id); stable across restarts. */
  id: string
  /** Human name (the host name by default). */
  name: string
  /** Underlay address announced for data-plane use (VTEP), e.g. "192.0.2.10". */
  advertiseAddr: string
  /** Transport addresses to reach the node. */
  addrs: string[]
  status: NodeStatus
  incarnation: number
  /** Clock ms of the last status change. */
  since: number
}

export type EventKind = 'create' | 'update' | 'delete'

/**
 * Why an entry left the view: its owner deleted it, the owner failed (the entry is hidden and may
 * come back), or the owner left the cluster or the network (or this node left the network).
 */
export type DeleteReason = 'deleted' | 'owner-failed' | 'owner-left' | 'network-left'

/** A table change as delivered to watchers. `value` is undefined for deletes, `prev` for creates. */
export interface TableEvent {
  table: string
  nid: string
  key: string
  kind: EventKind
  owner: string
  prev: Uint8Array | undefined
  value: Uint8Array | undefined
  /** Set on deletes. */
  reason?: DeleteReason
}

/**
 * Options of a write. `takeover`: replace (update or delete) an entry another node owns with a
 * version owned by this node — for cluster-wide objects whose lifetime is not one node's (network
 * definitions). The new version is signed by this node like any other; impersonation stays
 * impossible.
 */
export interface WriteOptions { takeover?: boolean }

export interface EntryView {
  table: string
  nid: string
  key: string
  owner: string
  ltime: number
  value: Uint8Array
}

/** Node-level events for watchers of membership (join, status changes, network membership). */
export type ClusterEvent =
  | { type: 'node', node: NodeInfo, prev: NodeStatus | undefined }
  | { type: 'network', nid: string, node: string, joined: boolean }

export type Unsubscribe = () => void

export interface TableStats { table: string, entries: number, tombstones: number, hidden: number }

export interface NetworkDiagnostics {
  nid: string
  peers: string[]
  tables: TableStats[]
  /** Digest of the visible live entries of this network; equal digests mean equal views. */
  digest: string
}

export interface Diagnostics {
  node: NodeInfo
  members: NodeInfo[]
  networks: NetworkDiagnostics[]
  /** Digest over every network this node is in. */
  digest: string
  clocks: { network: number, table: number }
}

/** Message and sync counters, the same figures the metrics export. */
export interface NetworkDBStats {
  gossipIn: number
  gossipOut: number
  rejected: number
  dropped: number
  bulkSyncs: number
  bulkSyncEntries: number
}

export interface NetworkDB {
  readonly nodeId: string
  readonly nodeName: string

  start(): Promise<void>
  /** Join the cluster through any of the seeds; retries until one answers or the timeout. */
  join(seeds: readonly string[], timeoutMs?: number): Promise<void>
  /** Announce a graceful leave, delete own entries everywhere, stop. */
  leave(): Promise<void>
  /** Stop without announcing (as a crash would, but closing sockets). */
  close(): Promise<void>

  joinNetwork(nid: string): Promise<void>
  leaveNetwork(nid: string): Promise<void>
  /** Node ids of the members (alive or suspect) that joined `nid`, this node included. */
  peers(nid: string): string[]
  networks(): string[]
  members(): NodeInfo[]
  member(id: string): NodeInfo | undefined

  createEntry(table: string, nid: string, key: string, value: Uint8Array): Promise<void>
  updateEntry(table: string, nid: string, key: string, value: Uint8Array, opts?: WriteOptions): Promise<void>
  deleteEntry(table: string, nid: string, key: string, opts?: WriteOptions): Promise<void>
  /**
   * Send this node's queued table writes now (skipping the gossip window) and resolve once the
   * transport has taken them: an API that answers after this has published its write.
   */
  publishPending(): Promise<void>
  getEntry(table: string, nid: string, key: string): EntryView | undefined
  /** Visible live entries of a table, of one network or of every network. */
  walkTable(table: string, nid?: string): EntryView[]

  /**
   * Watch a table (of one network, or all). The handler first receives a synthetic create for each
   * existing entry, then every change, synchronously in order.
   */
  watch(table: string, nid: string | undefined, handler: (ev: TableEvent) => void): Unsubscribe
  watchCluster(handler: (ev: ClusterEvent) => void): Unsubscribe

  diagnostics(): Diagnostics
  stats(): NetworkDBStats
}
