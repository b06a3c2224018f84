import assert from 'node:assert/strict'
import fc from 'fast-check'
import { versionHash } from '../../networkdb/hash.js'
import { Tables, type Entry } from '../../networkdb/tables.js'
import { MAX_BUCKETS } from '../../proto/index.js'

/**
 * Tables keeps per-network sums (bucket digests, sync count, per-table counts, live digest) up to
 * date at every change instead of walking the entries. After any sequence of changes they must
 * equal what a walk over every entry computes.
 */
const OWNERS = ['a', 'b', 'c']
const NETS = ['n', 'm']
let restored = 0

type Op =
  | { op: 'merge', nid: string, table: string, key: string, owner: string, ltime: number, deleted: boolean, hidden: boolean, fromOwner: boolean }
  | { op: 'hide', owner: string, hidden: boolean }
  | { op: 'tombstoneOwner', owner: string, nid: string | undefined }
  | { op: 'reap', at: number, retention: number }
  | { op: 'rejoin', nid: string }
  | { op: 'remerge', nid: string, table: string, key: string }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('merge' as const), nid: fc.constantFrom(...NETS), table: fc.constantFrom('t', 'u'), key: fc.constantFrom('k0', 'k1', 'k2'), owner: fc.constantFrom(...OWNERS), ltime: fc.integer({ min: 1, max: 5 }), deleted: fc.boolean(), hidden: fc.boolean(), fromOwner: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('hide' as const), owner: fc.constantFrom(...OWNERS), hidden: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('tombstoneOwner' as const), owner: fc.constantFrom(...OWNERS), nid: fc.option(fc.constantFrom(...NETS), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reap' as const), at: fc.integer({ min: 0, max: 200 }), retention: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rejoin' as const), nid: fc.constantFrom(...NETS) }) },
  // the owner sends the version we hold again: restores a hidden copy
  { weight: 3, arbitrary: fc.record({ op: fc.constant('remerge' as const), nid: fc.constantFrom(...NETS), table: fc.constantFrom('t', 'u'), key: fc.constantFrom('k0', 'k1', 'k2') }) }
)

function apply (t: Tables, o: Op, now: number): void {
  switch (o.op) {
    case 'merge': {
      const deleted = o.deleted
      if (t.merge(o.nid, o.table, o.key, { owner: o.owner, ltime: o.ltime, value: new Uint8Array([o.ltime]), deleted, reapAt: deleted ? now + 50 : 0, hidden: !deleted && o.hidden }, now, o.fromOwner) === 'restored') restored++
      return
    }
    case 'hide': t.setOwnerHidden(o.owner, o.hidden, now); return
    case 'tombstoneOwner': t.tombstoneOwner(o.owner, o.nid, now + 50, 'owner-left'); return
    case 'reap': t.reap(o.at, o.retention); return
    case 'rejoin': t.dropNetwork(o.nid); t.addNetwork(o.nid); return
    case 'remerge': {
      const cur = t.get(o.table, o.nid, o.key)
      if (cur !== undefined && t.merge(o.nid, o.table, o.key, { ...cur, hidden: false }, now, true) === 'restored') restored++
    }
  }
}

/** Every entry of `nid`, from a walk (ownedBy returns hidden copies and tombstones too). */
function all (t: Tables, nid: string): Array<{ table: string, key: string, e: Entry }> {
  return OWNERS.flatMap(o => t.ownedBy(o)).filter(x => x.nid === nid)
}

function check (t: Tables): void {
  for (const nid of NETS) {
    const es = all(t, nid)
    const synced = es.filter(x => !x.e.hidden)
    assert.equal(t.syncCount(nid), synced.length, 'sync count')
    for (const buckets of [1, 2, 64, MAX_BUCKETS]) {
      const want = new Array<number>(2 * buckets).fill(0)
      for (const { table, key, e } of synced) {
        const v = versionHash(table, key, e.owner, e.ltime, e.deleted)
        const b = (v.kh & (buckets - 1)) * 2
        want[b] = (want[b]! ^ v.h1) >>> 0
        want[b + 1] = (want[b + 1]! ^ v.h2) >>> 0
      }
      assert.deepEqual(t.bucketHashes(nid, buckets), want, `bucket hashes of ${nid} at ${buckets} buckets`)
    }
    const live = synced.filter(x => !x.e.deleted)
    let a = 0
    let b = 0
    for (const { table, key, e } of live) {
      const v = versionHash(table, key, e.owner, e.ltime, false)
      a = (a ^ v.h1) >>> 0
      b = (b ^ v.h2) >>> 0
    }
    assert.equal(t.digest(nid), `${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}-${live.length}`, 'live digest')
    for (const s of t.stats(nid)) {
      const mine = es.filter(x => x.table === s.table)
      assert.deepEqual(s, {
        table: s.table,
        entries: mine.filter(x => !x.e.hidden && !x.e.deleted).length,
        tombstones: mine.filter(x => !x.e.hidden && x.e.deleted).length,
        hidden: mine.filter(x => x.e.hidden).length
      }, `stats of ${nid}/${s.table}`)
    }
    const listed = new Set(t.stats(nid).map(s => s.table))
    for (const x of es) assert.ok(listed.has(x.table), `table ${x.table} listed in stats`)
  }
}

describe('Tables running sums', function () {
  it('equal a walk over every entry after any sequence of changes', () => {
    restored = 0
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), ops => {
      const t = new Tables()
      for (const nid of NETS) t.addNetwork(nid)
      let now = 0
      for (const o of ops) {
        apply(t, o, now++)
        check(t)
      }
    }), { numRuns: 400 })
    // the restore path is rare in random sequences: make sure these runs took it (about 10-20 times
    // per 400 runs; the dedicated test below covers it whatever the sequence)
    assert.ok(restored > 0, `the runs restored hidden copies (${restored} times)`)
  })

  it('a hidden copy restored by its owner counts again', () => {
    const t = new Tables()
    t.addNetwork('n')
    const v = { owner: 'a', ltime: 3, value: new Uint8Array([1]), deleted: false, reapAt: 0 }
    t.merge('n', 't', 'k', { ...v, hidden: true }, 0, false)
    check(t)
    assert.equal(t.syncCount('n'), 0)
    assert.equal(t.merge('n', 't', 'k', { ...v, hidden: false }, 1, true), 'restored')
    check(t)
    assert.equal(t.syncCount('n'), 1)
  })

  it('the reaper skips a network with neither tombstones nor hidden entries, and reaps the others', () => {
    const t = new Tables()
    t.addNetwork('n')
    t.addNetwork('m')
    t.merge('n', 't', 'k', { owner: 'a', ltime: 1, value: new Uint8Array(), deleted: false, reapAt: 0, hidden: false }, 0, true)
    t.merge('m', 't', 'k', { owner: 'a', ltime: 1, value: new Uint8Array(), deleted: true, reapAt: 5, hidden: false }, 0, true)
    assert.deepEqual(t.reap(10, 100).map(g => g.nid), ['m'])
    assert.deepEqual(t.stats('m'), [])
    assert.equal(t.syncCount('m'), 0)
    assert.deepEqual(t.bucketHashes('m', 4), new Array<number>(8).fill(0))
  })
})
