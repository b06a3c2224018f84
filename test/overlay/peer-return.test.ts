/**
 * Reconciling a network soon after a peer returns (overlay/peer-return.ts), at the driver level:
 * a fake NetworkDB (membership as one node sees it), the memory dataplane and the fake clock.
 */
import assert from 'node:assert/strict'
import { FakeClock } from '../../core/index.js'
import type { ClusterEvent, NodeStatus } from '../../networkdb/index.js'
import { PEER_TABLE } from '../../proto/index.js'
import { MemoryDataplane } from '../../overlay/dataplane-memory.js'
import type { PeerTables } from '../../overlay/dataplane.js'
import { Coalescer, ReturnDetector } from '../../overlay/peer-return.js'
import { TableGlue } from '../../overlay/table-glue.js'
import { VXLANID_LIST } from '../../overlay/vni.js'
import { FakeCluster, type FakeNetworkDB } from './fake-networkdb.js'
import { IPAM, joinLocal, NID, rec, rig, SANDBOX, VTEP, type Rig } from './helpers.js'

const A = '02:42:0a:00:00:05'
const B = '02:42:0a:00:00:06'
const H2 = '192.0.2.2'
const WRONG = '192.0.2.77'
const RETURNS = { trigger: 'peer-return', result: 'repaired' }

/** A readTables that can be held, to see a reconcile in progress; counts overlapping reads. */
class GatedDataplane extends MemoryDataplane {
  private gate: Promise<void> | undefined
  private release: (() => void) | undefined
  started = 0
  active = 0
  maxActive = 0

  hold (): void { this.gate = new Promise(resolve => { this.release = resolve }) }
  open (): void { this.release?.(); this.gate = this.release = undefined }

  override async readTables (sandbox: string): Promise<PeerTables> {
    this.started++
    this.active++
    this.maxActive = Math.max(this.maxActive, this.active)
    try {
      await this.gate
      return await super.readTables(sandbox)
    } finally {
      this.active--
    }
  }
}

interface Lab extends Rig { db: FakeNetworkDB, peers: FakeNetworkDB[], cluster: FakeCluster }

/**
 * This host (n1, with one local endpoint so the sandbox exists) and `peerCount` peers n2.. in the
 * network, the driver fed through the table glue; periodic reconciliation every 30 s.
 */
async function lab (peerCount: number, dp = new MemoryDataplane(), inNetwork = true): Promise<Lab> {
  const cluster = new FakeCluster()
  const db = cluster.node('n1', VTEP)
  const peers = Array.from({ length: peerCount }, (_, i) => cluster.node(`n${i + 2}`, `192.0.2.${i + 2}`))
  await db.joinNetwork(NID)
  if (inNetwork) for (const p of peers) await p.joinNetwork(NID)
  const r = rig({ db, reconcileIntervalMs: 30_000 }, dp)
  await r.driver.start()
  const glue = new TableGlue(db, r.driver)
  await r.driver.createNetwork(NID, { [VXLANID_LIST]: '4097' }, glue.networkInfo(NID), IPAM, [])
  await joinLocal(r.driver, 'local1', '10.0.0.2')
  return { ...r, db, peers, cluster }
}

const peerReturnPasses = (l: Rig): number =>
  l.metrics.get('ovnet_overlay_reconciles_total', RETURNS) + l.metrics.get('ovnet_overlay_reconciles_total', { trigger: 'peer-return', result: 'clean' })

describe('overlay driver: reconcile soon after a peer returns', () => {
  it('moby#53663 replay: entries planted while a peer was away are repaired well before the 30 s pass', async () => {
    const l = await lab(1)
    const { driver, dp, clock, db, cluster, metrics } = l
    const peer = l.peers[0]!
    await peer.createEntry(PEER_TABLE, NID, 'ep1', rec('10.0.0.5', A, H2))
    await peer.createEntry(PEER_TABLE, NID, 'ep2', rec('10.0.0.6', B, H2))
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2, [B]: H2 })

    // The peer is cut off and declared failed: its entries leave the kernel.
    cluster.partition(db, peer)
    db.memberFailed(peer.nodeId)
    await driver.flush()
    assert.deepEqual(dp.fdbOf(SANDBOX), {})
    // Meanwhile one of its endpoints goes, and the kernel gains entries nobody programmed.
    await peer.deleteEntry(PEER_TABLE, NID, 'ep2')
    dp.simulateLearned(SANDBOX, A, WRONG)
    dp.simulateLearned(SANDBOX, B, H2)

    // It returns: its state syncs (ep2's deletion arrives while it is still hidden), then alive.
    cluster.heal()
    cluster.sync()
    db.memberAlive(peer.nodeId)
    await driver.flush()
    // The returning endpoint is rewritten by the flush; nothing will ever announce B again.
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2, [B]: H2 })
    assert.equal(dp.tables(SANDBOX).fdb.get(B)!.permanent, false)
    assert.equal(peerReturnPasses(l), 0)

    await clock.advance(1000) // far less than the 30 s period
    assert.deepEqual(dp.fdbOf(SANDBOX), { [A]: H2 })
    assert.deepEqual(dp.neighOf(SANDBOX), { '10.0.0.5': A })
    assert.ok([...dp.tables(SANDBOX).fdb.values()].every(e => e.permanent))
    assert.equal(metrics.get('ovnet_overlay_reconciles_total', RETURNS), 1)
    assert.equal(metrics.get('ovnet_overlay_reconcile_repairs_total', { kind: 'stale' }), 1)
    assert.equal(metrics.get('ovnet_overlay_reconciles_total', { trigger: 'periodic', result: 'clean' }) +
      metrics.get('ovnet_overlay_reconciles_total', { trigger: 'periodic', result: 'repaired' }), 0)

    // The periodic pass is still there, and finds nothing left to do.
    await clock.advance(30_000)
    assert.equal(metrics.get('ovnet_overlay_reconciles_total', { trigger: 'periodic', result: 'clean' }), 1)
    await driver.stop()
  })

  it('a burst of returns causes one reconcile of the network; a later return another', async () => {
    const l = await lab(4)
    const { dp, clock, db } = l
    for (const p of l.peers) db.memberFailed(p.nodeId)
    const reads = dp.count('readTables')
    for (const p of l.peers) {
      db.memberAlive(p.nodeId)
      await clock.advance(100)
    }
    assert.equal(dp.count('readTables'), reads, 'debounced: nothing yet')
    await clock.advance(1000)
    assert.equal(dp.count('readTables'), reads + 1)
    assert.equal(peerReturnPasses(l), 1)

    db.memberFailed(l.peers[0]!.nodeId)
    db.memberAlive(l.peers[0]!.nodeId)
    await clock.advance(1000)
    assert.equal(dp.count('readTables'), reads + 2)
    assert.equal(peerReturnPasses(l), 2)

    // Stopped: returns schedule nothing.
    await l.driver.stop({ keepDataplane: true })
    db.memberFailed(l.peers[1]!.nodeId)
    db.memberAlive(l.peers[1]!.nodeId)
    await clock.advance(1000)
    assert.equal(dp.count('readTables'), reads + 2)
  })

  it('never reconciles a network twice at once: a return during a reconcile runs one more after it', async () => {
    const dp = new GatedDataplane()
    const l = await lab(3, dp)
    const { clock, db } = l
    for (const p of l.peers) db.memberFailed(p.nodeId)
    const reads = dp.started
    dp.hold()
    db.memberAlive(l.peers[0]!.nodeId)
    await clock.advance(1000)
    assert.equal(dp.active, 1, 'the first reconcile is reading the kernel')
    db.memberAlive(l.peers[1]!.nodeId)
    await clock.advance(1000)
    db.memberAlive(l.peers[2]!.nodeId)
    await clock.advance(5000)
    assert.equal(dp.started, reads + 1, 'nothing starts while it runs')
    dp.open()
    await clock.advance(1000)
    assert.equal(dp.started, reads + 2, 'one more (not one per return) for the returns it may have missed')
    await clock.advance(5000)
    assert.equal(dp.started, reads + 2)
    assert.equal(dp.maxActive, 1)
    assert.equal(peerReturnPasses(l), 2)
    await l.driver.stop()
  })

  it('only networks the returning node is in, and only a return after a failure', async () => {
    const l = await lab(1, new MemoryDataplane(), false)
    const { dp, clock, db } = l
    const peer = l.peers[0]!
    const reads = dp.count('readTables')
    db.memberFailed(peer.nodeId)
    db.memberAlive(peer.nodeId)
    await clock.advance(1000)
    assert.equal(dp.count('readTables'), reads, 'not in the network: not reconciled')
    await peer.joinNetwork(NID)
    db.emitCluster({ type: 'node', node: { ...peer.info(), status: 'alive' }, prev: 'suspect' })
    await clock.advance(1000)
    assert.equal(dp.count('readTables'), reads, 'a suspicion cleared is no return')
    db.memberFailed(peer.nodeId)
    db.memberAlive(peer.nodeId)
    await clock.advance(1000)
    assert.equal(dp.count('readTables'), reads + 1)
    await l.driver.stop()
  })
})

describe('overlay peer-return: detector and coalescer', () => {
  const ev = (id: string, status: NodeStatus, prev: NodeStatus | undefined): ClusterEvent =>
    ({ type: 'node', node: { id, name: id, advertiseAddr: '', addrs: [], status, incarnation: 1, since: 0 }, prev })

  it('a return is alive after failed or left, also by way of suspect; never self or network events', () => {
    const d = new ReturnDetector('self')
    assert.equal(d.returned(ev('a', 'suspect', 'alive')), undefined)
    assert.equal(d.returned(ev('a', 'alive', 'suspect')), undefined)
    assert.equal(d.returned(ev('a', 'failed', 'suspect')), undefined)
    assert.equal(d.returned(ev('a', 'suspect', 'failed')), undefined) // a newer incarnation, heard second-hand
    assert.equal(d.returned(ev('a', 'alive', 'suspect')), 'a')
    assert.equal(d.returned(ev('a', 'alive', 'alive')), undefined, 'once')
    assert.equal(d.returned(ev('b', 'alive', 'left')), 'b', 'failure seen before watching')
    assert.equal(d.returned(ev('self', 'failed', 'alive')), undefined)
    assert.equal(d.returned(ev('self', 'alive', 'failed')), undefined)
    assert.equal(d.returned({ type: 'network', nid: 'n', node: 'a', joined: true }), undefined)
  })

  it('coalesces per key; cancel drops a due run', async () => {
    const clock = new FakeClock()
    const runs: string[] = []
    const c = new Coalescer(clock, 500, async k => { runs.push(k) })
    c.request('x')
    c.request('y')
    await clock.advance(400)
    c.request('x')
    assert.deepEqual(runs, [])
    await clock.advance(100)
    assert.deepEqual(runs, ['x', 'y'])
    assert.equal(c.pending('x'), false)
    c.request('x')
    c.cancel('x')
    await clock.advance(1000)
    assert.deepEqual(runs, ['x', 'y'])
    c.request('z')
    c.cancelAll()
    await clock.advance(1000)
    assert.deepEqual(runs, ['x', 'y'])
  })
})
