import assert from 'node:assert/strict'
import fc from 'fast-check'
import { alignedBlockCount, expandToUnit, intersect, normalize, pickAlignedBlock, sizeOf, subtract, union, type Interval } from '../../ipam/ranges.js'

const ivl = fc.tuple(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: 15 })).map(([s, l]) => ({ s: BigInt(s), e: BigInt(s + l) }))
const set = fc.array(ivl, { maxLength: 6 }).map(normalize)
const points = (l: Interval[]): Set<number> => { const o = new Set<number>(); for (const x of l) for (let v = Number(x.s); v <= Number(x.e); v++) o.add(v); return o }

describe('ipam interval sets', function () {
  it('union, intersect and subtract agree with sets of points', () => {
    fc.assert(fc.property(set, set, (a, b) => {
      const A = points(a)
      const B = points(b)
      assert.deepEqual(points(union(a, b)), new Set([...A, ...B]))
      assert.deepEqual(points(intersect(a, b)), new Set([...A].filter(x => B.has(x))))
      assert.deepEqual(points(subtract(a, b)), new Set([...A].filter(x => !B.has(x))))
      assert.equal(sizeOf(subtract(a, b)), BigInt([...A].filter(x => !B.has(x)).length))
    }))
  })

  it('pickAlignedBlock returns a self-aligned block inside the free set, at most maxUnits large', () => {
    fc.assert(fc.property(set, fc.constantFrom(1n, 2n, 4n), fc.integer({ min: 1, max: 20 }), (free, unit, max) => {
      const b = pickAlignedBlock(free, unit, BigInt(max))
      const count = alignedBlockCount(free, unit)
      if (b === undefined) { assert.equal(count, 0n); return }
      const size = b.e - b.s + 1n
      assert.equal(b.s % size, 0n)
      assert.equal(size % unit, 0n)
      assert.ok(size / unit <= BigInt(max))
      assert.deepEqual(points(intersect([b], free)), points([b]))
    }))
  })

  it('expandToUnit grows to alignment', () => {
    assert.deepEqual(expandToUnit([{ s: 5n, e: 9n }], 4n), [{ s: 4n, e: 11n }])
    assert.equal(alignedBlockCount([{ s: 3n, e: 20n }], 4n), 4n)
  })
})
