import assert from 'node:assert/strict'
import { FakeCluster } from './fake-networkdb.js'

describe('the overlay tests\' fake NetworkDB merges as NetworkDB does', () => {
  it('a tombstone wins the tie with its live version; the same version again is no change', () => {
    const n = new FakeCluster().node('a')
    const k = 'overlay_peer_table\u0000net1\u0000ep1'
    const live = { owner: 'b', ltime: 5, value: new Uint8Array([1]), deleted: false }
    assert.equal(n.merge(k, live), true)
    assert.equal(n.merge(k, { ...live, deleted: true }), true, 'the tombstone of the same (ltime, owner) applies')
    assert.equal(n.merge(k, live), false, 'the live version does not come back over its tombstone')
    assert.equal(n.merge(k, { ...live, owner: 'a' }), false, 'a lower owner loses the tie')
    assert.equal(n.merge(k, { ...live, ltime: 6, owner: 'a' }), true, 'a higher Lamport time wins')
  })
})
