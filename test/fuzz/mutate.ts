/**
 * Frame mutators: byte-level (flips, truncation, insertion, splicing two frames) and
 * structure-level (decode a valid frame, replace, delete or add one value deep inside with a
 * hostile one — wrong types, boundary numbers, over-long strings, `__proto__` keys, maps whose
 * `toString` is no function — and encode it again), so that frames get past msgpack and the
 * envelope and reach the field validators and the handlers.
 */
import { pack, unpack } from '../../proto/index.js'
import type { Rng } from './rng.js'

const LONG = 'x'.repeat(300)
const HUGE = 'y'.repeat(70_000)

/** Values chosen to sit on or across a validator's edge. */
function hostileValue (r: Rng): unknown {
  switch (r.int(26)) {
    case 0: return -1
    case 1: return 2 ** 53
    case 2: return Number.MAX_SAFE_INTEGER
    case 3: return 2 ** 32
    case 4: return 1.5
    case 5: return Number.NaN
    case 6: return Number.POSITIVE_INFINITY
    case 7: return ''
    case 8: return LONG
    case 9: return HUGE
    case 10: return null
    case 11: return true
    case 12: return {}
    case 13: return []
    case 14: return { toString: 1, valueOf: 1 }
    case 15: return new Uint8Array(0)
    case 16: return r.bytes(r.int(80))
    case 17: return JSON.parse('{"__proto__": {"polluted": 1}, "constructor": {"prototype": 1}}') as unknown
    case 18: return Array.from({ length: 1 + r.int(20) }, () => r.int(5))
    case 19: return 'a\nb c\u0000..'
    case 20: return '../../etc/passwd'
    case 21: return r.int(2 ** 31)
    case 22: return 0
    case 23: return 'ff:ff:ff:ff:ff:ff'
    case 24: return '0.0.0.0/0'
    default: return [[[[[[[[[[[]]]]]]]]]]]
  }
}

type Container = Record<string, unknown> | unknown[]

/** Every container (map or array) inside `v`, with v itself first. */
function containers (v: unknown, out: Container[] = [], depth = 0): Container[] {
  if (depth > 12 || typeof v !== 'object' || v === null || v instanceof Uint8Array) return out
  out.push(v as Container)
  for (const x of Array.isArray(v) ? v : Object.values(v)) containers(x, out, depth + 1)
  return out
}

/** Structure-level mutation; undefined when the frame does not decode. */
export function mutateStructure (frame: Uint8Array, r: Rng): Uint8Array | undefined {
  let v: unknown
  try { v = unpack(frame) } catch { return undefined }
  const all = containers(v)
  if (all.length === 0) return undefined
  for (let n = 1 + r.int(3); n > 0; n--) {
    const c = r.pick(all)
    if (Array.isArray(c)) {
      if (c.length > 0 && r.chance(0.8)) c[r.int(c.length)] = hostileValue(r)
      else if (c.length > 0 && r.chance(0.5)) c.splice(r.int(c.length), 1)
      else c.push(hostileValue(r))
    } else {
      const keys = Object.keys(c)
      const op = r.int(10)
      if (keys.length > 0 && op < 7) c[r.pick(keys)] = hostileValue(r)
      else if (keys.length > 0 && op < 9) Reflect.deleteProperty(c, r.pick(keys))
      else c[r.pick(['extra', '__proto__', 'toString', 'v', 't', 'b', 'p', 'packed'])] = hostileValue(r)
    }
  }
  try { return pack(v) } catch { return undefined }
}

/**
 * Type-keeping mutation: decode a valid frame and replace 1-3 leaves with values of the same type
 * drawn from `pool` (the names, keys and networks of a world) or near the old value, so that the
 * frame still passes the validators and exercises what the handlers do with it.
 */
export function mutateValues (frame: Uint8Array, pool: readonly string[], r: Rng): Uint8Array | undefined {
  let v: unknown
  try { v = unpack(frame) } catch { return undefined }
  const all = containers(v).slice(1) // the envelope (version, type) stays
  if (all.length === 0) return undefined
  for (let n = 1 + r.int(3); n > 0; n--) {
    const c = r.pick(all)
    const keys: Array<string | number> = Array.isArray(c) ? c.map((_, i) => i) : Object.keys(c)
    if (keys.length === 0) continue
    const k = r.pick(keys)
    const old = (c as Record<string | number, unknown>)[k]
    let next: unknown = old
    if (typeof old === 'string') next = r.chance(0.8) ? r.pick(pool) : `${old}${r.int(10)}`
    else if (typeof old === 'boolean') next = !old
    else if (typeof old === 'number') {
      next = r.pick([0, 1, old + 1, Math.max(0, old - 1), old * 2, 2 ** 20 + r.int(100), 2 ** 30, 2 ** 49, r.int(1_000_000)])
    }
    else if (typeof old === 'bigint') next = old + BigInt(r.int(3)) - 1n
    else if (old instanceof Uint8Array) next = r.bytes(r.int(old.length + 4))
    ;(c as Record<string | number, unknown>)[k] = next
  }
  try { return pack(v) } catch { return undefined }
}

/** A copy (Buffer#slice, unlike Uint8Array#slice, returns a view: the corpus would be mutated). */
const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b)

/** Byte-level mutation of `frame` (maybe spliced with `other`). */
export function mutateBytes (frame: Uint8Array, other: Uint8Array, r: Rng): Uint8Array {
  switch (r.int(5)) {
    case 0: { // flips
      const b = copy(frame)
      for (let n = 1 + r.int(8); n > 0; n--) b[r.int(b.length)] = r.u32() & 0xff
      return b
    }
    case 1: return copy(frame.subarray(0, r.int(frame.length))) // truncation
    case 2: { // insertion
      const at = r.int(frame.length + 1)
      const ins = r.bytes(1 + r.int(16))
      const b = new Uint8Array(frame.length + ins.length)
      b.set(frame.subarray(0, at)); b.set(ins, at); b.set(frame.subarray(at), at + ins.length)
      return b
    }
    case 3: { // splice: the head of one frame, the tail of another
      const a = r.int(frame.length + 1)
      const c = r.int(other.length + 1)
      const b = new Uint8Array(a + other.length - c)
      b.set(frame.subarray(0, a)); b.set(other.subarray(c), a)
      return b
    }
    default: { // a length or type byte set to a boundary value
      const b = copy(frame)
      b[r.int(b.length)] = r.pick([0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xc4, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff])
      return b
    }
  }
}

/** One fuzz frame from `corpus`: a valid one, a mutation of one, or random bytes. */
export function fuzzFrame (corpus: readonly Uint8Array[], r: Rng): Uint8Array {
  const base = r.pick(corpus)
  const k = r.int(100)
  if (k < 5) return base
  if (k < 12) return r.bytes(r.int(200))
  if (k < 55) return mutateStructure(base, r) ?? mutateBytes(base, r.pick(corpus), r)
  return mutateBytes(base, r.pick(corpus), r)
}
