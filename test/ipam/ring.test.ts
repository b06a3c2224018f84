import assert from 'node:assert/strict'
import fc from 'fast-check'
import { cover, grantFacts, join, ownedBy, ownerAt, subsumes, viewsEqual, type Segment } from '../../ipam/ring.js'

const owners = ['a', 'b', 'c']
const fact = fc.record({ s: fc.integer({ min: 0, max: 60 }), len: fc.integer({ min: 0, max: 20 }), v: fc.integer({ min: 1, max: 4 }), o: fc.constantFrom(...owners) })
  .map(x => ({ s: BigInt(x.s), e: BigInt(x.s + x.len), v: x.v, o: x.o }))
const facts = fc.array(fact, { maxLength: 8 })

/** Reference semantics: address by address, the greatest (version, owner). */
function pointwise (fs: Segment[]): Map<number, string> {
  const m = new Map<number, [number, string]>()
  for (const f of fs) {
    for (let v = Number(f.s); v <= Number(f.e); v++) {
      const cur = m.get(v)
      if (cur === undefined || f.v > cur[0] || (f.v === cur[0] && f.o > cur[1])) m.set(v, [f.v, f.o])
    }
  }
  return new Map([...m].map(([k, [v, o]]) => [k, `${v}:${o}`]))
}

function asMap (view: Segment[]): Map<number, string> {
  const m = new Map<number, string>()
  for (const x of view) for (let v = Number(x.s); v <= Number(x.e); v++) m.set(v, `${x.v}:${x.o}`)
  return m
}

describe('ipam ring CRDT', function () {
  it('join equals the pointwise maximum of (version, owner)', () => {
    fc.assert(fc.property(facts, fs => {
      assert.deepEqual(asMap(join([], fs).view), pointwise(fs))
    }))
  })

  it('join is commutative, associative and idempotent, with one canonical shape', () => {
    fc.assert(fc.property(facts, facts, facts, (a, b, c) => {
      const A = join([], a).view
      const B = join([], b).view
      const C = join([], c).view
      assert.ok(viewsEqual(join(A, B).view, join(B, A).view))
      assert.ok(viewsEqual(join(join(A, B).view, C).view, join(A, join(B, C).view).view))
      assert.ok(viewsEqual(join(A, A).view, A))
      assert.equal(join(A, A).changed, false)
    }))
  })

  it('a grant moves exactly the giver\'s part of a range to the receiver, one version up', () => {
    const view = join([], [{ s: 0n, e: 99n, v: 1, o: 'a' }, { s: 40n, e: 49n, v: 2, o: 'b' }]).view
    const g = grantFacts(view, { s: 30n, e: 59n }, 'a', 'c')
    assert.deepEqual(g, [{ s: 30n, e: 39n, v: 2, o: 'c' }, { s: 50n, e: 59n, v: 2, o: 'c' }])
    const after = join(view, g).view
    assert.deepEqual(ownedBy(after, 'a'), [{ s: 0n, e: 29n }, { s: 60n, e: 99n }])
    assert.deepEqual(ownedBy(after, 'b'), [{ s: 40n, e: 49n }])
    assert.deepEqual(ownedBy(after, 'c'), [{ s: 30n, e: 39n }, { s: 50n, e: 59n }])
    // a stale copy of the old view cannot take it back
    assert.ok(viewsEqual(join(after, view).view, after))
    assert.equal(ownerAt(after, 35n)?.o, 'c')
  })

  it('counts ties between owners (operator conflicts) and resolves them the same everywhere', () => {
    const a = join([], [{ s: 0n, e: 9n, v: 5, o: 'x' }])
    const r = join(a.view, [{ s: 5n, e: 14n, v: 5, o: 'y' }])
    assert.equal(r.conflicts, 1)
    assert.equal(ownerAt(r.view, 7n)?.o, 'y')
    assert.equal(ownerAt(join(join([], [{ s: 5n, e: 14n, v: 5, o: 'y' }]).view, a.view).view, 7n)?.o, 'y')
  })

  it('cover shows unknown gaps; subsumes compares versions', () => {
    const view = join([], [{ s: 10n, e: 19n, v: 1, o: 'a' }]).view
    assert.deepEqual(cover(view, 5n, 24n).map(x => x.o), [undefined, 'a', undefined])
    assert.ok(subsumes(view, [{ s: 12n, e: 15n, v: 1, o: 'a' }]))
    assert.ok(!subsumes(view, [{ s: 12n, e: 15n, v: 2, o: 'b' }]))
    assert.ok(!subsumes(view, [{ s: 0n, e: 15n, v: 1, o: 'a' }]))
  })
})
