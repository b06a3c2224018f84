/**
 * A member that stays failed is hung up on after failedHangupMs (its connection may be dead: a
 * partition); one that was only suspected, or comes back in time, keeps its connection.
 */
import assert from 'node:assert/strict'
import { createMemoryCluster, type MemoryCluster } from '../../networkdb/testing.js'

describe('NetworkDB: hang-up on members that stay failed', () => {
  let cl: MemoryCluster | undefined
  afterEach(async () => { await cl?.close(); cl = undefined })

  const status = (c: MemoryCluster, i: number, of: number): string | undefined => c.nodes[i]!.members().find(m => m.id === c.ids[of])?.status

  it('a partition longer than failedHangupMs drops the connection; the heal re-dials and merges', async () => {
    const c = cl = await createMemoryCluster(3, { seed: 3 })
    await c.advance(3000)
    assert.ok(c.net.connected(c.ids[0]!, c.ids[2]!))
    c.partition([0, 1], [2])
    await c.advance(5000)
    assert.equal(status(c, 0, 2), 'failed')
    assert.ok(c.net.connected(c.ids[0]!, c.ids[2]!), 'not at once')
    await c.advance(10_000)
    assert.ok(!c.net.connected(c.ids[0]!, c.ids[2]!), 'hung up after failedHangupMs')
    c.heal()
    await c.advance(5000)
    assert.equal(status(c, 0, 2), 'alive')
    assert.equal(status(c, 2, 0), 'alive')
    assert.ok(c.net.connected(c.ids[0]!, c.ids[2]!), 're-dialled')
  })

  it('a member back before failedHangupMs keeps its connection', async () => {
    const c = cl = await createMemoryCluster(3, { seed: 4 })
    await c.advance(3000)
    c.partition([0, 1], [2])
    await c.advance(5000)
    assert.equal(status(c, 0, 2), 'failed')
    c.heal()
    await c.advance(3000)
    assert.equal(status(c, 0, 2), 'alive')
    await c.advance(15_000)
    assert.ok(c.net.connected(c.ids[0]!, c.ids[2]!))
    assert.equal(status(c, 0, 2), 'alive')
  })
})
