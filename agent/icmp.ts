/**
 * Underlay health: ICMP echo to each peer's underlay address through a raw socket
 * (node-raw-socket; needs root or CAP_NET_RAW). `IcmpProber` sends one echo and resolves the
 * round trip in ms, or null when nothing answers in time or the network says the host is
 * unreachable. `PeerHealthMonitor` probes a set of peers periodically and caches the results for
 * `cluster members` and `inspect --verbose`.
 *
 * A raw ICMP socket receives EVERY ICMP packet of its network namespace — other pings' replies,
 * our own requests on loopback, errors — so replies are matched on identifier (random per
 * prober), sequence, source address and a random payload cookie (which tells us apart from an
 * earlier prober that drew the same identifier). The socket lives in the namespace of the process
 * that opens it, which is what the lab wants: an agent started with `ip netns exec HOST` probes
 * the lab's underlay.
 */
import { createRequire } from 'node:module'
import { randomBytes, randomInt } from 'node:crypto'
import { isIPv4 } from 'node:net'
import {
  SystemClock, silentLogger, noopMetrics, type Clock, type TimerHandle, type Logger, type Gauge, type Metrics
} from '../core/index.js'

// ---- node-raw-socket (CommonJS, untyped): the part we use -------------------------------------

interface RawSocket {
  on(ev: 'message', fn: (buf: Buffer, source: string) => void): void
  on(ev: 'error', fn: (err: Error) => void): void
  on(ev: 'close', fn: () => void): void
  send(buf: Buffer, offset: number, length: number, address: string,
    before: () => void, after: (err: Error | null, bytes: number) => void): void
  close(): void
  pauseRecv(): void
  resumeRecv(): void
  recvPaused: boolean
}

interface RawSocketModule {
  createSocket(opts: { protocol: number, addressFamily?: number }): RawSocket
  Protocol: { ICMP: number }
  AddressFamily: { IPv4: number }
}

const raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule

// ---- ICMP packets -------------------------------------------------------------------------------

const ICMP_ECHO_REPLY = 0
const ICMP_DEST_UNREACHABLE = 3
const ICMP_ECHO_REQUEST = 8
const ICMP_TIME_EXCEEDED = 11
const ICMP_HEADER = 8
const COOKIE_BYTES = 8
const IPPROTO_ICMP = 1

/** RFC 1071 Internet checksum: one's complement of the one's complement sum of 16-bit words. */
export function internetChecksum (buf: Uint8Array, start = 0, end = buf.length): number {
  let sum = 0
  for (let i = start; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!
  if ((end - start) % 2 === 1) sum += buf[end - 1]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return (~sum) & 0xffff
}

export function encodeEchoRequest (identifier: number, sequence: number, payload: Uint8Array): Buffer {
  const b = Buffer.alloc(ICMP_HEADER + payload.length)
  b[0] = ICMP_ECHO_REQUEST
  b[1] = 0
  b.writeUInt16BE(identifier, 4)
  b.writeUInt16BE(sequence, 6)
  b.set(payload, ICMP_HEADER)
  b.writeUInt16BE(internetChecksum(b), 2)
  return b
}

export type IcmpMessage =
  | { kind: 'reply', identifier: number, sequence: number, payload: Buffer }
  /** An error about one of our echo requests; `target` is where that request was going. */
  | { kind: 'error', type: number, code: number, target: string, identifier: number, sequence: number }

function ipv4At (b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`
}

/** Decode what a raw IPv4 ICMP socket reads (IP header included); undefined for anything else. */
export function decodeIcmp (b: Buffer): IcmpMessage | undefined {
  if (b.length < 20 || (b[0]! >> 4) !== 4) return undefined
  const ihl = (b[0]! & 0x0f) * 4
  if (ihl < 20 || b.length < ihl + ICMP_HEADER) return undefined
  const type = b[ihl]!
  if (type === ICMP_ECHO_REPLY) {
    if (internetChecksum(b, ihl) !== 0) return undefined // corrupt: a sum over a valid message is 0
    return {
      kind: 'reply', identifier: b.readUInt16BE(ihl + 4), sequence: b.readUInt16BE(ihl + 6),
      payload: b.subarray(ihl + ICMP_HEADER)
    }
  }
  if (type === ICMP_DEST_UNREACHABLE || type === ICMP_TIME_EXCEEDED) {
    // The error quotes the offending datagram's IP header and its first 8 bytes: our echo header.
    const inner = ihl + ICMP_HEADER
    if (b.length < inner + 20 || (b[inner]! >> 4) !== 4) return undefined
    const innerIhl = (b[inner]! & 0x0f) * 4
    if (b[inner + 9] !== IPPROTO_ICMP || b.length < inner + innerIhl + ICMP_HEADER) return undefined
    const echo = inner + innerIhl
    if (b[echo] !== ICMP_ECHO_REQUEST) return undefined
    return {
      kind: 'error',
      type,
      code: b[ihl + 1]!,
      target: ipv4At(b, inner + 16),
      identifier: b.readUInt16BE(echo + 4),
      sequence: b.readUInt16BE(echo + 6)
    }
  }
  return undefined
}

// ---- the prober ---------------------------------------------------------------------------------

/** What the monitor needs; tests substitute a scripted prober. */
export interface Prober {
  /** Round trip in ms, or null when no answer came within `timeoutMs`. */
  probe(ip: string, timeoutMs: number): Promise<number | null>
  close(): void
}

interface Pending {
  ip: string
  sentAt: number
  timer: NodeJS.Timeout
  resolve: (rtt: number | null) => void
}

export class IcmpProber implements Prober {
  private socket: RawSocket | undefined
  private readonly identifier: number
  private readonly cookie: Buffer
  private nextSeq: number
  private readonly pending = new Map<number, Pending>()
  private closed = false

  constructor (private readonly logger: Logger = silentLogger) {
    this.identifier = randomInt(1, 0x10000)
    this.nextSeq = randomInt(0, 0x10000)
    this.cookie = randomBytes(COOKIE_BYTES)
  }

  /**
   * Open the raw socket now rather than at the first probe, so a missing privilege is reported at
   * start. Throws EPERM-like errors as they are.
   */
  open (): void {
    if (this.closed) throw new Error('ICMP prober is closed')
    if (this.socket !== undefined) return
    const s = raw.createSocket({ protocol: raw.Protocol.ICMP, addressFamily: raw.AddressFamily.IPv4 })
    s.on('message', (buf, source) => { this.onMessage(buf, source) })
    s.on('error', (err) => {
      // raw-socket closes the socket after an error; fail what is in flight, reopen on next probe.
      this.logger.warn({ err }, 'ICMP socket error')
      if (this.socket === s) this.socket = undefined
      this.settleAll()
    })
    s.pauseRecv() // idle until a probe is in flight, so an idle prober does not hold the process open
    this.socket = s
  }

  async probe (ip: string, timeoutMs: number): Promise<number | null> {
    if (!isIPv4(ip)) throw new TypeError(`ICMP probe: ${ip} is not an IPv4 address`)
    this.open()
    const socket = this.socket!
    const seq = this.allocateSeq()
    const packet = encodeEchoRequest(this.identifier, seq, this.cookie)
    return await new Promise<number | null>(resolve => {
      const p: Pending = {
        ip,
        sentAt: performance.now(),
        timer: setTimeout(() => { this.settle(seq, null) }, timeoutMs),
        resolve
      }
      this.pending.set(seq, p)
      if (socket.recvPaused) socket.resumeRecv()
      socket.send(packet, 0, packet.length, ip,
        () => { p.sentAt = performance.now() }, // stamp when it really leaves, not when queued
        (err) => {
          if (err === null) return
          // ENETUNREACH, EHOSTUNREACH, EPERM (a firewall): no answer is coming.
          this.logger.debug({ err, ip }, 'ICMP send failed')
          this.settle(seq, null)
        })
    })
  }

  close (): void {
    this.closed = true
    this.settleAll()
    const s = this.socket
    this.socket = undefined
    s?.close()
  }

  private allocateSeq (): number {
    for (let i = 0; i < 0x10000; i++) {
      const seq = this.nextSeq
      this.nextSeq = (this.nextSeq + 1) & 0xffff
      if (!this.pending.has(seq)) return seq
    }
    throw new Error('ICMP prober: 65536 probes in flight')
  }

  private onMessage (buf: Buffer, source: string): void {
    const m = decodeIcmp(buf)
    if (m === undefined || m.identifier !== this.identifier) return
    const p = this.pending.get(m.sequence)
    if (p === undefined) return // late reply of a timed-out probe, or a reused sequence
    if (m.kind === 'reply') {
      if (source !== p.ip || !m.payload.subarray(0, COOKIE_BYTES).equals(this.cookie)) return
      this.settle(m.sequence, Math.max(0, performance.now() - p.sentAt))
    } else if (m.target === p.ip) {
      this.settle(m.sequence, null) // host/net unreachable: say so now rather than at the timeout
    }
  }

  private settle (seq: number, rtt: number | null): void {
    const p = this.pending.get(seq)
    if (p === undefined) return
    this.pending.delete(seq)
    clearTimeout(p.timer)
    if (this.pending.size === 0 && this.socket !== undefined && !this.socket.recvPaused) this.socket.pauseRecv()
    p.resolve(rtt === null ? null : Math.round(rtt * 1000) / 1000)
  }

  private settleAll (): void {
    for (const seq of [...this.pending.keys()]) this.settle(seq, null)
  }
}

// ---- periodic probing of the peers ---------------------------------------------------------------

export interface PeerProbeResult {
  /** Last answered round trip (ms), or null once `missesBeforeUnreachable` probes in a row failed. */
  rtt: number | null
  /** Clock ms of the last completed probe. */
  at: number
  consecutiveMisses: number
}

export interface PeerHealth {
  /** RTT in ms, or null when unreachable or not probed yet. */
  rtt(ip: string): number | null
}

export interface PeerHealthOptions {
  /** Pause between the end of one round and the start of the next (default 2 s). */
  intervalMs?: number
  /** Per-probe timeout (default 1 s; LAN RTTs are < 1 ms, so a miss means loss or a dead host). */
  timeoutMs?: number
  /** One lost packet should not flip a peer to "unreachable" in the CLI (default 2). */
  missesBeforeUnreachable?: number
  clock?: Clock
  logger?: Logger
  metrics?: Metrics
}

export class PeerHealthMonitor implements PeerHealth {
  private readonly peers = new Set<string>()
  private readonly results = new Map<string, PeerProbeResult>()
  private readonly intervalMs: number
  private readonly timeoutMs: number
  private readonly misses: number
  private readonly clock: Clock
  private readonly logger: Logger
  private readonly rttGauge: Gauge
  private readonly reachableGauge: Gauge
  private timer: TimerHandle | undefined
  private running = false
  private round: Promise<void> | undefined

  constructor (private readonly prober: Prober, opts: PeerHealthOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 2000
    this.timeoutMs = opts.timeoutMs ?? 1000
    this.misses = opts.missesBeforeUnreachable ?? 2
    this.clock = opts.clock ?? new SystemClock()
    this.logger = opts.logger ?? silentLogger
    const m = opts.metrics ?? noopMetrics
    this.rttGauge = m.gauge(
      'ovnet_peer_rtt_milliseconds', 'ICMP echo round trip to a peer\'s underlay address', ['peer']
    )
    this.reachableGauge = m.gauge('ovnet_peer_reachable', '1 when the peer answers ICMP echo, 0 when not', ['peer'])
  }

  /** Replace the probed set (the controller calls this on membership changes). */
  setPeers (ips: Iterable<string>): void {
    const next = new Set([...ips].filter(ip => isIPv4(ip)))
    for (const ip of this.peers) {
      if (!next.has(ip)) { this.peers.delete(ip); this.results.delete(ip) }
    }
    for (const ip of next) this.peers.add(ip)
  }

  rtt (ip: string): number | null {
    return this.results.get(ip)?.rtt ?? null
  }

  result (ip: string): PeerProbeResult | undefined {
    const r = this.results.get(ip)
    return r === undefined ? undefined : { ...r }
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.schedule(0)
  }

  /** Stop probing; resolves when a round in progress has finished. Does not close the prober. */
  async stop (): Promise<void> {
    this.running = false
    this.clock.clearTimeout(this.timer)
    this.timer = undefined
    await this.round
  }

  /** Probe every peer once, concurrently. */
  async probeAll (): Promise<void> {
    await Promise.all([...this.peers].map(async ip => {
      let rtt: number | null
      try {
        rtt = await this.prober.probe(ip, this.timeoutMs)
      } catch (err) {
        this.logger.warn({ err, peer: ip }, 'ICMP probe failed')
        rtt = null
      }
      if (!this.peers.has(ip)) return // removed while in flight
      this.record(ip, rtt)
    }))
  }

  private record (ip: string, rtt: number | null): void {
    const prev = this.results.get(ip)
    const misses = rtt === null ? (prev?.consecutiveMisses ?? 0) + 1 : 0
    const shown = rtt ?? (misses >= this.misses ? null : (prev?.rtt ?? null))
    const wasUp = prev !== undefined && prev.rtt !== null
    if (prev === undefined || wasUp !== (shown !== null)) {
      this.logger.info({ peer: ip, rtt: shown }, shown === null ? 'peer unreachable by ICMP' : 'peer reachable by ICMP')
    }
    this.results.set(ip, { rtt: shown, at: this.clock.now(), consecutiveMisses: misses })
    this.reachableGauge.set({ peer: ip }, shown === null ? 0 : 1)
    if (shown !== null) this.rttGauge.set({ peer: ip }, shown)
  }

  private schedule (delayMs: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined
      if (!this.running) return
      this.round = this.probeAll().finally(() => {
        this.round = undefined
        if (this.running) this.schedule(this.intervalMs)
      })
    }, delayMs)
  }
}
