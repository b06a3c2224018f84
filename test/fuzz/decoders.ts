/**
 * Fuzz of every decoder of proto/ and of the request/response framing of networkdb/
 * (libp2p-frames.ts): random and mutated frames. A decoder may only accept (and then what it
 * returns must encode and decode to the same value: nothing accepted here fails later, at
 * encoding, on another host) or throw its own error type (WireError, FrameError).
 */
import { isDeepStrictEqual } from 'node:util'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'
import { FrameError, FrameReader } from '../../networkdb/libp2p-frames.js'
import {
  decodeEndpointRecord, decodeGossip, decodeIpamRecord, decodeNetworkRecord, decodePeerRecord, decodeRemovalRecord,
  decodeRequest, decodeResponse, decodeVniClaim, decodeWireguardPeer, encodeEndpointRecord, encodeGossip,
  encodeIpamRecord, encodeNetworkRecord, encodePeerRecord, encodeRemovalRecord, encodeRequest, encodeResponse,
  encodeVniClaim, encodeWireguardPeer, WireError
} from '../../proto/index.js'
import { IDS, networkdbFrames, recordFrames } from './corpus.js'
import { fuzzFrame } from './mutate.js'
import { Rng } from './rng.js'

interface Codec { name: string, decode: (b: Uint8Array) => unknown, encode: (v: never) => Uint8Array }

const CODECS: Codec[] = [
  { name: 'gossip', decode: decodeGossip, encode: encodeGossip },
  { name: 'request', decode: decodeRequest, encode: encodeRequest },
  { name: 'response', decode: decodeResponse, encode: encodeResponse },
  { name: 'peer record', decode: decodePeerRecord, encode: encodePeerRecord },
  { name: 'vni claim', decode: decodeVniClaim, encode: encodeVniClaim },
  { name: 'network record', decode: decodeNetworkRecord, encode: encodeNetworkRecord },
  { name: 'endpoint record', decode: decodeEndpointRecord, encode: encodeEndpointRecord },
  { name: 'removal record', decode: decodeRemovalRecord, encode: encodeRemovalRecord },
  { name: 'ipam record', decode: decodeIpamRecord, encode: encodeIpamRecord },
  { name: 'wireguard peer record', decode: decodeWireguardPeer, encode: encodeWireguardPeer }
]

export interface DecoderReport { frames: number, accepted: Record<string, number>, rejected: Record<string, number>, framing: { frames: number, errors: number } }

export class FuzzFailure extends Error {
  constructor (what: string, readonly frame: Uint8Array, cause: unknown) {
    super(`${what} on frame ${Buffer.from(frame).toString('hex').slice(0, 400)}: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`)
    this.name = 'FuzzFailure'
  }
}

export function decoderCorpus (): Uint8Array[] {
  return [...networkdbFrames(IDS[1]!, 'n', IDS[0]!), ...networkdbFrames(IDS[0]!, 'a'.repeat(64), IDS[2]!), ...recordFrames()]
}

/** Run `frames` fuzz frames through every decoder; throws FuzzFailure on the first violation. */
export async function fuzzDecoders (frames: number, seed: number): Promise<DecoderReport> {
  const r = new Rng(seed)
  const corpus = decoderCorpus()
  const report: DecoderReport = { frames: 0, accepted: {}, rejected: {}, framing: { frames: 0, errors: 0 } }
  for (const c of CODECS) { report.accepted[c.name] = 0; report.rejected[c.name] = 0 }
  for (let i = 0; i < frames; i++) {
    const frame = fuzzFrame(corpus, r)
    report.frames++
    for (const c of CODECS) {
      let v: unknown
      try {
        v = c.decode(frame)
      } catch (err) {
        if (!(err instanceof WireError)) throw new FuzzFailure(`${c.name} decoder threw ${String(err)}`, frame, err)
        report.rejected[c.name]!++
        continue
      }
      report.accepted[c.name]!++
      let again: unknown
      try {
        again = c.decode(c.encode(v as never))
      } catch (err) {
        throw new FuzzFailure(`${c.name}: a decoded value does not encode and decode again`, frame, err)
      }
      if (!isDeepStrictEqual(plain(again), plain(v))) throw new FuzzFailure(`${c.name}: round trip changed the value`, frame, JSON.stringify(v)?.slice(0, 300))
    }
    if (i % 16 === 0) await fuzzFraming(frame, r, report)
  }
  return report
}

/** Byte strings as hex (a decoded value may be a Buffer view or a Uint8Array: same bytes, other prototypes). */
function plain (v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`
  if (Array.isArray(v)) return v.map(plain)
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  return v
}

/** A minimal libp2p Stream: the FrameReader only listens to it and may abort it. */
class FakeStream extends EventTarget {
  remoteWriteStatus = 'writable'
  readBufferLength = 0
  aborted = false
  abort (): void { this.aborted = true }
  push (data: Uint8Array): void { this.dispatchEvent(Object.assign(new Event('message'), { data: new Uint8ArrayList(data) })) }
  end (): void { this.dispatchEvent(new Event('remoteCloseWrite')) }
}

/** Length-prefixed framing: chunks of fuzz bytes (a prefix of any value, then whatever). */
async function fuzzFraming (frame: Uint8Array, r: Rng, report: DecoderReport): Promise<void> {
  const stream = new FakeStream()
  const max = 1 + r.int(4096)
  const reader = new FrameReader(stream as unknown as Stream, max)
  const prefix = r.chance(0.5) ? Uint8Array.from([frame.length & 0x7f | (frame.length > 127 ? 0x80 : 0), frame.length >> 7]) : r.bytes(1 + r.int(6))
  const bytes = new Uint8Array(prefix.length + frame.length)
  bytes.set(prefix); bytes.set(frame, prefix.length)
  for (let at = 0; at < bytes.length;) {
    const n = 1 + r.int(64)
    try {
      stream.push(bytes.subarray(at, at + n))
    } catch (err) {
      throw new FuzzFailure(`frame reader threw ${String(err)}`, bytes, err)
    }
    at += n
  }
  stream.end()
  const ac = new AbortController()
  // everything is buffered (or failed) by now: the reader yields what it holds, then the end
  for (;;) {
    let f: Uint8Array | undefined
    try {
      f = await reader.next(ac.signal)
    } catch (err) {
      if (!(err instanceof FrameError)) throw new FuzzFailure(`frame reader failed with ${String(err)}`, bytes, err)
      report.framing.errors++
      return
    }
    if (f === undefined) return
    if (f.byteLength > max) throw new FuzzFailure('frame reader returned a frame above its limit', bytes, f.byteLength)
    report.framing.frames++
  }
}
