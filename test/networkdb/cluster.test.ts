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

describe('NetworkDB semantics', function () {
  let c: MemoryCluster | undefined
  afterEach(async () => { await c?.close(); c = undefined })

  async function cluster (n: number, seed = 3): Promise<MemoryCluster> {
    c = await createMemoryCluster(n, { seed, config: { tombstoneTtlMs: 60_000, reapIntervalMs: 1000 } })
    const cl = c
    for (const node of cl.nodes) await driven(cl.clock, async () => { await node.joinNetwork('n') })
    await until(cl, () => cl.nodes.every(x => x.peers('n').length === n))
    return cl
  }

  it('concurrent writes of one key converge to one winner everywhere', async () => {
    const cl = await cluster(5)
    // every node creates the same key "at once": none has seen the others' writes. In a takeover
    // table: elsewhere a key is bound to the first owner a node hears of (networkdb/trust.ts)
    await Promise.all(cl.nodes.map(async (n, i) => { await n.createEntry('network_table', 'n', 'shared', enc(`from-${i}`)) }))
    await cl.advance(2000)
    const winners = new Set(cl.nodes.map(n => `${n.getEntry('network_table', 'n', 'shared')?.owner}`))
    assert.equal(winners.size, 1)
    const winner = [...winners][0]!
    // equal Lamport times: the greatest owner id wins
    assert.equal(winner, [...cl.ids].sort().at(-1))
    // the loser cannot update or delete the winner's entry
    const loser = cl.nodes.find(n => n.nodeId !== winner)!
    await assert.rejects(loser.updateEntry('network_table', 'n', 'shared', enc('x')), { name: 'NotOwnerError' })
    await assert.rejects(loser.deleteEntry('network_table', 'n', 'shared'), { name: 'NotOwnerError' })
  })

  it('delete leaves a tombstone that is reaped after the TTL', async () => {
    const cl = await cluster(3)
    await cl.nodes[0]!.createEntry('t', 'n', 'k', enc('v'))
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'k') !== undefined))
    await cl.nodes[0]!.deleteEntry('t', 'n', 'k')
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'k') === undefined))
    const stats = (i: number): { entries: number, tombstones: number } => cl.nodes[i]!.diagnostics().networks[0]!.tables.find(t => t.table === 't') ?? { entries: 0, tombstones: 0 }
    for (let i = 0; i < 3; i++) assert.equal(stats(i).tombstones, 1, `node ${i} holds the tombstone`)
    await cl.advance(62_000)
    for (let i = 0; i < 3; i++) assert.equal(stats(i).tombstones, 0, `node ${i} reaped the tombstone`)
    // after the reap the key can be created again and replicates
    await cl.nodes[1]!.createEntry('t', 'n', 'k', enc('again'))
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'k')?.owner === cl.ids[1]))
  })

  it('watchers get create, update and delete with prev values, and synthetic creates first', async () => {
    const cl = await cluster(2)
    await cl.nodes[0]!.createEntry('t', 'n', 'a', enc('1'))
    await until(cl, () => cl.nodes[1]!.getEntry('t', 'n', 'a') !== undefined)
    const seen: string[] = []
    const stop = cl.nodes[1]!.watch('t', 'n', ev => { seen.push(`${ev.kind}:${ev.key}:${ev.prev === undefined ? '-' : new TextDecoder().decode(ev.prev)}:${ev.value === undefined ? '-' : new TextDecoder().decode(ev.value)}`) })
    await cl.nodes[0]!.updateEntry('t', 'n', 'a', enc('2'))
    await cl.advance(100)
    await cl.nodes[0]!.deleteEntry('t', 'n', 'a')
    await cl.advance(100)
    stop()
    await cl.nodes[0]!.createEntry('t', 'n', 'b', enc('3'))
    await cl.advance(100)
    assert.deepEqual(seen, ['create:a:-:1', 'update:a:1:2', 'delete:a:2:-'])
  })

  it('bad input is a clear error and changes nothing', async () => {
    const cl = await cluster(2)
    const n = cl.nodes[0]!
    await assert.rejects(n.createEntry('t', 'other', 'k', enc('v')), { name: 'NotInNetworkError' })
    await assert.rejects(n.createEntry('', 'n', 'k', enc('v')), { name: 'InvalidArgumentError' })
    await assert.rejects(n.createEntry('t', 'n', 'k', new Uint8Array(70_000)), { name: 'InvalidArgumentError' })
    await assert.rejects(n.updateEntry('t', 'n', 'missing', enc('v')), { name: 'EntryNotFoundError' })
    await assert.rejects(n.deleteEntry('t', 'n', 'missing'), { name: 'EntryNotFoundError' })
    await n.createEntry('t', 'n', 'k', enc('v'))
    await assert.rejects(n.createEntry('t', 'n', 'k', enc('w')), { name: 'EntryExistsError' })
    assert.equal(n.walkTable('t', 'n').length, 1)
    assert.equal(n.getEntry('t', 'n', 'k')?.value.toString(), enc('v').toString())
  })

  it('two halves partitioned, written on both sides, healed -> identical digests', async () => {
    const cl = await cluster(6)
    await cl.nodes[0]!.createEntry('t', 'n', 'before', enc('x'))
    await cl.advance(500)
    cl.partition([0, 1, 2], [3, 4, 5])
    for (let i = 0; i < 6; i++) await cl.nodes[i]!.createEntry('t', 'n', `during-${i}`, enc(`${i}`))
    await cl.nodes[0]!.deleteEntry('t', 'n', 'before')
    await cl.advance(5000)
    // each side declared the other failed: the other side's entries are hidden
    assert.equal(cl.nodes[0]!.walkTable('t', 'n').length, 3)
    assert.equal(cl.nodes[3]!.walkTable('t', 'n').length, 3)
    cl.heal()
    await until(cl, () => new Set(digests(cl, 'n').values()).size === 1 && cl.nodes[0]!.walkTable('t', 'n').length === 6)
    for (let i = 0; i < 6; i++) {
      assert.deepEqual(Object.keys(table(cl, i, 't', 'n')).sort(), [0, 1, 2, 3, 4, 5].map(j => `during-${j}`).sort())
      assert.ok(cl.nodes[i]!.members().every(m => m.status === 'alive'), `node ${i} sees everyone alive`)
    }
  })

  it('a killed node is purged everywhere within the failure timeout, and comes back with its entries', async () => {
    const cl = await cluster(5)
    await cl.nodes[4]!.createEntry('t', 'n', 'mine', enc('4'))
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'mine') !== undefined))
    const id4 = cl.ids[4]!
    await cl.kill(4)
    const took = await until(cl, () => live(cl).every(i => cl.nodes[i]!.getEntry('t', 'n', 'mine') === undefined && cl.nodes[i]!.member(id4)?.status === 'failed'), 10_000, 50)
    assert.ok(took <= 3000, `purged after ${took} ms of virtual time (default failure timeout must be <= 3 s)`)
    assert.ok(live(cl).every(i => !cl.nodes[i]!.peers('n').includes(id4)))
    const back = await cl.restart(4)
    assert.equal(back.nodeId, id4)
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'mine')?.owner === id4 && n.peers('n').length === 5))
    assert.equal(new Set(digests(cl, 'n').values()).size, 1)
  })

  it('a graceful leave removes the node and its entries at once', async () => {
    const cl = await cluster(4)
    await cl.nodes[3]!.createEntry('t', 'n', 'x', enc('3'))
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'x') !== undefined))
    await driven(cl.clock, async () => { await cl.nodes[3]!.leave() })
    await cl.kill(3)
    await cl.advance(100)
    for (const i of live(cl)) {
      assert.equal(cl.nodes[i]!.getEntry('t', 'n', 'x'), undefined)
      assert.equal(cl.nodes[i]!.member(cl.ids[3]!)?.status, 'left')
    }
  })

  it('a late joiner of a network gets the whole table in one bulk sync', async () => {
    const cl = await cluster(3)
    for (let k = 0; k < 1000; k++) await cl.nodes[k % 2]!.createEntry('t', 'n', `k${k}`, enc(`${k}`))
    await until(cl, () => cl.nodes.every(n => n.walkTable('t', 'n').length === 1000))
    await driven(cl.clock, async () => { await cl.nodes[2]!.leaveNetwork('n') })
    assert.equal(cl.nodes[2]!.walkTable('t', 'n').length, 0)
    await driven(cl.clock, async () => { await cl.nodes[2]!.joinNetwork('n') })
    // joinNetwork resolves after the bulk sync: everything is there already
    assert.equal(cl.nodes[2]!.walkTable('t', 'n').length, 1000)
  })

  it('anti-entropy repairs what a lossy network dropped', async () => {
    c = await createMemoryCluster(5, { seed: 11, config: { bulkSyncIntervalMs: 2000 } })
    const cl = c
    for (const node of cl.nodes) await driven(cl.clock, async () => { await node.joinNetwork('n') })
    await until(cl, () => cl.nodes.every(x => x.peers('n').length === 5))
    cl.net.loss = 0.1
    await cl.advance(2000) // start just after a sync round
    for (let k = 0; k < 50; k++) await cl.nodes[k % 5]!.createEntry('t', 'n', `k${k}`, enc(`${k}`))
    await cl.advance(100)
    const missing = cl.nodes.reduce((sum, n) => sum + 50 - n.walkTable('t', 'n').length, 0)
    assert.ok(missing > 0, 'the lossy network dropped some gossip')
    await until(cl, () => cl.nodes.every(n => n.walkTable('t', 'n').length === 50), 60_000)
    assert.equal(new Set(digests(cl, 'n').values()).size, 1)
    assert.ok(cl.nodes.some(n => n.stats().bulkSyncEntries > 0), 'bulk sync carried the repair')
  })

  it('only nodes in a network receive its entries', async () => {
    const cl = await cluster(3)
    await driven(cl.clock, async () => { await cl.nodes[0]!.joinNetwork('private') })
    await driven(cl.clock, async () => { await cl.nodes[1]!.joinNetwork('private') })
    await cl.nodes[0]!.createEntry('t', 'private', 'secret', enc('s'))
    await until(cl, () => cl.nodes[1]!.getEntry('t', 'private', 'secret') !== undefined)
    assert.deepEqual(cl.nodes[0]!.peers('private'), [cl.ids[0], cl.ids[1]].sort())
    assert.equal(cl.nodes[2]!.walkTable('t').length, 0)
    assert.equal(cl.nodes[2]!.networks().includes('private'), false)
  })

  it('takeover replaces the entry of another owner under the new owner name; deletes say why', async () => {
    const cl = await cluster(3)
    const reasons: string[] = []
    // a takeover table (networkdb/trust.ts): elsewhere a key stays its owner's
    for (const t of ['t', 'network_table']) cl.nodes[2]!.watch(t, 'n', ev => { if (ev.kind === 'delete') reasons.push(`${ev.key}:${ev.reason}`) })
    await cl.nodes[1]!.createEntry('network_table', 'n', 'net', enc('def'))
    await until(cl, () => cl.nodes.every(n => n.getEntry('network_table', 'n', 'net') !== undefined))
    await assert.rejects(cl.nodes[0]!.updateEntry('network_table', 'n', 'net', enc('x')), { name: 'NotOwnerError' })
    await cl.nodes[0]!.updateEntry('network_table', 'n', 'net', enc('def2'), { takeover: true })
    await until(cl, () => cl.nodes.every(n => n.getEntry('network_table', 'n', 'net')?.owner === cl.ids[0]))
    assert.equal(table(cl, 2, 'network_table', 'n').net, 'def2')
    await cl.nodes[1]!.deleteEntry('network_table', 'n', 'net', { takeover: true })
    await until(cl, () => cl.nodes.every(n => n.getEntry('network_table', 'n', 'net') === undefined))
    await cl.nodes[0]!.createEntry('t', 'n', 'mine', enc('0'))
    await until(cl, () => cl.nodes[2]!.getEntry('t', 'n', 'mine') !== undefined)
    await cl.kill(0)
    await until(cl, () => cl.nodes[2]!.getEntry('t', 'n', 'mine') === undefined, 10_000)
    assert.deepEqual(reasons, ['net:deleted', 'mine:owner-failed'])
  })
})
