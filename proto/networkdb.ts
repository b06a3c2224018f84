/**
 * NetworkDB wire messages. Gossip (pub/sub) carries `node`, `net` and `tables` messages; the
 * request/response protocol carries cluster push-pull, table anti-entropy and indirect probes.
 */
import {
  arr, bool, bytes, decodeEnvelope, encodeEnvelope, num, rec, str, strArr, uint, WireError
} from './codec.js'

export type NodeEventKind = 'alive' | 'suspect' | 'failed' | 'left'
const NODE_KINDS: ReadonlySet<string> = new Set(['alive', 'suspect', 'failed', 'left'])

export interface WireNodeEvent {
  kind: NodeEventKind
  node: string
  name: string
  advertise: string
  addrs: string[]
  inc: number
}

export interface WireNetworkEvent {
  node: string
  nid: string
  ltime: number
  join: boolean
}

/** One table entry or tombstone. `reapIn` is the tombstone's remaining lifetime in ms. */
export interface WireEntry {
  table: string
  key: string
  owner: string
  ltime: number
  deleted: boolean
  value: Uint8Array
  reapIn: number
}

export type GossipMessage =
  | { t: 'node', b: WireNodeEvent }
  | { t: 'net', b: WireNetworkEvent }
  | { t: 'tables', b: { nid: string, entries: WireEntry[] } }

/**
 * Entries of one network, in bulk. `packed` (set by the encoder's caller, reported by the decoder)
 * selects the packed form on the wire: table names and owners once per frame, then seven plain
 * values per entry — a third of the bytes of the list form and far fewer msgpack maps to build and
 * read. A node sends it only to a peer that asked for it (SyncRequest.packed) or answered in it.
 */
export interface EntryBatch { nid: string, entries: WireEntry[], packed?: boolean }

export type RequestMessage =
  | { t: 'pushpull', b: ClusterState }
  | { t: 'sync', b: SyncRequest }
  | { t: 'push', b: EntryBatch }
  | { t: 'pingreq', b: { target: string, timeoutMs: number } }

export type ResponseMessage =
  | { t: 'pushpull', b: ClusterState }
  | { t: 'entries', b: EntryBatch & { want: number[] } }
  | { t: 'ack', b: { ok: boolean, detail: string } }

export interface ClusterState { nodes: WireNodeEvent[], networks: WireNetworkEvent[], ltime: number }

/**
 * Anti-entropy digest: entries of one network hashed into `buckets` buckets; `hashes[i]` is the
 * XOR of the 32-bit hashes of bucket i (two words per bucket). `count` lets a responder see that
 * the requester is empty. `packed`: the requester reads answers in the packed form (EntryBatch);
 * nodes that predate it ignore the field and answer in the list form.
 * `own`: send only entries the responder owns (the requester stores no other; see
 * networkdb/trust.ts). `join`: the requester's join of `nid` at this network Lamport time, which
 * the responder records before answering (it answers members only, and a joiner announces its
 * join only once its sync is in). Nodes that predate them ignore both fields.
 */
export interface SyncRequest {
  nid: string, buckets: number, hashes: number[], count: number, packed?: boolean, own?: boolean, join?: number
}

const GOSSIP_TYPES: ReadonlySet<GossipMessage['t']> = new Set(['node', 'net', 'tables'])
const REQUEST_TYPES: ReadonlySet<RequestMessage['t']> = new Set(['pushpull', 'sync', 'push', 'pingreq'])
const RESPONSE_TYPES: ReadonlySet<ResponseMessage['t']> = new Set(['pushpull', 'entries', 'ack'])

export const MAX_KEY = 512
export const MAX_NAME = 256
export const MAX_VALUE = 64 * 1024
export const MAX_BUCKETS = 4096

// ---- validators -------------------------------------------------------------------------------

function nodeEvent (x: unknown): WireNodeEvent {
  const o = rec(x, 'node event')
  const kind = str(o, 'kind', 16)
  if (!NODE_KINDS.has(kind)) throw new WireError('shape', `bad node event kind ${kind}`)
  return {
    kind: kind as NodeEventKind,
    node: str(o, 'node', MAX_NAME),
    name: str(o, 'name', MAX_NAME),
    advertise: str(o, 'advertise', 64),
    addrs: strArr(o, 'addrs'),
    inc: uint(o, 'inc')
  }
}

function networkEvent (x: unknown): WireNetworkEvent {
  const o = rec(x, 'network event')
  return { node: str(o, 'node', MAX_NAME), nid: str(o, 'nid', MAX_NAME), ltime: uint(o, 'ltime'),
    join: bool(o, 'join') }
}

function entry (x: unknown): WireEntry {
  const o = rec(x, 'entry')
  return {
    table: str(o, 'table', MAX_NAME),
    key: str(o, 'key', MAX_KEY),
    owner: str(o, 'owner', MAX_NAME),
    ltime: uint(o, 'ltime'),
    deleted: bool(o, 'deleted'),
    value: copy(bytes(o, 'value', MAX_VALUE)),
    reapIn: uint(o, 'reapIn')
  }
}

/**
 * A decoded value is a view into its frame: stored as is, a 1-byte value kept the whole frame
 * (up to 4 MiB) alive. Copied out, the frame goes when its message has been handled.
 */
const copy = (v: Uint8Array): Uint8Array => new Uint8Array(v)

/** Per entry in the packed form: table index, owner index, key, ltime, deleted (0|1), reapIn, value. */
const PACKED_FIELDS = 7
const MAX_BATCH = 1_000_000

function packEntries (list: readonly WireEntry[]): { tables: string[], owners: string[], e: unknown[] } {
  const tables: string[] = []
  const owners: string[] = []
  const tableIx = new Map<string, number>()
  const ownerIx = new Map<string, number>()
  const e = new Array<unknown>(list.length * PACKED_FIELDS)
  let j = 0
  for (const x of list) {
    let t = tableIx.get(x.table)
    if (t === undefined) { t = tables.push(x.table) - 1; tableIx.set(x.table, t) }
    let o = ownerIx.get(x.owner)
    if (o === undefined) { o = owners.push(x.owner) - 1; ownerIx.set(x.owner, o) }
    e[j++] = t
    e[j++] = o
    e[j++] = x.key
    e[j++] = x.ltime
    e[j++] = x.deleted ? 1 : 0
    e[j++] = x.reapIn
    e[j++] = x.value
  }
  return { tables, owners, e }
}

function unpackEntries (x: unknown): WireEntry[] {
  const o = rec(x, 'packed entries')
  const tables = strArr(o, 'tables', MAX_BATCH, MAX_NAME)
  const owners = strArr(o, 'owners', MAX_BATCH, MAX_NAME)
  const e = arr(o, 'e', PACKED_FIELDS * MAX_BATCH)
  if (e.length % PACKED_FIELDS !== 0) throw new WireError('shape', 'packed entries: length is not a multiple of 7')
  const out = new Array<WireEntry>(e.length / PACKED_FIELDS)
  const bad = (i: number, what: string): never => { throw new WireError('shape', `packed entry ${i}: bad ${what}`) }
  for (let i = 0, j = 0; j < e.length; i++, j += PACKED_FIELDS) {
    // an index is checked to be a number before it indexes: a map with a non-function toString
    // as a property key would throw a TypeError, not a WireError
    const table = typeof e[j] === 'number' ? tables[e[j] as number] : undefined
    const owner = typeof e[j + 1] === 'number' ? owners[e[j + 1] as number] : undefined
    const key = e[j + 2]
    const ltime = e[j + 3]
    const deleted = e[j + 4]
    const reapIn = e[j + 5]
    const value = e[j + 6]
    // an index that is not a non-negative integer in range reads undefined from the arrays
    if (table === undefined || !Number.isInteger(e[j])) bad(i, 'table')
    if (owner === undefined || !Number.isInteger(e[j + 1])) bad(i, 'owner')
    if (typeof key !== 'string' || key.length > MAX_KEY) bad(i, 'key')
    if (typeof ltime !== 'number' || !Number.isSafeInteger(ltime) || ltime < 0) bad(i, 'ltime')
    if (deleted !== 0 && deleted !== 1) bad(i, 'deleted')
    if (typeof reapIn !== 'number' || !Number.isSafeInteger(reapIn) || reapIn < 0) bad(i, 'reapIn')
    if (!(value instanceof Uint8Array) || value.byteLength > MAX_VALUE) bad(i, 'value')
    out[i] = {
      table: table!, key: key as string, owner: owner!, ltime: ltime as number, deleted: deleted === 1,
      value: copy(value as Uint8Array), reapIn: reapIn as number
    }
  }
  return out
}

function entries (o: Record<string, unknown>): WireEntry[] {
  return arr(o, 'entries', MAX_BATCH).map(entry)
}

/** Decode an EntryBatch body, in either form. */
function entryBatch (o: Record<string, unknown>): EntryBatch {
  const nid = str(o, 'nid', MAX_NAME)
  return o.p === undefined ? { nid, entries: entries(o) } : { nid, entries: unpackEntries(o.p), packed: true }
}

/** The wire body of an EntryBatch: the list form, or the packed form under `p`. */
function batchBody (b: EntryBatch): Record<string, unknown> {
  return b.packed === true ? { nid: b.nid, p: packEntries(b.entries) } : { nid: b.nid, entries: b.entries }
}

function clusterState (x: unknown): ClusterState {
  const o = rec(x, 'cluster state')
  return { nodes: arr(o, 'nodes', 100_000).map(nodeEvent), networks: arr(o, 'networks').map(networkEvent),
    ltime: uint(o, 'ltime') }
}

function syncRequest (x: unknown): SyncRequest {
  const o = rec(x, 'sync request')
  const buckets = uint(o, 'buckets')
  if (buckets < 1 || buckets > MAX_BUCKETS ||
      (buckets & (buckets - 1)) !== 0) throw new WireError('shape', `bad bucket count ${buckets}`)
  const hashes = arr(o, 'hashes', 2 * MAX_BUCKETS).map((h, i) => {
    if (typeof h !== 'number' || !Number.isInteger(h) || h < 0 ||
        h > 0xffffffff) throw new WireError('shape', `bad hash ${i}`)
    return h
  })
  if (hashes.length !== 2 * buckets) throw new WireError('shape', 'hash count does not match bucket count')
  const req: SyncRequest = { nid: str(o, 'nid', MAX_NAME), buckets, hashes, count: uint(o, 'count') }
  if (o.packed === true) req.packed = true
  if (o.own === true) req.own = true
  if (o.join !== undefined) req.join = uint(o, 'join')
  return req
}

// ---- gossip -----------------------------------------------------------------------------------

export function encodeGossip (m: GossipMessage): Uint8Array { return encodeEnvelope(m.t, m.b) }

export function decodeGossip (data: Uint8Array): GossipMessage {
  const env = decodeEnvelope(data, GOSSIP_TYPES)
  switch (env.t) {
    case 'node': return { t: 'node', b: nodeEvent(env.b) }
    case 'net': return { t: 'net', b: networkEvent(env.b) }
    case 'tables': {
      const o = rec(env.b, 'tables')
      return { t: 'tables', b: { nid: str(o, 'nid', MAX_NAME), entries: entries(o) } }
    }
  }
}

// ---- request / response -----------------------------------------------------------------------

export function encodeRequest (m: RequestMessage): Uint8Array {
  return encodeEnvelope(m.t, m.t === 'push' ? batchBody(m.b) : m.b)
}

export function decodeRequest (data: Uint8Array): RequestMessage {
  const env = decodeEnvelope(data, REQUEST_TYPES)
  switch (env.t) {
    case 'pushpull': return { t: 'pushpull', b: clusterState(env.b) }
    case 'sync': return { t: 'sync', b: syncRequest(env.b) }
    case 'push': return { t: 'push', b: entryBatch(rec(env.b, 'push')) }
    case 'pingreq': {
      const o = rec(env.b, 'pingreq')
      return { t: 'pingreq', b: { target: str(o, 'target', MAX_NAME), timeoutMs: num(o, 'timeoutMs') } }
    }
  }
}

export function encodeResponse (m: ResponseMessage): Uint8Array {
  return encodeEnvelope(m.t, m.t === 'entries' ? { ...batchBody(m.b), want: m.b.want } : m.b)
}

export function decodeResponse (data: Uint8Array): ResponseMessage {
  const env = decodeEnvelope(data, RESPONSE_TYPES)
  switch (env.t) {
    case 'pushpull': return { t: 'pushpull', b: clusterState(env.b) }
    case 'entries': {
      const o = rec(env.b, 'entries')
      const want = arr(o, 'want', MAX_BUCKETS).map((w, i) => {
        if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 ||
            w >= MAX_BUCKETS) throw new WireError('shape', `bad want ${i}`)
        return w
      })
      return { t: 'entries', b: { ...entryBatch(o), want } }
    }
    case 'ack': {
      const o = rec(env.b, 'ack')
      return { t: 'ack', b: { ok: bool(o, 'ok'), detail: str(o, 'detail', 4096) } }
    }
  }
}

/** Split entries into chunks whose encoding stays well under the frame limit. */
export function chunkEntries (list: WireEntry[], budget = 1024 * 1024): WireEntry[][] {
  const out: WireEntry[][] = []
  let cur: WireEntry[] = []
  let size = 0
  for (const e of list) {
    const s = 64 + e.table.length + e.key.length + e.owner.length + e.value.byteLength
    if (cur.length > 0 && size + s > budget) { out.push(cur); cur = []; size = 0 }
    cur.push(e)
    size += s
  }
  if (cur.length > 0 || out.length === 0) out.push(cur)
  return out
}
