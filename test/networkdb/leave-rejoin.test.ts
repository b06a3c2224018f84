/**
 * Found by the chaos kit (leave-rejoin-divergence): after a graceful leave and a restart of the same
 * node, one version of an entry stayed live on some nodes and a tombstone on others, forever. Peers
 * that hear `left` tombstone the leaver's entries at the entries' own Lamport time; a node that
 * missed the `left` (and heard the restart first) keeps the live copy of that same version, and
 * with (ltime, owner) alone neither copy beat the other. The rules now (docs/architecture.md,
 * "Leave and return"): at equal (ltime, owner) the tombstone wins; a live entry of a node that left
 * is stored as that tombstone, and tombstones are never hidden; an owner that receives a tombstone
 * of an entry it wrote since it joined the network (stale news of a leave) writes it again, newer.
 */
import assert from 'node:assert/strict'
import { encodeRequest } from '../../proto/index.js'
import { createMemoryCluster, driven, type MemoryCluster, type NetworkDBConfig } from '../../networkdb/index.js'
import { dec, digests, enc, until } from './helpers.js'

describe('NetworkDB: graceful leave and restart of the same node', function () {
  let c: MemoryCluster | undefined
  afterEach(async () => { await c?.close(); c = undefined })

  async function cluster (n: number, seed: number, config: Partial<NetworkDBConfig> = {}): Promise<MemoryCluster> {
    c = await createMemoryCluster(n, { seed, config: { tombstoneTtlMs: 120_000, ...config } })
    const cl = c
    for (const node of cl.nodes) await driven(cl.clock, async () => { await node.joinNetwork('n') })
    await until(cl, () => cl.nodes.every(x => x.peers('n').length === n))
    return cl
  }

  const views = (cl: MemoryCluster, key: string): Array<string | undefined> => cl.nodes.map(n => dec(n.getEntry('t', 'n', key)?.value))

  /**
   * Node 2 writes an entry and leaves while node 0 is cut off: only node 1 hears the leave and
   * tombstones the entry. Node 2 restarts (with node 1), joins the network again and writes a new
   * entry; then the cut heals. Node 0 never hears the `left` (the restart's incarnation is newer).
   */
  async function leaveWhileCutOff (cl: MemoryCluster, atNode0: 'shown' | 'hidden'): Promise<void> {
    await cl.nodes[2]!.createEntry('t', 'n', 'old', enc('v'))
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'old') !== undefined))
    cl.partition([0], [1, 2])
    await driven(cl.clock, async () => { await cl.nodes[2]!.leave() })
    assert.equal(cl.nodes[1]!.getEntry('t', 'n', 'old'), undefined)
    const back = await cl.restart(2)
    await until(cl, () => back.member(cl.ids[1]!)?.status === 'alive')
    await driven(cl.clock, async () => { await back.joinNetwork('n') })
    await back.createEntry('t', 'n', 'new', enc('w'))
    const hidden = cl.nodes[0]!.diagnostics().networks[0]!.tables.find(t => t.table === 't')?.hidden
    assert.deepEqual([dec(cl.nodes[0]!.getEntry('t', 'n', 'old')?.value), hidden], atNode0 === 'shown' ? ['v', 0] : [undefined, 1])
    cl.heal()
    // Node 0's suspicion of node 1 (made in the cut, its timeout stretched by node 0's local
    // health) ends by node 1's refutation at a push-pull or by the timeout: up to a minute or two.
    await until(cl, () => cl.nodes.every(n => n.members().every(m => m.status === 'alive')), 180_000)
  }

  async function assertConverged (cl: MemoryCluster): Promise<void> {
    await cl.advance(30_000)
    const ds = digests(cl, 'n')
    assert.equal(ds.size, 3)
    assert.equal(new Set(ds.values()).size, 1, `digests differ: ${JSON.stringify([...ds])}`)
    assert.deepEqual(views(cl, 'old'), [undefined, undefined, undefined], 'what the node had before its leave is gone everywhere')
    assert.deepEqual(views(cl, 'new'), ['w', 'w', 'w'], 'what it wrote after its restart is everywhere')
    // The tombstones are reaped like any other, and nothing comes back.
    await cl.advance(130_000)
    assert.deepEqual(views(cl, 'old'), [undefined, undefined, undefined])
    assert.ok(cl.nodes.every(n => n.diagnostics().networks[0]!.tables.every(t => t.tombstones === 0)), 'tombstones reaped')
    assert.equal(new Set(digests(cl, 'n').values()).size, 1)
  }

  it('a node that missed the leave (entry still shown) and one that heard it agree', async () => {
    // Suspicion long enough that node 0 never declares the leaver failed: its copy stays visible.
    const cl = await cluster(3, 21, { suspicionTimeoutMs: 30_000 })
    const reasons: string[] = []
    cl.nodes[0]!.watch('t', 'n', ev => { if (ev.kind === 'delete') reasons.push(`${ev.key}:${ev.reason ?? '-'}`) })
    await leaveWhileCutOff(cl, 'shown')
    await assertConverged(cl)
    // Peers store no tombstone relayed for another owner (networkdb/trust.ts): the returned owner,
    // sent a live copy in its name that it does not hold, deletes it itself, at a fresh time.
    assert.deepEqual(reasons, ['old:deleted'])
  })

  it('a node that missed the leave (entry hidden: owner failed) and one that heard it agree', async () => {
    // Node 0 declares the leaver failed and hides its entry; the returning owner relays the
    // tombstone of the same version, which must not restore the hidden live copy.
    const cl = await cluster(3, 22)
    await leaveWhileCutOff(cl, 'hidden')
    await assertConverged(cl)
  })

  it('a leaver that never comes back: its entry is gone everywhere, tombstones are reaped, no copy brings it back', async () => {
    const cl = await cluster(4, 41)
    await cl.nodes[3]!.createEntry('t', 'n', 'k', enc('v'))
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'k') !== undefined))
    // Node 0 misses the leave and keeps the live copy while cut off.
    cl.partition([0], [1, 2, 3])
    await driven(cl.clock, async () => { await cl.nodes[3]!.leave() })
    await cl.kill(3)
    const reasons: string[] = []
    cl.nodes[0]!.watch('t', 'n', ev => { if (ev.kind === 'delete') reasons.push(ev.reason ?? '-') })
    await cl.advance(3_000)
    cl.heal()
    await cl.advance(30_000)
    const alive = [0, 1, 2]
    assert.deepEqual(alive.map(i => dec(cl.nodes[i]!.getEntry('t', 'n', 'k')?.value)), [undefined, undefined, undefined])
    assert.deepEqual(reasons, ['owner-failed', 'owner-left'], 'node 0 hid it (failed), then learnt the leave')
    await cl.advance(130_000)
    for (const i of alive) {
      const t = cl.nodes[i]!.diagnostics().networks[0]!.tables.find(x => x.table === 't')
      assert.equal((t?.tombstones ?? 0) + (t?.hidden ?? 0), 0, `node ${i} forgot the entry`)
    }
    assert.deepEqual(alive.map(i => dec(cl.nodes[i]!.getEntry('t', 'n', 'k')?.value)), [undefined, undefined, undefined])
  })

  it('a live copy of a leaver\'s entry arriving after the leave is stored as its tombstone, everywhere', async () => {
    const cl = await cluster(3, 7)
    await cl.nodes[2]!.createEntry('t', 'n', 'k', enc('v'))
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'k') !== undefined))
    const e = cl.nodes[2]!.getEntry('t', 'n', 'k')!
    await driven(cl.clock, async () => { await cl.nodes[2]!.leave() })
    await cl.kill(2)
    // A newer version than any node here holds, relayed by someone who missed the leave.
    const late = { table: 't', key: 'k', owner: e.owner, ltime: e.ltime + 5, deleted: false, value: enc('late'), reapIn: 0 }
    await driven(cl.clock, async () => { await cl.net.node(cl.ids[0]!)!.request(cl.ids[1]!, encodeRequest({ t: 'push', b: { nid: 'n', entries: [late] } }), 1000) })
    await cl.advance(30_000)
    for (const i of [0, 1]) {
      assert.equal(cl.nodes[i]!.getEntry('t', 'n', 'k'), undefined)
      assert.deepEqual(cl.nodes[i]!.diagnostics().networks[0]!.tables, [{ table: 't', entries: 0, tombstones: 1, hidden: 0 }], `node ${i}`)
    }
    assert.equal(new Set(digests(cl, 'n').values()).size, 1)
  })

  it('a tombstone made from stale news of a leave does not delete what the owner wrote since it joined', async () => {
    const cl = await cluster(3, 5)
    const x = 2
    await cl.nodes[x]!.createEntry('t', 'n', 'k', enc('v'))
    await until(cl, () => cl.nodes.every(n => n.getEntry('t', 'n', 'k') !== undefined))
    const e = cl.nodes[x]!.getEntry('t', 'n', 'k')!
    // What a peer that applied an old `left` of the owner (before a restart) after receiving this
    // entry would send.
    const forged = { table: 't', key: 'k', owner: e.owner, ltime: e.ltime, deleted: true, value: e.value, reapIn: 120_000 }
    // A peer stores no entry of another owner (networkdb/trust.ts): only the owner hears this news.
    const push = async (to: number): Promise<void> => {
      await driven(cl.clock, async () => { await cl.net.node(cl.ids[0]!)!.request(cl.ids[to]!, encodeRequest({ t: 'push', b: { nid: 'n', entries: [forged] } }), 1000) })
    }
    await push(1)
    assert.equal(dec(cl.nodes[1]!.getEntry('t', 'n', 'k')?.value), 'v', 'a relayed tombstone is not stored')
    await push(x)
    await cl.advance(30_000)
    assert.deepEqual(views(cl, 'k'), ['v', 'v', 'v'])
    assert.ok(cl.nodes[x]!.getEntry('t', 'n', 'k')!.ltime > e.ltime, 're-announced at a fresh Lamport time')
    assert.equal(new Set(digests(cl, 'n').values()).size, 1)
  })

  it('an entry written right after a restart reaches the peers that still took the writer for gone as soon as they see it alive', async () => {
    // No periodic anti-entropy in this run: what repairs it is the returning member's sync.
    const cl = await cluster(4, 226, { bulkSyncIntervalMs: 3_600_000, pushPullIntervalMs: 3_600_000 })
    await driven(cl.clock, async () => { await cl.nodes[2]!.leave() })
    await cl.kill(2)
    await cl.advance(5)
    const back = await cl.restart(2)
    if (!back.networks().includes('n')) await driven(cl.clock, async () => { await back.joinNetwork('n') })
    await cl.advance(5)
    await back.createEntry('t', 'n', 'k', enc('v'))
    await cl.advance(5)
    // Some peers still hold node 2 as `left`: they store the live entry as a tombstone of it.
    const alive = (): boolean => cl.nodes.every(n => n.members().filter(m => m.status === 'alive').length === 4)
    await until(cl, alive)
    // Their sync with the returning member sends it that tombstone; it writes the entry anew.
    await until(cl, () => views(cl, 'k').every(v => v === 'v'), 2_000)
    assert.equal(new Set(digests(cl, 'n').values()).size, 1)
  })
})
