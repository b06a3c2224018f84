/**
 * An in-memory NetworkDB cluster on a FakeClock, for the tests of every layer above NetworkDB:
 * deterministic (seeded), no sleeps, with partitions, kills and restarts that keep each node's
 * store (so a restarted node comes back with the same id and its own entries).
 */
import { FakeClock, silentLogger, seededRandom, type Logger } from '../core/index.js'
import type { NetworkDBConfig } from './config.js'
import { MemoryNetwork } from './memory-transport.js'
import { NetworkDBNode } from './networkdb.js'
import { MemoryStore } from './store.js'

export interface MemoryClusterOptions {
  seed?: number
  clock?: FakeClock
  latencyMs?: number
  loss?: number
  config?: Partial<NetworkDBConfig>
  logger?: Logger
  /** Node names; default node-00, node-01, ... */
  names?: string[]
  /** How many nodes start now (default all); `restart(i)` starts a later one fresh, as a late joiner. */
  started?: number
}

export interface MemoryCluster {
  clock: FakeClock
  net: MemoryNetwork
  random: () => number
  /** nodes[i] is the current incarnation of node i (replaced by restart). */
  nodes: NetworkDBNode[]
  ids: string[]
  /** Advance virtual time (fires timers, delivers messages). */
  advance(ms: number): Promise<void>
  /** Stop node i without announcing (crash; its sockets close). */
  kill(i: number): Promise<void>
  /**
   * Start node i again with the same id and store, and join through the other running nodes. If
   * none answers (a partition), the node runs alone and keeps retrying in the background.
   * `seeds: false`: no join at all (a founder restarted without seeds; the others re-dial it).
   */
  restart(i: number, opts?: { seeds?: boolean }): Promise<NetworkDBNode>
  /** Whether node i is running. */
  isUp(i: number): boolean
  /** Partition by node indexes. */
  partition(...groups: number[][]): void
  heal(): void
  /** Close every running node. */
  close(): Promise<void>
}

export async function createMemoryCluster (n: number, opts: MemoryClusterOptions = {}): Promise<MemoryCluster> {
  const clock = opts.clock ?? new FakeClock()
  const random = seededRandom(opts.seed ?? 1)
  const net = new MemoryNetwork({ clock, latencyMs: opts.latencyMs ?? 1, loss: opts.loss ?? 0, random })
  const names = opts.names ?? Array.from({ length: n }, (_, i) => `node-${String(i).padStart(2, '0')}`)
  const ids = names.slice(0, n)
  const stores = ids.map(() => new MemoryStore())
  const up = ids.map(() => false)
  const make = (i: number): NetworkDBNode => new NetworkDBNode({
    transport: net.transport(ids[i]!),
    name: ids[i]!,
    advertiseAddr: `192.0.2.${i + 1}`,
    clock,
    random,
    store: stores[i],
    logger: opts.logger ?? silentLogger,
    config: opts.config
  })
  const nodes = ids.map((_, i) => make(i))

  const advance = async (ms: number): Promise<void> => { await clock.advance(ms) }

  const joinVia = async (i: number, timeoutMs = 60_000): Promise<void> => {
    const seeds = ids.filter((_, j) => j !== i && up[j]).map(id => `mem://${id}`)
    if (seeds.length === 0) return
    await driven(clock, async () => { await nodes[i]!.join(seeds, timeoutMs) }, 10)
  }

  for (let i = 0; i < (opts.started ?? n); i++) {
    await nodes[i]!.start()
    up[i] = true
    await joinVia(i)
  }

  const cluster: MemoryCluster = {
    clock,
    net,
    random,
    nodes,
    ids,
    advance,
    async kill (i) {
      up[i] = false
      await nodes[i]!.close()
    },
    async restart (i, o = {}) {
      if (up[i]) await nodes[i]!.close()
      nodes[i] = make(i)
      await nodes[i].start()
      up[i] = true
      if (o.seeds !== false) await joinVia(i, 5_000).catch(() => {})
      return nodes[i]
    },
    isUp: (i) => up[i]!,
    partition (...groups) { net.partition(...groups.map(g => g.map(i => ids[i]!))) },
    heal () { net.heal() },
    async close () {
      for (let i = 0; i < n; i++) if (up[i]) { up[i] = false; await nodes[i]!.close() }
    }
  }
  return cluster
}

/** Run `fn` (which returns a promise) while advancing the fake clock until it settles. */
export async function driven<T> (clock: FakeClock, fn: () => Promise<T>, stepMs = 5, maxMs = 120_000): Promise<T> {
  let settled = false
  let result: T | undefined
  let failure: unknown
  let failed = false
  fn().then(r => { settled = true; result = r }, (err: unknown) => { settled = true; failed = true; failure = err })
  let spent = 0
  await clock.advance(0)
  while (!settled) {
    if (spent >= maxMs) throw new Error(`operation did not settle within ${maxMs} ms of virtual time`)
    await clock.advance(stepMs)
    spent += stepMs
  }
  if (failed) throw failure
  return result as T
}
