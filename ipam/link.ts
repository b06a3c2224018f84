/**
 * The IPAM's only contact with the cluster: records in one NetworkDB table (proto/ipam.ts), and
 * requests to a peer carried as entries — the requester writes `req/<me>/<id>`, the peer answers
 * with `ans/<peer>/<me>/<id>`. No other channel exists, so everything the IPAM says is replicated,
 * ordered per key and owner-checked by NetworkDB, and survives the writer's restart with it.
 */
import {
  decodeIpamRecord, encodeIpamRecord, keyKind, reqKey, type AnswerRecord, type IpamRecord, type RequestRecord,
  type RingRecord
} from '../proto/index.js'
import type { Clock, TimerHandle, Logger } from '../core/index.js'
import type { EntryView, NetworkDB, TableEvent, Unsubscribe } from '../networkdb/index.js'

export interface LinkHandlers {
  /** A record written or updated by `writer` (this node's own included). */
  record(writer: string, key: string, rec: IpamRecord): void
  /** A record went away: deleted by its writer, or hidden/tombstoned because the writer failed or left. */
  removed(writer: string, key: string, kind: IpamRecord['t']): void
}

export interface LinkConfig { nid: string, table: string, requestTimeoutMs: number }

interface Waiter { resolve: (a: AnswerRecord | undefined) => void, timer: TimerHandle }

export class ClusterLink {
  private unwatch: Unsubscribe | undefined
  private readonly waiters = new Map<string, Waiter>()
  private closed = false
  /** Records that failed to decode (counted for diagnostics). */
  rejected = 0

  constructor (
    private readonly db: NetworkDB,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly cfg: LinkConfig
  ) {}

  get me (): string { return this.db.nodeId }

  async start (handlers: LinkHandlers): Promise<void> {
    await this.db.joinNetwork(this.cfg.nid)
    // The watch first replays every existing entry (our own, restored by NetworkDB, included).
    this.unwatch = this.db.watch(this.cfg.table, this.cfg.nid, ev => { this.onEvent(ev, handlers) })
  }

  private onEvent (ev: TableEvent, h: LinkHandlers): void {
    if (this.closed) return
    const k = keyKind(ev.key)
    if (k === undefined || k.writer !== ev.owner) {
      this.rejected++
      this.log.warn({ key: ev.key, owner: ev.owner }, 'ipam record with a foreign or unknown key ignored')
      return
    }
    if (ev.kind === 'delete' || ev.value === undefined) { h.removed(k.writer, ev.key, k.kind); return }
    let rec: IpamRecord
    try {
      rec = decodeIpamRecord(ev.value)
    } catch (err) {
      this.rejected++
      this.log.warn({ key: ev.key, err: String(err) }, 'undecodable ipam record ignored')
      return
    }
    if (rec.t !== k.kind) { this.rejected++; return }
    if (rec.t === 'ans' && k.rest.startsWith(`${this.me}/`)) {
      const w = this.waiters.get(rec.b.id)
      if (w !== undefined) { this.waiters.delete(rec.b.id); w.resolve(rec.b) }
    }
    h.record(k.writer, ev.key, rec)
  }

  /** Write (create or update) one of our records; never throws (a stopped NetworkDB is logged). */
  async put (key: string, rec: IpamRecord): Promise<void> {
    if (this.closed) return
    try {
      const value = encodeIpamRecord(rec)
      const cur = this.db.getEntry(this.cfg.table, this.cfg.nid, key)
      if (cur !== undefined && cur.owner === this.me) {
        await this.db.updateEntry(this.cfg.table, this.cfg.nid, key, value)
      } else {
        await this.db.createEntry(this.cfg.table, this.cfg.nid, key, value)
      }
    } catch (err) {
      this.log.warn({ key, err: String(err) }, 'ipam record not written')
    }
  }

  async remove (key: string): Promise<void> {
    if (this.closed) return
    const cur = this.db.getEntry(this.cfg.table, this.cfg.nid, key)
    if (cur === undefined || cur.owner !== this.me) return
    try {
      await this.db.deleteEntry(this.cfg.table, this.cfg.nid, key)
    } catch (err) {
      this.log.debug({ key, err: String(err) }, 'ipam record not deleted')
    }
  }

  /** Ask a peer; the answer, or undefined after the timeout (or on close). */
  async ask (req: RequestRecord): Promise<AnswerRecord | undefined> {
    if (this.closed) return undefined
    const answer = new Promise<AnswerRecord | undefined>(resolve => {
      const timer = this.clock.setTimeout(() => { this.waiters.delete(req.id); resolve(undefined) },
        this.cfg.requestTimeoutMs)
      this.waiters.set(req.id, { resolve: (a) => { this.clock.clearTimeout(timer); resolve(a) }, timer })
    })
    const key = reqKey(this.me, req.id)
    await this.put(key, { t: 'req', b: req })
    const a = await answer
    await this.remove(key)
    return a
  }

  /** Whether `node` may answer: alive or suspect. Failed, left or unknown nodes cannot. */
  reachable (node: string): boolean {
    if (node === this.me) return true
    const m = this.db.member(node)
    return m !== undefined && (m.status === 'alive' || m.status === 'suspect')
  }

  status (node: string): string {
    return node === this.me ? 'alive' : this.db.member(node)?.status ?? 'unknown'
  }

  /** Our own entries (e.g. requests left over from before a restart). */
  own (prefix: string): EntryView[] {
    return this.db.walkTable(this.cfg.table, this.cfg.nid).filter(e => e.owner === this.me && e.key.startsWith(prefix))
  }

  /** The current (visible) records of one ring, every writer's. */
  ringRecords (ring: string): Array<{ writer: string, rec: RingRecord }> {
    const out: Array<{ writer: string, rec: RingRecord }> = []
    for (const e of this.db.walkTable(this.cfg.table, this.cfg.nid)) {
      const k = keyKind(e.key)
      if (k?.kind !== 'ring' || k.rest !== ring || k.writer !== e.owner) continue
      try {
        const r = decodeIpamRecord(e.value)
        if (r.t === 'ring') out.push({ writer: k.writer, rec: r.b })
      } catch {
        // counted when it was delivered
      }
    }
    return out
  }

  entry (key: string): EntryView | undefined {
    return this.db.getEntry(this.cfg.table, this.cfg.nid, key)
  }

  close (): void {
    this.closed = true
    this.unwatch?.()
    for (const [id, w] of this.waiters) {
      this.clock.clearTimeout(w.timer)
      this.waiters.delete(id)
      w.resolve(undefined)
    }
  }
}
