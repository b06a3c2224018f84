import assert from 'node:assert/strict'
import { memoryLogger } from '../../core/index.js'
import { PEER_TABLE } from '../../proto/index.js'
import { MemoryDataplane } from '../../overlay/dataplane-memory.js'
import { InvalidParameterError, ObjectType, type TableWatcher } from '../../overlay/driverapi.js'
import { EndpointInterface, EndpointJoinInfo } from '../../overlay/endpoint-info.js'
import { TableGlue } from '../../overlay/table-glue.js'
import { VXLANID_LIST } from '../../overlay/vni.js'
import { FakeCluster } from './fake-networkdb.js'
import { IPAM, rig } from './helpers.js'

type Call = [string, string, string, string | undefined, string | undefined]

class Recorder implements TableWatcher {
  readonly calls: Call[] = []
  eventNotify (nid: string, table: string, key: string, prev: Uint8Array | undefined, value: Uint8Array | undefined): void {
    const s = (b: Uint8Array | undefined): string | undefined => b === undefined ? undefined : Buffer.from(b).toString()
    this.calls.push([nid, table, key, s(prev), s(value)])
  }

  decodeTableEntry (_t: string, key: string): [string, Record<string, string>] { return [key, {}] }
}

const b = (s: string): Uint8Array => Buffer.from(s)

describe('overlay table glue: NetworkDB watch -> eventNotify', () => {
  it('replays existing entries, then routes creates, updates and deletes of registered tables only', async () => {
    const cluster = new FakeCluster()
    const db = cluster.node('n1')
    const other = cluster.node('n2')
    await other.createEntry('t1', 'net1', 'k0', b('v0'))
    const rec = new Recorder()
    const glue = new TableGlue(db, rec)
    glue.networkInfo('net1').tableEventRegister('t1', ObjectType.EndpointObject)
    glue.networkInfo('net1').tableEventRegister('t1', ObjectType.EndpointObject) // twice: one watch
    assert.deepEqual(glue.registered('net1'), [{ table: 't1', objType: ObjectType.EndpointObject }])
    await other.createEntry('t1', 'net1', 'k1', b('v1'))
    await other.updateEntry('t1', 'net1', 'k1', b('v2'))
    await other.deleteEntry('t1', 'net1', 'k1')
    await other.createEntry('t1', 'net2', 'k9', b('x')) // other network
    await other.createEntry('t2', 'net1', 'k9', b('x')) // other table
    assert.deepEqual(rec.calls, [
      ['net1', 't1', 'k0', undefined, 'v0'],
      ['net1', 't1', 'k1', undefined, 'v1'],
      ['net1', 't1', 'k1', 'v1', 'v2'],
      ['net1', 't1', 'k1', 'v2', undefined]
    ])
    glue.release('net1')
    await other.createEntry('t1', 'net1', 'k3', b('v3'))
    assert.equal(rec.calls.length, 4)
    assert.equal(db.watcherCount(), 0)
  })

  it('validates registrations and contains a throwing driver', async () => {
    const cluster = new FakeCluster()
    const db = cluster.node('n1')
    const logger = memoryLogger()
    const glue = new TableGlue(db, { eventNotify () { throw new Error('boom') }, decodeTableEntry: (_t, k) => [k, {}] }, logger)
    const info = glue.networkInfo('net1')
    assert.throws(() => { info.tableEventRegister('t', 7 as ObjectType) }, InvalidParameterError)
    assert.throws(() => { info.tableEventRegister('', ObjectType.OpaqueObject) }, InvalidParameterError)
    info.tableEventRegister('t', ObjectType.OpaqueObject)
    await db.createEntry('t', 'net1', 'k', b('v'))
    assert.ok(logger.lines.some(l => l.level === 'error' && l.msg === 'driver eventNotify failed'))
    glue.close()
    assert.equal(db.watcherCount(), 0)
  })

  it('publishes join entries idempotently and withdraws them', async () => {
    const cluster = new FakeCluster()
    const db = cluster.node('n1')
    const glue = new TableGlue(db, new Recorder())
    const entries = [{ tableName: PEER_TABLE, key: 'e1', value: b('one') }]
    await glue.publish('net1', entries)
    await glue.publish('net1', [{ tableName: PEER_TABLE, key: 'e1', value: b('two') }])
    assert.equal(Buffer.from(db.getEntry(PEER_TABLE, 'net1', 'e1')!.value).toString(), 'two')
    await glue.withdraw('net1', entries)
    await glue.withdraw('net1', entries)
    assert.equal(db.getEntry(PEER_TABLE, 'net1', 'e1'), undefined)
  })

  it('end to end: two hosts learn each other through the peer table and forget on leave', async () => {
    const cluster = new FakeCluster()
    const hosts = [['h1', '192.0.2.1'], ['h2', '192.0.2.2']].map(([name, vtep]) => {
      const db = cluster.node(name!, vtep)
      const dp = new MemoryDataplane()
      const { driver } = rig({ nodeName: name, vtep, db, dataplane: dp }, dp)
      return { name: name!, db, dp, driver, glue: new TableGlue(db, driver) }
    })
    const nid = 'feedfacecafe0001'
    const joins: EndpointJoinInfo[] = []
    for (const [i, h] of hosts.entries()) {
      await h.driver.createNetwork(nid, { [VXLANID_LIST]: '4200' }, h.glue.networkInfo(nid), IPAM, [])
      await h.driver.createEndpoint(nid, `ep${i}`, new EndpointInterface({ address: `10.0.0.${10 + i}/24` }), {})
      const j = new EndpointJoinInfo()
      await h.driver.join(nid, `ep${i}`, `c${i}`, j, {}, {})
      await h.glue.publish(nid, j.tableEntries)
      joins.push(j)
    }
    for (const h of hosts) await h.driver.flush()
    assert.deepEqual(hosts[0]!.dp.fdbOf(`ovnet-h1-${nid.slice(0, 12)}`), { '02:42:0a:00:00:0b': '192.0.2.2' })
    assert.deepEqual(hosts[1]!.dp.neighOf(`ovnet-h2-${nid.slice(0, 12)}`), { '10.0.0.10': '02:42:0a:00:00:0a' })
    assert.deepEqual(hosts[0]!.driver.status().networks[0]!.peers.map(p => p.state), ['programmed'])

    await hosts[1]!.driver.leave(nid, 'ep1')
    await hosts[1]!.glue.withdraw(nid, joins[1]!.tableEntries)
    await hosts[0]!.driver.flush()
    assert.deepEqual(hosts[0]!.dp.fdbOf(`ovnet-h1-${nid.slice(0, 12)}`), {})
    assert.deepEqual(hosts[0]!.dp.neighOf(`ovnet-h1-${nid.slice(0, 12)}`), {})
    assert.equal(hosts[1]!.dp.sandboxes.size, 0)
  })
})
