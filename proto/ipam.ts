/**
 * IPAM records replicated through NetworkDB (network `ovnet-ipam`, table `ipam`). Every key
 * starts with its kind and the writing node's id, so NetworkDB's ownership rule (only an entry's
 * owner writes it) means a node only ever speaks for itself:
 *
 *   ring/<node>/<ringId>              RingRecord   the segments <node> owns in a ring (+ grants in flight)
 *   pool/<node>/<instance>            PoolRecord   a pool whose space <node> owns, with its holders
 *   req/<node>/<id>                   RequestRecord  <node> asks another node for space or a pool
 *   ans/<node>/<requester>/<id>       AnswerRecord   <node>'s answer to a request
 *   gone/<node>/<dead>                GoneRecord   <node> (operator) reclaimed <dead>'s ranges
 *
 * Addresses travel as lowercase hex of their 32- or 128-bit value (msgpack has no 128-bit int).
 */
import { arr, decodeEnvelope, encodeEnvelope, optStr, rec, str, strArr, uint, WireError } from './codec.js'

export const IPAM_TABLE = 'ipam'
export const IPAM_NETWORK = 'ovnet-ipam'

export interface WireSegment { s: bigint, e: bigint, v: number, o: string }

export interface RingRecord {
  ring: string
  /** Id of the ring's origin (cluster bootstrap, or the pool instance); rings of other origins never merge. */
  genesis: string
  family: 4 | 6
  segs: WireSegment[]
  /** Addresses (or pools, in a pool-space ring) the writer holds in the ring. */
  used: number
  /** Free dynamic addresses (or free predefined pools) the writer owns: what donors are chosen by. */
  free: bigint
}

export type PoolState = 'active' | 'freed'

export interface PoolRecord {
  instance: string
  space: string
  pool: string
  sub: string | undefined
  network: string | undefined
  /** Raised on every change of the record's owner and on freeing; the highest epoch wins. */
  epoch: number
  state: PoolState
  /** Other nodes that hold the pool (confirmed joins). */
  holders: string[]
  /** The pool's gateway, once allocated (shared by every holder, as an overlay's bridge address). */
  gw: string | undefined
}

export type RequestKind = 'space' | 'range' | 'join' | 'leave' | 'handover'
const REQUEST_KINDS: ReadonlySet<string> = new Set<RequestKind>(['space', 'range', 'join', 'leave', 'handover'])

export interface RequestRecord {
  id: string
  to: string
  kind: RequestKind
  ring: string
  /** For `range`: the interval wanted. */
  s: bigint | undefined
  e: bigint | undefined
  /** For `range` in a pool-space ring: the pool being requested and its network (for sharing). */
  pool: string | undefined
  sub: string | undefined
  network: string | undefined
  /** For `join` / `leave`: the pool instance. */
  instance: string | undefined
  /** For `handover`: what the leaving node gave the receiver in the ring. */
  segs: WireSegment[]
}

export type AnswerCode = 'granted' | 'none' | 'overlap' | 'in-use' | 'not-owner' | 'shared' | 'gone' | 'ok' | 'refused'
const ANSWER_CODES: ReadonlySet<string> = new Set<AnswerCode>([
  'granted', 'none', 'overlap', 'in-use', 'not-owner', 'shared', 'gone', 'ok', 'refused'
])

export interface AnswerRecord {
  id: string
  code: AnswerCode
  detail: string
  /** For `shared`: the pool instance the requester may join. */
  instance: string | undefined
  /** For `granted`: the facts that give the requester its new segments (already durable at the giver). */
  segs: WireSegment[]
}

export interface GoneRecord { node: string, at: number }

export type IpamRecord =
  | { t: 'ring', b: RingRecord }
  | { t: 'pool', b: PoolRecord }
  | { t: 'req', b: RequestRecord }
  | { t: 'ans', b: AnswerRecord }
  | { t: 'gone', b: GoneRecord }

const TYPES: ReadonlySet<IpamRecord['t']> = new Set(['ring', 'pool', 'req', 'ans', 'gone'])

const MAX_ID = 512
const MAX_SEGMENTS = 4096
const MAX_HOLDERS = 4096
const HEX = /^[0-9a-f]{1,32}$/

// ---- keys --------------------------------------------------------------------------------------

export const ringKey = (node: string, ring: string): string => `ring/${node}/${ring}`
export const poolKey = (node: string, instance: string): string => `pool/${node}/${instance}`
export const reqKey = (node: string, id: string): string => `req/${node}/${id}`
export const ansKey = (node: string, requester: string, id: string): string => `ans/${node}/${requester}/${id}`
export const goneKey = (node: string, dead: string): string => `gone/${node}/${dead}`

/** The kind and writer of a key; undefined for keys of no known kind. */
export function keyKind (key: string): { kind: IpamRecord['t'], writer: string, rest: string } | undefined {
  const a = key.indexOf('/')
  const b = a < 0 ? -1 : key.indexOf('/', a + 1)
  if (b < 0) return undefined
  const kind = key.slice(0, a)
  if (!TYPES.has(kind as IpamRecord['t'])) return undefined
  return { kind: kind as IpamRecord['t'], writer: key.slice(a + 1, b), rest: key.slice(b + 1) }
}

// ---- encoding ----------------------------------------------------------------------------------

const hex = (v: bigint): string => v.toString(16)
const wireSeg = (x: WireSegment): Record<string, unknown> => ({ s: hex(x.s), e: hex(x.e), v: x.v, o: x.o })

function big (o: Record<string, unknown>, k: string): bigint {
  const s = str(o, k, 40)
  if (!HEX.test(s)) throw new WireError('shape', `bad field ${k}`)
  return BigInt(`0x${s}`)
}

function optBig (o: Record<string, unknown>, k: string): bigint | undefined {
  return o[k] === undefined || o[k] === null ? undefined : big(o, k)
}

function family (o: Record<string, unknown>): 4 | 6 {
  const f = uint(o, 'family')
  if (f !== 4 && f !== 6) throw new WireError('shape', 'bad field family')
  return f
}

function body (r: IpamRecord): unknown {
  switch (r.t) {
    case 'ring': {
      const b = r.b
      return { ring: b.ring, genesis: b.genesis, family: b.family, segs: b.segs.map(wireSeg), used: b.used,
        free: hex(b.free) }
    }
    case 'pool': return { ...r.b, sub: r.b.sub ?? null, network: r.b.network ?? null, gw: r.b.gw ?? null }
    case 'req': {
      const b = r.b
      return { ...b, s: b.s === undefined ? null : hex(b.s), e: b.e === undefined ? null : hex(b.e),
        pool: b.pool ?? null, sub: b.sub ?? null, network: b.network ?? null, instance: b.instance ?? null,
        segs: b.segs.map(wireSeg) }
    }
    case 'ans': return { ...r.b, instance: r.b.instance ?? null, segs: r.b.segs.map(wireSeg) }
    case 'gone': return r.b
  }
}

export function encodeIpamRecord (r: IpamRecord): Uint8Array {
  return encodeEnvelope(r.t, body(r))
}

function segment (x: unknown, i: number): WireSegment {
  const o = rec(x, `segs[${i}]`)
  const s = big(o, 's')
  const e = big(o, 'e')
  if (e < s) throw new WireError('shape', `segment ${i} ends before it starts`)
  return { s, e, v: uint(o, 'v'), o: str(o, 'o', MAX_ID) }
}

/** Decode and validate; throws only WireError. */
export function decodeIpamRecord (bytes: Uint8Array): IpamRecord {
  const env = decodeEnvelope(bytes, TYPES)
  const o = rec(env.b, env.t)
  switch (env.t) {
    case 'ring':
      return { t: 'ring', b: { ring: str(o, 'ring', MAX_ID), genesis: str(o, 'genesis', MAX_ID), family: family(o),
        segs: arr(o, 'segs', MAX_SEGMENTS).map(segment), used: uint(o, 'used'), free: big(o, 'free') } }
    case 'pool': {
      const state = str(o, 'state', 8)
      if (state !== 'active' && state !== 'freed') throw new WireError('shape', 'bad field state')
      return {
        t: 'pool',
        b: {
          instance: str(o, 'instance', MAX_ID),
          space: str(o, 'space', 64),
          pool: str(o, 'pool', 64),
          sub: optStr(o, 'sub', 64),
          network: optStr(o, 'network', MAX_ID),
          epoch: uint(o, 'epoch'),
          state,
          holders: strArr(o, 'holders', MAX_HOLDERS),
          gw: optStr(o, 'gw', 64)
        }
      }
    }
    case 'req': {
      const kind = str(o, 'kind', 16)
      if (!REQUEST_KINDS.has(kind)) throw new WireError('shape', `bad request kind ${kind}`)
      return {
        t: 'req',
        b: {
          id: str(o, 'id', MAX_ID),
          to: str(o, 'to', MAX_ID),
          kind: kind as RequestKind,
          ring: str(o, 'ring', MAX_ID),
          s: optBig(o, 's'),
          e: optBig(o, 'e'),
          pool: optStr(o, 'pool', 64),
          sub: optStr(o, 'sub', 64),
          network: optStr(o, 'network', MAX_ID),
          instance: optStr(o, 'instance', MAX_ID),
          segs: arr(o, 'segs', MAX_SEGMENTS).map(segment)
        }
      }
    }
    case 'ans': {
      const code = str(o, 'code', 16)
      if (!ANSWER_CODES.has(code)) throw new WireError('shape', `bad answer code ${code}`)
      return { t: 'ans', b: { id: str(o, 'id', MAX_ID), code: code as AnswerCode, detail: str(o, 'detail', 1024),
        instance: optStr(o, 'instance', MAX_ID), segs: arr(o, 'segs', MAX_SEGMENTS).map(segment) } }
    }
    case 'gone':
      return { t: 'gone', b: { node: str(o, 'node', MAX_ID), at: uint(o, 'at') } }
  }
}
