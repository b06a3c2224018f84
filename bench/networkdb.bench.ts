/**
 * NetworkDB benchmark on real libp2p sockets (127.0.0.1), all nodes in this one process.
 *
 *   npm run bench:networkdb -- [--nodes 20] [--rate 200] [--seconds 10] [--big 100000]
 *
 * Measures, as the reference figures of Docker's NetworkDB were measured:
 *  1. propagation: entries created at random times (Poisson, --rate per second, random creators);
 *     for each, the time until ALL other nodes hold it (p50 / p99 / max);
 *  2. late joiner: a node joins a network holding 1,000 (then --big) entries: time until it holds them;
 *  3. failure: a node is killed (its sockets closed without a leave): time until every other node
 *     has purged its entries;
 *  4. RSS of the process divided by the nodes.
 */
import '../proto/polyfill.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKey } from '@libp2p/pnet'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { NetworkDBNode, silentLogger } from '../networkdb/index.js'
import { Libp2pTransport } from '../networkdb/index.js'

function arg (name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : def
}

const NODES = arg('nodes', 20)
const RATE = arg('rate', 200)
const SECONDS = arg('seconds', 10)
const BIG = arg('big', 100_000)

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const enc = new TextEncoder()

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN
}

const fmt = (ms: number): string => `${ms.toFixed(1)} ms`

async function waitFor (pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`)
    await sleep(2)
  }
}

async function main (): Promise<void> {
  const psk = new Uint8Array(95)
  generateKey(psk)
  const dir = await mkdtemp(join(tmpdir(), 'ovnet-bench-'))
  const nodes: NetworkDBNode[] = []
  const make = async (i: number): Promise<NetworkDBNode> => {
    const transport = new Libp2pTransport({ privateKey: await generateKeyPair('Ed25519'), clusterKey: psk, listen: ['/ip4/127.0.0.1/tcp/0'], logger: silentLogger })
    const n = new NetworkDBNode({ transport, name: `bench-${i}`, advertiseAddr: '127.0.0.1' })
    await n.start()
    return n
  }
  try {
    const t0 = Date.now()
    for (let i = 0; i < NODES; i++) nodes.push(await make(i))
    const seed = nodes[0]!.diagnostics().node.addrs
    await Promise.all(nodes.slice(1).map(async n => { await n.join(seed) }))
    await waitFor(() => nodes.every(n => n.members().filter(m => m.status === 'alive').length === NODES), 60_000, 'membership')
    console.log(`cluster of ${NODES} formed in ${Date.now() - t0} ms`)
    await Promise.all(nodes.map(async n => { await n.joinNetwork('bench') }))
    await waitFor(() => nodes.every(n => n.peers('bench').length === NODES), 30_000, 'network peers')
    await sleep(1500) // let gossipsub meshes settle (heartbeat)

    // 1. propagation at RATE/s
    const created = new Map<string, number>()
    const holders = new Map<string, number>()
    const done = new Map<string, number>()
    for (const n of nodes) {
      n.watch('t', 'bench', ev => {
        if (ev.kind !== 'create') return
        const c = (holders.get(ev.key) ?? 0) + 1
        holders.set(ev.key, c)
        if (c === NODES) done.set(ev.key, performance.now() - created.get(ev.key)!)
      })
    }
    const total = RATE * SECONDS
    let next = performance.now()
    for (let k = 0; k < total; k++) {
      next += -Math.log(1 - Math.random()) * (1000 / RATE)
      const wait = next - performance.now()
      if (wait > 1) await sleep(wait)
      const key = `k${k}`
      created.set(key, performance.now())
      void nodes[Math.floor(Math.random() * NODES)]!.createEntry('t', 'bench', key, enc.encode(`value-${k}`))
    }
    await waitFor(() => done.size === total, 60_000, 'propagation')
    const lat = [...done.values()]
    console.log(`propagation N=${NODES} at ${RATE}/s, ${total} entries: p50 ${fmt(pct(lat, 50))}, p99 ${fmt(pct(lat, 99))}, max ${fmt(Math.max(...lat))}`)

    // 2. late joiner: two nodes in a network of its own
    for (const count of [1000, BIG]) {
      const nid = `big-${count}`
      const [a, b] = [nodes[1]!, nodes[2]!]
      await a.joinNetwork(nid)
      for (let k = 0; k < count; k++) await a.createEntry('t', nid, `e${k}`, enc.encode(`endpoint-value-${k}-xxxxxxxxxxxxxxxx`))
      await sleep(200)
      const t = performance.now()
      await b.joinNetwork(nid)
      await waitFor(() => b.walkTable('t', nid).length === count, 30_000, 'late joiner')
      console.log(`late joiner: ${count} entries held ${fmt(performance.now() - t)} after joinNetwork`)
    }

    // 3. failure detection: kill the last node (closes sockets, no leave)
    const victim = nodes[NODES - 1]!
    await victim.createEntry('t', 'bench', 'victim', enc.encode('v'))
    const others = nodes.slice(0, NODES - 1)
    await waitFor(() => others.every(n => n.getEntry('t', 'bench', 'victim') !== undefined), 10_000, 'victim entry')
    const tk = performance.now()
    await victim.close()
    nodes.pop()
    await waitFor(() => others.every(n => n.getEntry('t', 'bench', 'victim') === undefined), 30_000, 'purge')
    console.log(`killed node purged everywhere after ${fmt(performance.now() - tk)}`)

    const rss = process.memoryUsage().rss
    console.log(`RSS ${(rss / 2 ** 20).toFixed(0)} MiB for ${NODES} nodes = ${(rss / 2 ** 20 / NODES).toFixed(1)} MiB per node`)
  } finally {
    await Promise.all(nodes.map(async n => { await n.close().catch(() => {}) }))
    await rm(dir, { recursive: true, force: true })
  }
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1) })
