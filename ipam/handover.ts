/**
 * Moving ranges off a node: a graceful leave hands everything to live peers; `reclaim` takes a dead
 * node's ranges by operator decision. Ranges never move silently: a node that merely stopped
 * answering keeps them (requests that need them fail with a clear error) until one of these runs.
 */
import { goneKey } from '../proto/index.js'
import type { Logger } from '../core/index.js'
import { rangeText } from './ip-math.js'
import { ErrReclaimRefused } from './ipamapi.js'
import type { ClusterLink } from './link.js'
import { sizeOf } from './ranges.js'
import type { Segment } from './ring.js'
import { instanceOfRing, isActive, spaceRingId } from './slot.js'
import type { Space } from './space.js'

export interface HandoverReport {
  /** ring id -> receiver, for the rings whose receiver confirmed. */
  confirmed: Record<string, string>
  /** Rings handed over whose receiver did not confirm in time (still recoverable from our records while they live). */
  unconfirmed: string[]
  /** Rings kept because no peer was reachable. */
  kept: string[]
}

/** Give every range this node owns to a live peer and wait for the receivers to confirm. */
export async function handOver (space: Space, log: Logger): Promise<HandoverReport> {
  const report: HandoverReport = { confirmed: {}, unconfirmed: [], kept: [] }
  // The node is leaving: its endpoints are gone, so are its references.
  for (const slot of [...space.pools.values()]) {
    if (slot.refs > 0) { slot.refs = 1; await space.releasePool(slot) }
  }
  const heir = pickHeir(space)
  const jobs: Array<{ to: string, ring: string, segs: Segment[] }> = []
  for (const r of [...space.rings.all()]) {
    const owned = space.rings.owned(r.id)
    if (owned.length === 0) continue
    if (heir === undefined) { report.kept.push(r.id); continue }
    const to = receiverOf(space, r.id) ?? heir
    const segs = owned.flatMap(iv => space.rings.grant(r.id, iv, to))
    jobs.push({ to, ring: r.id, segs })
  }
  if (heir === undefined && report.kept.length > 0) log.warn({ rings: report.kept.length },
    'no reachable peer: this node keeps its ranges (reclaim them if it never returns)')
  await Promise.all(jobs.map(async j => { await space.rings.persist(j.ring) }))
  const answers = await Promise.all(jobs.map(async j => await space.ask(j.to,
    { kind: 'handover', ring: j.ring, segs: j.segs })))
  answers.forEach((a, i) => {
    const j = jobs[i]!
    if (a?.code === 'ok') report.confirmed[j.ring] = j.to
    else report.unconfirmed.push(j.ring)
  })
  log.info({ confirmed: Object.keys(report.confirmed).length, unconfirmed: report.unconfirmed.length },
    'handed over ipam ranges')
  return report
}

/** The reachable peer owning the least pool space: leaving evens the cluster out. */
function pickHeir (space: Space): string | undefined {
  const owned = new Map<string, bigint>()
  for (const f of [4, 6] as const) {
    const r = space.rings.get(spaceRingId(space.name, f))
    for (const [n, p] of r?.peers ?? []) {
      if (n === space.me || !space.reachable(n)) continue
      const mine = p.segs.filter(x => x.o === n)
      owned.set(n, (owned.get(n) ?? 0n) + sizeOf(mine))
    }
  }
  const sorted = [...owned.entries()].sort(([a, x], [b, y]) => (x !== y ? (x < y ? -1 : 1) : a < b ? -1 : 1))
  return sorted[0]?.[0]
}

/** An address ring goes to a live holder of the pool, else its owner; undefined: the heir. */
function receiverOf (space: Space, ringId: string): string | undefined {
  const inst = instanceOfRing(ringId)
  const slot = inst === undefined ? undefined : space.pools.get(inst)
  if (slot === undefined || !isActive(slot)) return undefined
  const holder = slot.record.holders.filter(h => h !== space.me && space.reachable(h)).sort()[0]
  if (holder !== undefined) return holder
  return slot.owner !== space.me && space.reachable(slot.owner) ? slot.owner : undefined
}

/**
 * Operator action: take over everything `dead` owns, at a version far above its own. DANGEROUS if
 * the node is in fact alive somewhere (a partition): both would hand out the same addresses. It
 * is refused while the node is alive or suspect in this node's membership view.
 */
export async function reclaim (
  space: Space, link: ClusterLink | undefined, dead: string, bump: number, now: number
): Promise<string[]> {
  if (dead === space.me) throw new ErrReclaimRefused('a node cannot reclaim its own ranges')
  if (space.reachable(dead)) {
    throw new ErrReclaimRefused(`node ${dead} is ${link?.status(dead) ?? 'alive'}: ` +
      'reclaim only a node that is gone for good')
  }
  const out: string[] = []
  for (const r of [...space.rings.all()]) {
    const facts = space.rings.seize(r.id, dead, bump)
    if (facts.length === 0) continue
    const inst = instanceOfRing(r.id)
    const label = inst === undefined ? `${space.name} pool space` : `pool ${space.pools.get(inst)?.record.pool ?? inst}`
    for (const f of facts) out.push(`${label}: ${rangeText(r.family, f.s, f.e)}`)
    await space.rings.persist(r.id)
  }
  space.forget(dead)
  await link?.put(goneKey(space.me, dead), { t: 'gone', b: { node: dead, at: now } })
  return out
}
