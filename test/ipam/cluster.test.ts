import assert from 'node:assert/strict'
import {
  ClusterIpam, ErrInvalidPool, ErrIPAlreadyAllocated, ErrIPOutOfRange, ErrIpamUnavailable, ErrNoAvailableIPs, ErrPoolOverlap, ErrReclaimRefused, Gateway, GatewayOption,
  GlobalDefault, MemoryIpamStore, NetworkOption, RequestAddressType
} from '../../ipam/index.js'
import { IPAM_NETWORK, IPAM_TABLE } from '../../proto/index.js'
import { ipamCluster, type IpamCluster } from './helpers.js'

const net = (name: string): Record<string, string> => ({ [NetworkOption]: name })

describe('ipam cluster', function () {
  let k: IpamCluster | undefined
  afterEach(async () => { await k?.close(); k = undefined })

  /** Wait (virtual time) until every live node has failed `dead`. */
  async function failed (cl: IpamCluster, dead: number): Promise<void> {
    const id = cl.c.ids[dead]!
    for (let t = 0; t < 20_000; t += 100) {
      if (cl.c.nodes.every((n, i) => i === dead || !cl.c.isUp(i) || n.member(id)?.status === 'failed')) return
      await cl.c.advance(100)
    }
    throw new Error('node not failed')
  }

  it('3 hosts allocate 200 addresses each, concurrently, from one /22: 600 distinct; a crash and restart midway changes nothing', async () => {
    k = await ipamCluster(3)
    const cl = k
    const pool = await cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.20.0.0/22', options: net('big') }))
    for (const i of [1, 2]) await cl.run(async () => await cl.ipam(i).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.20.0.0/22', options: net('big') }))
    const got: string[][] = [[], [], []]
    const burst = async (i: number, n: number): Promise<void> => {
      await cl.run(async () => {
        await Promise.all(Array.from({ length: n }, async () => { got[i]!.push((await cl.ipam(i).requestAddress(pool.poolId, undefined, {})).address) }))
      })
    }
    await Promise.all([burst(0, 100), burst(1, 100), burst(2, 100)])
    await cl.restart(1)
    await Promise.all([burst(0, 100), burst(1, 100), burst(2, 100)])
    const all = got.flat()
    assert.equal(all.length, 600)
    assert.equal(new Set(all).size, 600)
    for (const a of all) assert.match(a, /^10\.20\.[0-3]\.\d+\/22$/)
    // the restarted host still refuses what it handed out before the crash
    await assert.rejects(cl.run(async () => await cl.ipam(1).requestAddress(pool.poolId, got[1]![0]!.split('/')[0], {})), ErrIPAlreadyAllocated)
    // other hosts' usage figures arrive within usagePublishMs (5 s), not with every address
    await cl.c.advance(2000)
    assert.ok(cl.ipam(0).status().pools.find(p => p.poolId === pool.poolId)!.inUse < 600, 'usage of other hosts is coalesced')
    await cl.c.advance(4000)
    const st = cl.ipam(0).status().pools.find(p => p.poolId === pool.poolId)!
    assert.equal(st.inUse, 600)
    assert.deepEqual(st.holders, [cl.c.ids[1], cl.c.ids[2]])
  })

  it('usage figures: a count that crosses zero is published at once, other changes coalesced for 5 s', async () => {
    k = await ipamCluster(2)
    const cl = k
    const pool = await cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.21.0.0/24', options: net('u') }))
    await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.21.0.0/24', options: net('u') }))
    const inUse = (): number => cl.ipam(0).status().pools.find(p => p.poolId === pool.poolId)!.inUse
    await cl.run(async () => await cl.ipam(1).requestAddress(pool.poolId, undefined, {}))
    await cl.c.advance(1000)
    assert.equal(inUse(), 1, 'the first address of host 1 is seen within a second')
    for (let i = 0; i < 5; i++) await cl.run(async () => await cl.ipam(1).requestAddress(pool.poolId, undefined, {}))
    await cl.c.advance(1000)
    assert.equal(inUse(), 1, 'the next ones wait for the coalesced record')
    await cl.c.advance(5000)
    assert.equal(inUse(), 6)
  })

  it('a donation between two nodes makes no other node publish its ring record again', async () => {
    k = await ipamCluster(4)
    const cl = k
    const pool = await cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.22.0.0/24', options: net('d') }))
    for (const i of [1, 2, 3]) await cl.run(async () => await cl.ipam(i).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.22.0.0/24', options: net('d') }))
    // nodes 0-2 hold addresses of their own (1 and 2 got space by donation)
    for (const i of [0, 1, 2]) await cl.run(async () => await cl.ipam(i).requestAddress(pool.poolId, undefined, {}))
    await cl.c.advance(6000)
    /** Every node's own ring records as node 0 holds them: key -> [Lamport time, value]. */
    const rings = (): Map<string, [number, string]> => new Map(cl.c.nodes[0]!.walkTable(IPAM_TABLE, IPAM_NETWORK)
      .filter(e => e.key.startsWith('ring/') && e.key.startsWith(`ring/${e.owner}/`))
      .map(e => [e.key, [e.ltime, Buffer.from(e.value).toString('hex')]]))
    const before = rings()
    // node 3 owns nothing of the pool's addresses: its first address needs a donation
    await cl.run(async () => await cl.ipam(3).requestAddress(pool.poolId, undefined, {}))
    await cl.c.advance(6000)
    const after = rings()
    const rewritten = [...after].filter(([key, [ltime]]) => before.get(key)?.[0] !== ltime).map(([key]) => key)
    const changed = rewritten.filter(key => before.get(key)?.[1] !== after.get(key)![1])
    assert.ok(changed.length >= 2, `the donor's and the receiver's records changed: ${changed.join(' ')}`)
    assert.deepEqual(rewritten.filter(key => !changed.includes(key)), [], 'records written again unchanged')
  })

  it('dynamic pools from different hosts never overlap; space moves by donation', async () => {
    k = await ipamCluster(3)
    const cl = k
    const pools = await Promise.all([0, 1, 2, 0, 1, 2].map(async i => await cl.run(async () => (await cl.ipam(i).requestPool({ addressSpace: GlobalDefault, v6: false })).pool)))
    assert.equal(new Set(pools).size, 6)
    await cl.c.advance(2000)
    const nodes = cl.ipam(2).status().spaces.find(s => s.space === GlobalDefault && s.family === 4)!.nodes
    assert.deepEqual(nodes.map(n => n.node), cl.c.ids)
    // the bootstrap node gave half of 10/8 away, and every host holds part of it now
    for (const n of nodes.slice(1)) assert.ok(n.owned.length > 0 && n.owned.every(r => r.startsWith('10.')), `${n.node}: ${n.owned.join(' ')}`)
    assert.ok(nodes[0]!.owned.includes('0.0.0.0-10.127.255.255'))
  })

  it('the same cluster network gets the same pool on every host; freed when the last host releases it', async () => {
    k = await ipamCluster(3)
    const cl = k
    const a = await cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, options: net('web') }))
    await cl.c.advance(500)
    const b = await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, options: net('web') }))
    const c = await cl.run(async () => await cl.ipam(2).requestPool({ addressSpace: GlobalDefault, v6: false, pool: a.pool, options: net('web') }))
    assert.deepEqual([b, c], [a, a])
    // another network may not take it
    await assert.rejects(cl.run(async () => await cl.ipam(2).requestPool({ addressSpace: GlobalDefault, v6: false, pool: a.pool, options: net('other') })), ErrPoolOverlap)
    await cl.run(async () => { await cl.ipam(0).releasePool(a.poolId) })
    await cl.run(async () => { await cl.ipam(1).releasePool(b.poolId) })
    await cl.c.advance(1000)
    assert.deepEqual(cl.ipam(0).status().pools.find(p => p.poolId === a.poolId)?.holders, [cl.c.ids[2]])
    await cl.run(async () => { await cl.ipam(2).releasePool(c.poolId) })
    await cl.c.advance(1000)
    for (const i of [0, 1, 2]) assert.equal(cl.ipam(i).status().pools.find(p => p.poolId === a.poolId), undefined, `node ${i}`)
    const d = await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: a.pool, options: net('other') }))
    assert.equal(d.pool, a.pool)
  })

  it('a preferred address held by another host is refused; a free one is granted by its owner', async () => {
    k = await ipamCluster(2)
    const cl = k
    const p = await cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.30.0.0/24', options: net('n') }))
    await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.30.0.0/24', options: net('n') }))
    await cl.run(async () => await cl.ipam(0).requestAddress(p.poolId, '10.30.0.10', {}))
    await assert.rejects(cl.run(async () => await cl.ipam(1).requestAddress(p.poolId, '10.30.0.10', {})), ErrIPAlreadyAllocated)
    const got = await cl.run(async () => await cl.ipam(1).requestAddress(p.poolId, '10.30.0.11', {}))
    assert.equal(got.address, '10.30.0.11/24')
    await assert.rejects(cl.run(async () => await cl.ipam(0).requestAddress(p.poolId, '10.30.0.11', {})), ErrIPAlreadyAllocated)
  })

  it('the gateway is the network\'s: every holder gets it, none hands it out while the pool is held', async () => {
    k = await ipamCluster(2)
    const cl = k
    const gw = { [RequestAddressType]: Gateway }
    const p = await cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.50.0.0/29', options: net('g') }))
    assert.equal((await cl.run(async () => await cl.ipam(0).requestAddress(p.poolId, undefined, gw))).address, '10.50.0.1/29')
    await cl.c.advance(500)
    await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.50.0.0/29', options: net('g') }))
    assert.equal((await cl.run(async () => await cl.ipam(1).requestAddress(p.poolId, undefined, gw))).address, '10.50.0.1/29')
    // the creator's host drops the network; the other host still uses it, gateway included
    await cl.run(async () => { await cl.ipam(0).releasePool(p.poolId) })
    await cl.c.advance(1000)
    const got: string[] = []
    for (;;) {
      try {
        got.push((await cl.run(async () => await cl.ipam(1).requestAddress(p.poolId, undefined, {}))).address)
      } catch (err) {
        assert.ok(err instanceof ErrNoAvailableIPs, String(err))
        break
      }
    }
    assert.deepEqual(got.sort(), ['10.50.0.2/29', '10.50.0.3/29', '10.50.0.4/29', '10.50.0.5/29', '10.50.0.6/29'])
    await assert.rejects(cl.run(async () => await cl.ipam(1).requestAddress(p.poolId, '10.50.0.1', {})), ErrIPAlreadyAllocated)
  })

  it('a pool created with the gateway option holds its network\'s gateway from the start: no host hands it out', async () => {
    k = await ipamCluster(2)
    const cl = k
    const gw = { [RequestAddressType]: Gateway }
    const opts = { ...net('g'), [GatewayOption]: '10.60.0.1' }
    // node 1 creates the pool (the network's creator gave it up; this host takes it again)
    const p = await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.60.0.0/29', options: opts }))
    await cl.c.advance(500)
    await cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.60.0.0/29', options: opts }))
    const got: string[] = []
    for (const i of [0, 1]) {
      for (;;) {
        try {
          got.push((await cl.run(async () => await cl.ipam(i).requestAddress(p.poolId, undefined, {}))).address)
        } catch (err) {
          assert.ok(err instanceof ErrNoAvailableIPs, String(err))
          break
        }
      }
    }
    assert.deepEqual(got.sort(), ['10.60.0.2/29', '10.60.0.3/29', '10.60.0.4/29', '10.60.0.5/29', '10.60.0.6/29'])
    for (const i of [0, 1]) assert.equal((await cl.run(async () => await cl.ipam(i).requestAddress(p.poolId, undefined, gw))).address, '10.60.0.1/29')
    // an existing pool keeps its own gateway; the option needs a static pool, inside it
    await cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.60.0.0/29', options: { ...net('g'), [GatewayOption]: '10.60.0.6' } }))
    assert.equal(cl.ipam(0).inspectPool(p.poolId)?.gateway, '10.60.0.1')
    await assert.rejects(cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, options: { [GatewayOption]: '10.70.0.1' } })), ErrInvalidPool)
    await assert.rejects(cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.70.0.0/24', options: { [GatewayOption]: '10.71.0.1' } })), ErrIPOutOfRange)
  })

  it('fails clearly, instead of guessing, when the owner of the needed space is unreachable', async () => {
    k = await ipamCluster(3)
    const cl = k
    cl.c.partition([0], [1, 2])
    await cl.c.advance(5000)
    await assert.rejects(cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.40.0.0/24' })), (err: Error) => err instanceof ErrIpamUnavailable && /node-00, which owns .* is unreachable/.test(err.message))
    await assert.rejects(cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false })), ErrIpamUnavailable)
    // the side that owns the space keeps working
    const mine = await cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.40.0.0/24' }))
    cl.c.heal()
    await cl.c.advance(5000)
    await assert.rejects(cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.40.0.0/16' })), ErrPoolOverlap)
    const p = await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.41.0.0/24' }))
    assert.notEqual(p.pool, mine.pool)
  })

  it('a graceful leave hands every range over; the pools it kept live on', async () => {
    k = await ipamCluster(3)
    const cl = k
    const p = await cl.run(async () => await cl.ipam(2).requestPool({ addressSpace: GlobalDefault, v6: false, options: net('x') }))
    await cl.c.advance(500)
    await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, options: net('x') }))
    const addr = await cl.run(async () => await cl.ipam(1).requestAddress(p.poolId, undefined, {}))
    const report = await cl.run(async () => await cl.ipam(2).leave())
    assert.equal(report.unconfirmed.length, 0)
    assert.ok(Object.keys(report.confirmed).length >= 2)
    await cl.run(async () => { await cl.c.nodes[2]!.leave() })
    cl.ipams[2] = undefined
    await cl.c.advance(3000)
    for (const i of [0, 1]) {
      const st = cl.ipam(i).status()
      for (const s of st.spaces) assert.ok(s.nodes.every(n => n.node !== cl.c.ids[2] || n.owned.length === 0), `node ${i} still sees ranges of the leaver`)
      const pool = st.pools.find(x => x.poolId === p.poolId)!
      assert.notEqual(pool.owner, cl.c.ids[2])
    }
    // the pool is still held by node 1 and keeps its addresses
    await assert.rejects(cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: p.pool })), ErrPoolOverlap)
    await assert.rejects(cl.run(async () => await cl.ipam(1).requestAddress(p.poolId, addr.address.split('/')[0], {})), ErrIPAlreadyAllocated)
    const more = await cl.run(async () => await cl.ipam(1).requestAddress(p.poolId, undefined, {}))
    assert.notEqual(more.address, addr.address)
  })

  it('a dead node\'s ranges move only by an explicit reclaim, refused while it is alive', async () => {
    k = await ipamCluster(3)
    const cl = k
    const p = await cl.run(async () => await cl.ipam(2).requestPool({ addressSpace: GlobalDefault, v6: false, options: net('y') }))
    await cl.c.advance(500)
    await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, options: net('y') }))
    await assert.rejects(cl.run(async () => await cl.ipam(0).reclaim(cl.c.ids[2]!)), ErrReclaimRefused)
    await cl.kill(2)
    await failed(cl, 2)
    // nothing moved by itself
    await cl.c.advance(60_000)
    const before = cl.ipam(0).status().spaces.find(s => s.space === GlobalDefault && s.family === 4)!
    assert.ok(before.nodes.find(n => n.node === cl.c.ids[2])!.owned.length > 0)
    await assert.rejects(cl.run(async () => await cl.ipam(0).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.201.0.0/16' })), ErrIpamUnavailable)
    const reclaimed = await cl.run(async () => await cl.ipam(0).reclaim(cl.c.ids[2]!))
    assert.ok(reclaimed.length > 0)
    await cl.c.advance(3000)
    for (const i of [0, 1]) {
      const sp = cl.ipam(i).status().spaces.find(s => s.space === GlobalDefault && s.family === 4)!
      assert.ok(sp.nodes.every(n => n.node !== cl.c.ids[2]), `node ${i}`)
      assert.equal(cl.ipam(i).status().pools.find(x => x.poolId === p.poolId)?.owner, cl.c.ids[0])
    }
    // the pool node 1 still holds stays reserved; the rest of the dead node's space is usable
    await assert.rejects(cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: p.pool })), ErrPoolOverlap)
    const q = await cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false, pool: '10.200.0.0/16' }))
    assert.equal(q.pool, '10.200.0.0/16')
  })

  it('a node that is not the bootstrap never creates a space; a second bootstrap is reported, not merged', async () => {
    k = await ipamCluster(2, { config: { bootstrap: false } })
    const cl = k
    await assert.rejects(cl.run(async () => await cl.ipam(1).requestPool({ addressSpace: GlobalDefault, v6: false })), /not known yet/)
    // two nodes bootstrapped apart
    const rogue = new ClusterIpam({ db: cl.c.nodes[1]!, store: new MemoryIpamStore(), clock: cl.c.clock, config: { bootstrap: true } })
    await cl.ipam(1).close()
    await cl.run(async () => { await rogue.start() })
    const first = new ClusterIpam({ db: cl.c.nodes[0]!, store: new MemoryIpamStore(), clock: cl.c.clock, config: { bootstrap: true } })
    await cl.ipam(0).close()
    await cl.c.advance(10)
    await cl.run(async () => { await first.start() })
    await cl.c.advance(2000)
    const conflicts = [first, rogue].map(x => x.status().spaces.filter(s => s.space === GlobalDefault).reduce((n, s) => n + s.conflicts, 0))
    assert.ok(conflicts.every(n => n > 0), String(conflicts))
    await first.close()
    await rogue.close()
  })
})
