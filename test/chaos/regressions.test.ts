/**
 * Regressions of bugs the chaos kit found, fixed since (each failed before its fix): a restarted
 * agent must get its endpoints back and its IPAM must remember their addresses; the founder
 * rejoins after a graceful stop; a network removed during a partition stays removed
 * (remove-during-cut); a host stopped gracefully and started again can use its networks again
 * (rejoin-lost-pool); the gateway stays reserved when the network's creator leaves
 * (creator-leaves); NetworkDB converges after a graceful leave and a restart
 * (leave-rejoin-divergence). Root; a lab of its own per test (3 hosts, 5 for the last), removed in
 * afterEach. Fast deterministic versions: test/agent/controller.test.ts (remove-during-cut,
 * rejoin-lost-pool, creator-leaves), test/networkdb/leave-rejoin.test.ts (leave-rejoin-divergence,
 * intermittent here).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { applyCut, installChain, removeCut } from '../../deploy/chaos/firewall.js'
import { LabTarget } from '../../deploy/chaos/lab-target.js'
import { sleep } from '../../deploy/chaos/workload.js'

describe('chaos regressions: restarts, partitions (root)', function () {
  this.timeout(120_000)
  let t: LabTarget | undefined

  before(function () {
    if (process.getuid?.() !== 0) this.skip()
  })
  afterEach(async () => { await t?.teardown(); t = undefined })

  async function lab (): Promise<LabTarget> {
    t = new LabTarget({ hosts: 3, prefix: `rg${randomBytes(3).toString('hex')}` })
    await t.setup()
    return t
  }

  it('the first host, killed and restarted without seeds, keeps its endpoint in another host\'s network', async () => {
    const lt = await lab()
    await lt.api(1).createNetwork({ Name: 'x' }) // created by h2
    await sleep(1000)
    const a = await lt.api(0).attach('x', { Netns: await lt.createContainer(0, 'c1'), Name: 'c1' })
    await lt.killAgent(0)
    await lt.startAgent(0)
    const ip = a.IPv4Address.split('/')[0]
    const back = async (): Promise<boolean> => (await lt.api(1).inspectNetwork('x', true)).Endpoints?.some(e => e.EndpointIP === ip && e.Programmed) === true
    for (let i = 0; i < 100 && !await back(); i++) await sleep(200)
    const ins = await lt.api(1).inspectNetwork('x', true)
    assert.deepEqual(ins.Endpoints?.map(e => e.EndpointIP), [ip], 'h1\'s endpoint is back in the cluster')
    assert.equal(Object.keys((await lt.api(0).inspectNetwork('x')).Containers).length, 1)
    const b = await lt.api(0).attach('x', { Netns: await lt.createContainer(0, 'c2'), Name: 'c2' })
    assert.notEqual(b.IPv4Address, a.IPv4Address, 'no address handed out twice')
  })

  it('after kill -9 and a restart the IPAM still knows its endpoints\' addresses', async () => {
    const lt = await lab()
    await lt.api(0).createNetwork({ Name: 'x' })
    await sleep(1000)
    const a = await lt.api(1).attach('x', { Netns: await lt.createContainer(1, 'c1'), Name: 'c1' })
    await sleep(500)
    await lt.killAgent(1)
    await lt.startAgent(1)
    await sleep(3000)
    const b = await lt.api(1).attach('x', { Netns: await lt.createContainer(1, 'c2'), Name: 'c2' })
    assert.notEqual(b.IPv4Address, a.IPv4Address, 'the restored endpoint keeps its address to itself')
  })

  it('the founder, stopped gracefully and started again without seeds, rejoins the cluster (peers re-dial members that left)', async () => {
    const lt = await lab()
    await lt.stopAgent(0)
    await lt.startAgent(0)
    const alive = async (i: number): Promise<number> => (await lt.api(i).members()).filter(m => m.Status === 'alive').length
    // peers re-dial a member that left every 10 s; the news then spreads by push-pull and gossip
    const all = async (): Promise<number[]> => [await alive(0), await alive(1), await alive(2)]
    for (let k = 0; k < 200 && (await all()).some(n => n < 3); k++) await sleep(200)
    assert.deepEqual(await all(), [3, 3, 3])
  })

  const names = async (lt: LabTarget, i: number): Promise<string> => (await lt.api(i).listNetworks()).map(n => n.Name).sort().join(',')

  it('remove-during-cut: a network removed during a partition stays removed after the heal', async () => {
    const lt = await lab()
    for (const h of lt.hosts) await installChain(lt, h.index)
    await lt.api(1).createNetwork({ Name: 'x' })
    await sleep(1500)
    const cut = await applyCut(lt, { kind: 'gossip', port: lt.gossipPort }, [0], [1, 2], 'rg')
    await lt.api(1).removeNetwork('x') // on the majority side, by its creator
    await sleep(5000) // h1 declares h2, h3 failed and adopts x
    await removeCut(lt, cut)
    await sleep(15_000)
    assert.deepEqual(await Promise.all([0, 1, 2].map(async i => await names(lt, i))), ['', '', ''])
  })

  it('rejoin-lost-pool: after a graceful stop and a start, the host attaches to a network it used before', async () => {
    const lt = await lab()
    await lt.api(0).createNetwork({ Name: 'x' })
    await sleep(1000)
    await lt.api(1).attach('x', { Netns: await lt.createContainer(1, 'c1'), Name: 'c1' })
    await lt.stopAgent(1)
    await lt.startAgent(1)
    await sleep(3000)
    await lt.api(1).attach('x', { Netns: await lt.createContainer(1, 'c2'), Name: 'c2' })
  })

  it('creator-leaves: the gateway of a network stays reserved when the host that created it leaves', async () => {
    const lt = await lab()
    await lt.api(2).createNetwork({ Name: 'x' })
    await sleep(1000)
    const gw = (await lt.api(0).inspectNetwork('x')).IPAM.Config[0]!.Gateway!
    await lt.stopAgent(2)
    await sleep(3000)
    const got = (await lt.api(0).attach('x', { Netns: await lt.createContainer(0, 'c1'), Name: 'c1' })).IPv4Address.split('/')[0]
    assert.notEqual(got, gw, `the gateway ${gw} was handed to an endpoint`)
  })

  it('vni-of-absent-creator: a network created while another network\'s creator is away gets a VNI of its own', async () => {
    const lt = await lab()
    await lt.api(2).createNetwork({ Name: 'x' })
    await sleep(1000)
    await lt.stopAgent(2)
    await sleep(3000)
    await lt.api(0).createNetwork({ Name: 'y' })
    const vni = async (n: string): Promise<string | undefined> => (await lt.api(0).inspectNetwork(n)).Options['com.docker.network.driver.overlay.vxlanid_list']
    assert.notEqual(await vni('y'), await vni('x'))
  })
})
