/**
 * Found by the chaos kit (deploy/chaos): a node partitioned long enough to declare the other side
 * failed hides that side's entries ("owner-failed": they may come back). If those entries were
 * deleted meanwhile, the tombstones arriving after the heal must be announced as deletions;
 * before the fix the watchers were never told, and a network removed during the partition stayed
 * listed on the partitioned node forever.
 */
import assert from 'node:assert/strict'
import { createMemoryCluster, driven, type MemoryCluster } from '../../networkdb/index.js'
import { enc, until } from './helpers.js'

describe('NetworkDB: entries hidden by a partition and deleted meanwhile', function () {
  let c: MemoryCluster | undefined
  afterEach(async () => { await c?.close(); c = undefined })

  it('a tombstone replacing a hidden entry is announced as a deletion', async () => {
    c = await createMemoryCluster(3, { seed: 5 })
    const cl = c
    for (const node of cl.nodes) await driven(cl.clock, async () => { await node.joinNetwork('n') })
    const events: string[] = []
    cl.nodes[0]!.watch('t', 'n', ev => { events.push(`${ev.kind}:${ev.key}${ev.reason === undefined ? '' : `:${ev.reason}`}`) })
    await cl.nodes[1]!.createEntry('t', 'n', 'k', enc('v'))
    await until(cl, () => cl.nodes[0]!.getEntry('t', 'n', 'k') !== undefined)

    cl.partition([0], [1, 2])
    await cl.nodes[1]!.deleteEntry('t', 'n', 'k')
    await until(cl, () => cl.nodes[0]!.members().find(m => m.id === cl.ids[1])?.status === 'failed', 30_000)
    cl.heal()
    await until(cl, () => cl.nodes[0]!.members().every(m => m.status === 'alive'), 30_000)
    await cl.advance(20_000)

    assert.equal(cl.nodes[0]!.getEntry('t', 'n', 'k'), undefined)
    assert.deepEqual(events, ['create:k', 'delete:k:owner-failed', 'delete:k:deleted'])
  })

  it('a tombstone from a failed writer replacing a visible entry says "deleted", not "owner-failed"', async () => {
    c = await createMemoryCluster(3, { seed: 9 })
    const cl = c
    for (const node of cl.nodes) await driven(cl.clock, async () => { await node.joinNetwork('n') })
    const reasons: string[] = []
    cl.nodes[0]!.watch('network_table', 'n', ev => { if (ev.kind === 'delete') reasons.push(`${ev.key}:${ev.reason ?? '-'}`) })
    await cl.nodes[0]!.createEntry('network_table', 'n', 'mine', enc('v'))
    await until(cl, () => cl.nodes[1]!.getEntry('network_table', 'n', 'mine') !== undefined)

    // Node 1 takes node 0's entry over and deletes it while node 0 cannot hear it.
    cl.partition([0], [1, 2])
    await cl.nodes[1]!.deleteEntry('network_table', 'n', 'mine', { takeover: true })
    await until(cl, () => cl.nodes[0]!.members().find(m => m.id === cl.ids[1])?.status === 'failed', 30_000)
    cl.heal()
    await until(cl, () => cl.nodes[0]!.getEntry('network_table', 'n', 'mine') === undefined, 30_000)
    assert.deepEqual(reasons, ['mine:deleted'])
  })
})
