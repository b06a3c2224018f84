import assert from 'node:assert/strict'
import { createMemoryCluster, driven, JOIN_ANNOUNCE_MAX_DELAY_MS, type MemoryCluster } from '../../networkdb/index.js'
import type { MemoryTransport } from '../../networkdb/memory-transport.js'
import { decodeGossip, decodeRequest } from '../../proto/index.js'
import { enc, until } from './helpers.js'

/**
 * A network join is announced to the cluster once the join's bulk sync is in (the announcement
 * wakes every member; it must not compete with the sync), and at the latest after
 * JOIN_ANNOUNCE_MAX_DELAY_MS when a sync hangs.
 */
describe('NetworkDB network join announcement', function () {
  let c: MemoryCluster | undefined
  afterEach(async () => { await c?.close(); c = undefined })

  /** Record, in virtual time, when node i's sync answers arrive and when it announces a join. */
  function spy (cl: MemoryCluster, i: number, syncDelayMs = 0): { syncAnswered: number[], announced: number[] } {
    const t = cl.net.node(cl.ids[i]!) as MemoryTransport
    const rec = { syncAnswered: [] as number[], announced: [] as number[] }
    const request = t.request.bind(t)
    t.request = async (peer, data, timeoutMs) => {
      const frames = await request(peer, data, timeoutMs)
      if (decodeRequest(data).t === 'sync') {
        if (syncDelayMs > 0) await new Promise<void>(resolve => { cl.clock.setTimeout(resolve, syncDelayMs) })
        rec.syncAnswered.push(cl.clock.now())
      }
      return frames
    }
    const publish = t.publish.bind(t)
    t.publish = async (topic, data) => {
      const m = decodeGossip(data)
      if (m.t === 'net' && m.b.join) rec.announced.push(cl.clock.now())
      await publish(topic, data)
    }
    return rec
  }

  async function threeNodes (): Promise<MemoryCluster> {
    c = await createMemoryCluster(3, { seed: 5 })
    const cl = c
    await until(cl, () => cl.nodes.every(n => n.members().filter(m => m.status === 'alive').length === 3))
    await driven(cl.clock, async () => { await cl.nodes[0]!.joinNetwork('n') })
    for (let k = 0; k < 100; k++) await cl.nodes[0]!.createEntry('t', 'n', `k${k}`, enc(`v${k}`))
    await until(cl, () => cl.nodes[2]!.peers('n').length === 1)
    return cl
  }

  it('goes out once the join\'s bulk sync is in, and before joinNetwork resolves', async () => {
    const cl = await threeNodes()
    const s = spy(cl, 1)
    const t0 = cl.clock.now()
    await driven(cl.clock, async () => { await cl.nodes[1]!.joinNetwork('n') })
    assert.equal(cl.nodes[1]!.walkTable('t', 'n').length, 100)
    assert.equal(s.syncAnswered.length, 1)
    assert.equal(s.announced.length, 1)
    assert.ok(s.announced[0]! >= s.syncAnswered[0]!, `announced at ${s.announced[0]! - t0} ms, sync answered at ${s.syncAnswered[0]! - t0} ms`)
    await until(cl, () => cl.nodes[2]!.peers('n').length === 2, 100, 1)
    // the node itself counts itself in at once
    assert.deepEqual(cl.nodes[1]!.peers('n').sort(), [cl.ids[0], cl.ids[1]].sort())
  })

  it(`goes out after at most ${JOIN_ANNOUNCE_MAX_DELAY_MS} ms when the sync hangs`, async () => {
    const cl = await threeNodes()
    const s = spy(cl, 1, 3000)
    const t0 = cl.clock.now()
    let joined = false
    const join = cl.nodes[1]!.joinNetwork('n').then(() => { joined = true })
    await cl.advance(JOIN_ANNOUNCE_MAX_DELAY_MS - 50)
    assert.equal(s.announced.length, 0)
    assert.equal(cl.nodes[2]!.peers('n').length, 1)
    await cl.advance(60)
    assert.deepEqual(s.announced.map(t => t - t0), [JOIN_ANNOUNCE_MAX_DELAY_MS])
    await until(cl, () => cl.nodes[2]!.peers('n').length === 2, 100, 1)
    assert.equal(joined, false)
    await cl.advance(3000)
    await join
    assert.equal(s.announced.length, 1, 'announced once')
    assert.equal(cl.nodes[1]!.walkTable('t', 'n').length, 100)
  })

  it('a leave before the delayed announcement is not undone by it', async () => {
    const cl = await threeNodes()
    const s = spy(cl, 1, 3000)
    const join = cl.nodes[1]!.joinNetwork('n')
    await cl.advance(100)
    await driven(cl.clock, async () => { await cl.nodes[1]!.leaveNetwork('n') })
    await cl.advance(4000)
    await join
    assert.equal(s.announced.length, 0)
    assert.equal(cl.nodes[2]!.peers('n').length, 1)
    assert.deepEqual(cl.nodes[1]!.networks(), [])
  })
})
