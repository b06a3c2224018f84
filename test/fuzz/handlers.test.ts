import assert from 'node:assert/strict'
import { fuzzHandlers } from './handlers.js'

describe('fuzz (bounded run): NetworkDB message handlers', function () {
  this.timeout(300_000)
  it('3,000 frames to the gossip and request handlers: no crash or hang; rejected frames change nothing and are counted; accepted ones keep the trust rules', async () => {
    const r = await fuzzHandlers(3000, 7)
    assert.equal(r.frames, 3000)
    for (const [kind, outcomes] of [['gossip', r.gossip], ['requests', r.requests]] as const) {
      for (const o of ['dropped', 'accepted', kind === 'gossip' ? 'rejected' : 'refused'] as const) {
        assert.ok(outcomes[o] > 0, `${kind}: some frames ${o}: ${JSON.stringify(outcomes)}`)
      }
    }
  })
})
