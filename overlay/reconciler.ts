/**
 * Keeping one sandbox's FDB and neighbour tables equal to the peer database.
 *
 * Two paths, both ending in ONE dataplane batch:
 * - flush: incremental, for event bursts. Only the dirty IPs/MACs are compared with what this
 *   process believes the kernel holds (no kernel read).
 * - reconcile: full. Read the kernel tables, compare with the whole desired state and repair:
 *   add what is missing, fix a wrong destination or MAC, remove what is stale, and overwrite an
 *   entry the kernel learnt (dynamic) or that an earlier run left — all with REPLACE writes, so
 *   moby#53663 (a re-add failing with EEXIST over a learnt entry) cannot happen here.
 */
import type { Dataplane, PeerOp, PeerTables } from './dataplane.js'
import type { Peer, PeerDB } from './peerdb.js'

export interface Desired { fdb: ReadonlyMap<string, string>, neigh: ReadonlyMap<string, string> }

/** Counts of one reconciliation, by kind of drift. */
export interface DriftCounts {
  /** Desired entries the kernel lacked. */
  missing: number
  /** Entries with a wrong destination VTEP (FDB) or MAC (neighbour). */
  wrong: number
  /** Kernel-learnt or otherwise non-permanent entries overwritten. */
  learned: number
  /** Entries the kernel held that nothing announces any more. */
  stale: number
}

export interface ReconcileReport extends DriftCounts {
  sandbox: string
  at: number
  durationMs: number
  /** FDB + neighbour entries compared. */
  entries: number
}

const zero = (): DriftCounts => ({ missing: 0, wrong: 0, learned: 0, stale: 0 })

/** Ops that turn `actual` into `desired`, and what kind of drift each repaired. */
export function diffTables (desired: Desired, actual: PeerTables): { ops: PeerOp[], drift: DriftCounts } {
  const ops: PeerOp[] = []
  const drift = zero()
  const seenFdb = new Set<string>()
  for (const e of actual.fdb) {
    seenFdb.add(e.mac)
    const want = desired.fdb.get(e.mac)
    if (want === undefined) {
      ops.push({ op: 'del', kind: 'fdb', mac: e.mac }); drift.stale++
    } else if (e.dst !== want) {
      ops.push({ op: 'add', kind: 'fdb', mac: e.mac, dst: want }); drift.wrong++
    } else if (!e.permanent) {
      ops.push({ op: 'add', kind: 'fdb', mac: e.mac, dst: want }); drift.learned++
    }
  }
  for (const [mac, dst] of desired.fdb) {
    if (!seenFdb.has(mac)) { ops.push({ op: 'add', kind: 'fdb', mac, dst }); drift.missing++ }
  }
  const seenNeigh = new Set<string>()
  for (const e of actual.neigh) {
    seenNeigh.add(e.ip)
    const want = desired.neigh.get(e.ip)
    if (want === undefined) {
      ops.push({ op: 'del', kind: 'neigh', ip: e.ip }); drift.stale++
    } else if (e.mac !== want) {
      ops.push({ op: 'add', kind: 'neigh', ip: e.ip, mac: want }); drift.wrong++
    } else if (!e.permanent) {
      ops.push({ op: 'add', kind: 'neigh', ip: e.ip, mac: want }); drift.learned++
    }
  }
  for (const [ip, mac] of desired.neigh) {
    if (!seenNeigh.has(ip)) { ops.push({ op: 'add', kind: 'neigh', ip, mac }); drift.missing++ }
  }
  return { ops, drift }
}

/**
 * The kernel side of one sandbox: what we believe it holds, and the flush/reconcile operations.
 * Callers serialize operations on one sandbox (the driver's per-network queue).
 */
export class SandboxProgrammer {
  /** Believed kernel state: MAC -> VTEP. */
  private readonly fdb = new Map<string, string>()
  /** Believed kernel state: IP -> MAC. */
  private readonly neigh = new Map<string, string>()

  constructor (private readonly dp: Dataplane, readonly sandbox: string, private readonly peers: PeerDB) {}

  /**
   * Program the dirty keys in one batch. Returns the number of ops. On failure the keys are
   * dirty again and the error propagates (the caller retries with a full reconcile, since a
   * failed batch may have been applied in part).
   */
  async flush (): Promise<number> {
    const dirty = this.peers.takeDirty()
    const ops: PeerOp[] = []
    for (const ip of dirty.ips) {
      const want = this.peers.desiredNeigh(ip)
      if (want === this.neigh.get(ip)) continue
      ops.push(want === undefined ? { op: 'del', kind: 'neigh', ip } : { op: 'add', kind: 'neigh', ip, mac: want })
    }
    for (const mac of dirty.macs) {
      const want = this.peers.desiredFdb(mac)
      if (want === this.fdb.get(mac)) continue
      ops.push(want === undefined ? { op: 'del', kind: 'fdb', mac } : { op: 'add', kind: 'fdb', mac, dst: want })
    }
    if (ops.length === 0) return 0
    try {
      await this.dp.apply(this.sandbox, ops)
    } catch (e) {
      this.peers.restoreDirty(dirty)
      throw e
    }
    this.record(ops)
    return ops.length
  }

  /**
   * Read the kernel, repair every difference in one batch, and believe the result. `empty`: the
   * tables are known to be empty (a vxlan device made just now): no read.
   */
  async reconcile (now: () => number, empty = false): Promise<ReconcileReport> {
    const start = now()
    // Keys dirtied while we read are covered: the full desired state is computed after the read.
    const actual = empty ? { fdb: [], neigh: [] } : await this.dp.readTables(this.sandbox)
    this.peers.clearDirty()
    const desired = this.peers.desired()
    const { ops, drift } = diffTables(desired, actual)
    if (ops.length > 0) {
      try {
        await this.dp.apply(this.sandbox, ops)
      } catch (e) {
        // Unknown partial state: forget beliefs so the next pass compares everything again.
        this.fdb.clear()
        this.neigh.clear()
        throw e
      }
    }
    this.fdb.clear()
    this.neigh.clear()
    for (const [mac, dst] of desired.fdb) this.fdb.set(mac, dst)
    for (const [ip, mac] of desired.neigh) this.neigh.set(ip, mac)
    return { sandbox: this.sandbox, at: start, durationMs: now() - start,
      entries: actual.fdb.length + actual.neigh.length, ...drift }
  }

  private record (ops: readonly PeerOp[]): void {
    for (const o of ops) {
      if (o.kind === 'fdb') {
        if (o.op === 'add') this.fdb.set(o.mac, o.dst)
        else this.fdb.delete(o.mac)
      } else {
        if (o.op === 'add') this.neigh.set(o.ip, o.mac)
        else this.neigh.delete(o.ip)
      }
    }
  }

  /** Whether this peer's FDB and neighbour entries are (believed) in the kernel. */
  isProgrammed (p: Peer): boolean {
    return this.fdb.get(p.mac) === p.vtep && this.neigh.get(p.ip) === p.mac
  }

  get believedEntries (): number { return this.fdb.size + this.neigh.size }
}
