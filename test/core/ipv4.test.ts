import assert from 'node:assert/strict'
import { cidrSpan4, formatIPv4, inSubnet, ipv4Span, macFromIPv4, parseCidr4, parseIPv4, spansOverlap } from '../../core/index.js'

describe('core: IPv4 math (through ip-num)', () => {
  it('parses addresses and CIDRs strictly', () => {
    assert.equal(parseIPv4('10.0.0.1'), 0x0a000001n)
    for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', '::1', '', '10.0.0.1/24']) assert.equal(parseIPv4(bad), undefined, bad)
    assert.equal(formatIPv4(0x0a000001n), '10.0.0.1')
    assert.deepEqual(parseCidr4('10.0.0.5/24'), { ip: '10.0.0.5', len: 24 })
    for (const bad of ['10.0.0.0/33', '10.0.0.0', '10.0.0.0/24/1', '10.0.0/24', '10.0.0.0/x']) assert.equal(parseCidr4(bad), undefined, bad)
  })

  it('spans of CIDRs (host bits ignored) and of ranges; overlap', () => {
    assert.deepEqual(cidrSpan4('10.0.0.5/24'), [0x0a000000n, 0x0a0000ffn])
    assert.deepEqual(cidrSpan4('0.0.0.0/0'), [0n, 0xffffffffn])
    assert.deepEqual(ipv4Span('10.0.1.0-10.0.1.127'), [0x0a000100n, 0x0a00017fn])
    assert.throws(() => ipv4Span('10.0.1.0/40'), /not an IPv4 CIDR/)
    assert.throws(() => ipv4Span('10.0.1.0'), /not a range/)
    assert.equal(spansOverlap('10.0.0.0/16', '10.0.5.0/24'), true)
    assert.equal(spansOverlap('10.0.0.0/24', '10.0.1.0/24'), false)
    assert.equal(spansOverlap('10.0.0.0/25', '10.0.0.127-10.0.0.200'), true)
  })

  it('subnet membership and Docker\'s MAC', () => {
    assert.equal(inSubnet('10.0.0.255', '10.0.0.0/24'), true)
    assert.equal(inSubnet('10.0.1.0', '10.0.0.0/24'), false)
    assert.equal(inSubnet('1.2.3.4', '0.0.0.0/0'), true)
    assert.equal(inSubnet('10.0.0.1', 'nonsense'), false)
    assert.equal(inSubnet('nonsense', '10.0.0.0/24'), false)
    assert.equal(macFromIPv4('10.0.0.5'), '02:42:0a:00:00:05')
  })
})
