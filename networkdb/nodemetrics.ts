/** The metrics NetworkDB exports, registered once through the Metrics port. */
import type { Member } from './membership.js'
import type { Counter, Gauge, Metrics } from '../core/index.js'
import type { Tables } from './tables.js'
import type { NodeStatus } from './types.js'

const STATES: readonly NodeStatus[] = ['alive', 'suspect', 'failed', 'left']

export class NetworkDBMetrics {
  readonly gossip: Counter
  readonly rejected: Counter
  readonly dropped: Counter
  readonly bulkSyncs: Counter
  readonly tableOps: Counter
  private readonly memberGauge: Gauge
  private readonly entryGauge: Gauge
  private readonly seenTables = new Set<string>()

  constructor (m: Metrics) {
    this.gossip = m.counter('ovnet_networkdb_gossip_messages_total', 'Gossip messages sent and received',
      ['dir', 'type'])
    this.rejected = m.counter('ovnet_networkdb_rejected_messages_total',
      'Messages rejected (ownership or origin violations)', ['reason'])
    this.dropped = m.counter('ovnet_networkdb_dropped_frames_total',
      'Frames dropped as undecodable, oversized or of unknown version', ['reason'])
    this.bulkSyncs = m.counter('ovnet_networkdb_bulk_syncs_total', 'Anti-entropy exchanges', ['role'])
    this.tableOps = m.counter('ovnet_networkdb_local_writes_total', 'Table writes made by this node', ['op'])
    this.memberGauge = m.gauge('ovnet_networkdb_members', 'Cluster members by state', ['state'])
    this.entryGauge = m.gauge('ovnet_networkdb_entries', 'Visible entries per table, over the networks this node is in',
      ['table'])
  }

  members (all: readonly Member[]): void {
    for (const s of STATES) this.memberGauge.set({ state: s }, all.filter(m => m.status === s).length)
  }

  entries (tables: Tables, networks: Iterable<string>): void {
    const counts = new Map<string, number>()
    for (const t of this.seenTables) counts.set(t, 0)
    for (const nid of networks) {
      for (const s of tables.stats(nid)) counts.set(s.table, (counts.get(s.table) ?? 0) + s.entries)
    }
    for (const [table, n] of counts) { this.seenTables.add(table); this.entryGauge.set({ table }, n) }
  }
}
