/**
 * One NetworkDB node of `npm run bench:gossip`, in a process of its own (real libp2p sockets on
 * 127.0.0.1), so that process.cpuUsage() is this node's CPU alone. Commands are JSON lines on
 * stdin, answers JSON lines on stdout: { id, result } or { id, error }.
 */
import '../core/polyfill.js'
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { NetworkDBNode } from '../networkdb/index.js'
import { Libp2pTransport } from '../networkdb/adapters.js'
import { silentLogger } from '../core/index.js'

export type NodeCommand =
  | { op: 'join', seeds: string[] }
  | { op: 'joinNetwork', nid: string }
  | { op: 'peers', nid: string }
  | { op: 'write', nids: string[], prefix: string, count: number, rate: number, bytes: number }
  | { op: 'stats' }
  | { op: 'profile', start: boolean }
  | { op: 'close' }

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const psk = Buffer.from(process.env.OVNET_BENCH_PSK ?? '', 'base64')
const transport = new Libp2pTransport({
  privateKey: await generateKeyPair('Ed25519'), clusterKey: psk, listen: ['/ip4/127.0.0.1/tcp/0'], logger: silentLogger
})
const node = new NetworkDBNode({
  transport, name: process.env.OVNET_BENCH_NAME ?? 'gossip', advertiseAddr: '127.0.0.1',
  config: JSON.parse(process.env.OVNET_BENCH_CONFIG ?? '{}') as Record<string, number>
})
await node.start()
/** Creates of other nodes' entries seen by this node's watchers: the delivered entries. */
let delivered = 0
/** Socket write syscalls: writes and writevs (every socket of the process: libp2p's TCP connections). */
let writes = 0
type WriteFn = (this: Socket, ...args: unknown[]) => void
const sockets = Socket.prototype as unknown as { _write: WriteFn, _writev: WriteFn }
for (const name of ['_write', '_writev'] as const) {
  const original = sockets[name]
  sockets[name] = function (this: Socket, ...args: unknown[]) { writes++; original.apply(this, args) }
}
const session = new Session()
const watched = new Set<string>()

async function handle (cmd: NodeCommand): Promise<unknown> {
  switch (cmd.op) {
    case 'join': await node.join(cmd.seeds); return null
    case 'joinNetwork':
      await node.joinNetwork(cmd.nid)
      if (!watched.has(cmd.nid)) {
        watched.add(cmd.nid)
        node.watch('endpoints', cmd.nid, ev => { if (ev.kind === 'create' && ev.owner !== node.nodeId) delivered++ })
      }
      return null
    case 'peers': return node.peers(cmd.nid).length
    case 'write': {
      // a fixed schedule (no drift): entry k at start + k / rate
      const start = performance.now()
      const value = new Uint8Array(cmd.bytes).fill(0x61)
      for (let k = 0; k < cmd.count; k++) {
        const wait = start + (k * 1000) / cmd.rate - performance.now()
        if (wait > 0) await sleep(wait)
        // one entry per network in the same turn, as an attach writes the endpoint's tables
        await Promise.all(cmd.nids.map(async nid => { await node.createEntry('endpoints', nid, `${cmd.prefix}-${k}`, value) }))
      }
      return null
    }
    case 'stats': {
      const cpu = process.cpuUsage()
      const { gossipIn } = node.stats()
      return { cpuMicros: cpu.user + cpu.system, sysMicros: cpu.system, delivered, gossipIn, writes, rss: process.memoryUsage().rss }
    }
    case 'profile': {
      // OVNET_BENCH_PROF=dir: a V8 CPU profile of the load window only (start-up left out)
      const dir = process.env.OVNET_BENCH_PROF
      if (dir === undefined) return null
      if (cmd.start) { session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.start'); return null }
      const { profile } = await session.post('Profiler.stop')
      writeFileSync(`${dir}/${process.env.OVNET_BENCH_NAME ?? 'node'}-${process.pid}.cpuprofile`, JSON.stringify(profile))
      session.disconnect()
      return null
    }
    case 'close': await node.close(); setImmediate(() => process.exit(0)); return null
  }
}

createInterface({ input: process.stdin }).on('line', line => {
  const { id, cmd } = JSON.parse(line) as { id: number, cmd: NodeCommand }
  handle(cmd).then(
    result => { process.stdout.write(JSON.stringify({ id, result }) + '\n') },
    (err: unknown) => { process.stdout.write(JSON.stringify({ id, error: String(err) }) + '\n') }
  )
})
process.stdout.write(JSON.stringify({ ready: true, addrs: node.diagnostics().node.addrs }) + '\n')
