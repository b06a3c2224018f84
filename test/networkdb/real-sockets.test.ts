import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateClusterKey } from '../../networkdb/index.js'
import { eventually, NodeProc } from './procs.js'

type Row = { key: string, owner: string, value: string }

describe('NetworkDB on real sockets (5 processes on 127.0.0.1)', function () {
  this.timeout(180_000)
  let dir = ''
  let procs: NodeProc[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ovnet-ndb-'))
    await generateClusterKey(join(dir, 'cluster.key'))
    await generateClusterKey(join(dir, 'wrong.key'))
    const base = 20_000 + Math.floor(Math.random() * 20_000)
    procs = Array.from({ length: 5 }, (_, i) => new NodeProc(`p${i}`, join(dir, `p${i}`), join(dir, 'cluster.key'), base + i))
    procs.push(new NodeProc('intruder', join(dir, 'intruder'), join(dir, 'wrong.key'), base + 9))
  })

  after(async () => {
    await Promise.all(procs.map(async p => { await p.kill() }))
    await rm(dir, { recursive: true, force: true })
  })

  const dump = async (p: NodeProc): Promise<Row[]> => await p.call<Row[]>('dump', { table: 't', nid: 'n' })

  it('converge, survive kill -9 and restart (same id, same entries), and shut out a wrong key', async () => {
    const nodes = procs.slice(0, 5)
    for (const p of nodes) await p.start()
    const seeds = nodes[0]!.addrs
    await Promise.all(nodes.slice(1).map(async p => { await p.call('join', { seeds }) }))
    for (const p of nodes) await p.call('joinNetwork', { nid: 'n' })
    for (const [i, p] of nodes.entries()) await p.call('create', { table: 't', nid: 'n', key: `k${i}`, value: `v${i}` })
    for (const p of nodes) await eventually(async () => await dump(p), rows => rows.length === 5, 20_000, `${p.name} holds 5 entries`)
    const digests = await Promise.all(nodes.map(async p => await p.call<string>('digest', { nid: 'n' })))
    assert.equal(new Set(digests).size, 1)

    // kill -9 node 4: its entry leaves every view within the failure timeout
    const victim = nodes[4]!
    const victimId = victim.id
    await victim.kill()
    const t0 = Date.now()
    for (const p of nodes.slice(0, 4)) await eventually(async () => await dump(p), rows => !rows.some(r => r.owner === victimId), 10_000, `${p.name} purged the killed node`)
    const purgeMs = Date.now() - t0
    assert.ok(purgeMs < 10_000)

    // restart with the same data dir: same id, and its entry comes back everywhere
    await victim.start()
    assert.equal(victim.id, victimId)
    await victim.call('join', { seeds })
    for (const p of nodes) {
      const rows = await eventually(async () => await dump(p), r => r.length === 5, 20_000, `${p.name} sees the restarted node's entry`)
      assert.deepEqual(rows.find(r => r.key === 'k4'), { key: 'k4', owner: victimId, value: 'v4' })
    }

    // a node with the wrong cluster key can neither join nor receive anything
    const intruder = procs[5]!
    await intruder.start()
    await assert.rejects(intruder.call('join', { seeds, timeoutMs: '3000' }), /could not join/)
    await intruder.call('joinNetwork', { nid: 'n' })
    await nodes[0]!.call('create', { table: 't', nid: 'n', key: 'after', value: 'x' })
    await eventually(async () => await dump(nodes[1]!), r => r.length === 6, 10_000, 'new entry replicated')
    assert.deepEqual(await dump(intruder), [])
    const members = await nodes[0]!.call<Array<{ id: string }>>('members')
    assert.ok(!members.some(m => m.id === intruder.id), 'the intruder is not a member')
  })

  it('a keyed host cannot speak for another node: a forged push and a forged `left` change nothing', async () => {
    const [a, v, evil] = procs.slice(0, 3) as [NodeProc, NodeProc, NodeProc]
    const before = (await dump(a)).find(r => r.owner === v.id)!
    // evil (node 2) pushes node 1's entry to node 0 over its own noise session, at a higher version
    assert.equal(await evil.call('forgePush', { to: a.id, nid: 'n', table: 't', key: before.key, owner: v.id, value: 'forged' }), 'ack')
    // and gossips a `left` of node 1 (signed by itself, as gossipsub requires)
    await evil.call('forgeLeft', { node: v.id })
    await new Promise(resolve => setTimeout(resolve, 1500))
    assert.deepEqual((await dump(a)).find(r => r.key === before.key), before)
    const members = await a.call<Array<{ id: string, status: string }>>('members')
    assert.equal(members.find(m => m.id === v.id)?.status, 'alive')
    assert.ok((await a.call<{ rejected: number }>('stats')).rejected >= 1)
  })
})
