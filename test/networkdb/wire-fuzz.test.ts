import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  decodeGossip, decodeRequest, decodeResponse, encodeGossip, encodeRequest, encodeResponse, pack, WireError,
  type GossipMessage
} from '../../proto/index.js'

const decoders = [decodeGossip, decodeRequest, decodeResponse]

function onlyWireErrors (bytes: Uint8Array): void {
  for (const d of decoders) {
    try {
      d(bytes)
    } catch (err) {
      if (!(err instanceof WireError)) throw new Error(`decoder threw ${String(err)} for ${Buffer.from(bytes).toString('hex')}`)
    }
  }
}

const samples: Uint8Array[] = [
  encodeGossip({ t: 'node', b: { kind: 'alive', node: 'a', name: 'n', advertise: '10.0.0.1', addrs: ['x'], inc: 3 } }),
  encodeGossip({ t: 'net', b: { node: 'a', nid: 'n', ltime: 4, join: true } }),
  encodeGossip({ t: 'tables', b: { nid: 'n', entries: [{ table: 't', key: 'k', owner: 'a', ltime: 1, deleted: false, value: new Uint8Array([1, 2]), reapIn: 0 }] } } satisfies GossipMessage),
  encodeRequest({ t: 'sync', b: { nid: 'n', buckets: 2, hashes: [1, 2, 3, 4], count: 9 } }),
  encodeRequest({ t: 'pingreq', b: { target: 'b', timeoutMs: 300 } }),
  encodeResponse({ t: 'entries', b: { nid: 'n', entries: [], want: [0, 1] } }),
  encodeResponse({ t: 'ack', b: { ok: true, detail: '' } })
]

describe('wire decoders', function () {
  it('round-trip every message type', () => {
    assert.deepEqual(decodeGossip(samples[1]!), { t: 'net', b: { node: 'a', nid: 'n', ltime: 4, join: true } })
    assert.deepEqual(decodeRequest(samples[3]!).b, { nid: 'n', buckets: 2, hashes: [1, 2, 3, 4], count: 9 })
    const t = decodeGossip(samples[2]!)
    assert.equal(t.t, 'tables')
  })

  it('reject unknown versions, unknown types, bad shapes and oversize frames with WireError', () => {
    assert.throws(() => decodeGossip(pack({ v: 2, t: 'node', b: {} })), (e: unknown) => e instanceof WireError && e.reason === 'version')
    assert.throws(() => decodeGossip(pack({ v: 1, t: 'bogus', b: {} })), (e: unknown) => e instanceof WireError && e.reason === 'type')
    assert.throws(() => decodeRequest(pack({ v: 1, t: 'sync', b: { nid: 'n', buckets: 3, hashes: [0, 0, 0, 0, 0, 0], count: 0 } })), (e: unknown) => e instanceof WireError && e.reason === 'shape')
    assert.throws(() => decodeGossip(new Uint8Array(5 * 1024 * 1024)), (e: unknown) => e instanceof WireError && e.reason === 'oversize')
  })

  it('random bytes never throw anything but WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), bytes => { onlyWireErrors(bytes) }), { numRuns: 3000 })
  })

  it('mutated valid frames never throw anything but WireError', () => {
    const mutated = fc.tuple(fc.constantFrom(...samples), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), fc.nat())
      .map(([base, flips, cut]) => {
        const b = base.slice()
        for (const [pos, val] of flips) b[pos % b.length] = val
        return b.slice(0, Math.max(1, b.length - (cut % 4)))
      })
    fc.assert(fc.property(mutated, bytes => { onlyWireErrors(bytes) }), { numRuns: 5000 })
  })

  it('random msgpack values in an envelope never throw anything but WireError', () => {
    fc.assert(fc.property(fc.constantFrom('node', 'net', 'tables', 'sync', 'push', 'pingreq', 'pushpull', 'entries', 'ack'), fc.anything(), (t, b) => {
      onlyWireErrors(pack({ v: 1, t, b }))
    }), { numRuns: 3000 })
  })
})
