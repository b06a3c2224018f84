import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { MAX_FRAME_BYTES } from '../../proto/index.js'
import { encodeVarint } from '../../networkdb/libp2p-frames.js'
import { Libp2pTransport, RR_PROTOCOL, TransportError, toMultiaddr } from '../../networkdb/adapters.js'
import { silentLogger, MemoryMetrics } from '../../core/index.js'
import type { TransportHandlers } from '../../networkdb/transport.js'
import { newClusterKey, waitFor } from './helpers.js'


const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const dec = (b: Uint8Array): string => new TextDecoder().decode(b)

interface Received { topic: string, from: string, data: string }

interface Node {
  t: Libp2pTransport
  metrics: MemoryMetrics
  got: Received[]
  connected: string[]
  disconnected: string[]
  requestsFrom: string[]
}


async function rejectsWithReason (p: Promise<unknown>, reasons: readonly string[]): Promise<TransportError> {
  let caught: unknown
  await assert.rejects(p, (err: unknown) => { caught = err; return true })
  assert.ok(caught instanceof TransportError, `expected TransportError, got ${String(caught)}`)
  assert.ok(reasons.includes(caught.reason), `reason ${caught.reason} (${caught.message}) not in ${reasons.join(',')}`)
  return caught
}

describe('Libp2pTransport on 127.0.0.1', function () {
  this.timeout(20_000)
  const started: Libp2pTransport[] = []
  /** Settles handlers left pending by a test (so nothing outlives it). */
  const releases: Array<() => void> = []

  afterEach(async () => {
    for (const r of releases.splice(0)) r()
    await Promise.allSettled(started.splice(0).map(async t => { await t.stop() }))
  })

  async function node (key: Uint8Array, onRequest?: TransportHandlers['onRequest']): Promise<Node> {
    const metrics = new MemoryMetrics()
    const n: Node = {
      t: new Libp2pTransport({ privateKey: await generateKeyPair('Ed25519'), clusterKey: key, listen: ['127.0.0.1:0'], logger: silentLogger, metrics }),
      metrics,
      got: [],
      connected: [],
      disconnected: [],
      requestsFrom: []
    }
    started.push(n.t)
    await n.t.start({
      onMessage: (topic, from, data) => { n.got.push({ topic, from, data: dec(data) }) },
      onRequest: async (from, data) => {
        n.requestsFrom.push(from)
        return onRequest === undefined ? [data] : await onRequest(from, data)
      },
      onPeerConnected: (p) => { n.connected.push(p) },
      onPeerDisconnected: (p) => { n.disconnected.push(p) }
    })
    return n
  }

  async function trio (onRequest?: TransportHandlers['onRequest']): Promise<[Node, Node, Node]> {
    const key = newClusterKey()
    const nodes = [await node(key, onRequest), await node(key, onRequest), await node(key, onRequest)] as [Node, Node, Node]
    const [a, b, c] = nodes
    assert.equal(await b.t.dial(a.t.addresses()[0]!, 2000), a.t.localId)
    assert.equal(await c.t.dial(a.t.addresses()[0]!, 2000), a.t.localId)
    assert.equal(await c.t.dial(b.t.addresses()[0]!, 2000), b.t.localId)
    return nodes
  }

  /** Wait until every node in `pubs` sees every node in `subs` (but itself) subscribed to topic. */
  async function subscribed (topic: string, pubs: Node[], subs: Node[]): Promise<void> {
    await waitFor(`subscriptions to ${topic}`, () => pubs.every(p =>
      subs.every(s => s === p || p.t.topicPeers(topic).includes(s.t.localId))))
  }

  it('exposes its peer id and full multiaddrs; dial accepts host:port and multiaddrs with or without /p2p', async () => {
    const key = newClusterKey()
    const a = await node(key)
    const b = await node(key)
    const addr = a.t.addresses()[0]!
    assert.match(addr, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a.t.localId}$`))
    const port = /tcp\/(\d+)/.exec(addr)![1]!
    assert.equal(await b.t.dial(`127.0.0.1:${port}`, 2000), a.t.localId)
    await b.t.disconnect(a.t.localId)
    await waitFor('disconnect', () => !b.t.connectedPeers().includes(a.t.localId))
    assert.equal(await b.t.dial(`/ip4/127.0.0.1/tcp/${port}`, 2000), a.t.localId)
    assert.equal(await b.t.dial(addr, 2000), a.t.localId)
    assert.deepEqual(b.t.connectedPeers(), [a.t.localId])
    await waitFor('connected events', () => a.connected.includes(b.t.localId) && b.connected.includes(a.t.localId))
    // the wrong peer id at a right address: noise authenticates the remote and the dial fails
    await b.t.disconnect(a.t.localId)
    await rejectsWithReason(b.t.dial(`/ip4/127.0.0.1/tcp/${port}/p2p/${b.t.localId}`, 2000), ['unreachable'])
    await rejectsWithReason(b.t.dial('not an address', 2000), ['unreachable'])
  })

  it('connect() reaches a peer by id through the given addresses, and is a no-op when connected', async () => {
    const key = newClusterKey()
    const a = await node(key)
    const b = await node(key)
    await b.t.connect(a.t.localId, a.t.addresses(), 2000)
    assert.deepEqual(b.t.connectedPeers(), [a.t.localId])
    await b.t.connect(a.t.localId, [], 2000)
    assert.deepEqual(b.t.connectedPeers(), [a.t.localId])
  })

  it('publish reaches the subscribers only, with the signed originator as from', async () => {
    const [a, b, c] = await trio()
    a.t.subscribe('t')
    b.t.subscribe('t')
    c.t.subscribe('u') // c is connected to both but not subscribed to t
    a.t.subscribe('u')
    await subscribed('t', [a, b, c], [a, b])
    await subscribed('u', [a, b], [a, c])

    await a.t.publish('t', enc('from a'))
    await c.t.publish('t', enc('from c')) // a non-subscriber can publish to a topic
    // gossipsub keeps one stream per peer pair, so a later message on u is a barrier for t
    await a.t.publish('u', enc('barrier'))
    await waitFor('deliveries', () => b.got.length === 2 && c.got.some(m => m.topic === 'u'))

    const byData = (x: Received, y: Received): number => x.data.localeCompare(y.data)
    assert.deepEqual([...b.got].sort(byData), [{ topic: 't', from: a.t.localId, data: 'from a' }, { topic: 't', from: c.t.localId, data: 'from c' }])
    assert.deepEqual(a.got, [{ topic: 't', from: c.t.localId, data: 'from c' }]) // never its own
    assert.deepEqual(c.got, [{ topic: 'u', from: a.t.localId, data: 'barrier' }])
    assert.equal(a.metrics.get('ovnet_transport_pubsub_messages_total', { dir: 'out' }), 2)

    // nobody subscribed: resolves, delivers nothing
    await b.t.publish('empty', enc('void'))
    b.t.unsubscribe('t')
    await waitFor('unsubscription', () => !a.t.topicPeers('t').includes(b.t.localId))
    await a.t.publish('t', enc('after unsubscribe'))
    await a.t.publish('u', enc('barrier 2'))
    await waitFor('barrier 2', () => c.got.length === 2)
    assert.equal(b.got.length, 2)
  })

  it('request/response: several frames, a 3 MB frame, the authenticated requester as from', async () => {
    const big = new Uint8Array(3 * 1024 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff
    const [a, b] = await trio(async (_from, data) => [enc(`re: ${dec(data)}`), big, new Uint8Array(0), enc('last')])
    const frames = await b.t.request(a.t.localId, enc('hello'), 5000)
    assert.equal(frames.length, 4)
    assert.equal(dec(frames[0]!), 're: hello')
    assert.equal(frames[1]!.byteLength, big.byteLength)
    assert.ok(Buffer.from(frames[1]!).equals(Buffer.from(big)))
    assert.equal(frames[2]!.byteLength, 0)
    assert.equal(dec(frames[3]!), 'last')
    assert.deepEqual(a.requestsFrom, [b.t.localId])
    assert.equal(b.metrics.get('ovnet_transport_rr_frames_total', { dir: 'in' }), 4)
    assert.equal(a.metrics.get('ovnet_transport_requests_total', { role: 'server', result: 'ok' }), 1)

    // a large request frame travels too, and concurrent exchanges do not mix
    const answers = await Promise.all([1, 2, 3].map(async i => await b.t.request(a.t.localId, enc(`q${i}`), 5000)))
    assert.deepEqual(answers.map(f => dec(f[0]!)), ['re: q1', 're: q2', 're: q3'])
  })

  it('frames made lazily are made one at a time, with the event loop turning in between, and handed over as they arrive', async () => {
    const log: string[] = []
    const MB = new Uint8Array(1024 * 1024)
    const key = newClusterKey()
    const a = await node(key, async (_from, data) => (function * () {
      let turned = true
      for (let i = 0; i < 4; i++) {
        // the transport let I/O run (the previous frame leave) before asking for this one
        log.push(`made ${i}${turned ? '' : ' without a turn'}`)
        turned = false
        setImmediate(() => { turned = true })
        const f = MB.slice()
        f[0] = i
        yield f
      }
      if (dec(data) === 'then fail') throw new Error('encoder failed')
    })())
    const b = await node(key)
    await b.t.dial(a.t.addresses()[0]!, 2000)
    const got = await b.t.request(a.t.localId, enc('go'), 5000, frame => { log.push(`got ${frame[0]!}`) })
    assert.deepEqual(got, [], 'frames handed over are not collected')
    assert.deepEqual(log.filter(l => l.startsWith('got')), ['got 0', 'got 1', 'got 2', 'got 3'])
    assert.deepEqual(log.filter(l => l.startsWith('made')), ['made 0', 'made 1', 'made 2', 'made 3'])
    // a frame the caller cannot take fails the exchange; so does a server that fails half-way
    await rejectsWithReason(b.t.request(a.t.localId, enc('go'), 5000, frame => { if (frame[0] === 1) throw new Error('bad frame') }), ['protocol'])
    log.length = 0
    await rejectsWithReason(b.t.request(a.t.localId, enc('then fail'), 5000, frame => { log.push(`got ${frame[0]!}`) }), ['protocol'])
    // what arrived before the reset came in order (the reset may drop frames still in flight)
    const arrived = log.filter(l => l.startsWith('got'))
    assert.deepEqual(arrived, ['got 0', 'got 1', 'got 2', 'got 3'].slice(0, arrived.length))
  })

  it('an empty response and an echo of a large request', async () => {
    const key = newClusterKey()
    const a = await node(key, async (_f, data) => data.byteLength === 0 ? [] : [data])
    const b = await node(key)
    await b.t.dial(a.t.addresses()[0]!, 2000)
    assert.deepEqual(await b.t.request(a.t.localId, new Uint8Array(0), 3000), [])
    const req = new Uint8Array(MAX_FRAME_BYTES).fill(9)
    const [echo] = await b.t.request(a.t.localId, req, 5000)
    assert.equal(echo!.byteLength, MAX_FRAME_BYTES)
  })

  it('refuses oversize frames on both sides and from a raw stream', async () => {
    const key = newClusterKey()
    const a = await node(key, async () => [new Uint8Array(MAX_FRAME_BYTES + 1)])
    const b = await node(key)
    await b.t.dial(a.t.addresses()[0]!, 2000)
    // request side: refused before sending
    await rejectsWithReason(b.t.request(a.t.localId, new Uint8Array(MAX_FRAME_BYTES + 1), 3000), ['oversize'])
    assert.deepEqual(a.requestsFrom, [])
    // response side: the server refuses to send it and resets; the requester gets an error, not a partial answer
    await rejectsWithReason(b.t.request(a.t.localId, enc('give me too much'), 3000), ['protocol'])
    assert.equal(a.metrics.get('ovnet_transport_rr_dropped_frames_total', { reason: 'oversize' }), 1)

    // a peer that announces an oversize frame is cut off from its length prefix alone
    const before = a.requestsFrom.length
    const stream = await b.t.libp2p!.dialProtocol(a.t.libp2p!.peerId, RR_PROTOCOL)
    let closedWithError = false
    stream.addEventListener('close', (evt) => { closedWithError = evt.error !== undefined })
    stream.send(encodeVarint(MAX_FRAME_BYTES + 1))
    stream.send(new Uint8Array(1024))
    await waitFor('server to count the oversize frame', () => a.metrics.get('ovnet_transport_rr_dropped_frames_total', { reason: 'oversize' }) === 2)
    await waitFor('stream reset', () => closedWithError)
    assert.equal(a.requestsFrom.length, before)
  })

  it('a response cut inside a frame is an error, not a shorter answer', async () => {
    const key = newClusterKey()
    const a = await node(key)
    const b = await node(key)
    await b.t.dial(a.t.addresses()[0]!, 2000)
    // replace a's server with one that sends a whole frame, then half of one, then closes cleanly
    await a.t.libp2p!.handle(RR_PROTOCOL, async (stream) => {
      stream.send(Uint8Array.from([...encodeVarint(2), 1, 2]))
      stream.send(Uint8Array.from([...encodeVarint(100), 1, 2, 3]))
      await stream.close()
    }, { force: true })
    await rejectsWithReason(b.t.request(a.t.localId, enc('q'), 3000), ['protocol'])
    assert.equal(b.metrics.get('ovnet_transport_rr_dropped_frames_total', { reason: 'truncated' }), 1)
  })

  it('a request times out, and a handler error rejects the request', async () => {
    const [a, b] = await trio(async (_from, data) => {
      if (dec(data) === 'fail') throw new Error('handler failed')
      // never answers until the test ends
      await new Promise<void>(resolve => { releases.push(resolve) })
      return []
    })
    const t0 = Date.now()
    await rejectsWithReason(b.t.request(a.t.localId, enc('slow'), 300), ['timeout'])
    assert.ok(Date.now() - t0 < 2000, 'the timeout bounds the request')
    assert.equal(b.metrics.get('ovnet_transport_requests_total', { role: 'client', result: 'timeout' }), 1)
    await rejectsWithReason(b.t.request(a.t.localId, enc('fail'), 3000), ['protocol'])
    // unknown but well-formed peer id: nobody to dial
    const stranger = (await generateKeyPair('Ed25519'))
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    await rejectsWithReason(b.t.request(peerIdFromPrivateKey(stranger).toString(), enc('x'), 1000), ['unreachable', 'timeout'])
  })

  it('probe returns an RTT, and rejects once the peer stopped; onPeerDisconnected fires', async () => {
    const [a, b, c] = await trio()
    const rtt = await b.t.probe(a.t.localId, 1000)
    assert.equal(typeof rtt, 'number')
    assert.ok(rtt >= 0 && rtt < 1000)
    await a.t.stop()
    await waitFor('disconnect events', () => b.disconnected.includes(a.t.localId) && c.disconnected.includes(a.t.localId))
    assert.ok(!b.t.connectedPeers().includes(a.t.localId))
    await rejectsWithReason(b.t.probe(a.t.localId, 1000), ['unreachable', 'timeout'])
    assert.deepEqual(c.t.connectedPeers(), [b.t.localId])
  })

  it('probes reuse one ping stream per peer; overlapping probes and a reset stream still get answers', async () => {
    const [a, b] = await trio()
    const PING = '/ipfs/ping/1.0.0'
    const pingStreams = (): Array<{ id: string, status: string }> =>
      b.t.libp2p!.getConnections(a.t.libp2p!.peerId).flatMap(c => c.streams).filter(s => s.protocol === PING)
    await b.t.probe(a.t.localId, 1000)
    const first = pingStreams()
    assert.equal(first.length, 1, 'one ping stream open after a probe')
    for (let i = 0; i < 10; i++) assert.ok(await b.t.probe(a.t.localId, 1000) >= 0)
    assert.deepEqual(pingStreams().map(s => s.id), [first[0]!.id], 'ten more probes on the same stream')
    // two at once: the second gets a stream of its own, which is closed afterwards
    const both = await Promise.all([b.t.probe(a.t.localId, 1000), b.t.probe(a.t.localId, 1000)])
    assert.ok(both.every(rtt => rtt >= 0))
    await waitFor('the one-off stream closed', () => pingStreams().length === 1)
    // the responder resets the channel (as a restarted agent would): the next probe opens another
    const inbound = a.t.libp2p!.getConnections(b.t.libp2p!.peerId).flatMap(c => c.streams).filter(s => s.protocol === PING)
    assert.equal(inbound.length, 1)
    inbound[0]!.abort(new Error('test reset'))
    await waitFor('the channel closed at the prober', () => pingStreams().length === 0)
    assert.ok(await b.t.probe(a.t.localId, 1000) >= 0)
    assert.equal(pingStreams().length, 1)
    assert.notEqual(pingStreams()[0]!.id, first[0]!.id)
  })

  it('a restarted peer (same identity, same port) is reachable again right away', async () => {
    const key = newClusterKey()
    const privateKey = await generateKeyPair('Ed25519')
    const mk = (listen: string): Libp2pTransport => {
      const t = new Libp2pTransport({ privateKey, clusterKey: key, listen: [listen], logger: silentLogger })
      started.push(t)
      return t
    }
    const handlers: TransportHandlers = {
      onMessage: () => {},
      onRequest: async () => [enc('pong')],
      onPeerConnected: () => {},
      onPeerDisconnected: () => {}
    }
    const a1 = mk('127.0.0.1:0')
    await a1.start(handlers)
    const b = await node(key)
    await b.t.connect(a1.localId, a1.addresses(), 2000)
    const addr = a1.addresses()[0]!
    await a1.stop()
    await waitFor('disconnect', () => b.disconnected.includes(a1.localId))
    await rejectsWithReason(b.t.connect(a1.localId, [addr], 1000), ['unreachable', 'timeout'])
    const a2 = mk(addr.replace(/\/p2p\/.*$/, ''))
    await a2.start(handlers)
    assert.equal(a2.localId, a1.localId)
    await b.t.connect(a2.localId, [addr], 2000)
    assert.deepEqual((await b.t.request(a2.localId, enc('ping'), 2000)).map(dec), ['pong'])
  })

  it('a node with the wrong cluster key can neither connect nor receive anything', async () => {
    const [a, b] = await trio()
    const intruder = await node(newClusterKey())
    a.t.subscribe('t')
    b.t.subscribe('t')
    intruder.t.subscribe('t')
    await subscribed('t', [a, b], [a, b])

    // pnet has no key check of its own: with the wrong key the noise handshake reads garbage and
    // the dial fails, or (when the garbage looks like a long message) times out
    await Promise.all([
      rejectsWithReason(intruder.t.dial(a.t.addresses()[0]!, 500), ['unreachable', 'timeout']),
      rejectsWithReason(a.t.dial(intruder.t.addresses()[0]!, 500), ['unreachable', 'timeout']),
      rejectsWithReason(intruder.t.connect(b.t.localId, b.t.addresses(), 500), ['unreachable', 'timeout'])
    ])
    await rejectsWithReason(intruder.t.request(a.t.localId, enc('let me in'), 1000), ['unreachable', 'timeout'])

    await a.t.publish('t', enc('members only'))
    await waitFor('member delivery', () => b.got.length === 1)
    assert.deepEqual(intruder.got, [])
    assert.deepEqual(intruder.t.connectedPeers(), [])
    assert.deepEqual(intruder.connected, [])
    assert.ok(!a.t.connectedPeers().includes(intruder.t.localId))
    assert.deepEqual(a.requestsFrom, [])
  })

  it('start fails cleanly when the listen address is taken', async () => {
    const key = newClusterKey()
    const a = await node(key)
    const port = /tcp\/(\d+)/.exec(a.t.addresses()[0]!)![1]!
    const t = new Libp2pTransport({ privateKey: await generateKeyPair('Ed25519'), clusterKey: key, listen: [`127.0.0.1:${port}`], logger: silentLogger })
    started.push(t)
    const noop: TransportHandlers = { onMessage: () => {}, onRequest: async () => [], onPeerConnected: () => {}, onPeerDisconnected: () => {} }
    await assert.rejects(t.start(noop))
    assert.deepEqual(t.addresses(), [])
    await rejectsWithReason(t.dial(a.t.addresses()[0]!, 500), ['stopped'])
  })

  it('parses host:port forms into multiaddrs', () => {
    assert.equal(toMultiaddr('10.0.0.1:7946').toString(), '/ip4/10.0.0.1/tcp/7946')
    assert.equal(toMultiaddr('[::1]:7946').toString(), '/ip6/::1/tcp/7946')
    assert.equal(toMultiaddr('node-1.lan:7946').toString(), '/dns/node-1.lan/tcp/7946')
    assert.equal(toMultiaddr('/ip4/1.2.3.4/tcp/5').toString(), '/ip4/1.2.3.4/tcp/5')
    assert.throws(() => toMultiaddr('10.0.0.1'), TransportError)
    assert.throws(() => toMultiaddr('10.0.0.1:99999'), TransportError)
  })
})
