/**
 * Length-prefixed frames (unsigned varint length, then the bytes) on a libp2p 3 stream, for the
 * request/response protocol. Written for this one use rather than taken from `lpStream` because a
 * response is "frames until the remote closes", and we must tell a clean end after a whole frame
 * from a stream cut inside one, and refuse an oversized frame from its prefix, before buffering it.
 *
 * libp2p 3 streams are event based: data arrives as 'message' events as soon as a listener is
 * attached, the remote's half-close is 'remoteCloseWrite', a reset or local abort is 'close' with
 * an error. Reading keeps no backpressure: a response is collected whole anyway (the Transport
 * port returns `Uint8Array[]`), and every single frame is bounded by `maxFrameBytes`.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'

export type FrameErrorReason = 'oversize' | 'truncated' | 'closed'

export class FrameError extends Error {
  constructor (readonly reason: FrameErrorReason, message: string) {
    super(message)
    this.name = 'FrameError'
  }
}

/** A 4 MiB limit needs 4 varint bytes; 5 covers any length below 2^35 and rejects longer prefixes. */
const MAX_VARINT_BYTES = 5

export function encodeVarint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** Write one frame; waits for the stream to drain when its write buffer is full. */
export async function writeFrame (stream: Stream, frame: Uint8Array, signal: AbortSignal): Promise<void> {
  // One send of prefix + body, without copying the body (a sync response frame may be MiBs).
  if (!stream.send(new Uint8ArrayList(encodeVarint(frame.byteLength), frame))) {
    await stream.onDrain({ signal })
  }
}

/**
 * Decodes frames from a stream from the moment it is constructed. `next()` yields them in order,
 * `undefined` once the remote closed its writing end on a frame boundary.
 */
export class FrameReader {
  private readonly buffer = new Uint8ArrayList()
  private readonly ready: Uint8Array[] = []
  private ended = false
  private failure: Error | undefined
  private wake: (() => void) | undefined
  /** Bytes of frame bodies received, for metrics. */
  bytesIn = 0

  constructor (private readonly stream: Stream, private readonly maxFrameBytes: number) {
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('remoteCloseWrite', this.onRemoteEnd)
    stream.addEventListener('close', this.onClose)
    // The remote may have half-closed before we attached (a one-frame request and its FIN often
    // arrive together, before the protocol handler runs). Data buffered by the stream is handed to
    // a new 'message' listener on a microtask queued by addEventListener above; look for the end
    // on a later microtask, once that data is in.
    if (stream.remoteWriteStatus !== 'writable') {
      queueMicrotask(() => { if (this.stream.readBufferLength === 0) this.onRemoteEnd() })
    }
  }

  /** The next frame; `undefined` at a clean end. Rejects on oversize, truncation, reset or abort. */
  async next (signal: AbortSignal): Promise<Uint8Array | undefined> {
    for (;;) {
      const frame = this.ready.shift()
      if (frame !== undefined) return frame
      if (this.failure !== undefined) throw this.failure
      if (this.ended) return undefined
      signal.throwIfAborted()
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          this.wake = undefined
          reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)))
        }
        this.wake = () => { signal.removeEventListener('abort', onAbort); this.wake = undefined; resolve() }
        signal.addEventListener('abort', onAbort, { once: true })
      })
    }
  }

  /** Stop listening; later data stays in the stream (and is dropped when it closes). */
  detach (): void {
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteEnd)
    this.stream.removeEventListener('close', this.onClose)
  }

  private readonly onMessage = (evt: StreamMessageEvent): void => {
    if (this.failure !== undefined || this.ended) return
    this.buffer.append(evt.data)
    try {
      this.decode()
    } catch (err) {
      this.fail(err as Error)
      // Stop the sender now: it would otherwise push up to the whole oversized frame at us.
      this.stream.abort(err as Error)
      return
    }
    this.wake?.()
  }

  private decode (): void {
    for (;;) {
      let length = 0
      let scale = 1
      let prefix = 0
      for (;;) {
        if (prefix >= this.buffer.byteLength) return // the prefix is not complete yet
        if (prefix >= MAX_VARINT_BYTES) throw new FrameError('oversize', 'frame length prefix too long')
        const b = this.buffer.get(prefix)
        length += (b & 0x7f) * scale
        scale *= 0x80
        prefix++
        if ((b & 0x80) === 0) break
      }
      if (length > this.maxFrameBytes) {
        throw new FrameError('oversize', `frame of ${length} bytes exceeds ${this.maxFrameBytes}`)
      }
      if (this.buffer.byteLength < prefix + length) return
      // subarray copies only when the frame spans several received chunks
      const frame = this.buffer.subarray(prefix, prefix + length)
      this.buffer.consume(prefix + length)
      this.bytesIn += length
      this.ready.push(frame)
    }
  }

  private readonly onRemoteEnd = (): void => {
    if (this.ended || this.failure !== undefined) return
    if (this.buffer.byteLength > 0) {
      this.fail(new FrameError('truncated', `stream ended inside a frame (${this.buffer.byteLength} bytes left)`))
    } else {
      this.ended = true
    }
    this.wake?.()
  }

  private readonly onClose = (evt: StreamCloseEvent): void => {
    if (evt.error !== undefined) this.fail(evt.error)
    else this.onRemoteEnd()
    this.wake?.()
  }

  private fail (err: Error): void {
    if (this.failure === undefined && !this.ended) this.failure = err
  }
}
