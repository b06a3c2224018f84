/**
 * The world the handler fuzz runs in: a node under test ("target") in a small in-memory cluster
 * (FakeClock, MemoryNetwork) with two real peers, three networks and entries of every owner
 * (takeover tables included), and snapshots of everything a frame could change: every table entry
 * (tombstones and hidden copies too), the membership, network membership, clocks, the store and
 * the events the node emitted.
 */
import { FakeClock, MemoryMetrics } from '../../core/index.js'
import {
  driven, MemoryNetwork, MemoryStore, NetworkDBNode, type MemoryTransport, type TransportHandlers
} from '../../networkdb/index.js'

export const TARGET = 'fz-target'
export const PEER_A = 'fz-a'
export const PEER_B = 'fz-b'
/** A sender that is no member (a keyed host that never joined, or a forged id). */
export const STRANGER = 'fz-x'
/** A keyed host that answers the target's requests (sync, push-pull, indirect probe) with fuzz frames. */
export const LIAR = 'fz-liar'
export const NID = 'n'
export const NID2 = 'a'.repeat(64)
/** A network only the peers are in: the target learns its members but holds no tables of it. */
export const NID3 = 'other'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Entries each node writes: [table, key]; keys are shared with the corpus (k1..k6). */
const WRITES: Record<string, Array<[string, string, string]>> = {
  [TARGET]: [['t', 'k5', NID], ['network_table', 'k6', NID], ['t', 'k1', NID2]],
  [PEER_A]: [['t', 'k2', NID], ['u', 'k3', NID], ['t', 'k4', NID2]],
  [PEER_B]: [['t', 'k1', NID], ['u', 'k6', NID], ['network_table', 'k7', NID]]
}

export interface World {
  clock: FakeClock
  target: NetworkDBNode
  peers: NetworkDBNode[]
  handlers: TransportHandlers
  metrics: MemoryMetrics
  store: MemoryStore
  /** Events the target emitted (table and cluster watchers). */
  events: number
  /** What LIAR answers to the next request it gets. */
  answer: Uint8Array[]
  /** Start an exchange of the target with LIAR: a sync of `nid`, a push-pull or an indirect probe. */
  ask(kind: 'sync' | 'pushpull' | 'pingreq', nid: string): Promise<unknown>
  /** Cut (or restore) the target's links to the two peers: during an exchange with LIAR only LIAR speaks. */
  isolate(on: boolean): void
  close(): Promise<void>
}

export async function makeWorld (): Promise<World> {
  const clock = new FakeClock()
  const net = new MemoryNetwork({ clock, latencyMs: 1 })
  const metrics = new MemoryMetrics()
  const store = new MemoryStore()
  const transports = new Map<string, MemoryTransport>()
  const make = (id: string, i: number): NetworkDBNode => {
    const transport = net.transport(id)
    transports.set(id, transport)
    return new NetworkDBNode({
      transport,
      name: id,
      advertiseAddr: `192.0.2.${i + 1}`,
      clock,
      random: () => 0.5,
      store: id === TARGET ? store : new MemoryStore(),
      metrics: id === TARGET ? metrics : undefined
    })
  }
  const target = make(TARGET, 0)
  const liar = net.transport(LIAR)
  const peers = [make(PEER_A, 1), make(PEER_B, 2)]
  const all = [target, ...peers]
  for (const n of all) await n.start()
  for (const p of peers) await driven(clock, async () => { await p.join([`mem://${TARGET}`], 10_000) }, 10)
  const nets: Record<string, string[]> = { [TARGET]: [NID, NID2], [PEER_A]: [NID, NID2, NID3], [PEER_B]: [NID, NID3] }
  for (const n of all) {
    for (const nid of nets[n.nodeName]!) await driven(clock, async () => { await n.joinNetwork(nid) }, 10)
  }
  for (const n of all) {
    for (const [table, key, nid] of WRITES[n.nodeName]!) {
      await n.createEntry(table, nid, key, enc(`${n.nodeName}:${key}`))
    }
  }
  await clock.advance(3000)
  const world: World = {
    clock,
    target,
    peers,
    handlers: transports.get(TARGET)!.handlers!,
    metrics,
    store,
    events: 0,
    answer: [],
    isolate (on) {
      if (!on) { net.heal(); return }
      net.block(TARGET, PEER_A)
      net.block(TARGET, PEER_B)
    },
    async ask (kind, nid) {
      // the exchanges a node starts itself (private: the harness plays the timers that start them)
      const t = target as unknown as {
        sync(peer: string, nid: string): Promise<boolean>
        pushPull(peer: string): Promise<void>
        indirectProbe(helper: string, target: string, timeoutMs: number): Promise<boolean>
      }
      if (kind === 'sync') return await t.sync(LIAR, nid)
      if (kind === 'pushpull') return await t.pushPull(LIAR)
      return await t.indirectProbe(LIAR, PEER_B, 300)
    },
    async close () {
      await liar.stop()
      for (const n of all) await n.close()
    }
  }
  await liar.start({
    onMessage () {},
    onRequest: async () => world.answer,
    onPeerConnected () {},
    onPeerDisconnected () {}
  })
  target.watchCluster(() => { world.events++ })
  for (const table of ['t', 'u', 'network_table', 'network_removal_table']) {
    target.watch(table, undefined, () => { world.events++ })
  }
  world.events = 0
  return world
}

/** One entry as the target holds it. */
export interface EntryState { owner: string, ltime: number, deleted: boolean, hidden: boolean, value: string }

export interface MemberState { name: string, advertise: string, addrs: string, status: string, inc: number }

export interface Snapshot {
  entries: Map<string, EntryState>
  members: Map<string, MemberState>
  peers: string
  clocks: { network: number, table: number }
  digest: string
  store: string
  events: number
}

type RawEntry = Omit<EntryState, 'value'> & { value: Uint8Array }
type RawTables = Map<string, { tables: Map<string, Map<string, RawEntry>> }>

/** The target's tables (private to NetworkDB; the harness reads every entry, tombstones included). */
function tablesOf (node: NetworkDBNode): RawTables {
  return (node as unknown as { tables: { nets: RawTables } }).tables.nets
}

export async function snapshot (w: World): Promise<Snapshot> {
  const entries = new Map<string, EntryState>()
  for (const [nid, net] of tablesOf(w.target)) {
    for (const [table, keys] of net.tables) {
      for (const [key, e] of keys) {
        const value = Buffer.from(e.value).toString('hex')
        const state = { owner: e.owner, ltime: e.ltime, deleted: e.deleted, hidden: e.hidden, value }
        entries.set(`${nid}\u0000${table}\u0000${key}`, state)
      }
    }
  }
  const members = new Map<string, MemberState>()
  for (const m of w.target.members()) {
    const addrs = m.addrs.join(',')
    members.set(m.id, { name: m.name, advertise: m.advertiseAddr, addrs, status: m.status, inc: m.incarnation })
  }
  const d = w.target.diagnostics()
  const stored = await w.store.load()
  return {
    entries,
    members,
    peers: [NID, NID2, NID3].map(nid => `${nid}:${w.target.peers(nid).join(',')}`).join(';'),
    clocks: d.clocks,
    digest: d.digest,
    store: JSON.stringify(stored, (_k, v: unknown) => v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v),
    events: w.events
  }
}

/** Differences between two snapshots, as text (empty: equal). */
export function diff (a: Snapshot, b: Snapshot): string[] {
  const out: string[] = []
  const keys = new Set([...a.entries.keys(), ...b.entries.keys()])
  for (const k of keys) {
    const x = JSON.stringify(a.entries.get(k))
    const y = JSON.stringify(b.entries.get(k))
    if (x !== y) out.push(`entry ${k.replaceAll('\u0000', '/')}: ${x} -> ${y}`)
  }
  for (const id of new Set([...a.members.keys(), ...b.members.keys()])) {
    const x = JSON.stringify(a.members.get(id))
    const y = JSON.stringify(b.members.get(id))
    if (x !== y) out.push(`member ${id}: ${x} -> ${y}`)
  }
  if (a.peers !== b.peers) out.push(`network members: ${a.peers} -> ${b.peers}`)
  if (a.clocks.network !== b.clocks.network || a.clocks.table !== b.clocks.table) {
    out.push(`clocks: ${JSON.stringify(a.clocks)} -> ${JSON.stringify(b.clocks)}`)
  }
  if (a.digest !== b.digest) out.push(`digest: ${a.digest} -> ${b.digest}`)
  if (a.store !== b.store) out.push('store changed')
  if (a.events !== b.events) out.push(`${b.events - a.events} events emitted`)
  return out
}
