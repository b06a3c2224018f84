/**
 * The Transport port on real sockets: a libp2p 3 node (TCP, noise, yamux) inside a private network
 * (pnet, keyed by the cluster key file), gossipsub for pub/sub, a request/response protocol of our
 * own for bulk sync and indirect probes, and libp2p ping for liveness.
 *
 * Trust model: every node holding the cluster key is a member; pnet keeps everyone else from
 * completing a connection. Inside the cluster, `from` of a gossip message is its signature-verified
 * originator (gossipsub StrictSign) and `from` of a request is the noise-authenticated peer, so
 * NetworkDB can check ownership against transport identities rather than payload claims.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, type GossipSub, type GossipsubOpts } from '@libp2p/gossipsub'
import type { FastMsgIdFn } from '@libp2p/gossipsub/types'
import { identify, type Identify } from '@libp2p/identify'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping, type Ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { MAX_FRAME_BYTES } from '../proto/index.js'
import { FrameError, FrameReader, writeFrame } from './libp2p-frames.js'
import { PingChannels } from './ping-channels.js'
import { skipRedundantProtocolMerges } from './peer-store-fastpath.js'
import { clusterIdentify, type ClusterIdentify } from './cluster-identify.js'
import { noopMetrics, type Logger, type Counter, type Gauge, type Metrics } from '../core/index.js'
import {
  MAX_COLLECTED_BYTES, MAX_COLLECTED_FRAMES, overCollected, type Transport, type TransportHandlers
} from './transport.js'

/** The request/response protocol: one request frame, then response frames until the server closes. */
export const RR_PROTOCOL = '/ovnet/rr/1.0.0'

/** How long a node answers pings on one stream before it ends it (the prober then reopens). */
const PING_STREAM_MAX_MS = 3600_000
/** @libp2p/ping's protocol id (its default prefix, name and version; not exported by it). */
const PING_PROTOCOL = '/ipfs/ping/1.0.0'

export type TransportErrorReason = 'timeout' | 'unreachable' | 'oversize' | 'protocol' | 'stopped'

export class TransportError extends Error {
  constructor (readonly reason: TransportErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'TransportError'
  }
}

export interface Libp2pTransportOptions {
  privateKey: PrivateKey
  /** The cluster key file's bytes, as returned by `loadClusterKey`. */
  clusterKey: Uint8Array
  /** Listen addresses: multiaddrs (`/ip4/0.0.0.0/tcp/7946`) or `host:port`. */
  listen: readonly string[]
  /** Addresses to announce instead of the listen addresses (behind NAT, or 0.0.0.0 listeners). */
  announce?: readonly string[]
  logger: Logger
  metrics?: Metrics
  /**
   * How long the server side of one request/response exchange may take, request frame to last
   * response frame. Bounds a requester that never sends or never reads. Default 60 s.
   */
  serveTimeoutMs?: number
  /**
   * Run libp2p's identify on every new connection, as ovnet before session 8 did (tests: a member
   * of an older version). Default: no; peers are announced by clusterIdentify.
   */
  identifyOnConnect?: boolean
  /** Overrides of the gossipsub options below (benchmarks, experiments). */
  gossip?: Partial<GossipsubOpts>
}

/**
 * Gossipsub tuned for a LAN cluster in which every node connects to every other node (NetworkDB
 * dials every member), measured with 20 nodes in one process at 200 msgs/s:
 *
 * - floodPublish: the originator sends to every connected subscriber itself, so a message is one
 *   hop from everyone. That first hop is the whole delivery path.
 * - No mesh (D=0): in a full mesh, re-forwarding only produces duplicates: with D=3, 57 extra
 *   sends per message on top of the 19 useful ones. Each costs noise encryption, framing and a
 *   decode at the receiver; in-process at 200 msgs/s that took p50 to all from ~30 ms to ~700 ms.
 * - Lazy repair instead: every heartbeat, each node sends IHAVE for its recent messages (the last
 *   3 heartbeats) to one random topic peer (Dlazy=1, gossipFactor=0), so a subscriber that a
 *   publisher was not connected to catches up by IWANT within seconds; NetworkDB's anti-entropy
 *   is the backstop for anything older.
 * - Scoring is neutralised: every member holds the cluster key, so peers are trusted; and the
 *   default IP colocation penalty graylists peers when more than 10 nodes share an address (one
 *   host in tests and benches, agents behind one NAT): with defaults, 20 local nodes never even
 *   learn each other's subscriptions.
 * - fastMsgIdFn: a duplicate (an IWANT answer racing the original) is recognised from (from,
 *   seqno) before its signature is verified again. The cache is filled only after a message
 *   verified, so a forgery cannot poison it.
 * - batchPublish: a published message is encoded (protobuf, length prefix) once for all its
 *   recipients instead of once per peer (19 times at 20 hosts). Pending control messages and
 *   IHAVEs are then not piggybacked on it; they leave with the next heartbeat, as they do anyway
 *   for a peer we publish nothing to.
 * - Signature verification (StrictSign, ~90 µs per message per receiver here) stays: it is what
 *   makes `from` trustworthy.
 */
export function clusterGossipOptions (): Partial<GossipsubOpts> {
  return {
    emitSelf: false,
    floodPublish: true,
    allowPublishToZeroTopicPeers: true,
    fallbackToFloodsub: false,
    D: 0,
    Dlo: 0,
    Dhi: 0,
    Dout: 0,
    Dscore: 0,
    Dlazy: 1,
    gossipFactor: 0,
    heartbeatInterval: 1000,
    maxInboundDataLength: MAX_FRAME_BYTES,
    fastMsgIdFn,
    batchPublish: true,
    scoreParams: { IPColocationFactorWeight: 0, behaviourPenaltyWeight: 0 },
    scoreThresholds: { gossipThreshold: -1e9, publishThreshold: -2e9, graylistThreshold: -3e9 }
  }
}

const fastMsgIdFn: FastMsgIdFn = (msg) => {
  const from = msg.from === undefined
    ? ''
    : Buffer.from(msg.from.buffer, msg.from.byteOffset, msg.from.byteLength).toString('base64')
  const seq = msg.seqno === undefined
    ? ''
    : Buffer.from(msg.seqno.buffer, msg.seqno.byteOffset, msg.seqno.byteLength).toString('base64')
  return `${from}/${seq}`
}

// a type alias, not an interface: libp2p's ServiceMap constraint needs an index signature
type Services = {
  identify: Identify
  clusterIdentify: ClusterIdentify
  ping: Ping
  pubsub: GossipSub
}

interface TransportMetrics {
  frames: Counter
  frameBytes: Counter
  droppedFrames: Counter
  requests: Counter
  pubsub: Counter
  peers: Gauge
}

export class Libp2pTransport implements Transport {
  readonly localId: string
  private readonly peerId: PeerId
  private readonly log: Logger
  private readonly m: TransportMetrics
  private readonly serveTimeoutMs: number
  private node: Libp2p<Services> | undefined
  private handlers: TransportHandlers | undefined
  private readonly pings = new PingChannels(async (peer, signal) => {
    const node = this.running()
    return await node.dialProtocol(parsePeer(peer), PING_PROTOCOL, { signal, runOnLimitedConnection: true })
  })

  constructor (private readonly opts: Libp2pTransportOptions) {
    this.peerId = peerIdFromPrivateKey(opts.privateKey)
    this.localId = this.peerId.toString()
    this.log = opts.logger.child({ component: 'transport' })
    this.serveTimeoutMs = opts.serveTimeoutMs ?? 60_000
    const metrics = opts.metrics ?? noopMetrics
    this.m = {
      frames: metrics.counter('ovnet_transport_rr_frames_total', 'Request/response frames sent and received', ['dir']),
      frameBytes: metrics.counter('ovnet_transport_rr_frame_bytes_total', 'Request/response frame payload bytes',
        ['dir']),
      droppedFrames: metrics.counter('ovnet_transport_rr_dropped_frames_total',
        'Request/response frames refused (oversize, truncated)', ['reason']),
      requests: metrics.counter('ovnet_transport_requests_total', 'Request/response exchanges by role and result',
        ['role', 'result']),
      pubsub: metrics.counter('ovnet_transport_pubsub_messages_total', 'Gossip messages published and delivered',
        ['dir']),
      peers: metrics.gauge('ovnet_transport_connected_peers', 'Peers with an open connection')
    }
  }

  /** The libp2p node, for diagnostics and tests; undefined when not started. */
  get libp2p (): Libp2p<Services> | undefined { return this.node }

  addresses (): string[] {
    if (this.node === undefined) return []
    return this.node.getMultiaddrs().map(ma => withPeer(ma, this.peerId).toString())
  }

  async start (handlers: TransportHandlers): Promise<void> {
    if (this.node !== undefined) throw new Error('transport already started')
    const node = await createLibp2p<Services>({
      privateKey: this.opts.privateKey,
      addresses: {
        listen: this.opts.listen.map(a => toMultiaddr(a).toString()),
        announce: this.opts.announce?.map(a => toMultiaddr(a).toString())
      },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionProtector: preSharedKey({ psk: this.opts.clusterKey }),
      connectionManager: {
        // libp2p's defaults are for the open internet: at most 5 inbound connections per second
        // per remote IP and 10 pending handshakes. A cluster (re)starting, or many agents behind
        // one address, exceeds both. Strangers without the cluster key never complete a handshake.
        inboundConnectionThreshold: 1000,
        maxIncomingPendingConnections: 256
      },
      // libp2p's connection monitor pings every connection of a node at the same instant every
      // 10 s and aborts those that do not answer in time. The burst (a new stream per connection,
      // multistream-select, noise) stalled each node's event loop: with 20 nodes on 2 cores, one
      // ~300 ms stall per period that set the whole p99 (bench: p99 250-320 ms with it, 60-93 ms
      // without). Its timeout also aborted healthy connections of a loaded node, and it raced
      // our probes for the ping protocol's single stream. Liveness is SWIM's; a connection to a
      // member that stays failed is hung up by NetworkDB (failedHangupMs).
      connectionMonitor: { enabled: false },
      services: {
        // identify answers members that ask; it does not ask itself: clusterIdentify announces a
        // new connection's peer with our own protocols (cluster-identify.ts)
        identify: identify({ runOnConnectionOpen: this.opts.identifyOnConnect === true }),
        clusterIdentify: clusterIdentify({ enabled: this.opts.identifyOnConnect !== true }),
        // Probes overlap: our own direct probe of a peer, indirect probes on behalf of others, a
        // slow previous one still timing out. One stream (the default) made the later ones fail
        // at once with TooManyOutboundProtocolStreamsError: a false suspicion.
        // `timeout`: how long the responder keeps a ping stream; probes reuse one per peer
        // (ping-channels.ts), so it is long, and a channel it ends is simply reopened.
        ping: ping({ maxOutboundStreams: 16, maxInboundStreams: 64, timeout: PING_STREAM_MAX_MS }),
        pubsub: gossipsub({ ...clusterGossipOptions(), ...this.opts.gossip })
      },
      start: false
    })
    this.handlers = handlers
    skipRedundantProtocolMerges(node)
    node.addEventListener('peer:connect', (evt) => { this.peerEvent('connect', evt.detail) })
    node.addEventListener('peer:disconnect', (evt) => { this.peerEvent('disconnect', evt.detail) })
    node.services.pubsub.addEventListener('message', (evt) => {
      const msg = evt.detail
      // StrictSign drops unsigned messages before this point; the check keeps the type honest.
      if (msg.type !== 'signed') return
      this.m.pubsub.inc({ dir: 'in' })
      try {
        this.handlers?.onMessage(msg.topic, msg.from.toString(), msg.data)
      } catch (err) {
        this.log.error({ err: String(err), topic: msg.topic }, 'message handler threw')
      }
    })
    await node.handle(RR_PROTOCOL, (stream, connection) => { void this.serve(stream, connection) }, {
      // anti-entropy with several peers at once plus indirect probes; 32 (the default) is tight
      maxInboundStreams: 128,
      maxOutboundStreams: 128
    })
    try {
      await node.start()
    } catch (err) {
      // e.g. the listen address is in use: release whatever did start, and report the cause
      this.handlers = undefined
      try { await node.stop() } catch { /* the start error is the one to report */ }
      throw err
    }
    this.node = node
    this.log.info({ id: this.localId, addrs: this.addresses() }, 'transport started')
  }

  async stop (): Promise<void> {
    const node = this.node
    if (node === undefined) return
    this.node = undefined
    this.handlers = undefined
    this.pings.closeAll()
    await node.stop()
  }

  async dial (addr: string, timeoutMs: number): Promise<string> {
    const node = this.running()
    const ma = toMultiaddr(addr)
    try {
      const conn = await node.dial(ma, { signal: AbortSignal.timeout(timeoutMs) })
      return conn.remotePeer.toString()
    } catch (err) {
      throw dialError(`dial ${addr}`, err)
    }
  }

  async connect (peer: string, addrs: readonly string[], timeoutMs: number): Promise<void> {
    const node = this.running()
    const id = parsePeer(peer)
    if (node.getConnections(id).length > 0) return
    const known = addrs.flatMap(a => {
      try { return [withoutPeer(toMultiaddr(a))] } catch { return [] }
    })
    try {
      if (known.length > 0) await node.peerStore.merge(id, { multiaddrs: known })
      await node.dial(id, { signal: AbortSignal.timeout(timeoutMs) })
    } catch (err) {
      throw dialError(`connect ${peer}`, err)
    }
  }

  async disconnect (peer: string): Promise<void> {
    const node = this.node
    if (node === undefined) return
    await node.hangUp(parsePeer(peer))
  }

  subscribe (topic: string): void { this.running().services.pubsub.subscribe(topic) }

  unsubscribe (topic: string): void { this.node?.services.pubsub.unsubscribe(topic) }

  async publish (topic: string, data: Uint8Array): Promise<void> {
    const node = this.node
    if (node === undefined) throw new TransportError('stopped', 'transport is not running')
    // allowPublishToZeroTopicPeers: no subscriber is not an error, the message just reaches no one.
    await node.services.pubsub.publish(topic, data)
    this.m.pubsub.inc({ dir: 'out' })
  }

  /** Peers known to subscribe to `topic` (diagnostics; tests wait on it before publishing). */
  topicPeers (topic: string): string[] {
    return this.node?.services.pubsub.getSubscribers(topic).map(p => p.toString()) ?? []
  }

  connectedPeers (): string[] {
    return this.node?.getPeers().map(p => p.toString()) ?? []
  }

  async probe (peer: string, timeoutMs: number): Promise<number> {
    this.running()
    // The verdict waits one pass of the event loop's poll phase: after a stall, expired timers run
    // BEFORE pending I/O, so an answer already waiting in the socket would count as a miss.
    const ac = new AbortController()
    const timer = setTimeout(() => {
      setImmediate(() => { ac.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')) })
    }, timeoutMs)
    try {
      return await this.pings.ping(peer, ac.signal)
    } catch (err) {
      throw dialError(`probe ${peer}`, err)
    } finally {
      clearTimeout(timer)
    }
  }

  async request (
    peer: string, data: Uint8Array, timeoutMs: number, onFrame?: (frame: Uint8Array) => void
  ): Promise<Uint8Array[]> {
    const node = this.running()
    if (data.byteLength > MAX_FRAME_BYTES) {
      this.m.droppedFrames.inc({ reason: 'oversize' })
      throw new TransportError('oversize', `request frame of ${data.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
    }
    const signal = AbortSignal.timeout(timeoutMs)
    let stream: Stream
    try {
      stream = await node.dialProtocol(parsePeer(peer), RR_PROTOCOL, { signal })
    } catch (err) {
      this.m.requests.inc({ role: 'client', result: signal.aborted ? 'timeout' : 'unreachable' })
      throw dialError(`request to ${peer}`, err)
    }
    const reader = new FrameReader(stream, MAX_FRAME_BYTES)
    try {
      await writeFrame(stream, data, signal)
      this.count('out', data.byteLength)
      await stream.close({ signal }) // half-close: the request is complete
      const frames: Uint8Array[] = []
      let bytes = 0
      for (;;) {
        const frame = await reader.next(signal)
        if (frame === undefined) break
        this.count('in', frame.byteLength)
        if (onFrame !== undefined) { onFrame(frame); continue }
        frames.push(frame)
        bytes += frame.byteLength
        if (overCollected(frames.length, bytes)) throw new TransportError('oversize',
          `response from ${peer} exceeds ${MAX_COLLECTED_FRAMES} frames or ${MAX_COLLECTED_BYTES} bytes`)
      }
      this.m.requests.inc({ role: 'client', result: 'ok' })
      return frames
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      const e = this.exchangeError(`request to ${peer}`, err, signal)
      this.m.requests.inc({ role: 'client', result: e.reason })
      throw e
    } finally {
      reader.detach()
    }
  }

  // ---- internals ------------------------------------------------------------------------------

  /** Server side of one exchange: read one request frame, answer with the handler's frames. */
  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(this.serveTimeoutMs)
    const reader = new FrameReader(stream, MAX_FRAME_BYTES)
    try {
      const req = await reader.next(signal)
      if (req === undefined) throw new FrameError('truncated', 'stream closed before the request frame')
      this.count('in', req.byteLength)
      const handlers = this.handlers
      if (handlers === undefined) throw new TransportError('stopped', 'transport is stopping')
      const frames = await handlers.onRequest(from, req)
      for (const frame of frames) {
        if (frame.byteLength > MAX_FRAME_BYTES) {
          this.m.droppedFrames.inc({ reason: 'oversize' })
          throw new TransportError('oversize', `response frame of ${frame.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
        }
        await writeFrame(stream, frame, signal)
        this.count('out', frame.byteLength)
        // Frames made on demand (a generator): let this one leave before the next is made, so
        // that making, sending and the requester's work on the frames overlap.
        if (!Array.isArray(frames)) await new Promise(resolve => setImmediate(resolve))
      }
      await stream.close({ signal })
      this.m.requests.inc({ role: 'server', result: 'ok' })
    } catch (err) {
      // Aborting resets the stream: the requester's request() rejects instead of reading a
      // partial answer as complete.
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      const e = this.exchangeError(`request from ${from}`, err, signal)
      this.m.requests.inc({ role: 'server', result: e.reason })
      this.log.debug({ err: e.message, peer: from }, 'request exchange failed')
    } finally {
      reader.detach()
    }
  }

  private count (dir: 'in' | 'out', bytes: number): void {
    this.m.frames.inc({ dir })
    this.m.frameBytes.inc({ dir }, bytes)
  }

  /** Classify a failed exchange (and count refused frames once, where they are detected). */
  private exchangeError (what: string, err: unknown, signal: AbortSignal): TransportError {
    if (err instanceof TransportError) return err
    if (err instanceof FrameError) {
      if (err.reason !== 'closed') this.m.droppedFrames.inc({ reason: err.reason })
      if (err.reason === 'oversize') this.log.warn({ err: err.message }, `${what}: oversize frame refused`)
      return new TransportError(err.reason === 'oversize' ? 'oversize' : 'protocol', `${what}: ${err.message}`,
        { cause: err })
    }
    if (signal.aborted) return new TransportError('timeout', `${what}: timed out`, { cause: err })
    return new TransportError('protocol', `${what}: ${errMessage(err)}`, { cause: err })
  }

  private peerEvent (kind: 'connect' | 'disconnect', peer: PeerId): void {
    if (kind === 'disconnect') this.pings.forget(peer.toString())
    const node = this.node
    if (node !== undefined) this.m.peers.set({}, node.getPeers().length)
    const h = this.handlers
    if (h === undefined) return
    try {
      if (kind === 'connect') h.onPeerConnected(peer.toString())
      else h.onPeerDisconnected(peer.toString())
    } catch (err) {
      this.log.error({ err: String(err), peer: peer.toString() }, `peer ${kind} handler threw`)
    }
  }

  private running (): Libp2p<Services> {
    if (this.node === undefined) throw new TransportError('stopped', 'transport is not running')
    return this.node
  }
}

// ---- addresses ----------------------------------------------------------------------------------

/**
 * `host:port`, `[v6]:port` or a multiaddr, as a multiaddr. Host names become /dns, which libp2p
 * resolves when dialing (and which cannot be listened on, as with any socket API).
 */
export function toMultiaddr (addr: string): Multiaddr {
  const a = addr.trim()
  if (a.startsWith('/')) return multiaddr(a)
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(a) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(a)
  if (m === null) throw new TransportError('unreachable', `address ${addr} is neither a multiaddr nor host:port`)
  const host = m[1]!
  const port = Number(m[2])
  if (port > 65535) throw new TransportError('unreachable', `address ${addr}: port out of range`)
  const proto = host.includes(':') ? 'ip6' : /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? 'ip4' : 'dns'
  return multiaddr(`/${proto}/${host}/tcp/${port}`)
}

function withPeer (ma: Multiaddr, peer: PeerId): Multiaddr {
  return ma.getComponents().some(c => c.name === 'p2p') ? ma : ma.encapsulate(`/p2p/${peer.toString()}`)
}

/** P2P_CODE: the multiaddr protocol code of /p2p. */
const P2P_CODE = 421

function withoutPeer (ma: Multiaddr): Multiaddr {
  return ma.decapsulateCode(P2P_CODE)
}

function parsePeer (peer: string): PeerId {
  try {
    return peerIdFromString(peer)
  } catch (err) {
    throw new TransportError('unreachable', `invalid peer id ${peer}`, { cause: err })
  }
}

function dialError (what: string, err: unknown): TransportError {
  if (err instanceof TransportError) return err
  const name = (err as { name?: string } | undefined)?.name
  const reason = name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'unreachable'
  return new TransportError(reason, `${what}: ${errMessage(err)}`, { cause: err })
}

function errMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
