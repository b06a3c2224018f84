/** Helpers for IPAM tests: an in-memory NetworkDB cluster with one ClusterIpam per node. */
import { createMemoryCluster, driven, type MemoryCluster, type MemoryClusterOptions } from '../../networkdb/index.js'
import { type FakeClock } from '../../core/index.js'
import { ClusterIpam, MemoryIpamStore, type IpamConfig, type IpamSnapshot, type IpamStore } from '../../ipam/index.js'

/**
 * A store whose writes take `delayMs` of virtual time to become durable, in order, like LMDB's
 * batched commits; `crash()` loses every write not yet durable (kill -9) and fails its promise.
 */
export class SlowStore implements IpamStore {
  private queue: Array<{ apply: () => Promise<void>, done: (ok: boolean) => void }> = []
  private draining = false

  constructor (readonly inner: MemoryIpamStore, private readonly clock: FakeClock, private readonly delayMs: number) {}

  async load (): Promise<IpamSnapshot> { return await this.inner.load() }

  private async write (apply: () => Promise<void>): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ apply, done: ok => { if (ok) resolve(); else reject(Object.assign(new Error('store crashed'), { name: 'StoreCrashed' })) } })
      if (!this.draining) this.drain()
    })
  }

  private drain (): void {
    this.draining = true
    this.clock.setTimeout(() => {
      const batch = this.queue
      this.queue = []
      void (async () => {
        for (const w of batch) { await w.apply(); w.done(true) }
        if (this.queue.length > 0) this.drain()
        else this.draining = false
      })()
    }, this.delayMs)
  }

  crash (): void {
    const lost = this.queue
    this.queue = []
    this.draining = false
    for (const w of lost) w.done(false)
  }

  putMeta: IpamStore['putMeta'] = async m => { await this.write(async () => { await this.inner.putMeta(m) }) }
  putRing: IpamStore['putRing'] = async r => { const c = structuredClone(r); await this.write(async () => { await this.inner.putRing(c) }) }
  deleteRing: IpamStore['deleteRing'] = async id => { await this.write(async () => { await this.inner.deleteRing(id) }) }
  putPool: IpamStore['putPool'] = async p => { const c = structuredClone(p); await this.write(async () => { await this.inner.putPool(c) }) }
  deletePool: IpamStore['deletePool'] = async i => { await this.write(async () => { await this.inner.deletePool(i) }) }
  putAllocation: IpamStore['putAllocation'] = async a => { const c = { ...a }; await this.write(async () => { await this.inner.putAllocation(c) }) }
  deleteAllocation: IpamStore['deleteAllocation'] = async (i, v) => { await this.write(async () => { await this.inner.deleteAllocation(i, v) }) }
  deleteAllocations: IpamStore['deleteAllocations'] = async i => { await this.write(async () => { await this.inner.deleteAllocations(i) }) }
  async close (): Promise<void> {}
}

export interface IpamCluster {
  c: MemoryCluster
  ipams: Array<ClusterIpam | undefined>
  stores: MemoryIpamStore[]
  /** Run an operation to completion while advancing virtual time. */
  run<T>(fn: () => Promise<T>, maxMs?: number): Promise<T>
  /** Crash node i: its IPAM stops writing, its NetworkDB stops without a word. */
  kill(i: number): Promise<void>
  /** Start node i again with the same stores (a running node is crashed first). */
  restart(i: number): Promise<ClusterIpam>
  ipam(i: number): ClusterIpam
  close(): Promise<void>
}

export interface IpamClusterOptions {
  seed?: number
  config?: Partial<IpamConfig>
  cluster?: MemoryClusterOptions
  /** Virtual ms before a store write is durable (0: at once); a kill loses what is not. */
  storeDelayMs?: number
}

export async function ipamCluster (n: number, opts: IpamClusterOptions = {}): Promise<IpamCluster> {
  const c = await createMemoryCluster(n, { seed: opts.seed ?? 1, ...opts.cluster })
  const stores = Array.from({ length: n }, () => new MemoryIpamStore())
  const slow: Array<SlowStore | undefined> = []
  const ipams: Array<ClusterIpam | undefined> = []
  const run = async <T>(fn: () => Promise<T>, maxMs = 120_000): Promise<T> => await driven(c.clock, fn, 5, maxMs)
  const make = async (i: number): Promise<ClusterIpam> => {
    slow[i] = opts.storeDelayMs === undefined || opts.storeDelayMs === 0 ? undefined : new SlowStore(stores[i]!, c.clock, opts.storeDelayMs)
    const ipam = new ClusterIpam({ db: c.nodes[i]!, store: slow[i] ?? stores[i], clock: c.clock, config: { bootstrap: i === 0, ...opts.config } })
    await run(async () => { await ipam.start() })
    ipams[i] = ipam
    return ipam
  }
  for (let i = 0; i < n; i++) await make(i)
  // let the genesis reach everyone
  await c.advance(500)
  return {
    c,
    ipams,
    stores,
    run,
    async kill (i) {
      slow[i]?.crash()
      await ipams[i]?.close()
      ipams[i] = undefined
      await c.kill(i)
    },
    async restart (i) {
      slow[i]?.crash()
      await ipams[i]?.close()
      await run(async () => { await c.restart(i) })
      return await make(i)
    },
    ipam (i) {
      const x = ipams[i]
      if (x === undefined) throw new Error(`ipam ${i} is down`)
      return x
    },
    async close () {
      for (const x of ipams) await x?.close()
      await c.close()
    }
  }
}
