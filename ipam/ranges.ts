/**
 * Sets of addresses as sorted lists of disjoint inclusive intervals of bigints. Pure functions;
 * the ring, the allocator and the pool finder build on them.
 */
export interface Interval { s: bigint, e: bigint }

export function iv (s: bigint, e: bigint): Interval { return { s, e } }

/** Sort, and merge overlapping or adjacent intervals. */
export function normalize (list: readonly Interval[]): Interval[] {
  const sorted = list.filter(x => x.s <= x.e).sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0))
  const out: Interval[] = []
  for (const x of sorted) {
    const last = out[out.length - 1]
    if (last !== undefined && x.s <= last.e + 1n) {
      if (x.e > last.e) last.e = x.e
    } else {
      out.push({ s: x.s, e: x.e })
    }
  }
  return out
}

export function union (a: readonly Interval[], b: readonly Interval[]): Interval[] {
  return normalize([...a, ...b])
}

/** a ∩ b; both normalized. */
export function intersect (a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = []
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const x = a[i]!
    const y = b[j]!
    const s = x.s > y.s ? x.s : y.s
    const e = x.e < y.e ? x.e : y.e
    if (s <= e) out.push({ s, e })
    if (x.e < y.e) i++
    else j++
  }
  return out
}

/** a − b; both normalized. */
export function subtract (a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = []
  let j = 0
  for (const x of a) {
    let s = x.s
    while (j < b.length && b[j]!.e < s) j++
    let k = j
    while (k < b.length && b[k]!.s <= x.e) {
      const y = b[k]!
      if (y.s > s) out.push({ s, e: y.s - 1n })
      if (y.e + 1n > s) s = y.e + 1n
      if (s > x.e) break
      k++
    }
    if (s <= x.e) out.push({ s, e: x.e })
  }
  return out
}

export function clip (list: readonly Interval[], s: bigint, e: bigint): Interval[] {
  return intersect(list, [{ s, e }])
}

export function sizeOf (list: readonly Interval[]): bigint {
  let n = 0n
  for (const x of list) n += x.e - x.s + 1n
  return n
}

/** Index of the interval holding v, or -1 (binary search; list normalized). */
export function indexOf (list: readonly Interval[], v: bigint): number {
  let lo = 0
  let hi = list.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const x = list[mid]!
    if (v < x.s) hi = mid - 1
    else if (v > x.e) lo = mid + 1
    else return mid
  }
  return -1
}

export function has (list: readonly Interval[], v: bigint): boolean {
  return indexOf(list, v) >= 0
}

export function covers (list: readonly Interval[], s: bigint, e: bigint): boolean {
  const i = indexOf(list, s)
  return i >= 0 && list[i]!.e >= e
}

export function overlaps (list: readonly Interval[], s: bigint, e: bigint): boolean {
  return clip(list, s, e).length > 0
}

/** How many `unit`-aligned blocks of `unit` addresses lie wholly inside the set. */
export function alignedBlockCount (list: readonly Interval[], unit: bigint): bigint {
  let n = 0n
  for (const x of list) {
    const first = ceilDiv(x.s, unit)
    const end = (x.e + 1n) / unit
    if (end > first) n += end - first
  }
  return n
}

/** Grow every interval outward to `unit` alignment (a pool blocks every block it touches). */
export function expandToUnit (list: readonly Interval[], unit: bigint): Interval[] {
  return normalize(list.map(x => ({ s: (x.s / unit) * unit, e: ceilDiv(x.e + 1n, unit) * unit - 1n })))
}

/**
 * The largest block of `unit × 2^k` addresses (2^k <= maxUnits), aligned to its own size, that lies
 * wholly inside `free`; the highest such block, so a donor keeps its low, dense end.
 */
export function pickAlignedBlock (free: readonly Interval[], unit: bigint, maxUnits: bigint): Interval | undefined {
  if (maxUnits < 1n) return undefined
  let k = 0n
  while ((2n << k) <= maxUnits) k++
  for (;;) {
    const size = unit << k
    for (let i = free.length - 1; i >= 0; i--) {
      const x = free[i]!
      const start = ((x.e + 1n) / size) * size - size
      if (start >= x.s && start >= 0n) return { s: start, e: start + size - 1n }
    }
    if (k === 0n) return undefined
    k--
  }
}

function ceilDiv (a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b
}

export function intervalsEqual (a: readonly Interval[], b: readonly Interval[]): boolean {
  return a.length === b.length && a.every((x, i) => x.s === b[i]!.s && x.e === b[i]!.e)
}
