/**
 * The resolver on a bound UDP socket and TCP server (one pair per network sandbox, or on
 * 127.0.0.1 in tests). Every query is first tied to its asker by its source address: a source
 * that is no container of this host on this network gets no answer at all (counted), so the
 * resolver is no open resolver whatever reaches its address (the host, a spoofed packet over
 * the overlay, the underlay).
 */
import type { Socket as UdpSocket, RemoteInfo } from 'node:dgram'
import type { Server, Socket } from 'node:net'
import type { Asker, Resolver } from './resolver.js'
import type { DnsMetrics } from './metrics.js'

export interface ServeOptions {
  resolver: Resolver
  /** The asker behind a source address, or undefined to drop its queries. */
  identify: (srcIp: string) => Asker | undefined
  metrics?: DnsMetrics
  /** A TCP connection idle this long is closed (default 10 s). */
  tcpIdleMs?: number
  /** Queries in flight per TCP connection (default 16); more wait until earlier ones are answered. */
  tcpPipeline?: number
}

export interface Serving { close(): void }

/** Largest DNS message over TCP (its length prefix is 16 bits). */
const MAX_TCP = 65535

export function serveUdp (sock: UdpSocket, o: ServeOptions): Serving {
  const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    const asker = o.identify(rinfo.address)
    if (asker === undefined) { o.metrics?.dropped('unknown-source'); return }
    void o.resolver.handle(msg, asker, 'udp').then(answer => {
      if (answer !== undefined) {
        sock.send(answer, rinfo.port, rinfo.address, () => { /* a lost answer is the client's to retry */ })
      }
    })
  }
  sock.on('message', onMessage)
  // A send to a vanished client must not crash the agent.
  const onError = (): void => {}
  sock.on('error', onError)
  return {
    close: () => {
      sock.off('message', onMessage)
      try { sock.close() } catch { /* already closed */ }
    }
  }
}

export function serveTcp (server: Server, o: ServeOptions): Serving {
  const conns = new Set<Socket>()
  const onConnection = (c: Socket): void => {
    const asker = o.identify(c.remoteAddress?.replace(/^::ffff:/, '') ?? '')
    if (asker === undefined) { o.metrics?.dropped('unknown-source'); c.destroy(); return }
    conns.add(c)
    c.on('close', () => { conns.delete(c) })
    c.on('error', () => { c.destroy() })
    c.setTimeout(o.tcpIdleMs ?? 10_000, () => { c.destroy() })
    let buf: Buffer = Buffer.alloc(0)
    let inFlight = 0
    const limit = o.tcpPipeline ?? 16
    const pump = (): void => {
      while (inFlight < limit && buf.length >= 2) {
        const len = buf.readUInt16BE(0)
        if (buf.length < 2 + len) break
        const msg = Buffer.from(buf.subarray(2, 2 + len))
        buf = buf.subarray(2 + len)
        inFlight++
        void o.resolver.handle(msg, asker, 'tcp').then(answer => {
          inFlight--
          if (answer !== undefined && !c.destroyed) {
            const frame = Buffer.alloc(2 + answer.length)
            frame.writeUInt16BE(answer.length, 0)
            answer.copy(frame, 2)
            c.write(frame)
          }
          if (c.isPaused()) c.resume()
          pump()
        })
      }
      if (inFlight >= limit) c.pause()
    }
    c.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d])
      if (buf.length > 2 * (MAX_TCP + 2)) { o.metrics?.dropped('oversize'); c.destroy(); return }
      pump()
    })
  }
  server.on('connection', onConnection)
  server.on('error', () => {})
  return {
    close: () => {
      server.off('connection', onConnection)
      server.close()
      for (const c of conns) c.destroy()
    }
  }
}
