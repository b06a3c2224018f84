import assert from 'node:assert/strict'
import { decodeRemovalRecord, encodeEnvelope, encodeNetworkRecord, encodeRemovalRecord, WireError } from '../../proto/index.js'

const json = (o: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(o))

describe('proto: the network removal record (msgpack envelope like every replicated record)', () => {
  it('round-trips with and without a subnet', () => {
    const r = { nid: 'a'.repeat(64), name: 'red', removedAt: 1_700_000_000_000, subnet: '10.0.0.0/24' }
    assert.deepEqual(decodeRemovalRecord(encodeRemovalRecord(r)), r)
    const { subnet: _s, ...bare } = r
    assert.deepEqual(decodeRemovalRecord(encodeRemovalRecord(bare)), bare)
    assert.notEqual(encodeRemovalRecord(r)[0], 0x7b, 'msgpack, not JSON text')
  })

  it('refuses other records and bad shapes (msgpack and JSON forms) with a WireError', () => {
    const network = encodeNetworkRecord({
      id: 'a'.repeat(64), name: 'red', created: 1, subnet: '10.0.0.0/24', gateway: '', ipRange: '', vni: 4097,
      internal: false, attachable: false, options: {}, labels: {}
    })
    const bad = [
      network,
      encodeEnvelope('removal', { nid: 'a', name: 'red', removedAt: -1 }),
      encodeEnvelope('removal', { nid: 'a'.repeat(129), name: 'red', removedAt: 1 }),
      encodeEnvelope('removal', { nid: 'a', name: 'red', removedAt: 1, subnet: 'x'.repeat(65) }),
      json({ v: 2, nid: 'a', name: 'red', removedAt: 1 }),
      json({ v: 1, nid: 'a', name: 'red', removedAt: 1.5 }),
      json({ v: 1, nid: 7, name: 'red', removedAt: 1 }),
      json({ v: 1, nid: 'a', name: 'red', removedAt: 1, subnet: 'x'.repeat(65) }),
      new TextEncoder().encode('{"v":1,'),
      json([1, 2])
    ]
    for (const b of bad) assert.throws(() => decodeRemovalRecord(b), WireError)
  })

  it('reads the JSON form written by agents before the msgpack record (stores and peers during an upgrade)', () => {
    assert.deepEqual(decodeRemovalRecord(json({ v: 1, nid: 'a', name: 'red', removedAt: 1 })),
      { nid: 'a', name: 'red', removedAt: 1 })
    assert.deepEqual(decodeRemovalRecord(json({ v: 1, nid: 'a', name: 'red', removedAt: 5, subnet: '10.0.0.0/24' })),
      { nid: 'a', name: 'red', removedAt: 5, subnet: '10.0.0.0/24' })
  })
})
