/**
 * NetworkDB benchmark on real libp2p sockets (127.0.0.1): N nodes in ONE process, spread over
 * worker threads (default: one per core) because one JS thread cannot verify 19 gossipsub
 * signatures per message at 200 messages/s. Run as root or not; it touches only loopback.
 *
 *   npm run bench:networkdb -- [--nodes 20] [--rate 200] [--seconds 10] [--big 100000] [--workers 2]
 *                              [--joins 10] [--big-joins 3]
 *
 * Measures what the reference figures of Docker's NetworkDB measured:
 *  1. propagation: entries created at random times (Poisson, --rate per second, random creators);
 *     for each, the time until ALL other nodes hold it (p50 / p99 / max);
 *  2. late joiner: a node joins a network holding 1,000 (then --big) entries: time until it holds
 *     them, over --joins (--big-joins) joins of fresh networks (p50, max and every sample);
 *     Then a node leaves the propagation network (all nodes are in it) and joins it again;
 *  3. failure: a node is killed (sockets closed, no leave): time until every other node has purged
 *     its entries;
 *  4. RSS of the process divided by the nodes.
 */
import '../core/polyfill.js'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { generateKey } from '@libp2p/pnet'
import type { Command } from './networkdb-worker.js'
import { benchArgs } from './args.js'

const ARGS = benchArgs({ nodes: 20, rate: 200, seconds: 10, big: 100_000, joins: 10, 'big-joins': 3, workers: availableParallelism() })

const NODES = ARGS.nodes
const RATE = ARGS.rate
const SECONDS = ARGS.seconds
const BIG = ARGS.big
const JOINS = ARGS.joins
const BIG_JOINS = ARGS['big-joins']
const WORKERS = Math.max(1, Math.min(NODES, ARGS.workers))

const now = (): number => performance.timeOrigin + performance.now()
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const fmt = (ms: number): string => `${ms.toFixed(1)} ms`

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN
}

class Host {
  private readonly w: Worker
  private next = 1
  private readonly calls = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  onEvent: (ev: { event: string, key: string, last: number, count: number }) => void = () => {}

  constructor (psk: Uint8Array) {
    // workers do not inherit the tsx loader on Node 20: register it, then load the TS module
    const tsx = import.meta.resolve('tsx/esm/api')
    const entry = new URL('./networkdb-worker.ts', import.meta.url).href
    const boot = `import(${JSON.stringify(tsx)}).then(m => { m.register(); return import(${JSON.stringify(entry)}) })`
    this.w = new Worker(boot, { eval: true, workerData: { psk } })
    this.w.on('message', (m: { id?: number, result?: unknown, error?: string, event?: string }) => {
      if (m.id === undefined) { this.onEvent(m as never); return }
      const c = this.calls.get(m.id)
      this.calls.delete(m.id)
      if (m.error !== undefined) c?.reject(new Error(m.error))
      else c?.resolve(m.result)
    })
  }

  async call<T> (cmd: Command): Promise<T> {
    const id = this.next++
    return await new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.w.postMessage({ id, cmd })
    })
  }

  async terminate (): Promise<void> { await this.w.terminate() }
}

async function waitFor (pred: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`)
    await sleep(process.env.OVNET_BENCH_DIAG === '1' ? 2000 : 20)
  }
}

async function main (): Promise<void> {
  const psk = new Uint8Array(95)
  generateKey(psk)
  const hosts = Array.from({ length: WORKERS }, () => new Host(psk))
  const hostOf = new Map<number, Host>()
  try {
    const t0 = Date.now()
    let first = 0
    const addrs = new Map<number, string[]>()
    for (const [w, h] of hosts.entries()) {
      const count = Math.floor(NODES / WORKERS) + (w < NODES % WORKERS ? 1 : 0)
      const got = await h.call<Record<string, string[]>>({ op: 'start', count, first })
      for (const [i, a] of Object.entries(got)) { addrs.set(Number(i), a); hostOf.set(Number(i), h) }
      first += count
    }
    const seeds = addrs.get(0)!
    await Promise.all(hosts.map(async h => { await h.call({ op: 'join', seeds }) }))
    await Promise.all(hosts.map(async h => { await h.call({ op: 'joinNetwork', nid: 'bench' }) }))
    const status = async (): Promise<Array<{ alive: number, peers: number }>> => (await Promise.all(hosts.map(async h => await h.call<Array<{ alive: number, peers: number }>>({ op: 'status' })))).flat()
    await waitFor(async () => {
      const st = await status()
      if (process.env.OVNET_BENCH_DIAG === '1') console.log(`t+${Date.now() - t0} ms alive ${st.map(s => s.alive).join(',')} peers ${st.map(s => s.peers).join(',')}`)
      return st.every(s => s.alive === NODES && s.peers === NODES)
    }, 180_000, 'membership')
    console.log(`cluster of ${NODES} nodes on ${WORKERS} worker threads formed in ${Date.now() - t0} ms`)
    await sleep(1500)

    // 1. propagation at RATE/s
    const created = new Map<string, number>()
    const got = new Map<string, { count: number, last: number }>()
    const done = new Map<string, number>()
    for (const h of hosts) {
      h.onEvent = ev => {
        const g = got.get(ev.key) ?? { count: 0, last: 0 }
        g.count += ev.count
        g.last = Math.max(g.last, ev.last)
        got.set(ev.key, g)
        if (g.count === NODES - 1 && created.has(ev.key)) done.set(ev.key, g.last - created.get(ev.key)!)
      }
      await h.call({ op: 'watch', table: 't', nid: 'bench', total: NODES })
    }
    const total = RATE * SECONDS
    let next = now()
    for (let k = 0; k < total; k++) {
      next += -Math.log(1 - Math.random()) * (1000 / RATE)
      const wait = next - now()
      if (wait > 1) await sleep(wait)
      const node = Math.floor(Math.random() * NODES)
      const key = `k${k}`
      void hostOf.get(node)!.call<number>({ op: 'create', node, table: 't', nid: 'bench', key }).then(t => {
        created.set(key, t)
        const g = got.get(key)
        if (g !== undefined && g.count === NODES - 1) done.set(key, g.last - t)
      })
    }
    if (process.env.OVNET_BENCH_DIAG === '1') {
      await waitFor(() => done.size === total, 30_000, 'propagation').catch(() => {})
      console.log(`done ${done.size}/${total}; incomplete: ${JSON.stringify([...got].filter(([k]) => !done.has(k)).slice(0, 10))}`)
      console.log(JSON.stringify((await Promise.all(hosts.map(async h => await h.call<unknown[]>({ op: 'diag' })))).flat()))
    }
    await waitFor(() => done.size === total, 120_000, 'propagation')
    const lat = [...done.values()]
    if (process.env.OVNET_BENCH_DIAG === '1') {
      const start = Math.min(...created.values())
      const win = new Map<number, number[]>()
      for (const [k, l] of done) { const w = Math.floor((created.get(k)! - start) / 250); win.set(w, [...(win.get(w) ?? []), l]) }
      console.log([...win].sort((a, b) => a[0] - b[0]).map(([w, ls]) => `${w * 250}:${Math.round(pct(ls, 50))}/${Math.round(Math.max(...ls))}`).join(' '))
    }
    console.log(`propagation: N=${NODES}, ${RATE} entries/s for ${SECONDS} s (${total} entries), time until ALL other nodes hold an entry: p50 ${fmt(pct(lat, 50))}, p99 ${fmt(pct(lat, 99))}, max ${fmt(Math.max(...lat))}`)

    // 2. late joiner: node 1 fills a network of its own, node 2 (on the same worker thread: the
    // answer and the merge share one CPU) joins it; JOINS times with 1,000 entries, BIG_JOINS with BIG
    for (const [count, joins] of [[1000, JOINS], [BIG, BIG_JOINS]] as const) {
      const took: number[] = []
      for (let round = 0; round < joins; round++) {
        const nid = `big-${count}-${round}`
        await hostOf.get(1)!.call({ op: 'fill', node: 1, nid, count })
        await sleep(300)
        took.push(await hostOf.get(2)!.call<number>({ op: 'lateJoin', node: 2, nid, count }))
      }
      if (took.length === 0) continue
      console.log(`late joiner: holds ${count} entries after joinNetwork: ${joins} joins, p50 ${fmt(pct(took, 50))}, max ${fmt(Math.max(...took))} (${took.map(t => t.toFixed(1)).join(', ')})`)
    }

    // 2b. late joiner of a network with many members: node 3 leaves the propagation network (its
    // own entries go) and joins it again; it gets the others' entries from its 18 fellow members
    const others = await hostOf.get(3)!.call<number>({ op: 'countOthers', node: 3, table: 't', nid: 'bench' })
    await hostOf.get(3)!.call({ op: 'leave', node: 3, nid: 'bench' })
    await sleep(300)
    const rejoin = await hostOf.get(3)!.call<number>({ op: 'lateJoin', node: 3, nid: 'bench', count: others })
    console.log(`late joiner of a network of ${NODES - 1} members: holds their ${others} entries ${fmt(rejoin)} after joinNetwork`)

    // 3. failure detection: the last node writes an entry, then is killed (sockets closed, no leave)
    const victim = NODES - 1
    await hostOf.get(victim)!.call({ op: 'create', node: victim, table: 'v', nid: 'bench', key: 'victim' })
    await sleep(500)
    const tk = now()
    await hostOf.get(victim)!.call({ op: 'close', node: victim })
    const gone = await Promise.all(hosts.map(async h => await h.call<number>({ op: 'waitGone', table: 'v', nid: 'bench', key: 'victim' })))
    console.log(`killed node: its entries purged on every other node after ${fmt(Math.max(...gone) - tk)}`)

    const rss = process.memoryUsage().rss
    console.log(`RSS ${(rss / 2 ** 20).toFixed(0)} MiB for ${NODES} nodes (one process) = ${(rss / 2 ** 20 / NODES).toFixed(1)} MiB per node`)
  } finally {
    await Promise.all(hosts.map(async h => { await h.call({ op: 'close' }).catch(() => {}); await h.terminate() }))
  }
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1) })
