/**
 * Probes over one long-lived ping stream per peer.
 *
 * libp2p's ping service opens a new stream for every ping: a yamux stream, a multistream-select
 * negotiation, a peer-store update on both sides, then the 32-byte exchange and the close. At two
 * probes a second per node (plus the probes it answers and the indirect ones), that was about 40 %
 * of an idle agent's CPU (docs/BENCHMARKS.md, "Session 7"). The ping protocol itself allows many
 * pings on one stream: the responder echoes whatever arrives until the stream ends. So a probe
 * sends 32 random bytes on the peer's open channel and waits for the same 32 bytes back: one
 * small frame each way.
 *
 * A channel is dropped (and the next probe opens a new one) when a probe fails or times out, when
 * the echo differs, and when the stream closes (connection gone, responder restarted). Only one
 * probe runs on a channel at a time; an overlapping probe of the same peer (our own and an
 * indirect one for another member) uses a stream of its own, as before. A responder of an older
 * version, which ends its side of the stream after its ping timeout, only makes this reopen.
 */
import type { Stream } from '@libp2p/interface'

export const PING_BYTES = 32

/** Opens a ping-protocol stream to a peer (libp2p's dialProtocol). */
export type OpenPingStream = (peer: string, signal: AbortSignal) => Promise<Stream>

class Channel {
  private waiting: { data: Uint8Array, got: Uint8Array, n: number, done: (err?: Error) => void } | undefined
  busy = false
  closed = false

  constructor (readonly stream: Stream, onClose: () => void) {
    stream.addEventListener('message', (evt) => { this.onData(evt.data) })
    stream.addEventListener('close', () => {
      this.closed = true
      this.waiting?.done(new Error('ping stream closed'))
      onClose()
    })
  }

  async ping (signal: AbortSignal): Promise<number> {
    const data = crypto.getRandomValues(new Uint8Array(PING_BYTES))
    const start = performance.now()
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { done(signal.reason instanceof Error ? signal.reason : new Error('aborted')) }
      const done = (err?: Error): void => {
        this.waiting = undefined
        signal.removeEventListener('abort', onAbort)
        if (err === undefined) resolve(); else reject(err)
      }
      if (signal.aborted) { onAbort(); return }
      signal.addEventListener('abort', onAbort)
      this.waiting = { data, got: new Uint8Array(PING_BYTES), n: 0, done }
      // false only means "wait for drain"; the bytes are queued either way
      this.stream.send(data)
    })
    return performance.now() - start
  }

  private onData (chunk: Uint8Array | { subarray: () => Uint8Array }): void {
    const w = this.waiting
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    if (w === undefined || w.n + bytes.byteLength > PING_BYTES) {
      // an echo nobody waits for (a probe that timed out), or more than was sent: out of step
      const err = new Error(w === undefined ? 'unexpected ping echo' : 'ping echo too long')
      this.stream.abort(err)
      w?.done(err)
      return
    }
    w.got.set(bytes, w.n)
    w.n += bytes.byteLength
    if (w.n < PING_BYTES) return
    if (!w.got.every((b, i) => b === w.data[i])) {
      const err = new Error('wrong ping echo')
      this.stream.abort(err)
      w.done(err)
      return
    }
    w.done()
  }
}

export class PingChannels {
  private readonly channels = new Map<string, Channel>()
  private readonly opening = new Map<string, Promise<Channel>>()

  constructor (private readonly open: OpenPingStream) {}

  /**
   * Round-trip time to `peer` in ms over its channel (opened on first use). Rejects on timeout
   * (the signal) or on any stream failure; the channel is then dropped.
   */
  async ping (peer: string, signal: AbortSignal): Promise<number> {
    const existing = this.channels.get(peer)
    if (existing?.busy === true) return await this.once(peer, signal)
    const ch = existing ?? await this.channel(peer, signal)
    if (ch.busy) return await this.once(peer, signal)
    ch.busy = true
    try {
      return await ch.ping(signal)
    } catch (err) {
      this.drop(peer, ch, err)
      throw err
    } finally {
      ch.busy = false
    }
  }

  /** Forget a peer's channel (its connection went away). */
  forget (peer: string): void {
    const ch = this.channels.get(peer)
    if (ch !== undefined) this.drop(peer, ch, new Error('peer disconnected'))
  }

  closeAll (): void {
    for (const [peer, ch] of this.channels) this.drop(peer, ch, new Error('transport stopping'))
  }

  get size (): number { return this.channels.size }

  private async channel (peer: string, signal: AbortSignal): Promise<Channel> {
    let p = this.opening.get(peer)
    if (p === undefined) {
      p = this.open(peer, signal).then(stream => {
        const ch = new Channel(stream, () => { if (this.channels.get(peer) === ch) this.channels.delete(peer) })
        if (!ch.closed) this.channels.set(peer, ch)
        return ch
      }).finally(() => { this.opening.delete(peer) })
      this.opening.set(peer, p)
    }
    return await p
  }

  /** A one-off stream for a probe that overlaps the channel's. */
  private async once (peer: string, signal: AbortSignal): Promise<number> {
    const stream = await this.open(peer, signal)
    const ch = new Channel(stream, () => {})
    try {
      return await ch.ping(signal)
    } finally {
      // graceful: the responder's echo loop ends with our end of the stream
      if (!ch.closed) {
        stream.close().catch((err: unknown) => { stream.abort(err instanceof Error ? err : new Error(String(err))) })
      }
    }
  }

  private drop (peer: string, ch: Channel, err: unknown): void {
    if (this.channels.get(peer) === ch) this.channels.delete(peer)
    if (!ch.closed) ch.stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
}
