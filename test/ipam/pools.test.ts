import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  encodeEnvelope, WireError, decodeIpamRecord, encodeIpamRecord, keyKind, type IpamRecord
} from '../../proto/index.js'
import { formatPrefix, parsePrefix, rangeText, universe } from '../../ipam/ip-math.js'
import {
  DEFAULT_GLOBAL_POOLS, DEFAULT_LOCAL_POOLS, findFreePool, formatPoolId, freePoolCount, parsePoolId,
  pickPoolDonation, resolvePredefined
} from '../../ipam/pools.js'

const v4 = universe(4)
const all = [{ s: v4.first, e: v4.last }]
const iv = (cidr: string): { s: bigint, e: bigint } => { const p = parsePrefix(cidr)!; return { s: p.first, e: p.last } }
const cidr = (r: { first: bigint, bits: number } | undefined): string => r === undefined ? 'none' : formatPrefix(4, r.first, r.bits)

describe('ipam predefined pools', function () {
  const global = resolvePredefined(DEFAULT_GLOBAL_POOLS)
  const local = resolvePredefined(DEFAULT_LOCAL_POOLS)

  it('cuts the first free pool in list then address order, skipping taken and excluded ones', () => {
    assert.equal(cidr(findFreePool(global, 4, all, [])), '10.0.0.0/24')
    assert.equal(cidr(findFreePool(global, 4, all, [iv('10.0.0.0/24'), iv('10.0.1.0/25')])), '10.0.2.0/24')
    assert.equal(cidr(findFreePool(global, 4, all, [], [iv('10.0.0.0/23')])), '10.0.2.0/24')
    assert.equal(cidr(findFreePool(global, 4, [iv('10.128.0.0/9')], [])), '10.128.0.0/24')
    assert.equal(cidr(findFreePool(global, 4, [iv('11.0.0.0/8')], [])), 'none')
    assert.equal(cidr(findFreePool(global, 6, all, [])), 'none')
    const order: string[] = []
    const taken: Array<{ s: bigint, e: bigint }> = []
    for (let i = 0; i < 8; i++) {
      const r = findFreePool(local, 4, all, taken)!
      order.push(cidr(r))
      taken.push(iv(cidr(r)))
    }
    assert.deepEqual(order, ['172.17.0.0/16', '172.18.0.0/16', '172.19.0.0/16', '172.20.0.0/16', '172.21.0.0/16', '172.22.0.0/16', '172.23.0.0/16', '172.24.0.0/16'])
    assert.equal(freePoolCount(local, 4, all, []), 3n + 12n + 16n)
  })

  it('a donor gives at most half of its free pools, as one aligned block', () => {
    const d = pickPoolDonation(global, 4, all, [])!
    assert.equal(rangeText(4, d.s, d.e), '10.128.0.0/9')
    const small = pickPoolDonation(global, 4, [iv('10.0.0.0/23')], [iv('10.0.0.0/24')])
    assert.ok(small !== undefined)
    assert.equal(rangeText(4, small.s, small.e), '10.0.1.0/24')
    assert.equal(pickPoolDonation(global, 4, [iv('10.0.0.0/24')], [iv('10.0.0.0/24')]), undefined)
  })

  it('rejects bad predefined lists with the entry named', () => {
    assert.throws(() => resolvePredefined([{ base: '10.0.0.0/8', size: 7 }]), /predefined pool 0: size 7/)
    assert.throws(() => resolvePredefined([{ base: '10.0.0.1/8', size: 24 }]), /invalid base/)
  })

  it('pool ids in libnetwork\'s format', () => {
    assert.equal(formatPoolId('GlobalDefault', '10.0.0.0/24'), 'GlobalDefault/10.0.0.0/24')
    assert.deepEqual(parsePoolId('GlobalDefault/10.0.0.0/24/10.0.0.128/25'), { space: 'GlobalDefault', pool: '10.0.0.0/24', subPool: '10.0.0.128/25' })
    assert.equal(parsePoolId('nonsense'), undefined)
  })
})

describe('ipam wire records', function () {
  const samples: IpamRecord[] = [
    { t: 'ring', b: { ring: 'addr/n1:1.1', genesis: 'n1:1.1', family: 6, segs: [{ s: 0n, e: (1n << 128n) - 1n, v: 3, o: 'n1' }], used: 2, free: 1n << 100n } },
    { t: 'pool', b: { instance: 'n1:1.1', space: 'GlobalDefault', pool: '10.0.0.0/24', sub: undefined, network: 'net', epoch: 2, state: 'active', holders: ['n2'], gw: '10.0.0.1' } },
    { t: 'req', b: { id: '1.2', to: 'n2', kind: 'range', ring: 'space/GlobalDefault/4', s: 10n, e: 20n, pool: '10.0.0.0/24', sub: undefined, network: undefined, instance: undefined, segs: [] } },
    { t: 'ans', b: { id: '1.2', code: 'granted', detail: '', instance: undefined, segs: [{ s: 1n, e: 2n, v: 1, o: 'n1' }] } },
    { t: 'gone', b: { node: 'n3', at: 5 } }
  ]

  it('round-trips every record kind', () => {
    for (const r of samples) assert.deepEqual(decodeIpamRecord(encodeIpamRecord(r)), r)
  })

  it('keys name their kind and writer', () => {
    assert.deepEqual(keyKind('ans/n1/n2/1.2'), { kind: 'ans', writer: 'n1', rest: 'n2/1.2' })
    assert.equal(keyKind('bogus/n1/x'), undefined)
  })

  it('decoding arbitrary bytes throws nothing but WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), bytes => {
      try { decodeIpamRecord(bytes) } catch (err) { assert.ok(err instanceof WireError, String(err)) }
    }))
    const bad = encodeIpamRecord(samples[0]!)
    assert.throws(() => decodeIpamRecord(bad.slice(0, bad.length - 3)), WireError)
  })

  it('rejects records of the right type but a wrong shape', () => {
    const backwards = encodeEnvelope('ring', { ring: 'r', genesis: 'g', family: 4, segs: [{ s: 'ff', e: '1', v: 1, o: 'n' }], used: 0, free: '0' })
    assert.throws(() => decodeIpamRecord(backwards), /ends before it starts/)
    const family = encodeEnvelope('ring', { ring: 'r', genesis: 'g', family: 5, segs: [], used: 0, free: '0' })
    assert.throws(() => decodeIpamRecord(family), WireError)
    const kind = encodeEnvelope('req', { id: '1', to: 'n', kind: 'steal', ring: 'r', rings: [], segs: [] })
    assert.throws(() => decodeIpamRecord(kind), /bad request kind/)
    const hexy = encodeEnvelope('ans', { id: '1', code: 'granted', detail: '', segs: [{ s: 'xyz', e: '1', v: 1, o: 'n' }] })
    assert.throws(() => decodeIpamRecord(hexy), WireError)
  })
})
