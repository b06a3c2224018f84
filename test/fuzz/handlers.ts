/**
 * Fuzz of NetworkDB's message handlers: random and mutated frames (corpus.ts, mutate.ts) handed
 * to the gossip and request handlers of a running node (handler-world.ts) from a member, from a
 * second member and from a stranger, on every topic it listens to and others; and, as answers of a
 * keyed liar, to the exchanges the node starts itself (sync, push-pull, indirect probe). Per frame:
 *
 * - no crash: the gossip handler does not throw; the request handler rejects only an undecodable
 *   frame (with WireError); no unhandled rejection anywhere in the cluster;
 * - no hang: every request is answered at once, except an indirect probe (answered within its
 *   bounded timeout); every answer frame decodes;
 * - a rejected frame (undecodable; gossip breaking an origin rule; a request refused with
 *   `ack ok: false`) changes nothing: entries (tombstones and hidden copies too), membership,
 *   network membership, clocks, the store and the events the node emits are as before, and it is
 *   counted: stats() and the `dropped`/`rejected` metrics grow alike (by one per reason found);
 * - an accepted frame keeps the trust rules (trust.ts): an entry changes only if its owner sent it
 *   or it is the node's own (re-asserted); another owner's entry may only be hidden or shown (that
 *   owner failed / came back) or tombstoned when that owner is now `left` after it was suspected;
 *   known members (with addresses) keep their name and addresses; clocks and incarnations stay within
 *   their bounds;
 * - an answer of the liar: the exchange settles, an undecodable answer is counted as dropped, and
 *   what the answer changed keeps the trust rules (the target's other links are cut meanwhile).
 *
 * The world is rebuilt every RESET_EVERY frames (accepted frames accumulate state) and virtual
 * time advances between frames so that timers (hints, suspicion, syncs, reaping) run too.
 */
import {
  decodeGossip, decodeRequest, decodeResponse, encodeGossip, encodeRequest, encodeResponse, WireError, type WireEntry
} from '../../proto/index.js'
import { CLUSTER_TOPIC, networkTopic } from '../../networkdb/index.js'
import { authenticate } from '../../networkdb/validate.js'
import { MAX_CLOCK, MAX_INC_AHEAD, MAX_LTIME_AHEAD } from '../../networkdb/trust.js'
import { networkdbFrames } from './corpus.js'
import { FuzzFailure } from './decoders.js'
import {
  diff, LIAR, makeWorld, NID, NID2, NID3, PEER_A, PEER_B, snapshot, STRANGER, TARGET, type Snapshot, type World
} from './handler-world.js'
import { fuzzFrame, mutateValues } from './mutate.js'
import { Rng } from './rng.js'

const RESET_EVERY = 1000
const SENDERS = [PEER_A, PEER_A, PEER_B, STRANGER]
const TOPICS = [CLUSTER_TOPIC, networkTopic(NID), networkTopic(NID2), networkTopic(NID3), 'ovnet/1/net/', 'x']
/** Strings the type-keeping mutator draws from: every name, network, table and key of the world. */
const POOL = [TARGET, PEER_A, PEER_B, STRANGER, NID, NID2, NID3, 't', 'u', 'network_table',
  'k1', 'k2', 'k3', 'k5', 'k6', 'k7', 'k8',
  'alive', 'suspect', 'failed', 'left', 'ack', 'entries', 'push', 'sync', 'pushpull', 'node', 'net', 'tables', '']
/** Virtual ms an indirect probe may take (probeTimeoutMs * (MAX_HEALTH + 1) and more). */
const PROBE_BOUND_MS = 60_000

export type Outcome = 'dropped' | 'rejected' | 'refused' | 'accepted'

export interface HandlerReport {
  frames: number
  gossip: Record<Outcome, number>
  requests: Record<Outcome, number>
  /** Answers of LIAR to the target's own requests: undecodable (dropped) or decoded. */
  answers: { dropped: number, decoded: number }
  resets: number
}

const DROPPED = 'ovnet_networkdb_dropped_frames_total'
const REJECTED = 'ovnet_networkdb_rejected_messages_total'

function entry (key: string, owner: string, table = 't', over: Partial<WireEntry> = {}): WireEntry {
  return { table, key, owner, ltime: 50, deleted: false, value: new Uint8Array([7]), reapIn: 0, ...over }
}

/** Frames naming the world's real keys, owners and networks (on top of the generic corpus). */
export function handlerCorpus (): Uint8Array[] {
  const frames: Uint8Array[] = []
  for (const from of [PEER_A, STRANGER]) {
    for (const nid of [NID, NID2]) frames.push(...networkdbFrames(from, nid, TARGET))
  }
  const own = [entry('k2', PEER_A), entry('k3', PEER_A, 'u', { deleted: true, reapIn: 1000 }), entry('k8', PEER_A)]
  // another owner's keys: PEER_B's k1, the target's k5, a takeover table key of the target
  const others = [
    entry('k1', PEER_A), entry('k5', PEER_A), entry('k6', PEER_A, 'network_table'),
    entry('k1', PEER_B, 't', { ltime: 99 })
  ]
  const mine = [entry('k5', TARGET, 't', { ltime: 1 }), entry('k5', TARGET, 't', { deleted: true })]
  for (const nid of [NID, NID2]) {
    frames.push(encodeGossip({ t: 'tables', b: { nid, entries: own } }))
    frames.push(encodeGossip({ t: 'tables', b: { nid, entries: [...own, ...others] } }))
    frames.push(encodeRequest({ t: 'push', b: { nid, entries: [...own, ...others, ...mine], packed: true } }))
    frames.push(encodeRequest({ t: 'sync', b: { nid, buckets: 1, hashes: [0, 0], count: 0, packed: true, own: true } }))
    frames.push(encodeRequest({ t: 'sync', b: { nid, buckets: 2, hashes: [0, 0, 1, 1], count: 2, join: 7 } }))
  }
  const b = { name: PEER_B, advertise: '192.0.2.3', addrs: [`mem://${PEER_B}`], inc: 2 ** 40 }
  frames.push(encodeGossip({ t: 'node', b: { kind: 'failed', node: PEER_B, ...b } }))
  const leftB = { kind: 'left' as const, node: PEER_B, ...b, name: 'evil', addrs: ['mem://evil'] }
  const outB = { node: PEER_B, nid: NID, ltime: 2 ** 30, join: false }
  frames.push(encodeRequest({ t: 'pushpull', b: { nodes: [leftB], networks: [outB], ltime: 9 } }))
  frames.push(encodeGossip({ t: 'net', b: { node: PEER_A, nid: NID3, ltime: 10 ** 6, join: false } }))
  return frames
}

/** Answers LIAR gives: entry batches of its own and of others, cluster states, acks. */
export function answerCorpus (): Uint8Array[] {
  const frames = [NID, NID2].flatMap(nid => networkdbFrames(LIAR, nid, TARGET)).filter(f => decodes(decodeResponse, f))
  const mine = [entry('k8', LIAR), entry('k9', LIAR, 'u', { deleted: true, reapIn: 1000 })]
  // keys of others: PEER_B's k1 (refused: bound to its owner), the target's own k5, a takeover key
  const others = [
    entry('k1', LIAR), entry('k5', TARGET, 't', { ltime: 77 }), entry('k6', LIAR, 'network_table'), entry('k2', PEER_A)
  ]
  for (const nid of [NID, NID2]) {
    frames.push(encodeResponse({ t: 'entries', b: { nid, entries: [...mine, ...others], want: [0] } }))
    frames.push(encodeResponse({ t: 'entries', b: { nid, entries: mine, packed: true, want: [] } }))
  }
  const self = {
    kind: 'alive' as const, node: LIAR, name: LIAR, advertise: '192.0.2.66',
    addrs: [`mem://${LIAR}`], inc: 3
  }
  const aboutB = { ...self, kind: 'left' as const, node: PEER_B, name: 'evil', inc: 2 ** 21 }
  const outA = { node: PEER_A, nid: NID, ltime: 5, join: false }
  frames.push(encodeResponse({ t: 'pushpull', b: { nodes: [self, aboutB], networks: [outA], ltime: 5 } }))
  return frames
}

export async function fuzzHandlers (frames: number, seed: number): Promise<HandlerReport> {
  const r = new Rng(seed)
  const corpus = handlerCorpus()
  const gossipSeeds = corpus.filter(f => decodes(decodeGossip, f))
  const requestSeeds = corpus.filter(f => decodes(decodeRequest, f))
  const zero = (): Record<Outcome, number> => ({ dropped: 0, rejected: 0, refused: 0, accepted: 0 })
  const answers = { dropped: 0, decoded: 0 }
  const report: HandlerReport = { frames: 0, gossip: zero(), requests: zero(), answers, resets: 0 }
  const answerSeeds = answerCorpus()
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => { unhandled.push(err) }
  process.on('unhandledRejection', onUnhandled)
  let w: World | undefined
  try {
    for (let i = 0; i < frames; i++) {
      if (w === undefined || i % RESET_EVERY === 0) {
        await w?.close()
        w = await makeWorld()
        report.resets++
      }
      if (r.chance(0.15)) {
        const base = r.pick(answerSeeds)
        const mutated = r.chance(0.5) ? mutateValues(base, POOL, r) : undefined
        const frame = mutated ?? fuzzFrame(answerSeeds, r)
        report.frames++
        const kind = r.pick(['sync', 'sync', 'pushpull', 'pingreq'] as const)
        report.answers[await answerOne(w, kind, r.pick([NID, NID2]), frame)]++
        if (unhandled.length > 0) throw new FuzzFailure('unhandled rejection after the answer', frame, unhandled[0])
        continue
      }
      const gossip = r.chance(0.5)
      // mostly frames of the handler's own kind; the rest from anything (responses included)
      const seeds = r.chance(0.85) ? (gossip ? gossipSeeds : requestSeeds) : corpus
      const frame = r.chance(0.6) ? (mutateValues(r.pick(seeds), POOL, r) ?? fuzzFrame(seeds, r)) : fuzzFrame(seeds, r)
      const from = r.pick(SENDERS)
      report.frames++
      if (gossip) report.gossip[await gossipOne(w, r.pick(TOPICS), from, frame)]++
      else report.requests[await requestOne(w, from, frame)]++
      if (unhandled.length > 0) throw new FuzzFailure('unhandled rejection after the frame', frame, unhandled[0])
      if (i % 64 === 63) await w.clock.advance(r.int(400))
    }
  } finally {
    await w?.close()
    process.off('unhandledRejection', onUnhandled)
  }
  return report
}

function decodes (decode: (f: Uint8Array) => unknown, f: Uint8Array): boolean {
  try { decode(f); return true } catch { return false }
}

interface Counts { dropped: number, rejected: number, mDropped: number, mRejected: number }

function counts (w: World): Counts {
  const s = w.target.stats()
  const mDropped = w.metrics.total(DROPPED)
  return { dropped: s.dropped, rejected: s.rejected, mDropped, mRejected: w.metrics.total(REJECTED) }
}

async function gossipOne (w: World, topic: string, from: string, frame: Uint8Array): Promise<Outcome> {
  let outcome: Outcome = 'accepted'
  try {
    const msg = decodeGossip(frame)
    if (authenticate(topic, from, msg) !== undefined) outcome = 'rejected'
  } catch (err) {
    if (!(err instanceof WireError)) throw new FuzzFailure(`decodeGossip threw ${String(err)}`, frame, err)
    outcome = 'dropped'
  }
  const before = await snapshot(w)
  const c0 = counts(w)
  try {
    w.handlers.onMessage(topic, from, frame)
  } catch (err) {
    throw new FuzzFailure(`gossip handler threw (${outcome} frame from ${from} on ${topic})`, frame, err)
  }
  await check(w, outcome, from, frame, before, c0, false)
  return outcome
}

async function requestOne (w: World, from: string, frame: Uint8Array): Promise<Outcome> {
  let outcome: Outcome = 'accepted'
  try {
    decodeRequest(frame)
  } catch (err) {
    if (!(err instanceof WireError)) throw new FuzzFailure(`decodeRequest threw ${String(err)}`, frame, err)
    outcome = 'dropped'
  }
  const before = await snapshot(w)
  const c0 = counts(w)
  let done = false
  let answer: Iterable<Uint8Array> | undefined
  let failure: unknown
  w.handlers.onRequest(from, frame)
    .then(a => { done = true; answer = a }, (err: unknown) => { done = true; failure = err })
  await new Promise<void>(resolve => { setImmediate(resolve) })
  let advanced = false
  for (let spent = 0; !done && spent < PROBE_BOUND_MS; spent += 100) {
    advanced = true
    await w.clock.advance(100)
  }
  if (!done) throw new FuzzFailure(`request handler did not answer within ${PROBE_BOUND_MS} virtual ms`, frame, from)
  if (failure !== undefined) {
    if (outcome !== 'dropped' || !(failure instanceof WireError)) {
      throw new FuzzFailure(`request handler failed (${outcome} frame from ${from})`, frame, failure)
    }
  } else {
    if (outcome === 'dropped') throw new FuzzFailure('request handler answered an undecodable frame', frame, from)
    let n = 0
    try {
      for (const f of answer!) {
        const res = decodeResponse(f)
        if (++n > 10_000) throw new Error('more than 10,000 answer frames')
        if (n === 1 && res.t === 'ack' && !res.b.ok && res.b.detail !== '') outcome = 'refused'
      }
    } catch (err) {
      throw new FuzzFailure(`answer to a request from ${from} is invalid`, frame, err)
    }
    if (n === 0) throw new FuzzFailure('empty answer', frame, from)
  }
  if (advanced && outcome !== 'accepted') {
    throw new FuzzFailure(`a ${outcome} request was not answered at once`, frame, from)
  }
  await check(w, outcome, from, frame, before, c0, advanced)
  return outcome
}

/**
 * LIAR answers one of the target's own exchanges with `frame`. The exchange must settle (it may
 * fail: a refused sync is logged, a bad push-pull answer throws an Error), an undecodable answer
 * must be counted as dropped, and what the answer changed must keep the trust rules (from LIAR).
 */
async function answerOne (
  w: World, kind: 'sync' | 'pushpull' | 'pingreq', nid: string, frame: Uint8Array
): Promise<'dropped' | 'decoded'> {
  let outcome: 'dropped' | 'decoded' = 'decoded'
  try {
    decodeResponse(frame)
  } catch (err) {
    if (!(err instanceof WireError)) throw new FuzzFailure(`decodeResponse threw ${String(err)}`, frame, err)
    outcome = 'dropped'
  }
  // cut the other links first and let what is already in flight land: then only LIAR speaks
  w.isolate(true)
  await w.clock.advance(5)
  const before = await snapshot(w)
  const c0 = counts(w)
  w.answer = [frame]
  let done = false
  let failure: unknown
  w.ask(kind, nid).then(() => { done = true }, (err: unknown) => { done = true; failure = err })
  try {
    for (let spent = 0; !done && spent < PROBE_BOUND_MS; spent += 5) await w.clock.advance(5)
  } finally {
    w.isolate(false)
  }
  if (!done) throw new FuzzFailure(`a ${kind} answered by ${LIAR} did not settle in ${PROBE_BOUND_MS} ms`, frame, kind)
  if (failure !== undefined && !(failure instanceof Error)) {
    throw new FuzzFailure(`${kind} failed with a non-Error`, frame, failure)
  }
  const after = await snapshot(w)
  if (outcome === 'dropped' && counts(w).dropped - c0.dropped < 1) {
    throw new FuzzFailure(`an undecodable answer to ${kind} was not counted`, frame, JSON.stringify(c0))
  }
  const broken = trustViolations(before, after, LIAR, w.clock.now(), true)
  if (broken.length > 0) {
    const what = `an answer to ${kind} from ${LIAR} broke a trust rule: ${broken.slice(0, 5).join('; ')}`
    throw new FuzzFailure(what, frame, broken.length)
  }
  return outcome
}

/** The per-frame assertions (see the file comment). `advanced`: timers ran meanwhile. */
async function check (
  w: World, outcome: Outcome, from: string, frame: Uint8Array, before: Snapshot, c0: Counts, advanced: boolean
): Promise<void> {
  const after = await snapshot(w)
  const c1 = counts(w)
  if (outcome !== 'accepted') {
    const changes = diff(before, after)
    if (changes.length > 0) {
      const what = `a ${outcome} frame from ${from} changed state: ${changes.slice(0, 5).join('; ')}`
      throw new FuzzFailure(what, frame, changes.length)
    }
    const [stat, metric] = outcome === 'dropped'
      ? [c1.dropped - c0.dropped, c1.mDropped - c0.mDropped]
      : [c1.rejected - c0.rejected, c1.mRejected - c0.mRejected]
    if (stat < 1 || metric !== stat) {
      const what = `a ${outcome} frame from ${from} was counted ${stat} times in stats, ${metric} in metrics`
      throw new FuzzFailure(what, frame, JSON.stringify({ c0, c1 }))
    }
    return
  }
  if (advanced) return // an indirect probe: timers of the whole cluster ran meanwhile
  const broken = trustViolations(before, after, from, w.clock.now())
  if (broken.length > 0) {
    const what = `an accepted frame from ${from} broke a trust rule: ${broken.slice(0, 5).join('; ')}`
    throw new FuzzFailure(what, frame, broken.length)
  }
}

/** `timePassed`: the clock ran meanwhile, so tombstones and hidden copies may have been reaped. */
function trustViolations (a: Snapshot, b: Snapshot, from: string, now: number, timePassed = false): string[] {
  const out: string[] = []
  for (const [k, y] of b.entries) {
    const x = a.entries.get(k)
    if (JSON.stringify(x) === JSON.stringify(y) || y.owner === from || y.owner === TARGET) continue
    if (x !== undefined && x.owner === y.owner && x.ltime === y.ltime && x.value === y.value) {
      const status = b.members.get(y.owner)?.status
      // hidden or shown with its owner's status
      if (x.deleted === y.deleted && (status === 'failed') === y.hidden) continue
      const was = a.members.get(y.owner)?.status
      if (!x.deleted && y.deleted && status === 'left' && (was === 'suspect' || was === 'failed')) continue
    }
    out.push(`entry ${k.replaceAll('\u0000', '/')} of ${y.owner}: ${JSON.stringify(x)} -> ${JSON.stringify(y)}`)
  }
  for (const [k, x] of a.entries) {
    if (timePassed && (x.deleted || x.hidden)) continue
    if (!b.entries.has(k)) out.push(`entry ${k.replaceAll('\u0000', '/')} vanished (${JSON.stringify(x)})`)
  }
  for (const [id, y] of b.members) {
    const x = a.members.get(id)
    if (y.inc > MAX_CLOCK || y.inc > Math.max(x?.inc ?? 0, now) + MAX_INC_AHEAD) {
      out.push(`member ${id}: incarnation ${x?.inc} -> ${y.inc}`)
    }
    if (x === undefined || id === from) continue
    // a node first heard of without addresses (suspect/failed news) takes them from later news (membership.ts)
    const renamed = x.name !== y.name || x.advertise !== y.advertise || x.addrs !== y.addrs
    if (x.name !== '' && x.addrs !== '' && renamed) {
      out.push(`member ${id} renamed: ${JSON.stringify(x)} -> ${JSON.stringify(y)}`)
    }
    if (y.status === 'left' && !['left', 'suspect', 'failed'].includes(x.status)) {
      out.push(`member ${id}: ${x.status} -> left, said by ${from}`)
    }
    if (id === TARGET && y.status !== x.status) out.push(`target's own status ${x.status} -> ${y.status}`)
  }
  for (const c of ['network', 'table'] as const) {
    if (b.clocks[c] > MAX_CLOCK || b.clocks[c] > Math.max(a.clocks[c], now) + MAX_LTIME_AHEAD) {
      out.push(`${c} clock ${a.clocks[c]} -> ${b.clocks[c]}`)
    }
  }
  return out
}
