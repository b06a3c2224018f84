import assert from 'node:assert/strict'
import { PEER_TABLE } from '../../proto/index.js'
import { MemoryDataplane } from '../../overlay/dataplane-memory.js'
import {
  ActiveEndpointsError, EndpointExistsError, InvalidJoinError, InvalidParameterError, NoEndpointError, NoNetworkError, ObjectType
} from '../../overlay/driverapi.js'
import { EndpointInterface, EndpointJoinInfo } from '../../overlay/endpoint-info.js'
import { NetworkExistsError, NoVniError } from '../../overlay/errors.js'
import { diffTables } from '../../overlay/reconciler.js'
import {
  createNet, IPAM, joinLocal, NID, notify, rec, RecordingNetworkInfo, rig, SANDBOX, VTEP, type Rig
} from './helpers.js'

const A = '02:42:0a:00:00:05'
const B = '02:42:0a:00:00:06'
const C = '02:42:0a:00:00:07'
const H2 = '192.0.2.2'
const H3 = '192.0.2.3'

/** A driver with one network and one local endpoint joined, so the sandbox exists. */
async function ready (opts: Parameters<typeof rig>[0] = {}): Promise<Rig> {
  const r = rig(opts)
  await createNet(r.driver)
  await joinLocal(r.driver, 'local1', '10.0.0.2')
  return r
}

describe('overlay driver: peer events to FDB and neighbours', () => {
  it('create programs one FDB entry (MAC -> VTEP) and one neighbour entry (IP -> MAC)', async () => {
    const { driver, dp } = await ready()
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.5': A })
    assert.ok([...dp.tables(SANDBOX).fdb.values()].every(e => e.permanent))
  })

  it('update to another VTEP moves the FDB entry; update of the IP replaces the neighbour', async () => {
    const { driver, dp } = await ready()
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    notify(driver, 'ep1', rec('10.0.0.5', A, H3))
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H3 })
    notify(driver, 'ep1', rec('10.0.0.9', A, H3))
    await driver.flush()
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.9': A })
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H3 })
  })

  it('delete removes both entries; deleting an unknown key changes nothing', async () => {
    const { driver, dp } = await ready()
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    notify(driver, 'ep2', rec('10.0.0.6', B, H3))
    await driver.flush()
    notify(driver, 'ep1', undefined)
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [B]: H3 })
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.6': B })
    const batches = dp.count('apply')
    notify(driver, 'nope', undefined)
    await driver.flush()
    assert.equal(dp.count('apply'), batches)
  })

  it('a duplicate delivery sends nothing to the kernel', async () => {
    const { driver, dp } = await ready()
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    const batches = dp.count('apply')
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    assert.equal(dp.count('apply'), batches)
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
  })

  it('out of order: a delete before its create is a no-op; an update of an unknown key acts as a create', async () => {
    const { driver, dp } = await ready()
    notify(driver, 'ep1', undefined)
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    driver.eventNotify(NID, PEER_TABLE, 'ep2', rec('10.0.0.1', C, H3), rec('10.0.0.6', B, H3))
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2, [B]: H3 })
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.5': A, '10.0.0.6': B })
  })

  it("ignores this host's own announcements, and removes a peer whose update points to this host", async () => {
    const { driver, dp } = await ready()
    notify(driver, 'mine', rec('10.0.0.8', C, VTEP))
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
    notify(driver, 'ep1', rec('10.0.0.5', A, VTEP))
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), {})
    assert.deepEqual(dp.neighOf(SANDBOX), {})
  })

  it('the same IP from two hosts resolves to the newest; deleting the newest restores the other', async () => {
    const { driver, dp } = await ready()
    notify(driver, 'old', rec('10.0.0.5', A, H2))
    await driver.flush()
    notify(driver, 'new', rec('10.0.0.5', B, H3))
    await driver.flush()
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.5': B })
    assert.deepEqual(dp.fdbOf(SANDBOX), { [B]: H3 }, 'the older entry is removed from the kernel')
    const st = driver.status().networks[0]!.peers
    assert.deepEqual(st.map(p => [p.eid, p.state]), [['new', 'programmed'], ['old', 'shadowed']])
    notify(driver, 'new', undefined)
    await driver.flush()
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.5': A })
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
  })

  it('a moved endpoint with the same generated MAC follows the newest VTEP and falls back', async () => {
    const { driver, dp } = await ready()
    notify(driver, 'e-on-h2', rec('10.0.0.5', A, H2))
    notify(driver, 'e-on-h3', rec('10.0.0.5', A, H3))
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H3 })
    notify(driver, 'e-on-h3', undefined)
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.5': A })
  })

  it('a local endpoint shadows a remote announcement of its IP until it leaves', async () => {
    const { driver, dp } = await ready()
    notify(driver, 'stale', rec('10.0.0.2', A, H2)) // 10.0.0.2 is local1's address
    await driver.flush()
    assert.deepEqual(dp.neighOf(SANDBOX), {})
    await joinLocal(driver, 'local2', '10.0.0.3')
    await driver.leave(NID, 'local1')
    await driver.flush()
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.2': A })
  })

  it('keeps events that arrive before the sandbox (and before the network) and replays them', async () => {
    const r = rig()
    notify(r.driver, 'early', rec('10.0.0.4', C, H3))
    assert.deepEqual(r.driver.status().pendingNetworks, { [NID]: 1 })
    await createNet(r.driver)
    notify(r.driver, 'ep1', rec('10.0.0.5', A, H2))
    notify(r.driver, 'ep2', rec('10.0.0.6', B, H2))
    notify(r.driver, 'ep2', undefined)
    await r.clock.advance(10)
    assert.equal(r.dp.count('apply'), 0)
    assert.equal(r.dp.sandboxes.size, 0)
    assert.equal(r.driver.status().networks[0]!.peers.find(p => p.eid === 'ep1')!.state, 'pending')
    await joinLocal(r.driver, 'local1', '10.0.0.2')
    assert.deepEqual(r.dp.fdbOf(SANDBOX), { [A]: H2, [C]: H3 })
    assert.deepEqual(r.dp.neighOf(SANDBOX), { '10.0.0.4': C, '10.0.0.5': A })
    assert.equal(r.dp.count('apply'), 1, 'replayed in one batch')
    assert.equal(r.dp.count('readTables'), 0, 'a sandbox made now has empty tables: not read back')
  })

  it('coalesces a burst of events into one kernel batch', async () => {
    const { driver, dp, clock } = await ready({ batchDelayMs: 5 })
    const before = dp.count('apply')
    for (let i = 0; i < 200; i++) {
      const hex = i.toString(16).padStart(2, '0')
      notify(driver, `ep${i}`, rec(`10.0.1.${i}`, `02:42:0a:00:01:${hex}`, i % 2 === 0 ? H2 : H3))
    }
    await clock.advance(5)
    assert.equal(dp.count('apply') - before, 1)
    assert.equal(dp.batches.at(-1)!.ops.length, 400)
    assert.equal(Object.keys(dp.fdbOf(SANDBOX)).length, 200)
  })

  it('ignores undecodable records (counted) and stops programming the value they replace', async () => {
    const { driver, dp, metrics } = await ready()
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    notify(driver, 'ep1', new Uint8Array([1, 2, 3]))
    notify(driver, 'ep9', new Uint8Array([0xc0]))
    driver.eventNotify(NID, 'other_table', 'x', undefined, rec('10.0.0.7', C, H2))
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), {})
    assert.equal(metrics.total('ovnet_overlay_bad_peer_records_total'), 2)
  })

  it('decodeTableEntry answers the endpoint id and its host', () => {
    const { driver } = rig()
    assert.deepEqual(driver.decodeTableEntry(PEER_TABLE, 'ep1', rec('10.0.0.5', A, H2)), ['ep1', { 'Host IP': H2 }])
    assert.deepEqual(driver.decodeTableEntry(PEER_TABLE, 'ep1', new Uint8Array([9])), ['ep1', {}])
    assert.deepEqual(driver.decodeTableEntry('other', 'k', new Uint8Array()), ['k', {}])
  })
})

describe('overlay driver: reconciliation', () => {
  it('repairs a deleted entry, a wrong destination, a stale extra and kernel-learnt entries', async () => {
    const { driver, dp, metrics } = await ready()
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    notify(driver, 'ep2', rec('10.0.0.6', B, H3))
    notify(driver, 'ep3', rec('10.0.0.7', C, H3))
    await driver.flush()
    const t = dp.tables(SANDBOX)
    t.fdb.delete(A) // deleted by hand
    t.neigh.delete('10.0.0.5')
    t.fdb.set(B, { mac: B, dst: '192.0.2.99', permanent: true }) // wrong dst
    t.fdb.set('02:42:0a:00:00:63', { mac: '02:42:0a:00:00:63', dst: H2, permanent: true }) // stale extra
    t.neigh.set('10.0.0.99', { ip: '10.0.0.99', mac: '02:42:0a:00:00:63', permanent: true })
    dp.simulateLearned(SANDBOX, C, H3) // right dst, but dynamic
    t.neigh.set('10.0.0.7', { ip: '10.0.0.7', mac: C, permanent: false })
    const [report] = await driver.reconcile()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2, [B]: H3, [C]: H3 })
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.5': A, '10.0.0.6': B, '10.0.0.7': C })
    assert.ok([...t.fdb.values(), ...t.neigh.values()].every(e => e.permanent))
    assert.deepEqual({ missing: report!.missing, wrong: report!.wrong, learned: report!.learned, stale: report!.stale },
      { missing: 2, wrong: 1, learned: 2, stale: 2 })
    assert.equal(metrics.total('ovnet_overlay_reconcile_repairs_total'), 7)
    const [again] = await driver.reconcile()
    assert.equal(again!.missing + again!.wrong + again!.learned + again!.stale, 0)
  })

  it('moby#53663: a re-announced peer overwrites an entry the kernel learnt meanwhile', async () => {
    const { driver, dp } = await ready()
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    notify(driver, 'ep1', undefined) // the peer was declared failed
    await driver.flush()
    dp.simulateLearned(SANDBOX, A, '192.0.2.77')
    notify(driver, 'ep1', rec('10.0.0.5', A, H2)) // it rejoins
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
    assert.equal(dp.tables(SANDBOX).fdb.get(A)!.permanent, true)
  })

  it('after a failed batch it retries with a full reconcile and reports the error meanwhile', async () => {
    const { driver, dp, clock, metrics } = await ready({ retryMs: 100 })
    dp.failNext('apply')
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), {})
    assert.match(driver.status().networks[0]!.lastError ?? '', /injected/)
    assert.equal(driver.status().networks[0]!.peers[0]!.state, 'pending')
    assert.equal(metrics.total('ovnet_overlay_dataplane_errors_total'), 1)
    const reads = dp.count('readTables')
    await clock.advance(100)
    assert.equal(dp.count('readTables'), reads + 1, 'the retry reads the kernel')
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
    assert.equal(driver.status().networks[0]!.lastError, undefined)
    assert.equal(driver.status().networks[0]!.peers[0]!.state, 'programmed')
  })

  it('backs off on repeated failures', async () => {
    const { driver, dp, clock } = await ready({ retryMs: 100 })
    dp.failNext('apply', 1)
    dp.failNext('readTables', 2)
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    await clock.advance(100) // 1st retry fails (read)
    await clock.advance(100) // 2nd retry is due at +200
    assert.deepEqual(dp.fdbOf(SANDBOX), {})
    await clock.advance(100) // 2nd retry fails, 3rd due at +400
    await clock.advance(400)
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
  })

  it('runs periodically when configured', async () => {
    const { driver, dp, clock } = await ready({ reconcileIntervalMs: 1000 })
    await driver.start()
    notify(driver, 'ep1', rec('10.0.0.5', A, H2))
    await driver.flush()
    dp.tables(SANDBOX).fdb.clear()
    await clock.advance(1000)
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
    await driver.stop()
  })

  it('diffTables: exact ops for each kind of drift', () => {
    const desired = { fdb: new Map([[A, H2], [B, H3]]), neigh: new Map([['10.0.0.5', A]]) }
    const { ops, drift } = diffTables(desired, {
      fdb: [{ mac: A, dst: H2, permanent: true }, { mac: C, dst: H2, permanent: false }],
      neigh: [{ ip: '10.0.0.5', mac: B, permanent: true }]
    })
    assert.deepEqual(ops, [
      { op: 'del', kind: 'fdb', mac: C },
      { op: 'add', kind: 'fdb', mac: B, dst: H3 },
      { op: 'add', kind: 'neigh', ip: '10.0.0.5', mac: A }
    ])
    assert.deepEqual(drift, { missing: 1, wrong: 1, learned: 0, stale: 1 })
  })
})

describe('overlay driver: networks, endpoints, sandboxes', () => {
  it('creates the sandbox on the first join with the network spec and removes it with the last leave', async () => {
    const { driver, dp } = rig()
    const info = await createNet(driver, NID, 4097)
    assert.deepEqual(info.tables, [[PEER_TABLE, ObjectType.EndpointObject]])
    assert.equal(dp.sandboxes.size, 0)
    const j = await joinLocal(driver, 'ep-a', '10.0.0.2')
    assert.deepEqual(dp.sandboxes.get(SANDBOX)!.spec, { name: SANDBOX, vni: 4097, vtep: VTEP, dstPort: 4789, mtu: 1450, gateway: '10.0.0.1/24', owner: `ovnet:n1:${NID}` })
    assert.equal(j.gateway, '10.0.0.1')
    assert.equal(j.tableEntries.length, 1)
    assert.equal(j.tableEntries[0]!.tableName, PEER_TABLE)
    assert.deepEqual(driver.decodeTableEntry(PEER_TABLE, 'ep-a', j.tableEntries[0]!.value), ['ep-a', { 'Host IP': VTEP }])
    assert.deepEqual(j.names, { srcName: 've-ep-a', dstPrefix: 'eth', dstName: 'eth0' })
    const ep = dp.sandboxes.get(SANDBOX)!.endpoints.get('ep-a')!
    assert.deepEqual(ep, { sandbox: SANDBOX, eid: 'ep-a', containerNetns: 'ctr-ep-a', ifName: 'eth0', mac: '02:42:0a:00:00:02', address: '10.0.0.2/24', gateway: '10.0.0.1', mtu: 1450 })
    await joinLocal(driver, 'ep-b', '10.0.0.3')
    await driver.leave(NID, 'ep-a')
    assert.equal(dp.sandboxes.get(SANDBOX)!.endpoints.size, 1)
    await driver.leave(NID, 'ep-b')
    assert.equal(dp.sandboxes.size, 0)
  })

  it('MTU: driver option over network option over underlay - 50', async () => {
    const a = rig({}, new MemoryDataplane({ underlayMtu: 9000 }))
    await createNet(a.driver)
    await joinLocal(a.driver, 'e', '10.0.0.2')
    assert.equal(a.dp.sandboxes.get(SANDBOX)!.spec.mtu, 8950)
    const b = rig()
    await createNet(b.driver, NID, 4097, { 'com.docker.network.generic': { 'com.docker.network.driver.mtu': '1400' } })
    await joinLocal(b.driver, 'e', '10.0.0.2')
    assert.equal(b.dp.sandboxes.get(SANDBOX)!.spec.mtu, 1400)
    const c = rig({ mtu: 1300 })
    await createNet(c.driver, NID, 4097, { 'com.docker.network.driver.mtu': '1400' })
    await joinLocal(c.driver, 'e', '10.0.0.2')
    assert.equal(c.dp.sandboxes.get(SANDBOX)!.spec.mtu, 1300)
  })

  it('createEndpoint generates the MAC from the IP and validates the address', async () => {
    const { driver } = rig()
    await createNet(driver)
    const ifi = new EndpointInterface({ address: '10.0.0.5/24' })
    await driver.createEndpoint(NID, 'e1', ifi, {})
    assert.equal(ifi.macAddress(), '02:42:0a:00:00:05')
    await assert.rejects(driver.createEndpoint(NID, 'e1', new EndpointInterface({ address: '10.0.0.6/24' }), {}), EndpointExistsError)
    await assert.rejects(driver.createEndpoint(NID, 'e2', new EndpointInterface({ address: '10.9.0.6/24' }), {}), InvalidParameterError)
    await assert.rejects(driver.createEndpoint(NID, 'e3', new EndpointInterface(), {}), InvalidParameterError)
    await assert.rejects(driver.createEndpoint(NID, 'e4', new EndpointInterface({ address: '10.0.0.7/24', mac: 'zz' }), {}), InvalidParameterError)
    await assert.rejects(driver.createEndpoint(NID, 'e4', new EndpointInterface({ address: '10.0.0.7/24', mac: '01:00:5e:00:00:01' }), {}), InvalidParameterError)
    await driver.createEndpoint(NID, 'e6', new EndpointInterface({ address: '10.0.0.9/24', mac: '02:AA:BB:CC:DD:EE' }), {})
    assert.equal((await driver.endpointOperInfo(NID, 'e6'))['com.docker.network.endpoint.macaddress'], '02:aa:bb:cc:dd:ee')
    await assert.rejects(driver.createEndpoint('nonet', 'e5', new EndpointInterface({ address: '10.0.0.8/24' }), {}), NoNetworkError)
    assert.deepEqual(await driver.endpointOperInfo(NID, 'e1'), { 'com.docker.network.endpoint.macaddress': '02:42:0a:00:00:05', address: '10.0.0.5/24', joined: false })
    await assert.rejects(driver.endpointOperInfo(NID, 'zz'), NoEndpointError)
  })

  it('createNetwork validates its input', async () => {
    const { driver } = rig()
    const info = new RecordingNetworkInfo()
    await assert.rejects(driver.createNetwork(NID, {}, info, IPAM, []), NoVniError)
    await assert.rejects(driver.createNetwork(NID, { 'com.docker.network.driver.overlay.vxlanid_list': 'x' }, info, IPAM, []), InvalidParameterError)
    await assert.rejects(driver.createNetwork(NID, { 'com.docker.network.driver.overlay.vxlanid_list': '99999999' }, info, IPAM, []), InvalidParameterError)
    await assert.rejects(createNet(driver, NID, 4097, { 'com.docker.network.driver.mtu': '12' }), InvalidParameterError)
    const two = [...IPAM, { addressSpace: 'GlobalDefault', pool: '10.0.1.0/24' }]
    await assert.rejects(driver.createNetwork(NID, { 'com.docker.network.driver.overlay.vxlanid_list': '4097' }, info, two, []), InvalidParameterError)
    await assert.rejects(driver.createNetwork(NID, { 'com.docker.network.driver.overlay.vxlanid_list': '4097' }, info, IPAM, [{ addressSpace: 'x', pool: 'fd00::/64' }]), InvalidParameterError)
    await assert.rejects(driver.createNetwork(NID, { 'com.docker.network.driver.overlay.vxlanid_list': '4097' }, info, [{ addressSpace: 'x', pool: '10.0.0.0/24', gateway: '10.1.0.1/24' }], []), InvalidParameterError)
    assert.deepEqual(info.tables, [], 'nothing registered on failure')
    await createNet(driver)
    await assert.rejects(createNet(driver), NetworkExistsError)
    assert.throws(() => rig({ nodeName: 'bad/name' }), InvalidParameterError)
    assert.throws(() => rig({ dstPort: 80 }), InvalidParameterError)
  })

  it('join errors: a second join, and a failing veth leave no sandbox behind', async () => {
    const dp = new MemoryDataplane({ containerNetns: new Set(['ctr-ok']) })
    const { driver } = rig({}, dp)
    await createNet(driver)
    await driver.createEndpoint(NID, 'e1', new EndpointInterface({ address: '10.0.0.5/24' }), {})
    await assert.rejects(driver.join(NID, 'e1', 'ctr-missing', new EndpointJoinInfo(), {}, {}), /does not exist/)
    assert.equal(dp.sandboxes.size, 0)
    await driver.join(NID, 'e1', 'ctr-ok', new EndpointJoinInfo(), {}, {})
    await assert.rejects(driver.join(NID, 'e1', 'ctr-ok', new EndpointJoinInfo(), {}, {}), InvalidJoinError)
    await assert.rejects(driver.deleteNetwork(NID), ActiveEndpointsError)
    await driver.deleteEndpoint(NID, 'e1') // leaves first
    assert.equal(dp.sandboxes.size, 0)
    await driver.deleteNetwork(NID)
    await assert.rejects(driver.deleteNetwork(NID), NoNetworkError)
  })

  it('custom interface name through the endpoint option', async () => {
    const { driver, dp } = rig()
    await createNet(driver)
    await driver.createEndpoint(NID, 'e1', new EndpointInterface({ address: '10.0.0.5/24' }), {})
    await driver.join(NID, 'e1', 'c1', new EndpointJoinInfo(), { 'ovnet.ifname': 'ov0' }, {})
    assert.equal(dp.sandboxes.get(SANDBOX)!.endpoints.get('e1')!.ifName, 'ov0')
  })

  it('capability and type', () => {
    const { driver } = rig()
    assert.deepEqual(driver.capability(), { dataScope: 'global', connectivityScope: 'global' })
    assert.equal(driver.type(), 'overlay')
    assert.equal(driver.isBuiltIn(), true)
  })
})

describe('overlay driver: restart and stop', () => {
  it('after a crash, adopts its sandbox, repairs it, and removes orphans and stale veths', async () => {
    const dp = new MemoryDataplane()
    const first = rig({}, dp)
    await createNet(first.driver)
    await joinLocal(first.driver, 'e1', '10.0.0.2')
    await joinLocal(first.driver, 'gone', '10.0.0.3')
    notify(first.driver, 'p1', rec('10.0.0.5', A, H2))
    notify(first.driver, 'p2', rec('10.0.0.6', B, H2))
    await first.driver.flush()
    await first.driver.stop({ keepDataplane: true }) // kill -9: the kernel keeps everything
    await dp.ensureSandbox({ name: 'ovnet-n1-deadbeef0000', vni: 5000, vtep: VTEP, dstPort: 4789, mtu: 1450 })
    await dp.ensureSandbox({ name: 'ovnet-n2-a1b2c3d4e5f6', vni: 4097, vtep: '192.0.2.2', dstPort: 4789, mtu: 1450 })
    // Node "n1-x" shares the name prefix "ovnet-n1-": its tagged and untagged sandboxes are not ours.
    await dp.ensureSandbox({ name: 'ovnet-n1-x-a1b2c3d4e5f6', vni: 4099, vtep: '192.0.2.3', dstPort: 4789, mtu: 1450, owner: 'ovnet:n1-x:a1b2c3d4e5f6' })
    await dp.ensureSandbox({ name: 'ovnet-n1-x-b1b2c3d4e5f6', vni: 4098, vtep: '192.0.2.3', dstPort: 4789, mtu: 1450 })

    const second = rig({}, dp)
    await second.driver.start()
    assert.deepEqual(second.driver.status().unclaimedSandboxes.sort(), ['ovnet-n1-a1b2c3d4e5f6', 'ovnet-n1-deadbeef0000'])
    await createNet(second.driver)
    notify(second.driver, 'p1', rec('10.0.0.5', A, H2)) // p2 went away meanwhile
    await joinLocal(second.driver, 'e1', '10.0.0.2')
    const net = second.driver.status().networks[0]!
    assert.equal(net.origin, 'adopted')
    assert.ok(dp.count('readTables') >= 1, 'an adopted sandbox is read before it is repaired')
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.5': A })
    assert.equal(dp.count('removeSandbox'), 0)
    await second.driver.restoreComplete()
    assert.deepEqual([...dp.sandboxes.keys()].sort(), ['ovnet-n1-a1b2c3d4e5f6', 'ovnet-n1-x-a1b2c3d4e5f6', 'ovnet-n1-x-b1b2c3d4e5f6', 'ovnet-n2-a1b2c3d4e5f6'],
      "other nodes' sandboxes are not ours")
    assert.deepEqual([...dp.sandboxes.get(SANDBOX)!.endpoints.keys()], ['e1'])
  })

  it('rebuilds a previous sandbox whose VNI no longer matches', async () => {
    const dp = new MemoryDataplane()
    await dp.ensureSandbox({ name: SANDBOX, vni: 9999, vtep: VTEP, dstPort: 4789, mtu: 1450 })
    dp.tables(SANDBOX).fdb.set(A, { mac: A, dst: H2, permanent: true })
    const { driver } = rig({}, dp)
    await driver.start()
    await createNet(driver, NID, 4097)
    await joinLocal(driver, 'e1', '10.0.0.2')
    assert.equal(driver.status().networks[0]!.origin, 'rebuilt')
    assert.equal(dp.sandboxes.get(SANDBOX)!.spec.vni, 4097)
    assert.deepEqual(dp.fdbOf(SANDBOX), {})
  })

  it('removes unclaimed sandboxes after the grace period', async () => {
    const dp = new MemoryDataplane()
    await dp.ensureSandbox({ name: SANDBOX, vni: 4097, vtep: VTEP, dstPort: 4789, mtu: 1450 })
    const { driver, clock } = rig({ orphanGraceMs: 1000 }, dp)
    await driver.start()
    await clock.advance(999)
    assert.equal(dp.sandboxes.size, 1)
    await clock.advance(1)
    assert.equal(dp.sandboxes.size, 0)
  })

  it('a graceful stop removes everything it created', async () => {
    const { driver, dp } = rig()
    await createNet(driver, NID, 4097)
    await createNet(driver, 'b0b0b0b0b0b0b0', 4098)
    await joinLocal(driver, 'e1', '10.0.0.2')
    await joinLocal(driver, 'e2', '10.0.0.3', 'b0b0b0b0b0b0b0')
    assert.equal(dp.sandboxes.size, 2)
    await driver.stop()
    assert.equal(dp.sandboxes.size, 0)
  })
})
