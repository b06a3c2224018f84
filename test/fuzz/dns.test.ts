import assert from 'node:assert/strict'
import { fuzzDns } from './dns.js'

describe('fuzz (bounded run): the embedded DNS resolver\'s parse/answer path', function () {
  this.timeout(120_000)
  it('5,000 random and mutated packets: never a throw; every answer decodes, carries the id, fits UDP', async () => {
    const r = await fuzzDns(5000, 11)
    assert.equal(r.packets, 5000)
    assert.ok(r.answered > 500 && r.dropped > 500 && r.forwarded > 100, JSON.stringify(r))
  })
})
