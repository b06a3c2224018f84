/**
 * A bench worker thread: hosts some of the benchmark's NetworkDB nodes (real libp2p sockets on
 * 127.0.0.1) and answers the orchestrator's commands. Times are absolute
 * (performance.timeOrigin + performance.now()), comparable across the threads of the process.
 */
import '../core/polyfill.js'
import { parentPort, workerData } from 'node:worker_threads'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { NetworkDBNode } from '../networkdb/index.js'
import { Libp2pTransport } from '../networkdb/adapters.js'
import { silentLogger } from '../core/index.js'

export type Command =
  | { op: 'start', count: number, first: number }
  | { op: 'join', seeds: string[] }
  | { op: 'joinNetwork', nid: string, nodes?: number[] }
  | { op: 'watch', table: string, nid: string, total: number }
  | { op: 'create', node: number, table: string, nid: string, key: string }
  | { op: 'fill', node: number, nid: string, count: number }
  | { op: 'lateJoin', node: number, nid: string, count: number }
  | { op: 'leave', node: number, nid: string }
  | { op: 'countOthers', node: number, table: string, nid: string }
  | { op: 'waitGone', table: string, nid: string, key: string }
  | { op: 'close', node?: number }
  | { op: 'status' }
  | { op: 'diag' }

const now = (): number => performance.timeOrigin + performance.now()
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const enc = new TextEncoder()
const { psk } = workerData as { psk: Uint8Array }
const nodes = new Map<number, NetworkDBNode>()
const transports = new Map<number, Libp2pTransport>()
const sendFail = new Map<number, number>()
const closeWhy = new Map<string, number>()
let failAfter = Infinity
const flaps = new Map<string, number>()

async function handle (cmd: Command): Promise<unknown> {
  switch (cmd.op) {
    case 'start': {
      for (let i = cmd.first; i < cmd.first + cmd.count; i++) {
        const transport = new Libp2pTransport({ privateKey: await generateKeyPair('Ed25519'), clusterKey: psk, listen: ['/ip4/127.0.0.1/tcp/0'], logger: silentLogger })
        const n = new NetworkDBNode({ transport, name: `bench-${i}`, advertiseAddr: '127.0.0.1', config: JSON.parse(process.env.OVNET_BENCH_CONFIG ?? '{}') as Record<string, number> })
        await n.start()
        nodes.set(i, n)
        transports.set(i, transport)
        n.watchCluster(ev => {
          if (ev.type !== 'node' || now() < failAfter) return
          const k = `${ev.prev ?? '-'}->${ev.node.status}`
          flaps.set(k, (flaps.get(k) ?? 0) + 1)
        })
        if (process.env.OVNET_BENCH_DIAG === '1') {
          const ps = transport.libp2p!.services.pubsub as unknown as { sendRpc: (id: string, rpc: unknown) => boolean }
          const orig = ps.sendRpc.bind(ps)
          ps.sendRpc = (id, rpc) => { const ok = orig(id, rpc); if (!ok && now() > failAfter) sendFail.set(i, (sendFail.get(i) ?? 0) + 1); return ok }
          transport.libp2p!.addEventListener('connection:open', (evt) => {
            const c = evt.detail
            c.addEventListener('close', (e: Event & { error?: Error }) => {
              const why = e.error === undefined ? 'clean' : `${e.error.name}: ${e.error.message.slice(0, 80)}`
              closeWhy.set(why, (closeWhy.get(why) ?? 0) + 1)
            })
          })
        }
      }
      return Object.fromEntries([...nodes].map(([i, n]) => [i, n.diagnostics().node.addrs]))
    }
    case 'join':
      await Promise.all([...nodes.values()].map(async n => { if (!cmd.seeds.some(s => n.diagnostics().node.addrs.includes(s))) await n.join(cmd.seeds) }))
      return null
    case 'joinNetwork':
      await Promise.all([...nodes].filter(([i]) => cmd.nodes === undefined || cmd.nodes.includes(i)).map(async ([, n]) => { await n.joinNetwork(cmd.nid) }))
      return null
    case 'watch': {
      failAfter = now()
      // report per key when every local node other than the creator holds it
      const arrivals = new Map<string, { count: number, last: number }>()
      const local = nodes.size
      for (const n of nodes.values()) {
        n.watch(cmd.table, cmd.nid, ev => {
          if (ev.kind !== 'create') return
          const t = now()
          const a = arrivals.get(ev.key) ?? { count: 0, last: 0 }
          a.count++
          a.last = Math.max(a.last, t)
          arrivals.set(ev.key, a)
          // every local node sees the create, the creator included (its own write)
          if (a.count === local) {
            const creatorLocal = [...nodes.values()].some(x => x.nodeId === ev.owner)
            parentPort!.postMessage({ event: 'arrived', key: ev.key, last: a.last, count: creatorLocal ? local - 1 : local })
          }
        })
      }
      return null
    }
    case 'create': {
      const t = now()
      void nodes.get(cmd.node)!.createEntry(cmd.table, cmd.nid, cmd.key, enc.encode(`value-${cmd.key}`))
      return t
    }
    case 'fill': {
      const n = nodes.get(cmd.node)!
      await n.joinNetwork(cmd.nid)
      for (let k = 0; k < cmd.count; k++) await n.createEntry('t', cmd.nid, `e${k}`, enc.encode(`endpoint-value-${k}-xxxxxxxxxxxxxxxx`))
      return null
    }
    case 'lateJoin': {
      // Counted from the watch events (each entry's create is delivered once it is held): polling
      // walkTable copied the whole table every millisecond in the thread doing the merge.
      const n = nodes.get(cmd.node)!
      let held = 0
      let resolveAll: (t: number) => void = () => {}
      const all = new Promise<number>(resolve => { resolveAll = resolve })
      const unwatch = n.watch('t', cmd.nid, ev => { if (ev.kind === 'create' && ++held === cmd.count) resolveAll(now()) })
      if (cmd.count === 0) resolveAll(now())
      const t = now()
      await n.joinNetwork(cmd.nid)
      const done = await all
      unwatch()
      return done - t
    }
    case 'leave':
      await nodes.get(cmd.node)!.leaveNetwork(cmd.nid)
      return null
    case 'countOthers': {
      // entries of `table` in `nid` that node holds and does not own
      const n = nodes.get(cmd.node)!
      return n.walkTable(cmd.table, cmd.nid).filter(e => e.owner !== n.nodeId).length
    }
    case 'waitGone': {
      for (;;) {
        if ([...nodes.values()].every(n => n.getEntry(cmd.table, cmd.nid, cmd.key) === undefined)) return now()
        await sleep(1)
      }
    }
    case 'close':
      if (cmd.node !== undefined) {
        await nodes.get(cmd.node)?.close()
        nodes.delete(cmd.node)
      } else {
        await Promise.all([...nodes.values()].map(async n => { await n.close() }))
        nodes.clear()
      }
      return null
    case 'diag':
      console.log(JSON.stringify([...closeWhy]), JSON.stringify([...flaps]))
      return [...transports].map(([i, t]) => {
        const ps = t.libp2p!.services.pubsub as unknown as { topics: Map<string, Set<string>>, streamsOutbound: Map<string, unknown>, streamsInbound: Map<string, unknown>, peers: Map<string, unknown> }
        return { i, topicPeers: ps.topics.get('ovnet/1/net/bench')?.size ?? 0, out: ps.streamsOutbound.size, in: ps.streamsInbound.size, peers: ps.peers.size, conns: t.libp2p!.getConnections().length, sendFail: sendFail.get(i) ?? 0 }
      })
    case 'status':
      return [...nodes.values()].map(n => ({ alive: n.members().filter(m => m.status === 'alive').length, peers: n.peers('bench').length }))
  }
}

parentPort!.on('message', (msg: { id: number, cmd: Command }) => {
  handle(msg.cmd).then(
    result => { parentPort!.postMessage({ id: msg.id, result }) },
    (err: unknown) => { parentPort!.postMessage({ id: msg.id, error: String(err) }) }
  )
})
