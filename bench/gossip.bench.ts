/**
 * CPU per delivered entry of NetworkDB over libp2p, on real sockets (127.0.0.1), one PROCESS per
 * node: what a receiving agent pays for each table entry another host writes. It counts
 * CPU-seconds (process.cpuUsage of each node process), not wall time, so the figure hardly depends
 * on what else the machine runs.
 *
 *   npm run bench:gossip -- [--nodes 6] [--rate 50] [--entries 1500] [--bytes 200] [--rounds 2]
 *                           [--networks 1]
 *
 * Every node writes entries of one network at rate/nodes per second (together --rate per
 * second, the way attaches land on random hosts), so each node both publishes (to nodes-1 peers)
 * and receives. With --networks K, each write is one entry in each of K networks in the same turn
 * of the event loop (an attach writes the endpoint's record and its overlay tables); --rate and
 * --entries then count writes, and every entry of every network counts as delivered. Per round: a load window (--entries entries, until every node holds all of
 * them), then an idle window of the same length. Printed per round and node: CPU µs per entry
 * delivered to it, gross and net of the idle window's CPU (probes, anti-entropy, heartbeats), and
 * per gossip message it received (NetworkDB's gossipIn: a message may carry several entries).
 * `npm run bench:gossip:dist -- ...` runs the built JS (no tsx in the node processes), as agents do.
 * First, the CPU of one Ed25519 verification and signing without and with the key cache.
 * OVNET_BENCH_CONFIG='{"bulkSyncIntervalMs":3600000}' passes NetworkDB config to the nodes (here:
 * no anti-entropy, whose cost per entry depends on which digest buckets differ at the moment).
 * OVNET_BENCH_PROF=dir writes a V8 CPU profile of each node's first load window into dir.
 */
import '../core/polyfill.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { generateKey } from '@libp2p/pnet'
import type { NodeCommand } from './gossip-node.js'
import { benchArgs } from './args.js'

const ARGS = benchArgs({ nodes: 6, rate: 50, entries: 1500, bytes: 200, rounds: 2, networks: 1 })
// Built (dist/bench/gossip.bench.js, `npm run bench:gossip:dist`): the nodes run built JS, as agents do
const BUILT = import.meta.url.endsWith('.js')
const NODE = fileURLToPath(new URL(BUILT ? './gossip-node.js' : './gossip-node.ts', import.meta.url))
const PRELOAD = fileURLToPath(new URL('../../bin/preload.js', import.meta.url))
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

interface Stats { cpuMicros: number, sysMicros: number, delivered: number, gossipIn: number, writes: number, rss: number }

class NodeProcess {
  addrs: string[] = []
  private readonly child: ChildProcess
  private next = 1
  private readonly calls = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  readonly ready: Promise<void>

  constructor (name: string, psk: Uint8Array) {
    this.child = spawn(process.execPath, ['--import', BUILT ? PRELOAD : 'tsx', NODE], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, OVNET_BENCH_PSK: Buffer.from(psk).toString('base64'), OVNET_BENCH_NAME: name }
    })
    const lines = createInterface({ input: this.child.stdout! })
    this.ready = new Promise((resolve, reject) => {
      this.child.once('exit', code => { reject(new Error(`${name} exited with ${code}`)) })
      lines.on('line', line => {
        const m = JSON.parse(line) as { ready?: boolean, addrs?: string[], id?: number, result?: unknown, error?: string }
        if (m.ready === true) { this.addrs = m.addrs!; resolve(); return }
        const c = this.calls.get(m.id!)
        this.calls.delete(m.id!)
        if (m.error !== undefined) c?.reject(new Error(`${name}: ${m.error}`))
        else c?.resolve(m.result)
      })
    })
  }

  async call<T> (cmd: NodeCommand): Promise<T> {
    const id = this.next++
    return await new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.child.stdin!.write(JSON.stringify({ id, cmd }) + '\n')
    })
  }

  async exit (): Promise<void> {
    const c = this.child
    if (c.exitCode !== null || c.signalCode !== null) return
    const timer = setTimeout(() => { c.kill('SIGKILL') }, 5000)
    await new Promise(resolve => c.once('exit', resolve))
    clearTimeout(timer)
  }
}

async function waitFor (pred: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`)
    await sleep(50)
  }
}

const stats = async (nodes: NodeProcess[]): Promise<Stats[]> =>
  await Promise.all(nodes.map(async n => await n.call<Stats>({ op: 'stats' })))

function summary (xs: number[], digits = 0): string {
  const s = [...xs].sort((a, b) => a - b)
  const mean = s.reduce((a, b) => a + b, 0) / s.length
  return `mean ${mean.toFixed(digits)}, min ${s[0]!.toFixed(digits)}, max ${s[s.length - 1]!.toFixed(digits)}`
}

/**
 * CPU µs of one gossipsub-style signature check (a fresh key object from the sender's raw key, as
 * gossipsub builds one from each message's `from`) and of one signing, in this process.
 */
async function keyCosts (ops: number): Promise<{ verify: number, sign: number }> {
  const key = await generateKeyPair('Ed25519')
  const msg = new Uint8Array(300).fill(7)
  const sig = await key.sign(msg)
  let t = process.cpuUsage()
  for (let i = 0; i < ops; i++) if (!(await publicKeyFromRaw(key.publicKey.raw).verify(msg, sig))) throw new Error('verify')
  let d = process.cpuUsage(t)
  const verify = (d.user + d.system) / ops
  t = process.cpuUsage()
  for (let i = 0; i < ops; i++) await key.sign(msg)
  d = process.cpuUsage(t)
  return { verify, sign: (d.user + d.system) / ops }
}

async function main (): Promise<void> {
  // Ed25519 without and with networkdb/ed25519-key-cache.ts (the nodes run with it: adapters.ts)
  const plain = await keyCosts(3000)
  await import('../networkdb/adapters.js') // loads networkdb/ed25519-key-cache.ts
  const cached = await keyCosts(3000)
  console.log(`Ed25519 CPU µs per op, @libp2p/crypto as released / with the key cache: verify ` +
    `${plain.verify.toFixed(1)} / ${cached.verify.toFixed(1)}, sign ${plain.sign.toFixed(1)} / ${cached.sign.toFixed(1)}`)
  const N = ARGS.nodes
  const psk = new Uint8Array(95)
  generateKey(psk)
  const nodes = Array.from({ length: N }, (_, i) => new NodeProcess(`gossip-${i}`, psk))
  try {
    await Promise.all(nodes.map(async n => { await n.ready }))
    const seeds = nodes[0]!.addrs
    for (const n of nodes.slice(1)) await n.call({ op: 'join', seeds })
    const nids = Array.from({ length: ARGS.networks }, (_, i) => `bench${i}`)
    for (const nid of nids) {
      await Promise.all(nodes.map(async n => { await n.call({ op: 'joinNetwork', nid }) }))
      await waitFor(async () => (await Promise.all(nodes.map(async n => await n.call<number>({ op: 'peers', nid }))))
        .every(p => p === N), 60_000, 'network membership')
    }
    // warm-up: JIT, connections, gossipsub's view of the topic
    await Promise.all(nodes.map(async (n, i) => { await n.call({ op: 'write', nids, prefix: `w${i}`, count: 20, rate: 20, bytes: ARGS.bytes }) }))
    await sleep(2000)
    const perNode = Math.ceil(ARGS.entries / N)
    const total = perNode * N
    console.log(`${N} node processes, ${ARGS.rate} writes/s in all (${perNode} per node), each an entry in ` +
      `${nids.length} network(s), ${ARGS.bytes}-byte values`)
    for (let round = 1; round <= ARGS.rounds; round++) {
      // OVNET_BENCH_PROF=dir: each node writes a CPU profile of the first load window there
      if (round === 1) await Promise.all(nodes.map(async n => { await n.call({ op: 'profile', start: true }) }))
      const s0 = await stats(nodes)
      const t0 = performance.now()
      await Promise.all(nodes.map(async (n, i) => {
        await n.call({ op: 'write', nids, prefix: `r${round}n${i}`, count: perNode, rate: ARGS.rate / N, bytes: ARGS.bytes })
      }))
      const want = s0.map(s => s.delivered + (total - perNode) * nids.length)
      await waitFor(async () => (await stats(nodes)).every((s, i) => s.delivered >= want[i]!), 120_000, 'delivery')
      const s1 = await stats(nodes)
      if (round === 1) await Promise.all(nodes.map(async n => { await n.call({ op: 'profile', start: false }) }))
      const loadMs = performance.now() - t0
      await sleep(loadMs)
      const s2 = await stats(nodes)
      const idleMs = performance.now() - t0 - loadMs
      const gross = s1.map((s, i) => (s.cpuMicros - s0[i]!.cpuMicros) / (s.delivered - s0[i]!.delivered))
      const net = s1.map((s, i) => {
        const idle = (s2[i]!.cpuMicros - s.cpuMicros) * loadMs / idleMs
        return (s.cpuMicros - s0[i]!.cpuMicros - idle) / (s.delivered - s0[i]!.delivered)
      })
      const writes = s1.map((s, i) => (s.writes - s0[i]!.writes) / (s.delivered - s0[i]!.delivered))
      const netWrites = s1.map((s, i) => (s.writes - s0[i]!.writes - (s2[i]!.writes - s.writes) * loadMs / idleMs) /
        (s.delivered - s0[i]!.delivered))
      // the gossip queue packs more entries into a message when the event loop is late (load):
      // CPU per received gossip message is the figure that does not move with that
      const perMessage = s1.map((s, i) => (s.cpuMicros - s0[i]!.cpuMicros) / (s.gossipIn - s0[i]!.gossipIn))
      const entriesPerMessage = s1.map((s, i) => (s.delivered - s0[i]!.delivered) / (s.gossipIn - s0[i]!.gossipIn))
      const sysShare = s1.map((s, i) => 100 * (s.sysMicros - s0[i]!.sysMicros) / (s.cpuMicros - s0[i]!.cpuMicros))
      const idleShare = s1.map((s, i) => (s2[i]!.cpuMicros - s.cpuMicros) / idleMs / 10)
      console.log(`round ${round}: ${total} writes in ${(loadMs / 1000).toFixed(1)} s; CPU µs per delivered entry, ` +
        `per node: gross ${summary(gross)} (kernel ${summary(sysShare)} %); net of idle ${summary(net)}; ` +
        `idle CPU % of a core ${summary(idleShare)}; ` +
        `socket writes per delivered entry: gross ${summary(writes, 2)}; net of idle ${summary(netWrites, 2)}`)
      console.log(`  gossip messages received: CPU µs per message (gross) ${summary(perMessage)}; ` +
        `entries per message ${summary(entriesPerMessage, 2)}`)
    }
    const rss = (await stats(nodes)).map(s => s.rss / 2 ** 20)
    console.log(`RSS MiB per node: ${summary(rss)}`)
  } finally {
    await Promise.all(nodes.map(async n => {
      void n.call({ op: 'close' }).catch(() => {})
      await n.exit()
    }))
  }
}

main().then(() => process.exit(0), (err: unknown) => { console.error(err); process.exit(1) })
