import assert from 'node:assert/strict'
import { FakeClock, memoryLogger, silentLogger, MemoryMetrics, noopMetrics } from '../../core/index.js'
import { encodeVniClaim, VNI_TABLE } from '../../proto/index.js'
import { InvalidParameterError, NotImplementedError } from '../../overlay/driverapi.js'
import { VniConflictError, VniExhaustedError, VniInUseError } from '../../overlay/errors.js'
import {
  claimBeats, OVERLAY_GLOBAL_NETWORK, parseVxlanIdList, VniAllocator, VXLANID_LIST, type VniAllocatorOptions
} from '../../overlay/vni.js'
import { FakeCluster, type FakeNetworkDB } from './fake-networkdb.js'
import { IPAM, RecordingNetworkInfo, rig } from './helpers.js'

const SETTLE = 100

function allocator (db: FakeNetworkDB, clock: FakeClock, extra: Partial<VniAllocatorOptions> = {}): VniAllocator {
  return new VniAllocator({ db, clock, logger: silentLogger, metrics: noopMetrics, settleMs: SETTLE, ...extra })
}

/** Run an allocation to completion under virtual time. */
async function settled<T> (clock: FakeClock, p: Promise<T>): Promise<T> {
  let done = false
  const q = p.finally(() => { done = true })
  for (let i = 0; i < 50 && !done; i++) await clock.advance(SETTLE)
  return await q
}

describe('overlay VNI allocation', () => {
  let cluster: FakeCluster
  let clock: FakeClock
  beforeEach(() => { cluster = new FakeCluster(); clock = new FakeClock() })

  it('joins the claim network, allocates serially from 4096 and is idempotent per network', async () => {
    const db = cluster.node('n1')
    const a = allocator(db, clock)
    await a.start()
    assert.deepEqual(db.networks(), [OVERLAY_GLOBAL_NETWORK])
    assert.equal(await settled(clock, a.allocate('net-a')), 4096)
    assert.equal(await settled(clock, a.allocate('net-b')), 4097)
    assert.equal(await a.allocate('net-a'), 4096)
    assert.equal(a.vniOf('net-b'), 4097)
    assert.equal(a.vniOf('net-z'), undefined)
    // Another node sees the claims and continues after them.
    const b = allocator(cluster.node('n2'), clock)
    await b.start()
    cluster.sync() // the new node's bulk sync
    assert.equal(await settled(clock, b.allocate('net-c')), 4098)
    assert.equal(b.vniOf('net-a'), 4096)
  })

  it('claims a requested VNI, refuses one held by another network', async () => {
    const a = allocator(cluster.node('n1'), clock)
    await a.start()
    assert.equal(await settled(clock, a.allocate('net-a', 5000)), 5000)
    assert.equal(await a.allocate('net-a', 5000), 5000)
    await assert.rejects(a.allocate('net-b', 5000), VniInUseError)
    await assert.rejects(a.allocate('net-b', 0), InvalidParameterError)
    await assert.rejects(a.allocate('', 5001), InvalidParameterError)
    // Explicit VNIs outside the automatic range are allowed (Docker accepts them too).
    assert.equal(await settled(clock, a.allocate('net-c', 42)), 42)
  })

  it('frees the claims of a network so its VNI can be reused', async () => {
    const a = allocator(cluster.node('n1'), clock)
    await a.start()
    await settled(clock, a.allocate('net-a'))
    await a.free('net-a')
    assert.equal(a.vniOf('net-a'), undefined)
    assert.equal(await settled(clock, a.allocate('net-b')), 4096)
  })

  it('fails when the range is exhausted', async () => {
    const a = allocator(cluster.node('n1'), clock, { range: [4096, 4097] })
    await a.start()
    await settled(clock, a.allocate('x'))
    await settled(clock, a.allocate('y'))
    await assert.rejects(a.allocate('z'), VniExhaustedError)
    assert.throws(() => allocator(cluster.node('n9'), clock, { range: [10, 5] }), InvalidParameterError)
  })

  it('concurrent claims of one VNI: the earliest wins, the loser moves to another VNI', async () => {
    const d1 = cluster.node('n1')
    const d2 = cluster.node('n2')
    const a = allocator(d1, clock, { random: () => 0.5 })
    const b = allocator(d2, clock, { random: () => 0.25 })
    await a.start()
    await b.start()
    cluster.partition(d1, d2) // neither sees the other's claim before both claimed
    d2.tick(10) // n2's claim gets the later Lamport time
    const pa = a.allocate('net-a')
    const pb = b.allocate('net-b')
    await clock.advance(0)
    cluster.heal()
    cluster.sync()
    const [va, vb] = await Promise.all([settled(clock, pa), settled(clock, pb)])
    assert.equal(va, 4096, 'earliest claim keeps the VNI')
    assert.notEqual(vb, 4096)
    assert.ok(vb >= 4096 && vb <= 16_777_215)
    assert.equal(a.vniOf('net-b'), vb, 'both nodes agree')
    assert.equal(b.vniOf('net-a'), 4096)
    assert.deepEqual(a.conflicts(), [], 'the loser withdrew its claim')
  })

  it('gives up after repeated lost claims', async () => {
    const d1 = cluster.node('n1')
    const d2 = cluster.node('n2')
    const b = allocator(d2, clock, { range: [4096, 4096], maxAttempts: 2 })
    await b.start()
    // An earlier claim of the only VNI appears while n2 waits.
    cluster.partition(d1, d2)
    d2.tick(50)
    const p = b.allocate('net-b').then(() => undefined, (e: unknown) => e)
    await clock.advance(0)
    await d1.createEntry(VNI_TABLE, OVERLAY_GLOBAL_NETWORK, '4096/net-a', encodeVniClaim({ vni: 4096, nid: 'net-a' }))
    cluster.heal()
    cluster.sync()
    const err = await settled(clock, p)
    assert.ok(err instanceof VniExhaustedError || err instanceof VniConflictError, String(err))
    assert.equal(b.vniOf('net-b'), undefined)
    assert.deepEqual(b.claims().map(c => c.nid), ['net-a'], 'the lost claim was withdrawn')
  })

  it('while a member is failed (a partition whose other side allocates too) the first pick is random, not the lowest', async () => {
    const d1 = cluster.node('n1')
    const d2 = cluster.node('n2')
    const a = allocator(d1, clock, { random: () => 0.25 })
    const b = allocator(d2, clock, { random: () => 0.75 })
    await a.start()
    await b.start()
    cluster.partition(d1, d2)
    d1.memberFailed(d2.nodeId)
    d2.memberFailed(d1.nodeId)
    const [va, vb] = [await settled(clock, a.allocate('net-a')), await settled(clock, b.allocate('net-b'))]
    assert.notEqual(va, 4096)
    assert.notEqual(va, vb)
    cluster.heal()
    cluster.sync()
    d1.memberAlive(d2.nodeId)
    d2.memberAlive(d1.nodeId)
    await clock.advance(0)
    assert.deepEqual(a.conflicts(), [])
    assert.equal(await settled(clock, a.allocate('net-c')), 4096, 'serial again once everyone is reachable')
  })

  it('a conflict found after a partition heals is reported, the earliest keeps the VNI', async () => {
    const d1 = cluster.node('n1')
    const d2 = cluster.node('n2')
    const metrics = new MemoryMetrics()
    const logger = memoryLogger()
    const a = allocator(d1, clock)
    const b = new VniAllocator({ db: d2, clock, logger, metrics, settleMs: SETTLE })
    await a.start()
    await b.start()
    cluster.partition(d1, d2)
    assert.equal(await settled(clock, a.allocate('net-a')), 4096)
    d2.tick(100)
    assert.equal(await settled(clock, b.allocate('net-b')), 4096)
    cluster.heal()
    cluster.sync()
    await clock.advance(0)
    const c = b.conflicts()
    assert.equal(c.length, 1)
    assert.equal(c[0]!.winner.nid, 'net-a')
    assert.deepEqual(c[0]!.losers.map(l => l.nid), ['net-b'])
    assert.equal(b.vniOf('net-b'), undefined)
    assert.equal(metrics.total('ovnet_overlay_vni_conflicts_total'), 1)
    assert.ok(logger.lines.some(l => l.level === 'error' && /lost/.test(l.msg ?? '')))
  })

  it('claim order: Lamport time, then owner, then network id', () => {
    assert.ok(claimBeats({ vni: 1, nid: 'z', owner: 'z', ltime: 1 }, { vni: 1, nid: 'a', owner: 'a', ltime: 2 }))
    assert.ok(claimBeats({ vni: 1, nid: 'z', owner: 'a', ltime: 2 }, { vni: 1, nid: 'a', owner: 'b', ltime: 2 }))
    assert.ok(claimBeats({ vni: 1, nid: 'a', owner: 'a', ltime: 2 }, { vni: 1, nid: 'b', owner: 'a', ltime: 2 }))
    assert.ok(!claimBeats({ vni: 1, nid: 'b', owner: 'a', ltime: 2 }, { vni: 1, nid: 'a', owner: 'a', ltime: 2 }))
  })

  it('parses vxlanid_list', () => {
    assert.deepEqual(parseVxlanIdList('4097, 4098'), [4097, 4098])
    assert.throws(() => parseVxlanIdList(''), InvalidParameterError)
    assert.throws(() => parseVxlanIdList('12a'), InvalidParameterError)
    assert.throws(() => parseVxlanIdList('16777216'), InvalidParameterError)
    assert.throws(() => parseVxlanIdList('0'), InvalidParameterError)
  })

  it('through the driver: networkAllocate returns the option createNetwork then uses', async () => {
    const db = cluster.node('n1')
    const { driver } = rig({ db, clock, vni: { settleMs: SETTLE } })
    await driver.start()
    const opts = await settled(clock, driver.networkAllocate('net-a', {}, IPAM, []))
    assert.deepEqual(opts, { [VXLANID_LIST]: '4096' })
    assert.deepEqual(await settled(clock, driver.networkAllocate('net-b', { [VXLANID_LIST]: '7000' }, IPAM, [])), { [VXLANID_LIST]: '7000' })
    await assert.rejects(driver.networkAllocate('net-c', { [VXLANID_LIST]: '7001,7002' }, IPAM, []), InvalidParameterError)
    // Without the option, createNetwork finds the network's claim.
    await driver.createNetwork('net-a', {}, new RecordingNetworkInfo(), IPAM, [])
    assert.equal(driver.status().networks[0]!.vni, 4096)
    await driver.networkFree('net-b')
    assert.equal(driver.allocator!.vniOf('net-b'), undefined)
    await driver.stop()
  })

  it('without NetworkDB only explicit VNIs can be allocated', async () => {
    const { driver } = rig()
    assert.deepEqual(await driver.networkAllocate('n', { [VXLANID_LIST]: '4100' }, IPAM, []), { [VXLANID_LIST]: '4100' })
    await assert.rejects(driver.networkAllocate('n', {}, IPAM, []), NotImplementedError)
  })
})
