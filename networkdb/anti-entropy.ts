/**
 * Anti-entropy (bulk sync) of one network's tables between two nodes, digest first:
 *
 *   A -> B  sync {nid, buckets, hashes, count, packed}  per-bucket XOR digests of A's entries
 *   B -> A  entries {B's entries in differing buckets, want: differing buckets}  (1..n frames)
 *   A -> B  push {A's entries in `want` that B did not send at the same version, and A's
 *                 tombstones of B's own entries that B did not send}  (only if any)
 *
 * Entries travel in the packed form (proto EntryBatch) when the requester asks for it; a peer that
 * answered packed also gets the push packed. When nothing differs the whole exchange is one small
 * request and one empty answer. A late joiner (count 0) gets everything in the first answer.
 * Hidden entries (failed owners) take no part, so they come back only from their owner.
 * The requester stores only the entries the responder owns (trust.ts): the rest of an answer are
 * hints. `own: true` asks for the responder's own entries only (a joiner, a hint's owner sync);
 * `join` carries the requester's join of the network, since only members get an answer.
 */
import {
  chunkEntries, decodeResponse, encodeRequest, encodeResponse, MAX_BUCKETS,
  type SyncRequest, type WireEntry
} from '../proto/index.js'
import type { Clock } from '../core/index.js'
import { bucketCountFor } from './hash.js'
import type { Tables } from './tables.js'
import type { Transport } from './transport.js'

export interface SyncDeps {
  tables: Tables
  transport: Transport
  clock: Clock
  requestTimeoutMs: number
  /** Apply entries received from `from` for `nid` (merge rule, clocks, persistence, metrics). */
  mergeRemote(nid: string, from: string, entries: WireEntry[]): void
  /** This node's id. */
  self: string
  /** Our join of `nid` (network Lamport time), sent with a request so the responder knows it. */
  joinedAt(nid: string): number | undefined
  /** A requester's own join (authenticated: it is the sender): record it. */
  noteJoin(node: string, nid: string, ltime: number): void
  /** Whether `node` is in `nid` as far as we know. */
  isMember(node: string, nid: string): boolean
  /** A request of `from` answered with nothing to come back (it held no entry, or none differed). */
  answered?(from: string, nid: string): void
  /** Count and log a refused request (rejected-messages metric). */
  refuse(reason: string, detail: object): void
}

export interface SyncResult { received: number, pushed: number, differing: number }

const versionId = (e: WireEntry): string =>
  `${e.table}\u0000${e.key}\u0000${e.owner}\u0000${e.ltime}\u0000${e.deleted ? 1 : 0}`

/**
 * Initiate a sync of `nid` with `peer`. Rejects when the peer is unreachable or not in `nid`.
 * `onAnswer` runs when the first answer frame arrives.
 */
export async function syncWith (
  d: SyncDeps, peer: string, nid: string, onAnswer?: () => void, own = false
): Promise<SyncResult> {
  const count = d.tables.syncCount(nid)
  const buckets = bucketCountFor(count, MAX_BUCKETS)
  const req: SyncRequest = { nid, buckets, hashes: d.tables.bucketHashes(nid, buckets), count, packed: true }
  if (own) req.own = true
  const join = d.joinedAt(nid)
  if (join !== undefined) req.join = join
  const want = new Set<number>()
  const theirs = new Set<string>()
  let received = 0
  let packed = false
  let answering = false
  // Each frame is merged as it arrives, while the next ones travel.
  await d.transport.request(peer, encodeRequest({ t: 'sync', b: req }), d.requestTimeoutMs, frame => {
    if (!answering) { answering = true; onAnswer?.() }
    const res = decodeResponse(frame)
    if (res.t === 'ack') throw new Error(`sync of ${nid} refused by ${peer}: ${res.b.detail}`)
    if (res.t !== 'entries' || res.b.nid !== nid) throw new Error(`unexpected ${res.t} answer to sync from ${peer}`)
    for (const w of res.b.want) if (w < buckets) want.add(w)
    packed ||= res.b.packed === true
    // Nothing of ours to push back when we held nothing (a late joiner): skip the bookkeeping.
    if (count > 0) for (const e of res.b.entries) theirs.add(versionId(e))
    received += res.b.entries.length
    d.mergeRemote(nid, peer, res.b.entries)
  })
  if (want.size === 0 || count === 0) return { received, pushed: 0, differing: want.size }
  // After merging theirs, ours in those buckets is the newest of both: push what they lack.
  // only our own: the peer stores no entry from a node that does not own it (trust.ts)
  const mine = d.tables.entriesInBuckets(nid, buckets, want, d.clock.now(), d.self)
    .filter(e => !theirs.has(versionId(e)))
  // ...and the tombstones we hold of the peer's own entries at a version it did not send: made
  // here from its live entries while we took it for gone (entries.ts); only the owner can write
  // such an entry anew, and it does when it sees the tombstone (reassert). Without this, the
  // owner's live entry waited for the owner's own next sync with us.
  mine.push(...d.tables.entriesInBuckets(nid, buckets, want, d.clock.now(), peer)
    .filter(e => e.deleted && !theirs.has(versionId(e))))
  if (mine.length > 0) {
    for (const chunk of chunkEntries(mine)) {
      const ack = await d.transport.request(peer, encodeRequest({ t: 'push', b: { nid, entries: chunk, packed } }),
        d.requestTimeoutMs)
      const res = ack[0] === undefined ? undefined : decodeResponse(ack[0])
      if (res?.t !== 'ack' || !res.b.ok) throw new Error(`push of ${nid} to ${peer} not acknowledged`)
    }
  }
  return { received, pushed: mine.length, differing: want.size }
}

/**
 * Answer a sync request: our entries of the buckets whose digests differ, and which those are.
 * The frames are encoded one at a time, as the transport sends them.
 */
export function answerSync (d: SyncDeps, from: string, req: SyncRequest): Iterable<Uint8Array> {
  if (!d.tables.hasNetwork(req.nid)) {
    d.refuse('not-in-network', { from, nid: req.nid, type: 'sync' })
    return [encodeResponse({ t: 'ack', b: { ok: false, detail: `not in network ${req.nid}` } })]
  }
  if (req.join !== undefined) d.noteJoin(from, req.nid, req.join)
  // a node outside the network learns nothing of its tables (an all-zero digest asks for all)
  if (!d.isMember(from, req.nid)) {
    d.refuse('not-member', { from, nid: req.nid, type: 'sync' })
    return [encodeResponse({ t: 'ack', b: { ok: false, detail: `${from} is not in network ${req.nid}` } })]
  }
  const mine = d.tables.bucketHashes(req.nid, req.buckets)
  const want: number[] = []
  for (let i = 0; i < req.buckets; i++) {
    if (mine[2 * i] !== req.hashes[2 * i] || mine[2 * i + 1] !== req.hashes[2 * i + 1]) want.push(i)
  }
  // the exchange is complete now unless the requester has entries of its own to push to us
  if (req.count === 0 || want.length === 0) d.answered?.(from, req.nid)
  const owner = req.own === true ? d.self : undefined
  const entries = want.length === 0 ? []
    : d.tables.entriesInBuckets(req.nid, req.buckets, new Set(want), d.clock.now(), owner)
  return encodeChunks(chunkEntries(entries), (chunk, i) =>
    encodeResponse({
      t: 'entries', b: { nid: req.nid, entries: chunk, packed: req.packed === true, want: i === 0 ? want : [] }
    }))
}

function * encodeChunks (
  chunks: WireEntry[][], encode: (chunk: WireEntry[], i: number) => Uint8Array
): Generator<Uint8Array> {
  for (const [i, chunk] of chunks.entries()) yield encode(chunk, i)
}
