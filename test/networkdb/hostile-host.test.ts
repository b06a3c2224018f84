/**
 * A keyed but hostile host (issue 19): node 2 ("C") holds the cluster key and speaks the wire, but
 * forges what it says about node 1 ("V"); node 0 ("A") is the bystander. Every attack goes through
 * the real decoders and merge code, with frames sent from C's own (authenticated) transport.
 */
import assert from 'node:assert/strict'
import {
  decodeGossip, decodeResponse, encodeGossip, encodeRequest, encodeResponse, type ClusterState, type WireEntry, type WireNetworkEvent, type WireNodeEvent
} from '../../proto/index.js'
import { CLUSTER_TOPIC, createMemoryCluster, driven, networkTopic, type MemoryCluster } from '../../networkdb/index.js'
import { dec, enc, until } from './helpers.js'

const A = 0
const V = 1
const C = 2

describe('NetworkDB against a keyed but hostile host', function () {
  let c: MemoryCluster | undefined
  afterEach(async () => { await c?.close(); c = undefined })

  async function cluster (): Promise<MemoryCluster> {
    c = await createMemoryCluster(3, { seed: 19 })
    const cl = c
    for (const node of cl.nodes) await driven(cl.clock, async () => { await node.joinNetwork('n') })
    await until(cl, () => cl.nodes.every(x => x.peers('n').length === 3))
    await cl.nodes[V]!.createEntry('overlay_peer_table', 'n', 'ep1', enc('vtep 192.0.2.2'))
    await until(cl, () => cl.nodes[A]!.getEntry('overlay_peer_table', 'n', 'ep1') !== undefined)
    return cl
  }

  const evil = (cl: MemoryCluster) => cl.net.node(cl.ids[C]!)!
  const victimEntry = (cl: MemoryCluster, over: Partial<WireEntry>): WireEntry => ({
    table: 'overlay_peer_table', key: 'ep1', owner: cl.ids[V]!, ltime: 1000, deleted: false, value: enc('vtep 198.51.100.99'), reapIn: 0, ...over
  })

  async function push (cl: MemoryCluster, to: number, entries: WireEntry[]): Promise<void> {
    await driven(cl.clock, async () => {
      await evil(cl).request(cl.ids[to]!, encodeRequest({ t: 'push', b: { nid: 'n', entries } }), 1000)
    })
  }

  async function pushPull (cl: MemoryCluster, to: number, state: ClusterState): Promise<void> {
    await driven(cl.clock, async () => {
      await evil(cl).request(cl.ids[to]!, encodeRequest({ t: 'pushpull', b: state }), 1000)
    })
  }

  const value = (cl: MemoryCluster, i: number): string | undefined => dec(cl.nodes[i]!.getEntry('overlay_peer_table', 'n', 'ep1')?.value)

  describe('1. push and bulk sync carry no entry of another owner', function () {
    it('a pushed forgery of V\'s entry changes nothing on A or on V', async () => {
      const cl = await cluster()
      await push(cl, A, [victimEntry(cl, {})])
      await push(cl, V, [victimEntry(cl, {})])
      await cl.advance(6_000)
      for (const i of [A, V, C]) assert.equal(value(cl, i), 'vtep 192.0.2.2', `node ${i}`)
      assert.equal(cl.nodes[V]!.getEntry('overlay_peer_table', 'n', 'ep1')?.owner, cl.ids[V])
    })

    it('a pushed forged tombstone of V\'s entry deletes it nowhere', async () => {
      const cl = await cluster()
      await push(cl, A, [victimEntry(cl, { deleted: true, reapIn: 60_000 })])
      await push(cl, V, [victimEntry(cl, { deleted: true, reapIn: 60_000 })])
      await cl.advance(12_000)
      for (const i of [A, V, C]) assert.equal(value(cl, i), 'vtep 192.0.2.2', `node ${i}`)
    })

    it('a sync answer from a member carrying V\'s forged entry is not stored', async () => {
      const cl = await cluster()
      // C's own transport answers A's sync requests with a forgery (its NetworkDB is bypassed)
      const t = evil(cl)
      const honest = t.handlers!
      t.handlers = {
        ...honest,
        onRequest: async (from, data) => {
          const frames = [...await honest.onRequest(from, data)]
          const res = decodeResponse(frames[0]!)
          if (res.t !== 'entries') return frames
          return [encodeResponse({ t: 'entries', b: { nid: 'n', entries: [victimEntry(cl, {})], want: [...res.b.want, 0] } })]
        }
      }
      await driven(cl.clock, async () => { await cl.nodes[A]!.leaveNetwork('n') })
      await driven(cl.clock, async () => { await cl.nodes[A]!.joinNetwork('n') })
      await cl.advance(12_000)
      assert.equal(value(cl, A), 'vtep 192.0.2.2')
    })
  })

  describe('2. a key stays bound to its owner', function () {
    it('C gossiping V\'s key under its own name (origin rule met) overwrites nothing', async () => {
      const cl = await cluster()
      const frame = encodeGossip({ t: 'tables', b: { nid: 'n', entries: [victimEntry(cl, { owner: cl.ids[C]! })] } })
      await evil(cl).publish(networkTopic('n'), frame)
      await cl.advance(12_000)
      for (const i of [A, V]) {
        assert.equal(value(cl, i), 'vtep 192.0.2.2', `node ${i}`)
        assert.equal(cl.nodes[i]!.getEntry('overlay_peer_table', 'n', 'ep1')?.owner, cl.ids[V])
      }
      assert.ok(cl.nodes[A]!.stats().rejected >= 1)
    })

    it('a takeover table lets another member replace an entry (network_table)', async () => {
      const cl = await cluster()
      await cl.nodes[V]!.createEntry('network_table', 'n', 'net1', enc('def'))
      await until(cl, () => cl.nodes[A]!.getEntry('network_table', 'n', 'net1') !== undefined)
      await cl.nodes[C]!.deleteEntry('network_table', 'n', 'net1', { takeover: true })
      await until(cl, () => cl.nodes[A]!.getEntry('network_table', 'n', 'net1') === undefined && cl.nodes[V]!.getEntry('network_table', 'n', 'net1') === undefined)
    })
  })

  describe('3. push-pull applies no event about another node', function () {
    const state = (cl: MemoryCluster, nodes: WireNodeEvent[], networks: WireNetworkEvent[] = []): ClusterState => ({ nodes, networks, ltime: 0 })

    it('a `left` about V in a push-pull request neither marks V left nor tombstones its entries', async () => {
      const cl = await cluster()
      const inc = cl.nodes[A]!.member(cl.ids[V]!)!.incarnation
      await pushPull(cl, A, state(cl, [{ kind: 'left', node: cl.ids[V]!, name: 'node-01', advertise: '192.0.2.2', addrs: [], inc: inc + 1 }]))
      await cl.advance(3_000)
      assert.notEqual(cl.nodes[A]!.member(cl.ids[V]!)?.status, 'left')
      await until(cl, () => cl.nodes[A]!.member(cl.ids[V]!)?.status === 'alive')
      assert.equal(value(cl, A), 'vtep 192.0.2.2')
    })

    it('a forged `alive` does not rewrite V\'s name or advertise address', async () => {
      const cl = await cluster()
      const inc = cl.nodes[A]!.member(cl.ids[V]!)!.incarnation
      await pushPull(cl, A, state(cl, [{ kind: 'alive', node: cl.ids[V]!, name: 'evil', advertise: '198.51.100.99', addrs: ['mem://node-02'], inc: inc + 1 }]))
      await cl.advance(100)
      const m = cl.nodes[A]!.member(cl.ids[V]!)!
      assert.equal(m.name, 'node-01')
      assert.equal(m.advertiseAddr, '192.0.2.2')
    })

    it('a forged network leave does not drop V from the network', async () => {
      const cl = await cluster()
      await pushPull(cl, A, state(cl, [], [{ node: cl.ids[V]!, nid: 'n', ltime: 10_000, join: false }]))
      await cl.advance(100)
      assert.ok(cl.nodes[A]!.peers('n').includes(cl.ids[V]!))
      assert.equal(value(cl, A), 'vtep 192.0.2.2')
    })
  })

  describe('4. one frame cannot poison a Lamport clock or an incarnation', function () {
    it('an entry at ltime 2^53-1 is rejected and A\'s next write still reaches everyone', async () => {
      const cl = await cluster()
      const frame = encodeGossip({ t: 'tables', b: { nid: 'n', entries: [{ table: 't', key: 'c', owner: cl.ids[C]!, ltime: Number.MAX_SAFE_INTEGER, deleted: false, value: enc('x'), reapIn: 0 }] } })
      await evil(cl).publish(networkTopic('n'), frame)
      await cl.advance(100)
      assert.equal(cl.nodes[A]!.getEntry('t', 'n', 'c'), undefined)
      assert.ok(cl.nodes[A]!.diagnostics().clocks.table < 2 ** 40)
      await cl.nodes[A]!.createEntry('t', 'n', 'after', enc('ok'))
      await until(cl, () => cl.nodes[V]!.getEntry('t', 'n', 'after') !== undefined)
    })

    it('a `failed` about V at incarnation 2^53-1 is rejected (V could never refute it)', async () => {
      const cl = await cluster()
      const frame = encodeGossip({ t: 'node', b: { kind: 'failed', node: cl.ids[V]!, name: 'node-01', advertise: '192.0.2.2', addrs: [], inc: Number.MAX_SAFE_INTEGER } })
      await evil(cl).publish(CLUSTER_TOPIC, frame)
      await cl.advance(3_000)
      assert.equal(cl.nodes[A]!.member(cl.ids[V]!)?.status, 'alive')
      assert.ok(cl.nodes[A]!.member(cl.ids[V]!)!.incarnation < 2 ** 50)
      assert.equal(value(cl, A), 'vtep 192.0.2.2')
    })

    it('a network event at ltime 2^53-1 does not move the network clock', async () => {
      const cl = await cluster()
      const frame = encodeGossip({ t: 'net', b: { node: cl.ids[C]!, nid: 'm', ltime: Number.MAX_SAFE_INTEGER, join: true } })
      await evil(cl).publish(CLUSTER_TOPIC, frame)
      await cl.advance(100)
      assert.ok(cl.nodes[A]!.diagnostics().clocks.network < 2 ** 40)
    })
  })

  describe('6. bulk sync answers members only', function () {
    it('a node outside the network gets no entries for an all-zero digest', async () => {
      const cl = await cluster()
      await driven(cl.clock, async () => { await cl.nodes[C]!.leaveNetwork('n') })
      await cl.advance(1_000)
      const frames = await driven(cl.clock, async () => await evil(cl).request(cl.ids[A]!, encodeRequest({ t: 'sync', b: { nid: 'n', buckets: 1, hashes: [0, 0], count: 0 } }), 1000))
      const res = decodeResponse(frames[0]!)
      assert.equal(res.t, 'ack')
      assert.equal(res.t === 'ack' && res.b.ok, false)
      assert.equal(frames.length, 1)
    })
  })

  describe('7. memory', function () {
    it('a decoded value is copied out of its frame (a 1-byte value pins no 60 KB frame)', function () {
      const big = { table: 't', key: 'big', owner: 'x', ltime: 1, deleted: false, value: new Uint8Array(60_000), reapIn: 0 }
      const small = { ...big, key: 'small', value: enc('v') }
      const g = decodeGossip(encodeGossip({ t: 'tables', b: { nid: 'n', entries: [big, small] } }))
      assert.ok(g.t === 'tables')
      assert.equal(g.b.entries[1]!.value.buffer.byteLength, 1)
      const r = decodeResponse(encodeResponse({ t: 'entries', b: { nid: 'n', entries: [big, small], packed: true, want: [] } }))
      assert.ok(r.t === 'entries' && r.b.packed === true)
      assert.equal(r.b.entries[1]!.value.buffer.byteLength, 1)
    })

    it('request() collects a bounded response: a peer answering 1,000 frames fails the exchange', async () => {
      const cl = await cluster()
      const t = evil(cl)
      const honest = t.handlers!
      t.handlers = { ...honest, onRequest: async () => Array.from({ length: 1000 }, () => encodeResponse({ t: 'ack', b: { ok: true, detail: '' } })) }
      const a = cl.net.node(cl.ids[A]!)!
      await assert.rejects(driven(cl.clock, async () => await a.request(cl.ids[C]!, encodeRequest({ t: 'pushpull', b: { nodes: [], networks: [], ltime: 0 } }), 1000)), /exceeds 64 frames/)
      t.handlers = honest
    })
  })
})
