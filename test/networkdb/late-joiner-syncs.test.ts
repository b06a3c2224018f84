import assert from 'node:assert/strict'
import { createMemoryCluster, driven, type MemoryCluster } from '../../networkdb/index.js'
import type { MemoryTransport } from '../../networkdb/memory-transport.js'
import { decodeRequest } from '../../proto/index.js'
import { enc, until } from './helpers.js'

/**
 * A node joining the cluster and then two networks (as the agent does: the overlay's global
 * network and the IPAM's), the way the agent starts: it asks every member for its own entries
 * (join-sync.ts). The members becoming alive to it, and it to them, must not sync the same
 * networks once more (networkdb/sync-ledger.ts): each sync is a new stream on a joiner whose
 * start is CPU-bound (issue 12, docs/BENCHMARKS.md "late joiner start-up").
 */
describe('NetworkDB late joiner: one sync per network and member', function () {
  const MEMBERS = 5
  const NETS = ['a', 'b']
  let c: MemoryCluster | undefined
  afterEach(async () => { await c?.close(); c = undefined })

  /** Sync requests made by any node: [from, to, nid]; with `fail`, the first of `fail.from` to `fail.to` per network fails. */
  function recordSyncs (cl: MemoryCluster, fail?: { from: number, to: number }): Array<[string, string, string]> {
    const seen: Array<[string, string, string]> = []
    for (let i = 0; i <= MEMBERS; i++) {
      if (!cl.isUp(i)) continue
      const t = cl.net.node(cl.ids[i]!) as MemoryTransport
      const request = t.request.bind(t)
      t.request = async (peer, data, timeoutMs, onFrame) => {
        const req = decodeRequest(data)
        if (req.t === 'sync') {
          seen.push([cl.ids[i]!, peer, req.b.nid])
          const first = seen.filter(([f, p, n]) => f === cl.ids[i] && p === peer && n === req.b.nid).length === 1
          if (fail !== undefined && i === fail.from && peer === cl.ids[fail.to] && first) {
            throw new Error(`request to ${peer}: connection reset`)
          }
        }
        return await request(peer, data, timeoutMs, onFrame)
      }
    }
    return seen
  }

  async function cluster (): Promise<MemoryCluster> {
    // no periodic push-pull or bulk sync inside the test's window: every sync counted is the join's
    c = await createMemoryCluster(MEMBERS + 1, {
      seed: 5, started: MEMBERS, latencyMs: 5, config: { bulkSyncIntervalMs: 600_000, pushPullIntervalMs: 600_000 }
    })
    const cl = c
    await until(cl, () => cl.nodes.slice(0, MEMBERS).every(n => n.members().filter(m => m.status === 'alive').length === MEMBERS))
    for (let i = 0; i < MEMBERS; i++) {
      await driven(cl.clock, async () => { await Promise.all(NETS.map(async nid => { await cl.nodes[i]!.joinNetwork(nid) })) })
      for (const nid of NETS) await cl.nodes[i]!.createEntry('t', nid, `k${i}`, enc(`v${i}`))
    }
    await until(cl, () => cl.nodes.slice(0, MEMBERS).every(n => NETS.every(nid => n.walkTable('t', nid).length === MEMBERS)))
    return cl
  }

  /** Start node MEMBERS fresh: join the cluster through node 0, then both networks at once. */
  async function lateJoin (cl: MemoryCluster, fail?: { from: number, to: number }): Promise<Array<[string, string, string]>> {
    const n = await cl.restart(MEMBERS, { seeds: false })
    const seen = recordSyncs(cl, fail)
    await driven(cl.clock, async () => {
      await n.join([`mem://${cl.ids[0]!}`], 10_000)
      await Promise.all(NETS.map(async nid => { await n.joinNetwork(nid) }))
    })
    return seen
  }

  it('the joiner dials each member once', async () => {
    const cl = await cluster()
    const n = await cl.restart(MEMBERS, { seeds: false })
    const t = cl.net.node(cl.ids[MEMBERS]!) as MemoryTransport
    const connects: string[] = []
    const connect = t.connect.bind(t)
    t.connect = async (peer, addrs, timeoutMs) => { connects.push(peer); await connect(peer, addrs, timeoutMs) }
    await driven(cl.clock, async () => { await n.join([`mem://${cl.ids[0]!}`], 10_000) })
    await cl.advance(2000)
    // every member once, by its alive change (the seed too: already connected, nothing dialled)
    assert.deepEqual(connects.sort(), cl.ids.slice(0, MEMBERS).sort())
  })

  it('the joiner asks each member once per network, and no member syncs it back', async () => {
    const cl = await cluster()
    const seen = await lateJoin(cl)
    await cl.advance(5000) // every member has seen the joiner alive and connected
    const joiner = cl.ids[MEMBERS]!
    const asked = seen.filter(([from]) => from === joiner).map(([, to, nid]) => `${nid}:${to}`).sort()
    const expected = NETS.flatMap(nid => cl.ids.slice(0, MEMBERS).map(id => `${nid}:${id}`)).sort()
    assert.deepEqual(asked, expected, 'one sync per network and member')
    assert.deepEqual(seen.filter(([from, to]) => from !== joiner && to === joiner), [], 'no member synced the joiner')
    for (const nid of NETS) assert.equal(cl.nodes[MEMBERS]!.walkTable('t', nid).length, MEMBERS)
    // and the joiner's own writes reach every member
    await cl.nodes[MEMBERS]!.createEntry('t', 'a', 'late', enc('x'))
    await until(cl, () => cl.nodes.slice(0, MEMBERS).every(n => n.getEntry('t', 'a', 'late') !== undefined))
  })

  it('a member whose join sync failed is synced when it turns alive, not at the next periodic sync', async () => {
    const cl = await cluster()
    // the joiner's first sync with node 2 fails for both networks; the alive sync must make up for it
    const seen = await lateJoin(cl, { from: MEMBERS, to: 2 })
    // node 2's entries come only from node 2 (trust.ts), and well before a periodic sync (10 min here)
    await until(cl, () => NETS.every(nid => cl.nodes[MEMBERS]!.getEntry('t', nid, 'k2') !== undefined), 10_000)
    const asked = seen.filter(([from, to]) => from === cl.ids[MEMBERS] && to === cl.ids[2]).map(([, , nid]) => nid)
    assert.deepEqual(asked.sort(), [...NETS, ...NETS].sort(), 'asked twice per network: the join, then the alive sync')
  })
})
