/**
 * An in-process network for cluster tests: every delivery goes through the injected Clock (so a
 * FakeClock makes runs deterministic and instant), with a latency, a loss rate drawn from a seeded
 * RNG, and partitions. Like gossipsub, a published message reaches only subscribers this node has a
 * connection to; like a real partition, a cut link drops traffic but closes no connection.
 */
import type { Clock } from '../core/index.js'
import {
  MAX_COLLECTED_BYTES, MAX_COLLECTED_FRAMES, overCollected, type Transport, type TransportHandlers
} from './transport.js'

export interface MemoryNetworkOptions {
  clock: Clock
  /** One-way delay of every delivery, ms. */
  latencyMs?: number
  /** Probability that one delivery is lost (0..1). */
  loss?: number
  random?: () => number
}

export class MemoryNetwork {
  readonly clock: Clock
  latencyMs: number
  loss: number
  private readonly random: () => number
  private readonly nodes = new Map<string, MemoryTransport>()
  /** node -> partition group; nodes in different groups cannot talk. Undefined: no partition. */
  private groups: Map<string, number> | undefined
  private readonly links = new Set<string>()
  /** Per-node inbound filter (a host firewall): drop traffic from these peers. */
  private readonly blockedPairs = new Set<string>()

  constructor (opts: MemoryNetworkOptions) {
    this.clock = opts.clock
    this.latencyMs = opts.latencyMs ?? 1
    this.loss = opts.loss ?? 0
    this.random = opts.random ?? Math.random
  }

  transport (id: string): MemoryTransport {
    return new MemoryTransport(this, id)
  }

  /** Cut the cluster into groups (arrays of node ids); nodes not listed form one more group. */
  partition (...groups: string[][]): void {
    this.groups = new Map()
    groups.forEach((g, i) => { for (const id of g) this.groups!.set(id, i + 1) })
  }

  heal (): void { this.groups = undefined; this.blockedPairs.clear() }

  /** Drop traffic between two nodes, both ways. */
  block (a: string, b: string): void { this.blockedPairs.add(pairKey(a, b)) }

  reachable (a: string, b: string): boolean {
    if (a === b) return true
    if (this.blockedPairs.has(pairKey(a, b))) return false
    if (this.groups === undefined) return true
    return (this.groups.get(a) ?? 0) === (this.groups.get(b) ?? 0)
  }

  // ---- used by MemoryTransport ----------------------------------------------------------------

  register (t: MemoryTransport): void { this.nodes.set(t.localId, t) }

  unregister (t: MemoryTransport): void {
    if (this.nodes.get(t.localId) !== t) return
    this.nodes.delete(t.localId)
    for (const key of [...this.links]) {
      const [a, b] = key.split('|') as [string, string]
      if (a !== t.localId && b !== t.localId) continue
      this.links.delete(key)
      const other = this.nodes.get(a === t.localId ? b : a)
      if (other !== undefined) this.later(() => { other.handlers?.onPeerDisconnected(t.localId) })
    }
  }

  node (id: string): MemoryTransport | undefined { return this.nodes.get(id) }

  connected (a: string, b: string): boolean { return this.links.has(pairKey(a, b)) }

  link (a: string, b: string): void {
    const key = pairKey(a, b)
    if (this.links.has(key)) return
    this.links.add(key)
    const ta = this.nodes.get(a)
    const tb = this.nodes.get(b)
    this.later(() => { ta?.handlers?.onPeerConnected(b); tb?.handlers?.onPeerConnected(a) })
  }

  unlink (a: string, b: string): void {
    if (!this.links.delete(pairKey(a, b))) return
    const ta = this.nodes.get(a)
    const tb = this.nodes.get(b)
    this.later(() => { ta?.handlers?.onPeerDisconnected(b); tb?.handlers?.onPeerDisconnected(a) })
  }

  peersOf (id: string): string[] {
    const out: string[] = []
    for (const key of this.links) {
      const [a, b] = key.split('|') as [string, string]
      if (a === id) out.push(b)
      else if (b === id) out.push(a)
    }
    return out
  }

  /** Whether one delivery from a to b happens (reachable and not lost). */
  delivers (a: string, b: string): boolean {
    return this.reachable(a, b) && (this.loss === 0 || this.random() >= this.loss)
  }

  later (fn: () => void, ms = this.latencyMs): void { this.clock.setTimeout(fn, ms) }
}

function pairKey (a: string, b: string): string { return a < b ? `${a}|${b}` : `${b}|${a}` }

export class MemoryTransport implements Transport {
  handlers: TransportHandlers | undefined
  private readonly topics = new Set<string>()

  constructor (private readonly net: MemoryNetwork, readonly localId: string) {}

  addresses (): string[] { return [`mem://${this.localId}`] }

  subscribed (topic: string): boolean { return this.handlers !== undefined && this.topics.has(topic) }

  async start (handlers: TransportHandlers): Promise<void> {
    this.handlers = handlers
    this.net.register(this)
  }

  async stop (): Promise<void> {
    this.net.unregister(this)
    this.handlers = undefined
    this.topics.clear()
  }

  private target (addr: string): string { return addr.startsWith('mem://') ? addr.slice(6) : addr }

  private async open (peer: string, timeoutMs: number): Promise<void> {
    const other = this.net.node(peer)
    if (other === undefined || !this.net.reachable(this.localId, peer)) {
      // an unanswered dial takes its whole timeout; a refused one (no such node) fails fast
      await new Promise<void>(resolve => {
        this.net.later(resolve, other === undefined ? this.net.latencyMs : timeoutMs)
      })
      throw new Error(`dial ${peer}: ${other === undefined ? 'connection refused' : 'timeout'}`)
    }
    await new Promise<void>(resolve => { this.net.later(resolve, 2 * this.net.latencyMs) })
    if (this.net.node(peer) === undefined || this.handlers === undefined) {
      throw new Error(`dial ${peer}: connection refused`)
    }
    this.net.link(this.localId, peer)
  }

  async dial (addr: string, timeoutMs: number): Promise<string> {
    const peer = this.target(addr)
    await this.open(peer, timeoutMs)
    return peer
  }

  async connect (peer: string, _addrs: readonly string[], timeoutMs: number): Promise<void> {
    if (this.net.connected(this.localId, peer)) return
    await this.open(peer, timeoutMs)
  }

  async disconnect (peer: string): Promise<void> { this.net.unlink(this.localId, peer) }

  subscribe (topic: string): void { this.topics.add(topic) }
  unsubscribe (topic: string): void { this.topics.delete(topic) }

  async publish (topic: string, data: Uint8Array): Promise<void> {
    for (const peer of this.net.peersOf(this.localId)) {
      const other = this.net.node(peer)
      if (other === undefined || !other.subscribed(topic) || !this.net.delivers(this.localId, peer)) continue
      const copy = data.slice()
      this.net.later(() => { if (other.subscribed(topic)) other.handlers?.onMessage(topic, this.localId, copy) })
    }
  }

  async request (
    peer: string, data: Uint8Array, timeoutMs: number, onFrame?: (frame: Uint8Array) => void
  ): Promise<Uint8Array[]> {
    return await new Promise<Uint8Array[]>((resolve, reject) => {
      let done = false
      const timer = this.net.clock.setTimeout(() => {
        if (!done) { done = true; reject(new Error(`request to ${peer} timed out`)) }
      }, timeoutMs)
      const finish = (err: Error | undefined, frames?: Uint8Array[]): void => {
        if (done) return
        done = true
        this.net.clock.clearTimeout(timer)
        if (err !== undefined) { reject(err); return }
        if (onFrame === undefined) {
          const list = frames ?? []
          if (overCollected(list.length, list.reduce((n, f) => n + f.byteLength, 0))) {
            reject(new Error(
              `response from ${peer} exceeds ${MAX_COLLECTED_FRAMES} frames or ${MAX_COLLECTED_BYTES} bytes`))
          } else resolve(list)
          return
        }
        try {
          for (const f of frames ?? []) onFrame(f)
          resolve([])
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)))
        }
      }
      const other = this.net.node(peer)
      if (other === undefined) {
        this.net.later(() => { finish(new Error(`request to ${peer}: connection refused`)) })
        return
      }
      if (!this.net.delivers(this.localId, peer)) return // lost: the timeout answers
      const copy = data.slice()
      this.net.later(() => {
        const h = other.handlers
        if (h === undefined) { finish(new Error(`request to ${peer}: connection refused`)); return }
        // frames made lazily are made here; a generator's throw fails the exchange like a handler's
        h.onRequest(this.localId, copy).then(frames => [...frames].map(f => f.slice())).then(copies => {
          if (!this.net.delivers(peer, this.localId)) return
          this.net.later(() => { finish(undefined, copies) })
        }, (err: unknown) => {
          this.net.later(() => { finish(new Error(`request to ${peer} failed: ${String(err)}`)) })
        })
      })
    })
  }

  async probe (peer: string, timeoutMs: number): Promise<number> {
    const other = this.net.node(peer)
    if (other === undefined) {
      await new Promise<void>(resolve => { this.net.later(resolve) })
      throw new Error(`probe ${peer}: connection refused`)
    }
    if (!this.net.delivers(this.localId, peer) || !this.net.delivers(peer, this.localId)) {
      await new Promise<void>(resolve => { this.net.later(resolve, timeoutMs) })
      throw new Error(`probe ${peer}: timeout`)
    }
    await new Promise<void>(resolve => { this.net.later(resolve, 2 * this.net.latencyMs) })
    return 2 * this.net.latencyMs
  }

  connectedPeers (): string[] { return this.net.peersOf(this.localId) }
}
