import assert from 'node:assert/strict'
import { createMemoryCluster, driven, type MemoryCluster } from '../../networkdb/index.js'
import { JOIN_SYNC_HEDGE_MS } from '../../networkdb/join-sync.js'
import type { MemoryTransport } from '../../networkdb/memory-transport.js'
import { decodeRequest } from '../../proto/index.js'
import { enc, until } from './helpers.js'

/**
 * A joiner asks every member at once for the entries it owns (networkdb/trust.ts: an entry is
 * stored only from its owner), so the table arrives once, not once per member.
 */
describe('NetworkDB join sync', function () {
  let c: MemoryCluster | undefined
  afterEach(async () => { await c?.close(); c = undefined })

  async function network (members: number, total: number, entries: number): Promise<MemoryCluster> {
    c = await createMemoryCluster(total, { seed: 9 })
    const cl = c
    await until(cl, () => cl.nodes.every(n => n.members().filter(m => m.status === 'alive').length === total))
    for (let i = 0; i < members; i++) await driven(cl.clock, async () => { await cl.nodes[i]!.joinNetwork('n') })
    for (let k = 0; k < entries; k++) await cl.nodes[k % members]!.createEntry('t', 'n', `k${k}`, enc(`v${k}`))
    await until(cl, () => cl.nodes.slice(0, members).every(n => n.walkTable('t', 'n').length === entries))
    return cl
  }

  /** Record node i's sync requests (peers asked); with `failFirst`, the first one fails. */
  function countSyncs (cl: MemoryCluster, i: number, failFirst: false | 'fail' | 'hang' = false): { requests: string[] } {
    const t = cl.net.node(cl.ids[i]!) as MemoryTransport
    const rec = { requests: [] as string[] }
    const request = t.request.bind(t)
    t.request = async (peer, data, timeoutMs, onFrame) => {
      if (decodeRequest(data).t === 'sync') {
        rec.requests.push(peer)
        if (failFirst === 'fail' && rec.requests.length === 1) throw new Error(`request to ${peer}: connection refused`)
        if (failFirst === 'hang' && rec.requests.length === 1) return await new Promise<Uint8Array[]>(() => {})
      }
      return await request(peer, data, timeoutMs, onFrame)
    }
    return rec
  }

  /** Entries of the network (as node 0 holds them) not owned by `owner`. */
  const heldExceptOwner = (cl: MemoryCluster, owner: string): number => cl.nodes[0]!.walkTable('t', 'n').filter(e => e.owner !== owner).length

  it('a joiner of a network of 5 members receives the table once, and asks every member', async () => {
    const cl = await network(5, 6, 300)
    const s = countSyncs(cl, 5)
    const before = cl.nodes[5]!.stats().bulkSyncEntries
    await driven(cl.clock, async () => { await cl.nodes[5]!.joinNetwork('n') })
    assert.equal(cl.nodes[5]!.walkTable('t', 'n').length, 300)
    assert.equal(cl.nodes[5]!.stats().bulkSyncEntries - before, 300, 'each entry arrived once')
    assert.deepEqual([...s.requests].sort(), cl.ids.slice(0, 5).sort(), 'one sync with every member')
  })

  it('what only one member holds arrives from it', async () => {
    const cl = await network(3, 4, 50)
    // node 2 holds an entry nobody else heard of (its gossip was lost)
    cl.partition([0, 1, 3], [2])
    await cl.nodes[2]!.createEntry('t', 'n', 'only-on-2', enc('x'))
    await cl.advance(20)
    cl.heal()
    assert.equal(cl.nodes[0]!.getEntry('t', 'n', 'only-on-2'), undefined)
    assert.equal(cl.nodes[1]!.getEntry('t', 'n', 'only-on-2'), undefined)
    countSyncs(cl, 3)
    await driven(cl.clock, async () => { await cl.nodes[3]!.joinNetwork('n') })
    assert.equal(cl.nodes[3]!.walkTable('t', 'n').length, 51)
    assert.ok(cl.nodes[3]!.getEntry('t', 'n', 'only-on-2') !== undefined)
  })

  it('when the first member asked fails, the others give their entries, its own come once it answers', async () => {
    const cl = await network(3, 4, 100)
    const s = countSyncs(cl, 3, 'fail')
    const before = cl.nodes[3]!.stats().bulkSyncEntries
    await driven(cl.clock, async () => { await cl.nodes[3]!.joinNetwork('n') })
    assert.equal(s.requests.length, 3, 'the failed member, the one that gave the table, the last one for digests')
    // each member gives its own entries only (networkdb/trust.ts): the failed one's come later
    const others = heldExceptOwner(cl, s.requests[0]!)
    assert.equal(cl.nodes[3]!.walkTable('t', 'n').length, others)
    assert.equal(cl.nodes[3]!.stats().bulkSyncEntries - before, others)
    await until(cl, () => cl.nodes[3]!.walkTable('t', 'n').length === 100, 20_000)
  })

  it('when one member never answers, the join waits a second for it, not the request timeout', async () => {
    const cl = await network(3, 4, 100)
    const s = countSyncs(cl, 3, 'hang')
    const t0 = cl.clock.now()
    await driven(cl.clock, async () => { await cl.nodes[3]!.joinNetwork('n') })
    assert.equal(cl.nodes[3]!.walkTable('t', 'n').length, heldExceptOwner(cl, s.requests[0]!))
    assert.equal(s.requests.length, 3)
    const took = cl.clock.now() - t0
    assert.ok(took >= JOIN_SYNC_HEDGE_MS && took < JOIN_SYNC_HEDGE_MS + 500, `joined after ${took} ms of virtual time`)
    await until(cl, () => cl.nodes[3]!.walkTable('t', 'n').length === 100, 20_000)
  })
})
