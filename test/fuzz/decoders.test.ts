import assert from 'node:assert/strict'
import { fuzzDecoders } from './decoders.js'

describe('fuzz (bounded run): every proto decoder and the request/response framing', function () {
  this.timeout(120_000)
  it('3,000 random and mutated frames: only WireError/FrameError, accepted values round-trip', async () => {
    const r = await fuzzDecoders(3000, 7)
    assert.equal(r.frames, 3000)
    assert.ok(Object.values(r.accepted).every(n => n > 0), `every decoder accepted some frames: ${JSON.stringify(r.accepted)}`)
  })
})
