/**
 * IPAM benchmark, in one process on the real clock. NetworkDB nodes talk over the in-memory
 * transport with zero latency, so the cross-node figures are the protocol's own cost (processing,
 * durable writes, event-loop turns); on a network add the gossip delay of two messages.
 *
 *   npm run bench:ipam -- [--allocs 200000] [--restart 100000] [--pools 1000] [--donations 50]
 *
 *  1. local allocation from owned space: addresses/s into LMDB (each durable before it is
 *     returned; requests are concurrent, so LMDB commits them in batches), and in memory;
 *  2. restart: time for a node to load --restart allocations from LMDB and serve again;
 *  3. pool requests: dynamic and static on the node owning the space, static via a peer;
 *  4. a request that needs space from a peer: a host's first address in a pool it joined.
 */
import '../core/polyfill.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClusterIpam, GlobalDefault, MemoryIpamStore, NetworkOption, type IpamStore } from '../ipam/index.js'
import { LmdbIpamStore } from '../ipam/adapters.js'
import { MemoryNetwork, MemoryStore, NetworkDBNode } from '../networkdb/index.js'
import { SystemClock } from '../core/index.js'
import { benchArgs } from './args.js'

const ARGS = benchArgs({ allocs: 200_000, restart: 100_000, pools: 1000, donations: 50, window: 2000 })

const ALLOCS = ARGS.allocs
const RESTART = ARGS.restart
const POOLS = ARGS.pools
const DONATIONS = ARGS.donations
/** Requests in flight at once (a daemon serving many container starts). */
const WINDOW = ARGS.window

const clock = new SystemClock()
const net = new MemoryNetwork({ clock, latencyMs: 0 })
const fmt = (ms: number): string => `${ms.toFixed(ms < 10 ? 3 : 1)} ms`

async function node (name: string, seeds: string[]): Promise<NetworkDBNode> {
  const db = new NetworkDBNode({ transport: net.transport(name), name, advertiseAddr: '127.0.0.1', clock, store: new MemoryStore() })
  await db.start()
  if (seeds.length > 0) await db.join(seeds)
  return db
}

async function ipamOn (db: NetworkDBNode, store: IpamStore, bootstrap: boolean): Promise<ClusterIpam> {
  const ipam = new ClusterIpam({ db, store, clock, config: { bootstrap } })
  await ipam.start()
  return ipam
}

/** WINDOW concurrent clients, each requesting one address after another, n in all. */
async function allocate (ipam: ClusterIpam, poolId: string, n: number): Promise<number> {
  const t0 = performance.now()
  let left = n
  await Promise.all(Array.from({ length: WINDOW }, async () => {
    while (left > 0) { left--; await ipam.requestAddress(poolId, undefined, {}) }
  }))
  return performance.now() - t0
}

async function until (pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error('timeout')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ovnet-ipam-bench-'))
  const out: string[] = []
  try {
    const db0 = await node('bench-0', [])
    const db1 = await node('bench-1', ['mem://bench-0'])

    // 1. local allocation rate
    const mem = await ipamOn(db0, new MemoryIpamStore(), true)
    const pm = await mem.requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.0.0.0/8' })
    const tMem = await allocate(mem, pm.poolId, ALLOCS)
    out.push(`local allocation, memory store: ${ALLOCS} addresses in ${fmt(tMem)} = ${Math.round(ALLOCS / tMem * 1000).toLocaleString('en')} addresses/s`)
    await mem.close()

    let store = new LmdbIpamStore(dir)
    let ipam = await ipamOn(db0, store, true)
    const pool = await ipam.requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.0.0.0/8' })
    const tDisk = await allocate(ipam, pool.poolId, ALLOCS)
    out.push(`local allocation, LMDB (durable before returned): ${ALLOCS} addresses in ${fmt(tDisk)} = ${Math.round(ALLOCS / tDisk * 1000).toLocaleString('en')} addresses/s`)
    const one: number[] = []
    for (let i = 0; i < 200; i++) {
      const t = performance.now()
      await ipam.requestAddress(pool.poolId, undefined, {})
      one.push(performance.now() - t)
    }
    one.sort((a, b) => a - b)
    out.push(`one request alone (LMDB commit each): p50 ${fmt(one[100]!)}, p99 ${fmt(one[197]!)}`)

    // 2. restart with RESTART allocations on disk
    await ipam.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
    store = new LmdbIpamStore(dir)
    ipam = await ipamOn(db0, store, true)
    const p2 = await ipam.requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.0.0.0/8' })
    await allocate(ipam, p2.poolId, RESTART)
    await ipam.close()
    await store.close()
    const tLoad0 = performance.now()
    store = new LmdbIpamStore(dir)
    ipam = await ipamOn(db0, store, true)
    const tLoad = performance.now() - tLoad0
    const next = await ipam.requestAddress(p2.poolId, undefined, {})
    out.push(`restart: ${RESTART.toLocaleString('en')} allocations loaded from LMDB and serving in ${fmt(tLoad)} (next address ${next.address})`)
    await ipam.close()
    await store.close()

    // 3. pool requests
    const a = await ipamOn(db0, new MemoryIpamStore(), true)
    const b = await ipamOn(db1, new MemoryIpamStore(), false)
    await until(() => b.status().spaces.some(s => s.space === GlobalDefault && s.nodes.length > 0))
    let t = performance.now()
    for (let i = 0; i < POOLS; i++) await a.requestPool({ addressSpace: GlobalDefault, v6: false })
    out.push(`dynamic pool request on the owner of the space: ${fmt((performance.now() - t) / POOLS)} each (${POOLS} pools)`)
    t = performance.now()
    for (let i = 0; i < POOLS; i++) await a.requestPool({ addressSpace: GlobalDefault, v6: false, pool: `172.${16 + (i >> 8)}.${i & 255}.0/24` })
    out.push(`static pool request on the owner: ${fmt((performance.now() - t) / POOLS)} each`)
    // let the peer take in the 2 × POOLS pool records first: measure the request, not the backlog
    await until(() => b.status().pools.length >= 2 * POOLS, 60_000)
    const peer: number[] = []
    for (let i = 0; i < 50; i++) {
      const t1 = performance.now()
      await b.requestPool({ addressSpace: GlobalDefault, v6: false, pool: `192.168.${i}.0/24` })
      peer.push(performance.now() - t1)
    }
    peer.sort((x, y) => x - y)
    out.push(`static pool request granted by a peer (2 records + 2 durable writes): p50 ${fmt(peer[25]!)}, max ${fmt(peer[49]!)}`)

    // 4. first address on a host that must get space from a peer
    const don: number[] = []
    for (let i = 0; i < DONATIONS; i++) {
      const opts = { [NetworkOption]: `bench-net-${i}` }
      const p = await a.requestPool({ addressSpace: GlobalDefault, v6: false, options: opts })
      await until(() => b.status().pools.some(x => x.poolId === p.poolId))
      await b.requestPool({ addressSpace: GlobalDefault, v6: false, options: opts })
      const t1 = performance.now()
      await b.requestAddress(p.poolId, undefined, {})
      don.push(performance.now() - t1)
    }
    don.sort((x, y) => x - y)
    out.push(`address request that needs space from a peer: p50 ${fmt(don[Math.floor(DONATIONS / 2)]!)}, max ${fmt(don[DONATIONS - 1]!)} (${DONATIONS} pools)`)
    await a.close()
    await b.close()
    await db1.close()
    await db0.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  console.log(out.join('\n'))
}

// SystemClock's timers are unref'd (a daemon must not be kept alive by them): hold the loop open.
const keepAlive = setInterval(() => {}, 1000)
main().then(() => { clearInterval(keepAlive); process.exit(0) }, (err: unknown) => { console.error(err); process.exit(1) })
