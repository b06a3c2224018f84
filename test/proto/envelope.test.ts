import assert from 'node:assert/strict'
import {
  decodeEndpointRecord, decodeGossip, decodeIpamRecord, decodeNetworkRecord, decodePeerRecord, decodeRequest,
  decodeResponse, decodeVniClaim, pack, WireError
} from '../../proto/index.js'

const decoders = [decodeGossip, decodeRequest, decodeResponse, decodePeerRecord, decodeVniClaim, decodeNetworkRecord, decodeEndpointRecord, decodeIpamRecord]

describe('proto envelope: values that cannot be printed (issue 19 item 9)', () => {
  // msgpack maps decode to plain objects: a `toString` key that is not a function made
  // String(raw.v) throw a TypeError instead of the decoder's WireError.
  const hostile: unknown[] = [
    { v: { toString: 1 } },
    { v: { toString: 1, valueOf: 1 }, t: 'node', b: {} },
    { v: 1, t: { toString: 1 }, b: {} },
    { v: 1, t: { toString: 'x', valueOf: 'y' }, b: {} },
    { v: [{ toString: 1 }], t: 'x' }
  ]
  for (const [i, value] of hostile.entries()) {
    it(`rejects hostile envelope ${i} with WireError from every decoder`, () => {
      const bytes = pack(value)
      for (const d of decoders) {
        assert.throws(() => d(bytes), (e: unknown) => e instanceof WireError && (e.reason === 'version' || e.reason === 'type'), d.name)
      }
    })
  }
})
