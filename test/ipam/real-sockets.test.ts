/**
 * The IPAM on real sockets: three NetworkDB nodes over libp2p on 127.0.0.1 (LMDB stores in temp
 * dirs), each allocating 200 addresses concurrently from one /22 pool of one cluster network; one
 * node is stopped without a leave (as a crash) and restarted from its stores half-way.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClusterIpam, GlobalDefault, NetworkOption } from '../../ipam/index.js'
import { LmdbIpamStore } from '../../ipam/adapters.js'
import { generateClusterKey, loadClusterKey, NetworkDBNode } from '../../networkdb/index.js'
import { Libp2pTransport, LmdbStore, loadOrCreateIdentity } from '../../networkdb/adapters.js'
import { silentLogger } from '../../core/index.js'

interface Node { db: NetworkDBNode, ipam: ClusterIpam, store: LmdbIpamStore, ndbStore: LmdbStore, dir: string, poolId: string }

describe('IPAM on real sockets (3 nodes on 127.0.0.1)', function () {
  this.timeout(180_000)
  let root = ''
  const nodes: Node[] = []
  let key: Uint8Array

  async function startNode (i: number, seeds: string[]): Promise<Node> {
    const dir = join(root, `n${i}`)
    const transport = new Libp2pTransport({ privateKey: await loadOrCreateIdentity(dir), clusterKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], logger: silentLogger })
    const ndbStore = new LmdbStore(dir)
    const db = new NetworkDBNode({ transport, name: `n${i}`, advertiseAddr: '127.0.0.1', store: ndbStore })
    await db.start()
    if (seeds.length > 0) await db.join(seeds, 20_000)
    const store = new LmdbIpamStore(dir)
    const ipam = new ClusterIpam({ db, store, config: { bootstrap: i === 0 } })
    await ipam.start()
    return { db, ipam, store, ndbStore, dir, poolId: '' }
  }

  async function crash (n: Node): Promise<void> {
    await n.ipam.close()
    await n.store.close()
    await n.db.close()
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'ovnet-ipam-'))
    await generateClusterKey(join(root, 'cluster.key'))
    key = await loadClusterKey(join(root, 'cluster.key'))
  })

  after(async () => {
    for (const n of nodes) await crash(n).catch(() => {})
    await rm(root, { recursive: true, force: true })
  })

  const request = async (n: Node): Promise<string> => (await n.ipam.requestAddress(n.poolId, undefined, {})).address

  /** Retry while the cluster is still forming (space not yet learnt, a peer not yet reachable). */
  async function eventually<T> (fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      try { return await fn() } catch (err) {
        if (Date.now() > deadline) throw err
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    }
  }

  it('600 concurrent allocations from one /22 on 3 hosts are distinct, across a crash and restart', async () => {
    nodes.push(await startNode(0, []))
    const seeds = nodes[0]!.db.diagnostics().node.addrs
    nodes.push(await startNode(1, seeds))
    nodes.push(await startNode(2, seeds))
    const req = { addressSpace: GlobalDefault, pool: '10.99.0.0/22', options: { [NetworkOption]: 'net-1' }, v6: false }
    for (const n of nodes) n.poolId = (await eventually(async () => await n.ipam.requestPool(req))).poolId

    const got: string[][] = [[], [], []]
    const burst = async (i: number, count: number): Promise<void> => {
      const n = nodes[i]!
      const out = await Promise.all(Array.from({ length: count }, async () => await eventually(async () => await request(n))))
      got[i]!.push(...out)
    }
    // node 2 allocates half, crashes, restarts from its stores, allocates the rest
    await Promise.all([burst(0, 200), burst(1, 200), (async () => {
      await burst(2, 100)
      await crash(nodes[2]!)
      const back = await startNode(2, seeds)
      back.poolId = (await eventually(async () => await back.ipam.requestPool(req))).poolId
      nodes[2] = back
      await burst(2, 100)
    })()])

    const all = got.flat()
    assert.equal(all.length, 600)
    const seen = new Map<string, number[]>()
    got.forEach((list, i) => { for (const a of list) seen.set(a, [...(seen.get(a) ?? []), i]) })
    const dups = [...seen].filter(([, w]) => w.length > 1)
    assert.equal(dups.length, 0, `handed out twice: ${JSON.stringify(dups.slice(0, 5))} (${dups.length})`)
    for (const a of all) assert.match(a, /^10\.99\.[0-3]\.\d+\/22$/)
  })
})
