import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  AllocSerialPrefix, ClusterIpam, ErrBadPool, ErrIPAlreadyAllocated, ErrIPOutOfRange, ErrInvalidAddressSpace,
  ErrInvalidPool, ErrInvalidSubPool, ErrNoAvailableIPs, ErrNoIPReturned, ErrNoMoreSubnets, ErrPoolNotFound,
  ErrPoolOverlap, Gateway, GlobalDefault, LocalDefault, MacAddress, NetworkOption, RequestAddressType, type
  IpamError
} from '../../ipam/index.js'
import { LmdbIpamStore } from '../../ipam/adapters.js'
import { ipamCluster, type IpamCluster } from './helpers.js'

const gw = { [RequestAddressType]: Gateway }

describe('ipam contract (one node)', function () {
  let k: IpamCluster | undefined
  afterEach(async () => { await k?.close(); k = undefined })

  async function node (config = {}): Promise<{ k: IpamCluster, ipam: () => ClusterIpam }> {
    k = await ipamCluster(1, { config })
    const cl = k
    return { k: cl, ipam: () => cl.ipam(0) }
  }

  it('well-known errors carry libnetwork\'s messages and kinds', () => {
    const table: Array<[IpamError, string, string]> = [
      [new ErrInvalidAddressSpace(), 'invalid address space', 'badRequest'],
      [new ErrInvalidPool(), 'invalid address pool', 'badRequest'],
      [new ErrInvalidSubPool(), 'invalid address subpool', 'badRequest'],
      [new ErrNoAvailableIPs(), 'no available addresses on this pool', 'unavailable'],
      [new ErrNoIPReturned(), 'no address returned', 'unavailable'],
      [new ErrIPAlreadyAllocated(), 'Address already in use', 'forbidden'],
      [new ErrIPOutOfRange(), 'requested address is out of range', 'badRequest'],
      [new ErrPoolOverlap(), 'Pool overlaps with other one on this address space', 'forbidden'],
      [new ErrBadPool(), 'address space does not contain specified address pool', 'badRequest'],
      [new ErrNoMoreSubnets(), 'all predefined address pools have been fully subnetted', 'unavailable']
    ]
    for (const [err, msg, kind] of table) {
      assert.equal(err.message, msg)
      assert.equal(err.kind, kind)
      assert.equal(err.name, err.constructor.name)
    }
  })

  it('rejects bad pool requests with the contract\'s errors', async () => {
    const { ipam } = await node()
    const req = (r: object): Promise<unknown> => ipam().requestPool({ addressSpace: GlobalDefault, v6: false, ...r })
    await assert.rejects(req({ addressSpace: 'Elsewhere' }), ErrInvalidAddressSpace)
    await assert.rejects(req({ pool: 'not-a-cidr' }), ErrInvalidPool)
    await assert.rejects(req({ pool: '10.1.0.5/24' }), ErrInvalidPool)
    await assert.rejects(req({ pool: '10.1.0.0/33' }), ErrInvalidPool)
    await assert.rejects(req({ exclude: ['junk'] }), ErrInvalidPool)
    await assert.rejects(req({ subPool: '10.1.0.0/25' }), ErrInvalidSubPool)
    await assert.rejects(req({ pool: '10.1.0.0/24', subPool: '10.2.0.0/25' }), ErrInvalidSubPool)
    await assert.rejects(req({ pool: '10.1.0.0/24', subPool: '10.1.0.0/23' }), ErrInvalidSubPool)
    await assert.rejects(req({ pool: '2001:db8::/64' }), ErrBadPool)
  })

  it('dynamic pools are distinct; static pools must not overlap any held pool', async () => {
    const { ipam } = await node()
    const a = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false })
    const b = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false })
    assert.deepEqual([a.pool, b.pool], ['10.0.0.0/24', '10.0.1.0/24'])
    assert.equal(a.poolId, 'GlobalDefault/10.0.0.0/24')
    await assert.rejects(ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.0.0.0/16' }), ErrPoolOverlap)
    await assert.rejects(ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.0.1.128/25' }), ErrPoolOverlap)
    await assert.rejects(ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.0.0.0/24' }), ErrPoolOverlap)
    const s = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '192.168.7.0/24' })
    assert.equal(s.poolId, 'GlobalDefault/192.168.7.0/24')
    // a dynamic request skips what static pools hold, and what the caller excludes
    const c = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, exclude: ['10.0.2.0/23'] })
    assert.equal(c.pool, '10.0.4.0/24')
    // the same request naming the same cluster network shares the pool, reference counted
    const n1 = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, options: { [NetworkOption]: 'web' } })
    const n2 = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, options: { [NetworkOption]: 'web' } })
    const n3 = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: n1.pool, options: { [NetworkOption]: 'web' } })
    assert.deepEqual([n2, n3], [n1, n1])
    assert.equal(ipam().inspectPool(n1.poolId)?.refs, 3)
    await ipam().releasePool(n1.poolId)
    await ipam().releasePool(n1.poolId)
    assert.equal(ipam().inspectPool(n1.poolId)?.refs, 1)
    await ipam().releasePool(n1.poolId)
    await assert.rejects(ipam().releasePool(n1.poolId), ErrPoolNotFound)
    // once released everywhere the pool is free again
    const again = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: n1.pool })
    assert.equal(again.pool, n1.pool)
  })

  it('ErrNoMoreSubnets when the predefined pools are used up (and for IPv6, which has none by default)', async () => {
    const { ipam } = await node({ globalPools: [{ base: '10.9.0.0/23', size: 24 }] })
    await ipam().requestPool({ addressSpace: GlobalDefault, v6: false })
    await ipam().requestPool({ addressSpace: GlobalDefault, v6: false })
    await assert.rejects(ipam().requestPool({ addressSpace: GlobalDefault, v6: false }), ErrNoMoreSubnets)
    await assert.rejects(ipam().requestPool({ addressSpace: GlobalDefault, v6: true }), ErrNoMoreSubnets)
  })

  it('addresses: lowest free by default, serial on request; preferred honoured or refused', async () => {
    const { ipam } = await node()
    const p = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.5.0.0/24' })
    const get = async (opts: Record<string, string> = {}, ip?: string): Promise<string> => (await ipam().requestAddress(p.poolId, ip, opts)).address
    assert.deepEqual([await get(), await get(), await get()], ['10.5.0.1/24', '10.5.0.2/24', '10.5.0.3/24'])
    await ipam().releaseAddress(p.poolId, '10.5.0.2')
    assert.equal(await get(), '10.5.0.2/24')
    await ipam().releaseAddress(p.poolId, '10.5.0.2')
    const serial = { [AllocSerialPrefix]: 'true' }
    assert.equal(await get(serial), '10.5.0.4/24')
    assert.equal(await get(serial), '10.5.0.5/24')
    assert.equal(await get({}, '10.5.0.200'), '10.5.0.200/24')
    await assert.rejects(get({}, '10.5.0.200'), ErrIPAlreadyAllocated)
    await assert.rejects(get({}, '10.5.0.0'), ErrIPAlreadyAllocated)
    await assert.rejects(get({}, '10.5.0.255'), ErrIPAlreadyAllocated)
    await assert.rejects(get({}, '10.6.0.1'), ErrIPOutOfRange)
    await assert.rejects(get({}, '2001:db8::1'), ErrIPOutOfRange)
    await assert.rejects(ipam().releaseAddress(p.poolId, '10.6.0.1'), ErrIPOutOfRange)
    // releasing an address nobody holds is a no-op, as libnetwork's bitmap
    await ipam().releaseAddress(p.poolId, '10.5.0.77')
    await assert.rejects(ipam().requestAddress('GlobalDefault/10.99.0.0/24', undefined, {}), ErrPoolNotFound)
  })

  it('the gateway request gets the first usable address; /31 keeps both ends, /32 is one address', async () => {
    const { ipam } = await node()
    const first = async (pool: string): Promise<string> => {
      const p = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool })
      return (await ipam().requestAddress(p.poolId, undefined, gw)).address
    }
    assert.equal(await first('10.7.0.0/24'), '10.7.0.1/24')
    assert.equal(await first('10.7.1.0/31'), '10.7.1.0/31')
    assert.equal(await first('10.7.1.9/32'), '10.7.1.9/32')
    const p31 = 'GlobalDefault/10.7.1.0/31'
    assert.equal((await ipam().requestAddress(p31, undefined, {})).address, '10.7.1.1/31')
    await assert.rejects(ipam().requestAddress(p31, undefined, {}), ErrNoAvailableIPs)
    await assert.rejects(ipam().requestAddress('GlobalDefault/10.7.1.9/32', undefined, {}), ErrNoAvailableIPs)
    // a preferred gateway is honoured
    const p = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.7.2.0/24' })
    assert.equal((await ipam().requestAddress(p.poolId, '10.7.2.254', gw)).address, '10.7.2.254/24')
    assert.equal(ipam().inspectPool(p.poolId)?.gateway, '10.7.2.254')
    await assert.rejects(ipam().requestAddress(p.poolId, undefined, gw), ErrIPAlreadyAllocated)
  })

  it('a /8 pool and a sub-pool', async () => {
    const { ipam } = await node()
    const p = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.0.0.0/8', subPool: '10.200.0.0/16' })
    assert.equal(p.poolId, 'GlobalDefault/10.0.0.0/8/10.200.0.0/16')
    assert.equal((await ipam().requestAddress(p.poolId, undefined, gw)).address, '10.0.0.1/8')
    assert.equal((await ipam().requestAddress(p.poolId, undefined, {})).address, '10.200.0.0/8')
    assert.equal((await ipam().requestAddress(p.poolId, '10.1.2.3', {})).address, '10.1.2.3/8')
    const st = ipam().status().pools.find(x => x.poolId === p.poolId)!
    assert.equal(st.inUse, 3)
    assert.equal(st.available, 65536 - 1)
    // the whole /8 is held: no dynamic pool is left in the default space
    await assert.rejects(ipam().requestPool({ addressSpace: GlobalDefault, v6: false }), ErrNoMoreSubnets)
  })

  it('IPv6 pools are accepted for static requests', async () => {
    const { ipam } = await node()
    const p = await ipam().requestPool({ addressSpace: GlobalDefault, v6: true, pool: '2001:db8:1::/64' })
    assert.equal(p.pool, '2001:db8:1::/64')
    assert.equal((await ipam().requestAddress(p.poolId, undefined, gw)).address, '2001:db8:1::1/64')
    assert.equal((await ipam().requestAddress(p.poolId, undefined, {})).address, '2001:db8:1::2/64')
    assert.equal((await ipam().requestAddress(p.poolId, '2001:db8:1::ffff:1', {})).address, '2001:db8:1::ffff:1/64')
    await assert.rejects(ipam().requestAddress(p.poolId, '2001:db8:2::1', {}), ErrIPOutOfRange)
    await assert.rejects(ipam().requestPool({ addressSpace: GlobalDefault, v6: true, pool: '2001:db8::/32' }), ErrPoolOverlap)
    const p127 = await ipam().requestPool({ addressSpace: GlobalDefault, v6: true, pool: '2001:db8:9::/127' })
    assert.equal((await ipam().requestAddress(p127.poolId, undefined, {})).address, '2001:db8:9::/127')
  })

  it('dynamic IPv6 pools come from configured IPv6 predefined pools', async () => {
    const { ipam } = await node({ globalPools: [{ base: '10.0.0.0/8', size: 24 }, { base: 'fd00:ab::/48', size: 64 }] })
    const a = await ipam().requestPool({ addressSpace: GlobalDefault, v6: true })
    const b = await ipam().requestPool({ addressSpace: GlobalDefault, v6: true })
    assert.deepEqual([a.pool, b.pool], ['fd00:ab::/64', 'fd00:ab:0:1::/64'])
    assert.equal((await ipam().requestAddress(b.poolId, undefined, {})).address, 'fd00:ab:0:1::1/64')
  })

  it('LocalDefault uses Docker\'s local pools; MAC-keyed requests when configured', async () => {
    const { ipam } = await node({ requiresMACAddress: true })
    assert.deepEqual(ipam().capabilities(), { requiresMACAddress: true, requiresRequestReplay: false })
    assert.deepEqual(await ipam().getDefaultAddressSpaces(), { local: LocalDefault, global: GlobalDefault })
    const a = await ipam().requestPool({ addressSpace: LocalDefault, v6: false })
    const b = await ipam().requestPool({ addressSpace: LocalDefault, v6: false })
    assert.deepEqual([a.pool, b.pool], ['172.17.0.0/16', '172.18.0.0/16'])
    // local and global spaces are separate: the same subnet may exist in both
    await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '172.17.0.0/16' })
    const mac = { [MacAddress]: '02:42:ac:11:00:05' }
    const x = await ipam().requestAddress(a.poolId, undefined, mac)
    const y = await ipam().requestAddress(a.poolId, undefined, mac)
    const z = await ipam().requestAddress(a.poolId, undefined, { [MacAddress]: '02:42:ac:11:00:06' })
    assert.equal(x.address, y.address)
    assert.notEqual(x.address, z.address)
  })

  it('a restarted node (same store) keeps its pools and never re-issues an address it handed out', async () => {
    const { k: cl, ipam } = await node()
    const p = await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.3.0.0/29' })
    const serial = { [AllocSerialPrefix]: 'true' }
    const before = [await ipam().requestAddress(p.poolId, undefined, serial), await ipam().requestAddress(p.poolId, undefined, serial), await ipam().requestAddress(p.poolId, undefined, serial)].map(x => x.address)
    await ipam().releaseAddress(p.poolId, '10.3.0.1')
    await cl.restart(0)
    assert.equal(ipam().inspectPool(p.poolId)?.refs, 1)
    await assert.rejects(ipam().requestAddress(p.poolId, '10.3.0.2', {}), ErrIPAlreadyAllocated)
    // serial continues after the last one handed out before the crash
    assert.equal((await ipam().requestAddress(p.poolId, undefined, serial)).address, '10.3.0.4/29')
    assert.deepEqual(before, ['10.3.0.1/29', '10.3.0.2/29', '10.3.0.3/29'])
    await assert.rejects(cl.run(async () => await ipam().requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.3.0.0/24' })), ErrPoolOverlap)
  })
})

describe('ipam persistence in LMDB', function () {
  let k: IpamCluster | undefined
  let dir: string | undefined
  afterEach(async () => {
    await k?.close(); k = undefined
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('allocations and pools survive a restart from the data dir', async () => {
    k = await ipamCluster(1)
    const cl = k
    dir = mkdtempSync(join(tmpdir(), 'ovnet-ipam-'))
    await cl.ipam(0).close()
    const open = async (): Promise<{ ipam: ClusterIpam, store: LmdbIpamStore }> => {
      const store = new LmdbIpamStore(dir!)
      const ipam = new ClusterIpam({ db: cl.c.nodes[0]!, store, clock: cl.c.clock, config: { bootstrap: true, requiresMACAddress: true } })
      await cl.run(async () => { await ipam.start() })
      return { ipam, store }
    }
    const first = await open()
    const p = await first.ipam.requestPool({ addressSpace: GlobalDefault, v6: false })
    const got = await Promise.all(Array.from({ length: 50 }, async () => (await first.ipam.requestAddress(p.poolId, undefined, {})).address))
    await first.ipam.releaseAddress(p.poolId, '10.0.0.7')
    const mac = { [MacAddress]: '02:42:0a:00:00:33' }
    const withMac = await first.ipam.requestAddress(p.poolId, '10.0.0.200', mac)
    await first.ipam.close()
    await first.store.close()
    const second = await open()
    try {
      assert.equal(second.ipam.inspectPool(p.poolId)?.refs, 1)
      assert.equal(new Set(got).size, 50)
      assert.equal((await second.ipam.requestAddress(p.poolId, undefined, {})).address, '10.0.0.7/24')
      assert.equal((await second.ipam.requestAddress(p.poolId, undefined, {})).address, '10.0.0.51/24')
      await assert.rejects(second.ipam.requestAddress(p.poolId, '10.0.0.20', {}), ErrIPAlreadyAllocated)
      assert.equal((await second.ipam.requestAddress(p.poolId, undefined, mac)).address, withMac.address)
      assert.equal(second.ipam.status().pools[0]?.inUse, 52)
    } finally {
      await second.ipam.close()
      await second.store.close()
    }
  })
})
