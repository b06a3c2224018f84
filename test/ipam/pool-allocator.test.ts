import assert from 'node:assert/strict'
import { parsePrefix, formatAddress, parseAddress } from '../../ipam/ip-math.js'
import { AddressAllocator } from '../../ipam/pool-allocator.js'

const ip = (s: string): bigint => parseAddress(s)!.value
const txt = (v: bigint | undefined): string => v === undefined ? 'none' : formatAddress(4, v)

function full (cidr: string, sub?: string): AddressAllocator {
  const p = parsePrefix(cidr)!
  const a = new AddressAllocator(p, sub === undefined ? undefined : parsePrefix(sub))
  a.setOwned([{ s: p.first, e: p.last }])
  return a
}

function take (a: AddressAllocator, serial: boolean, seq: number): string {
  const v = a.pickDynamic(serial)
  if (v !== undefined) a.take(v, { seq })
  return txt(v)
}

describe('ipam address allocator', function () {
  it('lowest-free reuses a released address at once; serial continues after the last and wraps', () => {
    const low = full('10.0.0.0/29')
    assert.deepEqual([1, 2, 3].map(i => take(low, false, i)), ['10.0.0.1', '10.0.0.2', '10.0.0.3'])
    low.release(ip('10.0.0.2'))
    assert.equal(take(low, false, 4), '10.0.0.2')

    const ser = full('10.0.0.0/29')
    assert.deepEqual([1, 2, 3].map(i => take(ser, true, i)), ['10.0.0.1', '10.0.0.2', '10.0.0.3'])
    ser.release(ip('10.0.0.2'))
    assert.equal(take(ser, true, 4), '10.0.0.4')
    assert.deepEqual([5, 6, 7].map(i => take(ser, true, i)), ['10.0.0.5', '10.0.0.6', '10.0.0.2'])
    assert.equal(take(ser, true, 8), 'none')
  })

  it('reserves network and broadcast; a /31 keeps both, a /32 is one address', () => {
    const p30 = full('10.0.0.0/30')
    assert.deepEqual([1, 2, 3].map(i => take(p30, false, i)), ['10.0.0.1', '10.0.0.2', 'none'])
    assert.equal(p30.check(ip('10.0.0.0')), 'reserved')
    assert.equal(p30.check(ip('10.0.0.3')), 'reserved')
    const p31 = full('10.0.0.0/31')
    assert.deepEqual([1, 2, 3].map(i => take(p31, false, i)), ['10.0.0.0', '10.0.0.1', 'none'])
    const p32 = full('10.0.0.7/32')
    assert.deepEqual([1, 2].map(i => take(p32, false, i)), ['10.0.0.7', 'none'])
  })

  it('a /8 allocates quickly and counts its free space', () => {
    const a = full('10.0.0.0/8')
    assert.equal(a.freeDynamic(), (1n << 24n) - 2n)
    for (let i = 0; i < 1000; i++) take(a, false, i)
    assert.equal(a.freeDynamic(), (1n << 24n) - 2n - 1000n)
    assert.equal(take(a, false, 1001), '10.0.3.233')
    assert.equal(a.check(ip('10.255.255.255')), 'reserved')
  })

  it('allocates only owned addresses, and from the sub-pool only', () => {
    const p = parsePrefix('10.0.0.0/24')!
    const a = new AddressAllocator(p, parsePrefix('10.0.0.128/25'))
    a.setOwned([{ s: ip('10.0.0.0'), e: ip('10.0.0.191') }])
    assert.equal(take(a, false, 1), '10.0.0.128')
    assert.equal(a.check(ip('10.0.0.5')), 'ok')
    assert.equal(a.check(ip('10.0.0.200')), 'not-owned')
    assert.equal(a.freeDynamic(), 63n)
    assert.deepEqual(a.freeDynamicIntervals(), [{ s: ip('10.0.0.129'), e: ip('10.0.0.191') }])
  })

  it('restores allocations and the serial cursor', () => {
    const a = full('10.0.0.0/29')
    a.restore(ip('10.0.0.5'), { seq: 9 })
    a.restore(ip('10.0.0.2'), { seq: 3 })
    assert.equal(take(a, true, 10), '10.0.0.6')
    assert.equal(take(a, false, 11), '10.0.0.1')
    assert.equal(a.isAllocated(ip('10.0.0.5')), true)
  })
})
