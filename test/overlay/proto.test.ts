import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  encodeEnvelope, pack, WireError, checkCidr, decodePeerRecord, decodeVniClaim, encodePeerRecord,
  encodeVniClaim, normalizeMac, vniClaimKey
} from '../../proto/index.js'

describe('proto/overlay: PeerRecord and VniClaim', () => {
  it('round-trips a peer record and normalizes the MAC', () => {
    const r = decodePeerRecord(encodePeerRecord({ endpointIP: '10.0.0.5/24', endpointMAC: '02:42:0A:00:00:05', tunnelEndpointIP: '192.0.2.11' }))
    assert.deepEqual(r, { endpointIP: '10.0.0.5/24', endpointMAC: '02:42:0a:00:00:05', tunnelEndpointIP: '192.0.2.11' })
    const v6 = { endpointIP: 'fd00::5/64', endpointMAC: '02:42:0a:00:00:05', tunnelEndpointIP: '2001:db8::1' }
    assert.deepEqual(decodePeerRecord(encodePeerRecord(v6)), v6)
  })

  it('round-trips arbitrary valid records (property)', () => {
    fc.assert(fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 5, maxLength: 5 }), fc.ipV4(),
      (ip, len, tail, vtep) => {
        const mac = ['02', ...tail.map(b => b.toString(16).padStart(2, '0'))].join(':')
        const r = { endpointIP: `${ip}/${len}`, endpointMAC: mac, tunnelEndpointIP: vtep }
        assert.deepEqual(decodePeerRecord(encodePeerRecord(r)), r)
      }))
  })

  it('rejects bad fields on encode and decode with WireError', () => {
    const ok = { endpointIP: '10.0.0.5/24', endpointMAC: '02:42:0a:00:00:05', tunnelEndpointIP: '192.0.2.11' }
    for (const bad of [
      { ...ok, endpointIP: '10.0.0.5' },
      { ...ok, endpointIP: '10.0.0.5/33' },
      { ...ok, endpointIP: '10.0.0.300/24' },
      { ...ok, endpointIP: '10.0.0.5/2x' },
      { ...ok, endpointMAC: '02:42:0a:00:00' },
      { ...ok, endpointMAC: '01:00:5e:00:00:01' }, // multicast
      { ...ok, endpointMAC: 'ff:ff:ff:ff:ff:ff' },
      { ...ok, endpointMAC: '02:42:0a:00:00:05\nfdb del' },
      { ...ok, tunnelEndpointIP: 'host.example' }
    ]) {
      assert.throws(() => encodePeerRecord(bad), WireError, JSON.stringify(bad))
      assert.throws(() => decodePeerRecord(encodeEnvelope('peer', bad)), WireError, JSON.stringify(bad))
    }
  })

  it('rejects garbage, other versions and other types', () => {
    assert.throws(() => decodePeerRecord(new Uint8Array([0xc1])), WireError)
    assert.throws(() => decodePeerRecord(pack({ v: 2, t: 'peer', b: {} })), (e: unknown) => e instanceof WireError && e.reason === 'version')
    assert.throws(() => decodePeerRecord(encodeVniClaim({ vni: 4096, nid: 'n' })), (e: unknown) => e instanceof WireError && e.reason === 'type')
    assert.throws(() => decodePeerRecord(encodeEnvelope('peer', { endpointIP: 5 })), (e: unknown) => e instanceof WireError && e.reason === 'shape')
    assert.throws(() => decodePeerRecord(encodeEnvelope('peer', 'x')), WireError)
  })

  it('VniClaim: round trip, range and key', () => {
    assert.deepEqual(decodeVniClaim(encodeVniClaim({ vni: 4096, nid: 'abc' })), { vni: 4096, nid: 'abc' })
    assert.throws(() => encodeVniClaim({ vni: 0, nid: 'abc' }), WireError)
    assert.throws(() => encodeVniClaim({ vni: 16_777_216, nid: 'abc' }), WireError)
    assert.throws(() => encodeVniClaim({ vni: 4096, nid: '' }), WireError)
    assert.throws(() => decodeVniClaim(encodeEnvelope('vniclaim', { vni: 1.5, nid: 'a' })), WireError)
    assert.equal(vniClaimKey({ vni: 4096, nid: 'abc' }), '4096/abc')
  })

  it('helpers', () => {
    assert.equal(normalizeMac('AA:BB:CC:DD:EE:FE'), 'aa:bb:cc:dd:ee:fe')
    assert.equal(checkCidr('::/0'), '::/0')
    assert.throws(() => checkCidr('::/129'), WireError)
  })
})
