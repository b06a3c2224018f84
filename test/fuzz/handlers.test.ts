import assert from 'node:assert/strict'
import { decodeResponse, encodeRequest } from '../../proto/index.js'
import { makeWorld, NID, NID3, STRANGER } from './handler-world.js'
import { fuzzHandlers } from './handlers.js'

describe('fuzz (bounded run): NetworkDB message handlers', function () {
  this.timeout(300_000)
  it('3,000 frames to the gossip and request handlers: no crash or hang; rejected frames change nothing and are ' +
    'counted; accepted ones keep the trust rules', async () => {
    const r = await fuzzHandlers(3000, 7)
    assert.equal(r.frames, 3000)
    assert.ok(r.answers.dropped > 0 && r.answers.decoded > 0, JSON.stringify(r.answers))
    for (const [kind, outcomes] of [['gossip', r.gossip], ['requests', r.requests]] as const) {
      for (const o of ['dropped', 'accepted', kind === 'gossip' ? 'rejected' : 'refused'] as const) {
        assert.ok(outcomes[o] > 0, `${kind}: some frames ${o}: ${JSON.stringify(outcomes)}`)
      }
    }
  })
})

describe('refused requests are counted (found by the handler fuzz)', function () {
  this.timeout(60_000)
  it('a push from a non-member, a sync of a network not held: ack ok=false, one rejection each', async () => {
    const w = await makeWorld()
    try {
      const value = new Uint8Array([1])
      const e = { table: 't', key: 'k9', owner: STRANGER, ltime: 5, deleted: false, value, reapIn: 0 }
      const push = encodeRequest({ t: 'push', b: { nid: NID, entries: [e] } })
      const sync = encodeRequest({ t: 'sync', b: { nid: NID3, buckets: 1, hashes: [0, 0], count: 0 } })
      for (const [frame, reason] of [[push, 'not-member'], [sync, 'not-in-network']] as const) {
        const before = w.metrics.get('ovnet_networkdb_rejected_messages_total', { reason })
        const answer = [...await w.handlers.onRequest(STRANGER, frame)].map(f => decodeResponse(f))
        assert.equal(answer.length, 1)
        assert.ok(answer[0]!.t === 'ack' && !answer[0]!.b.ok, JSON.stringify(answer))
        assert.equal(w.metrics.get('ovnet_networkdb_rejected_messages_total', { reason }), before + 1, reason)
      }
      assert.equal(w.target.getEntry('t', NID, 'k9'), undefined)
    } finally {
      await w.close()
    }
  })
})
