/**
 * Reproductions of the bugs the chaos kit found and that are not fixed yet (deploy/chaos/
 * known-bugs.ts). Each asserts the CORRECT behaviour, so each fails today: they are pending unless
 * OVNET_KNOWN_BUGS=1. Fixing a bug: run them, remove the bug's entry from known-bugs.ts (and the
 * CI chaos run stops avoiding it), and turn its test here into a plain one.
 *
 *   OVNET_KNOWN_BUGS=1 npx mocha test/chaos/known-bugs.test.ts
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { applyCut, installChain, removeCut } from '../../deploy/chaos/firewall.js'
import { LabTarget } from '../../deploy/chaos/lab-target.js'
import { sleep } from '../../deploy/chaos/workload.js'

describe('known bugs found by the chaos kit (pending unless OVNET_KNOWN_BUGS=1; root)', function () {
  this.timeout(120_000)
  let t: LabTarget | undefined

  before(function () {
    if (process.env.OVNET_KNOWN_BUGS !== '1' || process.getuid?.() !== 0) this.skip()
  })
  afterEach(async () => { await t?.teardown(); t = undefined })

  async function lab (): Promise<LabTarget> {
    t = new LabTarget({ hosts: 3, prefix: `kb${randomBytes(3).toString('hex')}` })
    await t.setup()
    return t
  }

  const names = async (lt: LabTarget, i: number): Promise<string> => (await lt.api(i).listNetworks()).map(n => n.Name).sort().join(',')

  it('remove-during-cut: a network removed during a partition stays removed after the heal', async () => {
    const lt = await lab()
    for (const h of lt.hosts) await installChain(lt, h.index)
    await lt.api(1).createNetwork({ Name: 'x' })
    await sleep(1500)
    const cut = await applyCut(lt, { kind: 'gossip', port: lt.gossipPort }, [0], [1, 2], 'kb')
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

  it('leave-rejoin-divergence: NetworkDB converges after a graceful leave and a restart', async () => {
    t = new LabTarget({ hosts: 5, prefix: `kb${randomBytes(3).toString('hex')}` })
    const lt = t
    await lt.setup()
    await lt.api(0).createNetwork({ Name: 'x' })
    await sleep(1000)
    const digests = async (): Promise<string[]> => await Promise.all([0, 1, 2, 3, 4].map(async i => (await lt.api(i).diagnostics()).networks.find(n => n.nid === 'ovnet-ipam')?.digest ?? '-'))
    // Intermittent: a few leave/rejoin cycles of a host holding addresses.
    for (let round = 1; round <= 4; round++) {
      for (const i of [1, 2, 4]) await lt.api(i).attach('x', { Netns: await lt.createContainer(i, `r${round}c${i}`), Name: `r${round}c${i}` })
      await lt.stopAgent(3)
      await sleep(2500)
      await lt.startAgent(3)
      let same = false
      for (let k = 0; k < 60 && !same; k++) { await sleep(500); same = new Set(await digests()).size === 1 }
      assert.ok(same, `round ${round}: ovnet-ipam digests still differ 30 s after the restart: ${(await digests()).join(' ')}`)
    }
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
})
