/** Endpoint records with and without aliases: the optional field keeps both wires decoding. */
import assert from 'node:assert/strict'
import { decodeEndpointRecord, encodeEndpointRecord, encodeEnvelope, MAX_ALIASES, type EndpointRecord } from '../../proto/index.js'

const base: EndpointRecord = {
  nid: 'n'.repeat(64), eid: 'e'.repeat(64), name: 'web1', ip: '10.0.0.2/24', mac: '02:42:0a:00:00:02', node: 'h1', nodeId: 'id1', vtep: '192.0.2.1'
}

describe('endpoint record aliases (proto/agent.ts)', function () {
  it('a record of a writer that predates aliases decodes without them', () => {
    const old = encodeEnvelope('endpoint', { ...base })
    assert.deepEqual(decodeEndpointRecord(old), base)
  })
  it('without aliases the encoding is the previous wire byte for byte', () => {
    assert.deepEqual(encodeEndpointRecord({ ...base, aliases: [] }), encodeEnvelope('endpoint', { ...base }))
    assert.deepEqual(encodeEndpointRecord(base), encodeEnvelope('endpoint', { ...base }))
  })
  it('aliases round-trip; a decoder that ignores unknown fields still reads the rest', () => {
    const r = { ...base, aliases: ['web', 'cache'] }
    assert.deepEqual(decodeEndpointRecord(encodeEndpointRecord(r)), r)
  })
  it('bad aliases are refused', () => {
    assert.throws(() => decodeEndpointRecord(encodeEnvelope('endpoint', { ...base, aliases: 'web' })))
    assert.throws(() => decodeEndpointRecord(encodeEnvelope('endpoint', { ...base, aliases: [1] })))
    assert.throws(() => decodeEndpointRecord(encodeEnvelope('endpoint', { ...base, aliases: Array(MAX_ALIASES + 1).fill('a') })))
  })
})
