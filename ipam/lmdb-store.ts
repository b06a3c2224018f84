/** The LMDB adapter of the IpamStore port (store.ts); reached through ipam/adapters.ts. */
import { open, type RootDatabase } from 'lmdb'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Segment } from './ring.js'
import type { IpamMeta, IpamSnapshot, IpamStore, StoredAllocation, StoredPool, StoredRing } from './store.js'

/*
 * LMDB keys are arrays (lmdb-js multi-part keys): NUL-separated strings are decoded as arrays by
 * lmdb's ordered-binary encoding once long enough, and then fall outside string-bounded ranges —
 * allocations silently missing after a restart (found by the real-socket test: a restarted node
 * re-issued its addresses). Arrays compare element by element: ['a', ...] lies in [['a'], ['b']).
 */
type Key = string[]
const lmdbAllocKey = (instance: string, value: bigint): Key => ['a', instance, value.toString(16)]
const META: Key = ['m']
interface WireSeg { s: string, e: string, v: number, o: string }
const toWire = (x: Segment): WireSeg => ({ s: x.s.toString(16), e: x.e.toString(16), v: x.v, o: x.o })
const fromWire = (x: WireSeg): Segment => ({ s: BigInt(`0x${x.s}`), e: BigInt(`0x${x.e}`), v: x.v, o: x.o })

interface LmdbRing { ring: string, genesis: string, family: 4 | 6, view: WireSeg[],
  pending: Array<{ to: string, segs: WireSeg[] }> }

/**
 * LMDB in `<dataDir>/ipam`. Writes issued in one event-loop turn are applied, in order, in one
 * transaction, and each write's promise resolves once that transaction committed (durably, with
 * LMDB's default sync). One promise per turn instead of one per write is what lets a burst of
 * allocations reach LMDB's batch rate.
 */
export class LmdbIpamStore implements IpamStore {
  private readonly db: RootDatabase<unknown, Key>
  private queue: Array<() => void> = []
  private flushing: Promise<void> | undefined

  constructor (dataDir: string) {
    const path = join(dataDir, 'ipam')
    mkdirSync(path, { recursive: true, mode: 0o700 })
    this.db = open<unknown, Key>({ path, compression: false })
  }

  async load (): Promise<IpamSnapshot> {
    await this.flushing
    const meta = this.db.get(META) as IpamMeta | undefined
    const rings: StoredRing[] = []
    for (const { value } of this.db.getRange({ start: ['r'], end: ['s'] })) {
      const r = value as LmdbRing
      rings.push({ ring: r.ring, genesis: r.genesis, family: r.family, view: r.view.map(fromWire),
        pending: r.pending.map(p => ({ to: p.to, segs: p.segs.map(fromWire) })) })
    }
    const pools: StoredPool[] = []
    for (const { value } of this.db.getRange({ start: ['p'], end: ['q'] })) pools.push(value as StoredPool)
    const allocations: StoredAllocation[] = []
    for (const { key: k, value } of this.db.getRange({ start: ['a'], end: ['b'] })) {
      const [, instance, hex] = k
      // A bare number is the seq; with a MAC the value is {q, m}.
      const v = value as number | { q: number, m?: string }
      const a: StoredAllocation = { instance: instance!, value: BigInt(`0x${hex!}`),
        seq: typeof v === 'number' ? v : v.q }
      if (typeof v !== 'number' && v.m !== undefined) a.mac = v.m
      allocations.push(a)
    }
    return { meta: meta === undefined ? undefined : { genesis: meta.genesis ?? undefined, counter: meta.counter },
      rings, pools: pools.map(normalizePool), allocations }
  }

  /**
   * Queue a write for this turn's transaction. The promise resolves when it is committed: LMDB
   * (overlappingSync, its Linux default) has then written it to the file, which survives kill -9.
   * `sync` also waits until the disk has it (fsync), for what must survive a power loss too.
   */
  private write (op: () => void, sync = false): Promise<void> {
    this.queue.push(op)
    this.flushing ??= new Promise<void>(resolve => { setImmediate(resolve) }).then(async () => {
      const batch = this.queue
      this.queue = []
      this.flushing = undefined
      await this.db.transaction(() => { for (const w of batch) w() })
    })
    return sync ? this.flushing.then(async () => { await this.db.flushed }) : this.flushing
  }

  async putMeta (meta: IpamMeta): Promise<void> {
    await this.write(() => { void this.db.put(META, { genesis: meta.genesis ?? null, counter: meta.counter }) }, true)
  }

  async putRing (r: StoredRing): Promise<void> {
    const v: LmdbRing = { ring: r.ring, genesis: r.genesis, family: r.family, view: r.view.map(toWire),
      pending: r.pending.map(p => ({ to: p.to, segs: p.segs.map(toWire) })) }
    // Ownership is published once this resolves: it must outlive a power loss, not only kill -9.
    await this.write(() => { void this.db.put(['r', r.ring], v) }, true)
  }

  async deleteRing (ring: string): Promise<void> { await this.write(() => { void this.db.remove(['r', ring]) }, true) }

  async putPool (p: StoredPool): Promise<void> {
    const v = { ...p, record: { ...p.record, holders: [...p.record.holders], sub: p.record.sub ?? null,
      network: p.record.network ?? null, gw: p.record.gw ?? null } }
    await this.write(() => { void this.db.put(['p', p.record.instance], v) }, true)
  }

  async deletePool (instance: string): Promise<void> {
    await this.write(() => { void this.db.remove(['p', instance]) })
  }

  putAllocation (a: StoredAllocation): Promise<void> {
    const key = lmdbAllocKey(a.instance, a.value)
    const v = a.mac === undefined ? a.seq : { q: a.seq, m: a.mac }
    return this.write(() => { void this.db.put(key, v) })
  }

  async deleteAllocation (instance: string, value: bigint): Promise<void> {
    const key = lmdbAllocKey(instance, value)
    await this.write(() => { void this.db.remove(key) })
  }

  async deleteAllocations (instance: string): Promise<void> {
    await this.write(() => {
      for (const key of this.db.getKeys({ start: ['a', instance], end: ['b'] })) {
        if (key[1] !== instance) break
        void this.db.remove(key)
      }
    })
  }

  async close (): Promise<void> {
    await this.flushing
    await this.db.close()
  }
}

/** Stored nulls back to undefined (msgpack has no undefined). */
function normalizePool (p: StoredPool): StoredPool {
  const r = p.record
  return { ...p, record: { ...r, sub: r.sub ?? undefined, network: r.network ?? undefined, gw: r.gw ?? undefined } }
}
