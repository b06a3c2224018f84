import assert from 'node:assert/strict'
import { createMemoryCluster, driven, type MemoryCluster } from '../../networkdb/index.js'
import { digests, enc, live, table, until } from './helpers.js'

describe('NetworkDB in-memory cluster', function () {
  let c: MemoryCluster | undefined
  afterEach(async () => { await c?.close(); c = undefined })

  it('10 nodes converge: membership, network peers and tables', async () => {
    c = await createMemoryCluster(10, { seed: 7 })
    const cl = c
    await until(cl, () => cl.nodes.every(n => n.members().filter(m => m.status === 'alive').length === 10))
    for (const n of cl.nodes) await driven(cl.clock, async () => { await n.joinNetwork('net1') })
    await until(cl, () => cl.nodes.every(n => n.peers('net1').length === 10))
    for (const [i, n] of cl.nodes.entries()) await n.createEntry('t', 'net1', `k${i}`, enc(`v${i}`))
    await until(cl, () => cl.nodes.every(n => n.walkTable('t', 'net1').length === 10))
    const expected = Object.fromEntries(cl.nodes.map((_, i) => [`k${i}`, `v${i}`]))
    for (const i of live(cl)) assert.deepEqual(table(cl, i, 't', 'net1'), expected)
    assert.equal(new Set(digests(cl, 'net1').values()).size, 1)
  })
})
