/**
 * Forwarding of names that are not the cluster's to the host's own resolvers, from the agent's
 * namespace (so a host resolver on 127.0.0.53 works too). UDP first, with a fresh socket (a
 * random source port) and a fresh query id per attempt; an answer with the TC bit is asked again
 * over TCP, as is every query that came over TCP. Each server gets `timeoutMs`; then the next.
 */
import { createSocket } from 'node:dgram'
import { connect } from 'node:net'
import { randomInt } from 'node:crypto'
import { isIPv6 } from 'node:net'
import type { Upstream } from './resolv-conf.js'
import type { DnsMetrics } from './metrics.js'

export interface ForwarderOptions {
  servers: () => Promise<Upstream[]>
  /** Per server and attempt (default 2000 ms). */
  timeoutMs?: number
  metrics?: DnsMetrics
}

const TC = 0x02 // in the third byte of the header

/** The query id of a message. */
const idOf = (m: Uint8Array): number => (m[0]! << 8) | m[1]!

function withId (m: Uint8Array, id: number): Buffer {
  const b = Buffer.from(m)
  b.writeUInt16BE(id, 0)
  return b
}

export class Forwarder {
  private readonly timeoutMs: number

  constructor (private readonly o: ForwarderOptions) {
    this.timeoutMs = o.timeoutMs ?? 2000
  }

  /**
   * The upstream answer to `query` (its id restored), or undefined when no server answered.
   * `tcp`: the asker came over TCP (no size limit): ask over TCP at once.
   */
  async forward (query: Uint8Array, tcp: boolean): Promise<Buffer | undefined> {
    const servers = await this.o.servers()
    const id = idOf(query)
    for (const s of servers) {
      try {
        let answer = tcp ? undefined : await this.udp(s, query)
        if (answer === undefined || (answer[2]! & TC) !== 0) answer = await this.tcp(s, query)
        this.o.metrics?.forward('ok', tcp ? 'tcp' : 'udp')
        return withId(answer, id)
      } catch (err) {
        this.o.metrics?.forward(err instanceof TimeoutError ? 'timeout' : 'error', tcp ? 'tcp' : 'udp')
      }
    }
    return undefined
  }

  /** One UDP exchange; resolves with the answer, or undefined when it is truncated (ask TCP). */
  private async udp (s: Upstream, query: Uint8Array): Promise<Buffer> {
    const id = randomInt(0, 0x10000)
    const sock = createSocket(isIPv6(s.host) ? 'udp6' : 'udp4')
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new TimeoutError()) }, this.timeoutMs)
        sock.on('error', err => { clearTimeout(timer); reject(err) })
        sock.on('message', (msg, rinfo) => {
          // Only the server asked, only an answer to this id (no spoofed or stray datagram).
          if (rinfo.address !== s.host || rinfo.port !== s.port || msg.length < 12 || idOf(msg) !== id) return
          clearTimeout(timer)
          resolve(msg)
        })
        sock.send(withId(query, id), s.port, s.host, err => { if (err !== null) { clearTimeout(timer); reject(err) } })
      })
    } finally {
      sock.close()
    }
  }

  private async tcp (s: Upstream, query: Uint8Array): Promise<Buffer> {
    const id = randomInt(0, 0x10000)
    const conn = connect({ host: s.host, port: s.port })
    try {
      return await new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new TimeoutError()) }, this.timeoutMs)
        let buf = Buffer.alloc(0)
        conn.on('error', err => { clearTimeout(timer); reject(err) })
        conn.on('close', () => { clearTimeout(timer); reject(new Error('upstream closed the connection')) })
        conn.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d])
          if (buf.length < 2) return
          const len = buf.readUInt16BE(0)
          if (buf.length < 2 + len) return
          clearTimeout(timer)
          const msg = buf.subarray(2, 2 + len)
          if (len < 12 || idOf(msg) !== id) reject(new Error('upstream answered another id'))
          else resolve(msg)
        })
        const q = withId(query, id)
        const frame = Buffer.alloc(2 + q.length)
        frame.writeUInt16BE(q.length, 0)
        q.copy(frame, 2)
        conn.write(frame)
      })
    } finally {
      conn.destroy()
    }
  }
}

export class TimeoutError extends Error {
  constructor () { super('upstream resolver timed out'); this.name = 'TimeoutError' }
}
