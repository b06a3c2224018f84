import assert from 'node:assert/strict'
import { encodeGossip, pack } from '../../proto/index.js'
import { createMemoryCluster, driven, networkTopic, type MemoryCluster } from '../../networkdb/index.js'
import { enc, until } from './helpers.js'

describe('NetworkDB ownership and bad frames', function () {
  let c: MemoryCluster | undefined
  afterEach(async () => { await c?.close(); c = undefined })

  async function cluster (): Promise<MemoryCluster> {
    c = await createMemoryCluster(3, { seed: 5 })
    const cl = c
    for (const node of cl.nodes) await driven(cl.clock, async () => { await node.joinNetwork('n') })
    await until(cl, () => cl.nodes.every(x => x.peers('n').length === 3))
    return cl
  }

  it('a gossiped entry that claims another owner is rejected and counted', async () => {
    const cl = await cluster()
    await cl.nodes[1]!.createEntry('t', 'n', 'k', enc('real'))
    await until(cl, () => cl.nodes[0]!.getEntry('t', 'n', 'k') !== undefined)
    // node 2 forges an update of node 1's entry, at a higher Lamport time
    const forged = encodeGossip({ t: 'tables', b: { nid: 'n', entries: [{ table: 't', key: 'k', owner: cl.ids[1]!, ltime: 1000, deleted: false, value: enc('forged'), reapIn: 0 }] } })
    await cl.net.node(cl.ids[2]!)!.publish(networkTopic('n'), forged)
    await cl.advance(100)
    assert.equal(new TextDecoder().decode(cl.nodes[0]!.getEntry('t', 'n', 'k')!.value), 'real')
    assert.equal(cl.nodes[0]!.stats().rejected, 1)
    // and a forged "alive" for another node
    const fake = encodeGossip({ t: 'node', b: { kind: 'left', node: cl.ids[1]!, name: 'x', advertise: '', addrs: [], inc: 1e15 } })
    await cl.net.node(cl.ids[2]!)!.publish('ovnet/1/cluster', fake)
    await cl.advance(100)
    assert.equal(cl.nodes[0]!.member(cl.ids[1]!)?.status, 'alive')
    assert.equal(cl.nodes[0]!.stats().rejected, 2)
  })

  it('garbage, truncated and unknown-version frames are dropped with a counter, never a crash', async () => {
    const cl = await cluster()
    const t2 = cl.net.node(cl.ids[2]!)!
    const good = encodeGossip({ t: 'tables', b: { nid: 'n', entries: [{ table: 't', key: 'k', owner: cl.ids[2]!, ltime: 5, deleted: false, value: enc('v'), reapIn: 0 }] } })
    const frames = [
      new Uint8Array([0xc1]),
      good.slice(0, good.length - 3),
      pack({ v: 1, t: 'tables', b: { nid: 'n', entries: 'nope' } }),
      new Uint8Array([0x83, 0xa1, 0x76, 0x63]) // {v: 99 ...} truncated map
    ]
    for (const f of frames) await t2.publish(networkTopic('n'), f)
    await cl.advance(100)
    assert.ok(cl.nodes[0]!.stats().dropped >= frames.length - 1)
    // the node still works
    await t2.publish(networkTopic('n'), good)
    await cl.advance(100)
    assert.equal(cl.nodes[0]!.getEntry('t', 'n', 'k')?.owner, cl.ids[2])
  })
})
