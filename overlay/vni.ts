/**
 * Cluster-wide VNI allocation through NetworkDB, without a central allocator.
 *
 * Claims live in table `overlay_vni_table` of a network every agent joins
 * (`OVERLAY_GLOBAL_NETWORK`), one entry per claim: key "<vni>/<nid>", value VniClaim. Keys differ
 * per network, so concurrent claims of one VNI never overwrite each other: every node sees all of
 * them and applies the same rule.
 *
 * Rule: among the claims of one VNI, the EARLIEST wins — lowest NetworkDB Lamport time, then
 * lowest owner id, then lowest network id. Earliest, not last-writer, because the earlier network
 * may already carry traffic. A node allocating waits `settleMs` (longer than gossip takes to reach
 * everyone) after claiming and checks that its claim still wins; if not, it withdraws it and tries
 * another VNI (random, so two losers do not collide again). While a member is failed or suspect
 * (maybe a partition, whose other side allocates too) the first pick is random as well, so two
 * sides practically never clash. A conflict found later (a healed partition) leaves the winner in
 * place and is reported by `conflicts()` and a metric; the losing network must be re-created.
 */
import { decodeVniClaim, encodeVniClaim, vniClaimKey, VNI_MAX, VNI_MIN, VNI_TABLE } from '../proto/index.js'
import type { Clock, Logger, Counter, Metrics } from '../core/index.js'
import type { EntryView, NetworkDB, Unsubscribe } from '../networkdb/index.js'
import { InvalidParameterError } from './driverapi.js'
import { VniConflictError, VniExhaustedError, VniInUseError } from './errors.js'

/** Network id of the cluster-wide tables every overlay agent joins. */
export const OVERLAY_GLOBAL_NETWORK = 'ovnet-global'
/** Docker's option carrying the VNIs of a network (CSV, one per subnet). */
export const VXLANID_LIST = 'com.docker.network.driver.overlay.vxlanid_list'
/** Automatic allocation range: below 4096 collides with 802.1Q ids on Windows hosts. */
export const AUTO_VNI_RANGE: readonly [number, number] = [4096, VNI_MAX]

export interface ClaimView { vni: number, nid: string, owner: string, ltime: number }

export interface VniConflict { vni: number, winner: ClaimView, losers: ClaimView[] }

export interface VniAllocatorOptions {
  db: NetworkDB
  clock: Clock
  logger: Logger
  metrics: Metrics
  /** Network holding the claim table (default OVERLAY_GLOBAL_NETWORK). */
  network?: string
  /** Automatic allocation range, inclusive (default 4096-16777215). */
  range?: readonly [number, number]
  /** Wait after claiming before trusting the claim (default 2000 ms, above gossip p99). */
  settleMs?: number
  /** Claims lost before giving up (default 5). */
  maxAttempts?: number
  random?: () => number
  /**
   * VNIs of the networks known to exist (the agent's network definitions), which outlive the
   * claims: a claim is hidden while its claimer is failed and tombstoned once it left, while its
   * network lives on. Never allocated to another network.
   */
  held?: () => Iterable<{ vni: number, nid: string }>
}

/** a beats b: earlier Lamport time, then lower owner id, then lower network id. */
export function claimBeats (a: ClaimView, b: ClaimView): boolean {
  if (a.ltime !== b.ltime) return a.ltime < b.ltime
  if (a.owner !== b.owner) return a.owner < b.owner
  return a.nid < b.nid
}

/** Parse a vxlanid_list option value: CSV of VNIs in VNI_MIN..VNI_MAX. */
export function parseVxlanIdList (csv: string): number[] {
  const out = csv.split(',').map(s => s.trim()).filter(s => s !== '').map(s => {
    if (!/^\d+$/.test(s)) throw new InvalidParameterError(`invalid vxlan id "${s}" in ${VXLANID_LIST}`)
    const v = Number(s)
    if (v < VNI_MIN || v > VNI_MAX) throw new InvalidParameterError(`vxlan id ${v} out of range ${VNI_MIN}-${VNI_MAX}`)
    return v
  })
  if (out.length === 0) throw new InvalidParameterError(`empty ${VXLANID_LIST}`)
  return out
}

export class VniAllocator {
  readonly network: string
  private readonly db: NetworkDB
  private readonly clock: Clock
  private readonly log: Logger
  private readonly range: readonly [number, number]
  private readonly settleMs: number
  private readonly maxAttempts: number
  private readonly random: () => number
  private readonly held: () => Iterable<{ vni: number, nid: string }>
  private readonly conflictCounter: Counter
  /** VNIs this process is claiming right now (so two local allocations never pick the same). */
  private readonly pending = new Set<number>()
  private readonly reported = new Set<string>()
  private unwatch: Unsubscribe | undefined
  private checkScheduled = false

  constructor (opts: VniAllocatorOptions) {
    this.db = opts.db
    this.clock = opts.clock
    this.log = opts.logger.child({ component: 'vni' })
    this.network = opts.network ?? OVERLAY_GLOBAL_NETWORK
    this.range = opts.range ?? AUTO_VNI_RANGE
    const [lo, hi] = this.range
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < VNI_MIN || hi > VNI_MAX || lo > hi) {
      throw new InvalidParameterError(`invalid vxlan id range ${lo}-${hi}`)
    }
    this.settleMs = opts.settleMs ?? 2000
    this.maxAttempts = opts.maxAttempts ?? 5
    this.random = opts.random ?? Math.random
    this.held = opts.held ?? (() => [])
    this.conflictCounter = opts.metrics.counter('ovnet_overlay_vni_conflicts_total',
      'VNI claims of local networks found losing to an earlier claim')
  }

  /** Join the claim network and start watching for conflicts. */
  async start (): Promise<void> {
    if (!this.db.networks().includes(this.network)) await this.db.joinNetwork(this.network)
    // Coalesced: a watch starts with one synthetic event per existing claim.
    this.unwatch ??= this.db.watch(VNI_TABLE, this.network, () => {
      if (this.checkScheduled) return
      this.checkScheduled = true
      this.clock.setTimeout(() => { this.checkScheduled = false; this.checkConflicts() }, 0)
    })
  }

  stop (): void {
    this.unwatch?.()
    this.unwatch = undefined
  }

  /** Every visible claim, undecodable entries skipped. */
  claims (): ClaimView[] {
    const out: ClaimView[] = []
    for (const e of this.db.walkTable(VNI_TABLE, this.network)) {
      const c = this.decode(e)
      if (c !== undefined) out.push(c)
    }
    return out
  }

  private decode (e: EntryView): ClaimView | undefined {
    try {
      const c = decodeVniClaim(e.value)
      return { vni: c.vni, nid: c.nid, owner: e.owner, ltime: e.ltime }
    } catch (err) {
      this.log.warn({ key: e.key, owner: e.owner, err: (err as Error).message }, 'dropping undecodable vni claim')
      return undefined
    }
  }

  private byVni (claims: ClaimView[]): Map<number, ClaimView[]> {
    const m = new Map<number, ClaimView[]>()
    for (const c of claims) {
      const list = m.get(c.vni)
      if (list === undefined) m.set(c.vni, [c])
      else list.push(c)
    }
    return m
  }

  private static winner (list: readonly ClaimView[]): ClaimView | undefined {
    let best: ClaimView | undefined
    for (const c of list) if (best === undefined || claimBeats(c, best)) best = c
    return best
  }

  /** The network other than `nid` known to hold `vni` (by its definition), if any. */
  private heldByOther (vni: number, nid: string): string | undefined {
    for (const h of this.held()) if (h.vni === vni && h.nid !== nid) return h.nid
    return undefined
  }

  /** The winning claim of a VNI, if any. */
  winnerOf (vni: number): ClaimView | undefined {
    return VniAllocator.winner(this.claims().filter(c => c.vni === vni))
  }

  /** The VNI a network holds (its earliest winning claim), if any. */
  vniOf (nid: string): number | undefined {
    const groups = this.byVni(this.claims())
    let best: ClaimView | undefined
    for (const list of groups.values()) {
      const w = VniAllocator.winner(list)
      if (w !== undefined && w.nid === nid && (best === undefined || claimBeats(w, best))) best = w
    }
    return best?.vni
  }

  /**
   * Allocate a VNI for `nid`, or claim `requested`. Idempotent: a network that already holds a
   * VNI gets it again. Resolves only once the claim survived the settle time.
   */
  async allocate (nid: string, requested?: number): Promise<number> {
    if (nid === '') throw new InvalidParameterError('empty network id')
    if (requested !== undefined) return await this.claimRequested(nid, requested)
    const held = this.vniOf(nid)
    if (held !== undefined) return held
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const vni = this.pick(attempt === 0 && this.allReachable())
      if (await this.claim(nid, vni)) return vni
      this.log.info({ nid, vni, attempt }, 'vni claim lost to an earlier claim; retrying')
    }
    throw new VniConflictError(nid, this.maxAttempts)
  }

  private async claimRequested (nid: string, vni: number): Promise<number> {
    if (!Number.isInteger(vni) || vni < VNI_MIN || vni > VNI_MAX) {
      throw new InvalidParameterError(`vxlan id ${vni} out of range ${VNI_MIN}-${VNI_MAX}`)
    }
    const w = this.winnerOf(vni)
    if (w !== undefined && w.nid === nid) return vni
    const other = this.heldByOther(vni, nid)
    if (other !== undefined) throw new VniInUseError(vni, other)
    if (w !== undefined || this.pending.has(vni)) throw new VniInUseError(vni, w?.nid ?? '(being claimed)')
    if (await this.claim(nid, vni)) return vni
    throw new VniInUseError(vni, this.winnerOf(vni)?.nid ?? '(unknown)')
  }

  /** Create a claim, wait the settle time, keep it if it wins, else withdraw it. */
  private async claim (nid: string, vni: number): Promise<boolean> {
    this.pending.add(vni)
    try {
      await this.db.createEntry(VNI_TABLE, this.network, vniClaimKey({ vni, nid }), encodeVniClaim({ vni, nid }))
      await this.sleep(this.settleMs)
      const w = this.winnerOf(vni)
      if (w !== undefined && w.nid === nid && this.heldByOther(vni, nid) === undefined) return true
      await this.withdraw(vni, nid)
      return false
    } finally {
      this.pending.delete(vni)
    }
  }

  private async withdraw (vni: number, nid: string): Promise<void> {
    const key = vniClaimKey({ vni, nid })
    const e = this.db.getEntry(VNI_TABLE, this.network, key)
    if (e !== undefined && e.owner === this.db.nodeId) await this.db.deleteEntry(VNI_TABLE, this.network, key)
  }

  /**
   * Whether every member is alive here. When one is failed or suspect it may be on the other side
   * of a partition, allocating from the same claim table as we do without seeing our claims: the
   * lowest free VNI is then the one it picks too, and the clash shows only after the heal (found by
   * the chaos kit: two networks on VNI 4096). A random pick makes that a 1-in-16-million event.
   */
  private allReachable (): boolean {
    return this.db.members().every(m => m.status === 'alive' || m.status === 'left')
  }

  /**
   * The lowest free VNI (Docker's serial order) or, after a lost claim or while part of the
   * cluster is unreachable, a random free one.
   */
  private pick (lowest: boolean): number {
    const used = new Set(this.claims().map(c => c.vni))
    for (const v of this.pending) used.add(v)
    for (const h of this.held()) used.add(h.vni)
    const [lo, hi] = this.range
    const size = hi - lo + 1
    const start = lowest ? 0 : Math.floor(this.random() * size)
    for (let i = 0; i < size; i++) {
      const v = lo + ((start + i) % size)
      if (!used.has(v)) return v
    }
    throw new VniExhaustedError(this.range)
  }

  /** Withdraw this node's claims of `nid` (claims owned by other nodes are theirs to delete). */
  async free (nid: string): Promise<void> {
    for (const c of this.claims()) {
      if (c.nid !== nid) continue
      if (c.owner !== this.db.nodeId) {
        this.log.info({ nid, vni: c.vni, owner: c.owner }, 'vni claim owned by another node left in place')
        continue
      }
      await this.withdraw(c.vni, nid)
    }
  }

  /** VNIs claimed by more than one network, with the winner and the losers. */
  conflicts (): VniConflict[] {
    const out: VniConflict[] = []
    for (const [vni, list] of this.byVni(this.claims())) {
      const nets = new Set(list.map(c => c.nid))
      if (nets.size < 2) continue
      const winner = VniAllocator.winner(list)
      if (winner === undefined) continue
      out.push({ vni, winner, losers: list.filter(c => c.nid !== winner.nid) })
    }
    return out.sort((a, b) => a.vni - b.vni)
  }

  /** Report (once each) local claims found losing outside an allocation's settle window. */
  private checkConflicts (): void {
    for (const c of this.conflicts()) {
      for (const l of c.losers) {
        if (l.owner !== this.db.nodeId || this.pending.has(c.vni)) continue
        const id = `${l.vni}/${l.nid}/${l.ltime}`
        if (this.reported.has(id)) continue
        this.reported.add(id)
        this.conflictCounter.inc()
        this.log.error({ vni: c.vni, nid: l.nid, winner: c.winner.nid },
          'vni claim of a local network lost to an earlier claim; re-create the network')
      }
    }
  }

  private sleep (ms: number): Promise<void> {
    return new Promise(resolve => { this.clock.setTimeout(resolve, ms) })
  }
}
