/**
 * Frame codec shared by every wire format: msgpackr body inside an envelope `{v, t, b}` —
 * version, type, body. Decoding never throws anything but `WireError`, so a receiver can drop a
 * bad frame with a counter and a log line, whatever the bytes were.
 */
import { Packr } from 'msgpackr'

export const WIRE_VERSION = 1
/** Largest frame accepted or produced (bulk sync splits into frames below this). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024

export type WireErrorReason = 'oversize' | 'undecodable' | 'version' | 'type' | 'shape'

export class WireError extends Error {
  constructor (readonly reason: WireErrorReason, message: string) {
    super(message)
    this.name = 'WireError'
  }
}

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  bundleStrings: false,
  int64AsType: 'number'
})

export function pack (value: unknown): Uint8Array {
  return packr.pack(value)
}

/** msgpack decode of untrusted bytes; every failure becomes WireError('undecodable'). */
export function unpack (bytes: Uint8Array, limit = MAX_FRAME_BYTES): unknown {
  if (bytes.byteLength > limit) throw new WireError('oversize', `frame of ${bytes.byteLength} bytes exceeds ${limit}`)
  try {
    return packr.unpack(bytes)
  } catch (err) {
    throw new WireError('undecodable', `undecodable frame: ${(err as Error).message}`)
  }
}

export interface Envelope<T extends string> { t: T, b: unknown }

export function encodeEnvelope<T extends string> (t: T, b: unknown): Uint8Array {
  const bytes = pack({ v: WIRE_VERSION, t, b })
  if (bytes.byteLength > MAX_FRAME_BYTES) throw new WireError('oversize',
    `${t} frame of ${bytes.byteLength} bytes exceeds ${MAX_FRAME_BYTES}`)
  return bytes
}

/** Decode an envelope and check its version and that its type is one of `types`. */
export function decodeEnvelope<T extends string> (bytes: Uint8Array, types: ReadonlySet<T>): Envelope<T> {
  const raw = unpack(bytes)
  if (!isRecord(raw)) throw new WireError('shape', 'frame is not an envelope')
  if (raw.v !== WIRE_VERSION) throw new WireError('version', `unknown wire version ${printable(raw.v)}`)
  if (typeof raw.t !== 'string' || !types.has(raw.t as T)) throw new WireError('type',
    `unknown message type ${printable(raw.t)}`)
  return { t: raw.t as T, b: raw.b }
}

/**
 * A decoded value for an error message. Never String(x) on untrusted input: a msgpack map may carry
 * a `toString` key that is no function, and String() then throws a TypeError past the decoder.
 */
export function printable (x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x.length > 64 ? `${x.slice(0, 64)}…` : x)
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint' || x === null ||
      x === undefined) return `${x}`
  return x instanceof Uint8Array ? `<${x.byteLength} bytes>`
    : Array.isArray(x) ? `<array of ${x.length}>` : `<${typeof x}>`
}

// ---- small validators for decoded bodies (hand-written: they run per entry on bulk sync) ----

export function isRecord (x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Uint8Array)
}

function shape (what: string): never { throw new WireError('shape', `bad field ${what}`) }

export function str (o: Record<string, unknown>, k: string, max = 1024): string {
  const v = o[k]
  if (typeof v !== 'string' || v.length > max) shape(k)
  return v
}

export function optStr (o: Record<string, unknown>, k: string, max = 1024): string | undefined {
  return o[k] === undefined || o[k] === null ? undefined : str(o, k, max)
}

export function num (o: Record<string, unknown>, k: string): number {
  const v = o[k]
  if (typeof v !== 'number' || !Number.isFinite(v)) shape(k)
  return v
}

export function uint (o: Record<string, unknown>, k: string): number {
  const v = num(o, k)
  if (!Number.isSafeInteger(v) || v < 0) shape(k)
  return v
}

export function bool (o: Record<string, unknown>, k: string): boolean {
  const v = o[k]
  if (typeof v !== 'boolean') shape(k)
  return v
}

export function bytes (o: Record<string, unknown>, k: string, max = MAX_FRAME_BYTES): Uint8Array {
  const v = o[k]
  if (!(v instanceof Uint8Array) || v.byteLength > max) shape(k)
  return v
}

export function optBytes (o: Record<string, unknown>, k: string): Uint8Array | undefined {
  return o[k] === undefined || o[k] === null ? undefined : bytes(o, k)
}

export function arr (o: Record<string, unknown>, k: string, max = 1_000_000): unknown[] {
  const v = o[k]
  if (!Array.isArray(v) || v.length > max) shape(k)
  return v
}

export function rec (x: unknown, what: string): Record<string, unknown> {
  if (!isRecord(x)) shape(what)
  return x
}

export function strArr (o: Record<string, unknown>, k: string, max = 64, maxLength = 1024): string[] {
  return arr(o, k, max).map((s, i) => {
    if (typeof s !== 'string' || s.length > maxLength) shape(`${k}[${i}]`)
    return s
  })
}
