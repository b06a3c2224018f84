import assert from 'node:assert/strict'
import fc from 'fast-check'
import { formatAddress, formatAddressSlow, parseAddress, parsePrefix, prefixesOverlap, prefixesOverlapIpNum, rangeText, firstUsable, reservedAddresses } from '../../ipam/ip-math.js'

describe('ipam address math', function () {
  it('the fast IPv4 formatter agrees with ip-num', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), v => {
      assert.equal(formatAddress(4, v), formatAddressSlow(4, v))
      assert.equal(parseAddress(formatAddress(4, v))?.value, v)
    }))
  })

  it('prefix overlap on integer bounds agrees with ip-num', () => {
    const v4 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), fc.integer({ min: 0, max: 32 }))
      .map(([v, bits]) => parsePrefix(`${formatAddress(4, v)}/${bits}`)!)
    fc.assert(fc.property(v4, v4, (a, b) => {
      assert.equal(prefixesOverlap(a, b), prefixesOverlapIpNum(a, b))
    }))
  })

  it('parses canonical and host-bit forms, IPv6 compressed', () => {
    const p = parsePrefix('10.1.2.3/16')!
    assert.equal(p.cidr, '10.1.0.0/16')
    assert.equal(p.hostBits, true)
    assert.equal(parsePrefix('2001:db8:0:0::/64')!.cidr, '2001:db8::/64')
    for (const bad of ['', '10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '::/129', 'x/8', '10.0.0.0/08x']) assert.equal(parsePrefix(bad), undefined, bad)
    assert.equal(parseAddress('10.0.0.1/24'), undefined)
    assert.equal(rangeText(4, parseAddress('10.0.0.0')!.value, parseAddress('10.0.0.127')!.value), '10.0.0.0/25')
    assert.equal(rangeText(4, parseAddress('10.0.0.1')!.value, parseAddress('10.0.0.5')!.value), '10.0.0.1-10.0.0.5')
  })

  it('reserved addresses and the first usable one', () => {
    const txt = (c: string): string[] => { const p = parsePrefix(c)!; return [...reservedAddresses(p).map(v => formatAddress(p.family, v)), formatAddress(p.family, firstUsable(p))] }
    assert.deepEqual(txt('10.0.0.0/24'), ['10.0.0.0', '10.0.0.255', '10.0.0.1'])
    assert.deepEqual(txt('10.0.0.0/31'), ['10.0.0.0'])
    assert.deepEqual(txt('10.0.0.9/32'), ['10.0.0.9'])
    assert.deepEqual(txt('2001:db8::/64'), ['2001:db8::', '2001:db8::1'])
  })
})
