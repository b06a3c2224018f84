/**
 * Issue 19 item 5: a keyed host cannot steal address ranges with its own (authentic) ring record.
 * RingBook.applyRecord is the code every IPAM node runs on a peer's ring record.
 */
import assert from 'node:assert/strict'
import { RingBook } from '../../ipam/ownership.js'
import { ownedBy, type Segment } from '../../ipam/ring.js'
import type { RingRecord } from '../../proto/index.js'

const ALL_V4: Segment = { s: 0n, e: 2n ** 32n - 1n, v: 0, o: '' }
const SPACE = { s: 0x0a000000n, e: 0x0affffffn } // 10.0.0.0/8
const SLASH24 = { s: 0x0a010000n, e: 0x0a0100ffn } // 10.1.0.0/24, V's

describe('IPAM ring records from a hostile host', function () {
  /** Node A's book: A owns 10/8 but 10.1.0.0/24, which it granted to V (v2); C owns nothing. */
  function book (reachable = (_: string) => true): RingBook {
    const b = new RingBook({ me: 'A', putRing: async () => {}, deleteRing: async () => {}, changed: () => {}, publish: () => {}, reachable, reclaimBump: 1_000_000 })
    b.create('r', 'g', 4, [{ ...SPACE, v: 1, o: 'A' }, { ...SLASH24, v: 2, o: 'V' }])
    b.applyRecord('V', rec([{ ...SLASH24, v: 2, o: 'V' }]))
    return b
  }
  const rec = (segs: Segment[]): RingRecord => ({ ring: 'r', genesis: 'g', family: 4, segs, used: 0, free: 0n })
  const owners = (b: RingBook): Record<string, string> => {
    const out: Record<string, string> = {}
    for (const n of ['A', 'V', 'C']) out[n] = ownedBy(b.get('r')!.view, n).map(i => `${i.s.toString(16)}-${i.e.toString(16)}`).join(',')
    return out
  }

  it('a record claiming all of IPv4 takes nobody\'s range', function () {
    const b = book()
    const before = owners(b)
    b.applyRecord('C', rec([{ ...ALL_V4, v: 50, o: 'C' }]))
    const after = owners(b)
    assert.equal(after.A, before.A)
    assert.equal(after.V, before.V)
    assert.ok(b.get('r')!.conflicts > 0, 'counted')
  })

  it('a record giving V\'s in-use /24 to C (or to anyone) is refused', function () {
    const b = book()
    b.applyRecord('C', rec([{ ...SLASH24, v: 3, o: 'C' }]))
    b.applyRecord('C', rec([{ ...SLASH24, v: 3, o: 'X' }]))
    assert.equal(owners(b).V, 'a010000-a0100ff')
  })

  it('a grant by the owner is accepted, in either order of the records', function () {
    const b = book()
    // V gives its /24 to C: C's record arrives first (refused while V still claims it), then V's
    b.applyRecord('C', rec([{ ...SLASH24, v: 3, o: 'C' }]))
    assert.equal(owners(b).C, '')
    b.applyRecord('V', rec([]))
    assert.equal(owners(b).C, 'a010000-a0100ff', 'V released it: C\'s held record applies')
    // and a grant stated by the giver itself applies at once
    const b2 = book()
    b2.applyRecord('V', rec([{ ...SLASH24, v: 3, o: 'C' }]))
    assert.equal(owners(b2).C, 'a010000-a0100ff')
  })

  it('a reclaim (a jump of reclaimBump) passes only for a node that is not alive here', function () {
    const alive = book()
    alive.applyRecord('C', rec([{ ...SLASH24, v: 2 + 1_000_000, o: 'C' }]))
    assert.equal(owners(alive).V, 'a010000-a0100ff')
    const gone = book(n => n !== 'V')
    gone.applyRecord('C', rec([{ ...SLASH24, v: 2 + 1_000_000, o: 'C' }]))
    assert.equal(owners(gone).C, 'a010000-a0100ff')
    // not this node's own ranges, whatever the jump
    gone.applyRecord('C', rec([{ ...SPACE, v: 1 + 1_000_000, o: 'C' }]))
    assert.ok(owners(gone).A!.length > 0)
  })

  it('a record with new counts only is not applied again, unless part of it was refused', function () {
    let vAlive = true
    const b = book(n => n !== 'V' || vAlive)
    let applied = 0
    const inner = b as unknown as { allowed: (...a: unknown[]) => unknown }
    const allowed = inner.allowed.bind(b)
    inner.allowed = (...a: unknown[]) => { applied++; return allowed(...a) }
    // V's own /24 again, with new counts: nothing to apply
    b.applyRecord('V', { ...rec([{ ...SLASH24, v: 2, o: 'V' }]), used: 7, free: 249n })
    assert.equal(applied, 0)
    assert.equal(b.get('r')!.peers.get('V')!.used, 7, 'the counts are taken')
    // a reclaim refused while V is alive is tried again with every record, counts or not
    const reclaim = [{ ...SLASH24, v: 2 + 1_000_000, o: 'C' }]
    b.applyRecord('C', rec(reclaim))
    assert.equal(owners(b).V, 'a010000-a0100ff')
    applied = 0
    vAlive = false
    b.applyRecord('C', { ...rec(reclaim), used: 1 })
    assert.ok(applied > 0)
    assert.equal(owners(b).C, 'a010000-a0100ff', 'the held reclaim passes once V is gone')
    // and once it passed whole, the same facts are not applied again
    applied = 0
    b.applyRecord('C', { ...rec(reclaim), used: 2 })
    assert.equal(applied, 0)
  })
})
