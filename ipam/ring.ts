/**
 * The ownership ring: a state-based CRDT saying which node owns each address of a space.
 *
 * A view is a sorted list of disjoint segments `{s, e, v, o}`: addresses s..e belong to node `o` at
 * version `v`. Join takes, address by address, the (version, owner) that is greater — higher
 * version first, the greater owner id on a tie — so it is commutative, associative and idempotent
 * and every node that has seen the same facts holds the same view, whatever the order.
 *
 * Versions make "only the owner changes its ranges" a property of the data: a new fact about an
 * address is only ever written by the node that owns it at the version before (a grant raises the
 * version by one and names the receiver), so two different owners at one version cannot arise
 * from the protocol. They arise only from operator action (two clusters bootstrapped apart, or a
 * reclaim of a node that was alive); join still picks one deterministically, and counts it.
 */
import { type Interval } from './ranges.js'

export interface Segment { s: bigint, e: bigint, v: number, o: string }

export type RingView = readonly Segment[]

/** Does fact (v, o) beat (v2, o2)? */
export function beats (v: number, o: string, v2: number, o2: string): boolean {
  return v > v2 || (v === v2 && o > o2)
}

/** Merge neighbours that carry the same (version, owner), so equal knowledge has one shape. */
export function coalesce (list: readonly Segment[]): Segment[] {
  const out: Segment[] = []
  for (const x of list) {
    const last = out[out.length - 1]
    if (last !== undefined && last.e + 1n === x.s && last.v === x.v && last.o === x.o) last.e = x.e
    else out.push({ ...x })
  }
  return out
}

export interface JoinResult { view: Segment[], changed: boolean, conflicts: number }

/** Join one fact into a view. */
function joinOne (view: readonly Segment[], f: Segment, acc: { conflicts: number }): Segment[] {
  if (f.s > f.e) return [...view]
  const out: Segment[] = []
  let cursor = f.s
  for (const x of view) {
    if (x.e < f.s || x.s > f.e) { out.push(x); continue }
    if (x.s < f.s) out.push({ ...x, e: f.s - 1n })
    const s = x.s > f.s ? x.s : f.s
    const e = x.e < f.e ? x.e : f.e
    if (s > cursor) out.push({ s: cursor, e: s - 1n, v: f.v, o: f.o })
    if (x.v === f.v && x.o !== f.o) acc.conflicts++
    out.push(beats(f.v, f.o, x.v, x.o) ? { s, e, v: f.v, o: f.o } : { s, e, v: x.v, o: x.o })
    cursor = e + 1n
    if (x.e > f.e) out.push({ ...x, s: f.e + 1n })
  }
  if (cursor <= f.e) out.push({ s: cursor, e: f.e, v: f.v, o: f.o })
  out.sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0))
  return out
}

/** view ⊔ facts. `facts` may be in any order and may overlap each other. */
export function join (view: RingView, facts: readonly Segment[]): JoinResult {
  const acc = { conflicts: 0 }
  let cur: Segment[] = [...view]
  for (const f of facts) cur = joinOne(cur, f, acc)
  const next = coalesce(cur)
  return { view: next, changed: !viewsEqual(view, next), conflicts: acc.conflicts }
}

export function viewsEqual (a: RingView, b: RingView): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x.s !== y.s || x.e !== y.e || x.v !== y.v || x.o !== y.o) return false
  }
  return true
}

/** The addresses `node` owns in the view, as normalized intervals. */
export function ownedBy (view: RingView, node: string): Interval[] {
  const out: Interval[] = []
  for (const x of view) {
    if (x.o !== node) continue
    const last = out[out.length - 1]
    if (last !== undefined && last.e + 1n === x.s) last.e = x.e
    else out.push({ s: x.s, e: x.e })
  }
  return out
}

export function ownerAt (view: RingView, v: bigint): Segment | undefined {
  let lo = 0
  let hi = view.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const x = view[mid]!
    if (v < x.s) hi = mid - 1
    else if (v > x.e) lo = mid + 1
    else return x
  }
  return undefined
}

/** The view restricted to s..e, with the gaps (no known owner) as segments of owner undefined. */
export function cover (
  view: RingView, s: bigint, e: bigint
): Array<{ s: bigint, e: bigint, v: number, o: string | undefined }> {
  const out: Array<{ s: bigint, e: bigint, v: number, o: string | undefined }> = []
  let cursor = s
  for (const x of view) {
    if (x.e < s || x.s > e) continue
    const a = x.s > s ? x.s : s
    const b = x.e < e ? x.e : e
    if (a > cursor) out.push({ s: cursor, e: a - 1n, v: 0, o: undefined })
    out.push({ s: a, e: b, v: x.v, o: x.o })
    cursor = b + 1n
  }
  if (cursor <= e) out.push({ s: cursor, e, v: 0, o: undefined })
  return out
}

/**
 * Facts that hand the parts of `range` owned by `from` to `to`, each at its version + `bump`.
 * Join them into the view to apply; the giver must stop using the range before it publishes them.
 */
export function grantFacts (view: RingView, range: Interval, from: string, to: string, bump = 1): Segment[] {
  return cover(view, range.s, range.e)
    .filter(x => x.o === from)
    .map(x => ({ s: x.s, e: x.e, v: x.v + bump, o: to }))
}

/** Segments of `view` inside the intervals (clipped). */
export function restrict (view: RingView, list: readonly Interval[]): Segment[] {
  const out: Segment[] = []
  for (const r of list) {
    for (const x of cover(view, r.s, r.e)) if (x.o !== undefined) out.push({ s: x.s, e: x.e, v: x.v, o: x.o })
  }
  return coalesce(out)
}

/** Is every address of `facts` known in `view` at an equal or higher version? */
export function subsumes (view: RingView, facts: readonly Segment[]): boolean {
  for (const f of facts) {
    for (const x of cover(view, f.s, f.e)) {
      if (x.o === undefined || beats(f.v, f.o, x.v, x.o)) return false
    }
  }
  return true
}
