/**
 * The controller on an in-memory cluster (test/agent/memory-stack.ts): removals across a
 * partition, pools and gateways across graceful stops. Deterministic (fake clock, seeded), fast;
 * the lab reproductions of the same bugs are in test/chaos/regressions.test.ts.
 */
import assert from 'node:assert/strict'
import { AmbiguousNetworkError } from '../../agent/errors.js'
import { REMOVAL_TABLE } from '../../agent/network-removals.js'
import { ErrPoolOverlap } from '../../ipam/index.js'
import { OVERLAY_GLOBAL_NETWORK as GLOBAL, VniInUseError } from '../../overlay/index.js'
import { NETWORK_TABLE } from '../../proto/index.js'
import { controllerStack, type ControllerStack } from './memory-stack.js'

const ip = (cidr: string): string => cidr.split('/')[0]!

describe('controller on an in-memory cluster', function () {
  this.timeout(60_000)
  let s: ControllerStack | undefined
  afterEach(async () => { await s?.close(); s = undefined })

  const names = async (k: ControllerStack, i: number): Promise<string> => (await k.host(i).controller.listNetworks()).map(n => n.Name).sort().join(',')

  /** Advance virtual time until `pred` holds (at most `ms`). */
  async function until (k: ControllerStack, what: string, pred: () => boolean, ms = 30_000): Promise<void> {
    for (let t = 0; t < ms; t += 100) {
      if (pred()) return
      await k.c.advance(100)
    }
    assert.fail(`not within ${ms} virtual ms: ${what}`)
  }

  /** Raise node i's Lamport clock with writes nobody else sees yet (during a partition). */
  async function bumpClock (k: ControllerStack, i: number, writes: number): Promise<void> {
    for (let w = 0; w < writes; w++) await k.host(i).db.createEntry('test_scratch', GLOBAL, `bump-${i}-${w}`, new Uint8Array([1]))
  }

  it('a name created on two hosts at the same moment is ambiguous: a clear error, ids still work', async () => {
    s = await controllerStack(2)
    const k = s
    // Both creates start before either definition has travelled: each host's name check passes.
    const [a, b] = await k.run(async () => await Promise.all([
      k.host(0).controller.createNetwork({ Name: 'x', Subnet: '10.61.0.0/24' }),
      k.host(1).controller.createNetwork({ Name: 'x', Subnet: '10.62.0.0/24' })
    ]))
    for (let t = 0; t < 30_000 && (await names(k, 0)) !== 'x,x'; t += 100) await k.c.advance(100)
    assert.equal(await names(k, 0), 'x,x')
    await assert.rejects(k.host(0).controller.inspectNetwork('x', false), (err: unknown) =>
      err instanceof AmbiguousNetworkError && err.kind === 'badRequest' && /ambiguous \(2 matches found based on name\)/.test(err.message))
    assert.equal((await k.host(0).controller.inspectNetwork(a.Id, false)).Id, a.Id)
    assert.equal((await k.host(0).controller.inspectNetwork(b.Id, false)).Id, b.Id)
  })

  for (const later of ['re-announcement', 'removal'] as const) {
    it(`remove-during-cut: a network removed on one side of a partition stays removed after the heal (the ${later} is the later write)`, async () => {
      s = await controllerStack(3)
      const k = s
      const { Id: nid } = await k.run(async () => await k.host(1).controller.createNetwork({ Name: 'x' }))
      await k.c.advance(1000)
      assert.deepEqual([await names(k, 0), await names(k, 1), await names(k, 2)], ['x', 'x', 'x'])
      k.c.partition([0], [1, 2])
      // Which side wrote last decides NetworkDB's last-writer-wins: the removal must win either way.
      await bumpClock(k, later === 're-announcement' ? 0 : 1, 200)
      await k.run(async () => { await k.host(1).controller.removeNetwork('x') }) // by its creator, on the majority side
      await until(k, 'host 0 re-announces x as its own', () => k.host(0).db.getEntry(NETWORK_TABLE, GLOBAL, nid)?.owner === k.c.ids[0])
      const adopted = k.host(0).db.getEntry(NETWORK_TABLE, GLOBAL, nid)!.ltime
      const removed = k.host(1).db.getEntry(REMOVAL_TABLE, GLOBAL, nid)!.ltime
      assert.equal(adopted > removed + 1, later === 're-announcement', 'the interleaving under test')
      k.c.heal()
      await until(k, 'every host sees every other alive', () => k.c.nodes.every(n => n.members().every(m => m.status === 'alive')))
      await k.c.advance(15_000)
      assert.deepEqual([await names(k, 0), await names(k, 1), await names(k, 2)], ['', '', ''])
      for (const i of [0, 1, 2]) {
        assert.equal(k.host(i).db.getEntry(NETWORK_TABLE, GLOBAL, nid), undefined, `host ${i} holds no live definition of x`)
        assert.ok(k.host(i).db.getEntry(REMOVAL_TABLE, GLOBAL, nid) !== undefined, `host ${i} knows x was removed`)
      }
      const digests = (await Promise.all([0, 1, 2].map(async i => await k.host(i).controller.diagnostics()))).map(d => d.networks.find(n => n.nid === GLOBAL)?.digest)
      assert.equal(new Set(digests).size, 1, `NetworkDB converged: ${digests.join(' ')}`)
    })
  }

  it('a removal outlives its writer\'s graceful leave (re-announced) and is reaped after its retention', async () => {
    s = await controllerStack(3, { removalRetentionMs: 60_000 })
    const k = s
    const { Id: nid } = await k.run(async () => await k.host(1).controller.createNetwork({ Name: 'x' }))
    await k.c.advance(1000)
    await k.run(async () => { await k.host(1).controller.removeNetwork('x') })
    await k.c.advance(1000)
    assert.equal(k.host(0).db.getEntry(REMOVAL_TABLE, GLOBAL, nid)?.owner, k.c.ids[1])
    await k.stop(1)
    await until(k, 'the removal is re-announced by host 0', () => [0, 2].every(i => k.host(i).db.getEntry(REMOVAL_TABLE, GLOBAL, nid)?.owner === k.c.ids[0]))
    await k.c.advance(90_000)
    for (const i of [0, 2]) assert.deepEqual(k.host(i).db.walkTable(REMOVAL_TABLE, GLOBAL), [], `host ${i}: the removal record is reaped`)
  })

  it('rejoin-lost-pool: after a graceful stop and a start, the host attaches to a network it used before', async () => {
    s = await controllerStack(3)
    const k = s
    await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'x' }))
    await k.c.advance(1000)
    const a = await k.run(async () => await k.host(1).controller.attach('x', { Netns: 'c1', Name: 'c1' }))
    await k.stop(1)
    await k.c.advance(2000)
    await k.start(1)
    await k.c.advance(2000)
    const b = await k.run(async () => await k.host(1).controller.attach('x', { Netns: 'c2', Name: 'c2' }))
    const c = await k.run(async () => await k.host(0).controller.attach('x', { Netns: 'c3', Name: 'c3' }))
    const gw = (await k.host(0).controller.inspectNetwork('x', false)).IPAM.Config[0]!.Gateway!
    assert.ok(a.IPv4Address !== '' && b.IPv4Address !== c.IPv4Address)
    assert.ok(![ip(b.IPv4Address), ip(c.IPv4Address)].includes(gw), 'the gateway is nobody\'s address')
    // the network's removal releases the pool everywhere: nothing left held
    await k.run(async () => { await k.host(1).controller.detach('x', { Netns: 'c2' }) })
    await k.run(async () => { await k.host(0).controller.detach('x', { Netns: 'c3' }) })
    await k.c.advance(1000)
    await k.run(async () => { await k.host(0).controller.removeNetwork('x') })
    await k.c.advance(3000)
    for (const i of [0, 1, 2]) assert.deepEqual(k.host(i).ipam.heldPools(), [], `host ${i} holds no pool`)
  })

  it('creator-leaves: the gateway of a network stays reserved when the host that created it leaves', async () => {
    s = await controllerStack(3)
    const k = s
    await k.run(async () => await k.host(2).controller.createNetwork({ Name: 'x' }))
    await k.c.advance(1000)
    const x = (await k.host(0).controller.inspectNetwork('x', false)).IPAM.Config[0]!
    await k.stop(2)
    await k.c.advance(3000)
    const got = [
      ip((await k.run(async () => await k.host(0).controller.attach('x', { Netns: 'c1', Name: 'c1' }))).IPv4Address),
      ip((await k.run(async () => await k.host(1).controller.attach('x', { Netns: 'c2', Name: 'c2' }))).IPv4Address)
    ]
    assert.ok(!got.includes(x.Gateway!), `the gateway ${x.Gateway!} was handed to an endpoint: ${got.join(', ')}`)
    assert.notEqual(got[0], got[1])
    // and the creator, back, gets neither the gateway nor a used address
    await k.start(2)
    await k.c.advance(2000)
    const c3 = ip((await k.run(async () => await k.host(2).controller.attach('x', { Netns: 'c3', Name: 'c3' }))).IPv4Address)
    const c4 = ip((await k.run(async () => await k.host(0).controller.attach('x', { Netns: 'c4', Name: 'c4' }))).IPv4Address)
    assert.ok(![c3, c4].includes(x.Gateway!) && c3 !== c4)
  })

  it('a network\'s subnet stays its own while no host holds its pool; its gateway is reserved again with the pool', async () => {
    s = await controllerStack(2)
    const k = s
    // the lowest pool of host 0's space, created by host 1, whose leave hands the space back to host 0
    await k.run(async () => await k.host(1).controller.createNetwork({ Name: 'x', Subnet: '10.0.0.0/24' }))
    await k.c.advance(1000)
    await k.stop(1) // the only holder: the IPAM lets the pool go
    await k.c.advance(3000)
    assert.deepEqual(k.host(0).ipam.heldPools(), [])
    const y = await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'y' }))
    assert.notEqual((await k.host(0).controller.inspectNetwork(y.Id, false)).IPAM.Config[0]!.Subnet, '10.0.0.0/24')
    await assert.rejects(k.run(async () => await k.host(0).controller.createNetwork({ Name: 'z', Subnet: '10.0.0.0/25' })), ErrPoolOverlap)
    const a = await k.run(async () => await k.host(0).controller.attach('x', { Netns: 'c1', Name: 'c1' }))
    assert.equal(a.IPv4Address, '10.0.0.2/24', 'the gateway 10.0.0.1 is the network\'s again')
  })

  for (const away of ['stop', 'kill'] as const) {
    it(`vni-of-absent-creator: a network created while another network's creator is away (${away}) gets a VNI of its own`, async () => {
      s = await controllerStack(3)
      const k = s
      const vni = async (name: string, i = 0): Promise<string | undefined> => (await k.host(i).controller.inspectNetwork(name, false)).Options['com.docker.network.driver.overlay.vxlanid_list']
      await k.run(async () => await k.host(2).controller.createNetwork({ Name: 'x' }))
      await k.c.advance(1000)
      const x = await vni('x')
      if (away === 'stop') await k.stop(2)
      else await k.kill(2)
      await k.c.advance(5000)
      await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'y' }))
      const xId = (await k.host(0).controller.inspectNetwork('x', false)).Id
      await k.run(async () => {
        await assert.rejects(k.host(1).controller.createNetwork({ Name: 'z', VNI: Number(x) }),
          (e: unknown) => e instanceof VniInUseError && e.vni === Number(x) && e.holder === xId, 'VNI of x handed out again')
      })
      await k.c.advance(1000)
      assert.equal(await vni('x'), x)
      assert.notEqual(await vni('y'), x)
    })
  }

  it('first-host-restart: the creator never loses its network while the founder, killed, restarts without seeds and rejoins late', async () => {
    s = await controllerStack(3)
    const k = s
    const { Id: nid } = await k.run(async () => await k.host(1).controller.createNetwork({ Name: 'x' }))
    await k.c.advance(1000)
    const a = await k.run(async () => await k.host(0).controller.attach('x', { Netns: 'c1', Name: 'c1' }))
    await k.c.advance(1000)
    const h2 = k.host(1)
    // Every lookup of x on its creator, every step of the way, must answer.
    const failures: string[] = []
    const look = async (): Promise<void> => {
      await h2.controller.inspectNetwork('x', true).catch((err: unknown) => { failures.push(`${k.c.clock.now()}: ${String(err)}`) })
    }
    const h1Status = (): string | undefined => h2.db.member(k.c.ids[0]!)?.status
    await k.kill(0)
    // h1 comes back alone (no seeds) and nobody reaches it for a while (a loaded machine, a cut).
    k.c.partition([0], [1, 2])
    await k.start(0, { seeds: false })
    await look()
    // Meanwhile h1 knows no network: its lookups of x fail, on h1 (not on h2, which still
    // shows h1's endpoint as it was, or hides it once it finds h1 failed).
    await assert.rejects(k.host(0).controller.inspectNetwork('x', false), /network x not found/)
    for (let t = 0; t < 3000; t += 50) { await k.c.advance(50); await look() }
    k.c.heal()
    const back = async (): Promise<boolean> => h1Status() === 'alive' &&
      // (a failure here is recorded by look() in the same step)
      (await h2.controller.inspectNetwork('x', true).catch(() => undefined))?.Endpoints?.some(e => e.EndpointIP === ip(a.IPv4Address)) === true &&
      await k.host(0).controller.inspectNetwork('x', false).then(ins => Object.keys(ins.Containers).length === 1, () => false)
    let rejoined = false
    for (let t = 0; t < 30_000 && !rejoined; t += 50) {
      await k.c.advance(50)
      await look()
      rejoined = await back()
    }
    assert.ok(rejoined, 'h1 rejoined, its endpoint in h2\'s view, x and its endpoint known on h1 again')
    for (let t = 0; t < 5000; t += 50) { await k.c.advance(50); await look() }
    assert.deepEqual(failures, [], 'lookups of x that failed on h2, its creator')
    assert.equal(h2.db.getEntry(NETWORK_TABLE, GLOBAL, nid)?.owner, h2.db.nodeId, 'x\'s definition is still h2\'s own')
  })

  it('the subnet of a removed network is not handed to a new network while its removal record lives (a host cut off may still use it)', async () => {
    s = await controllerStack(2)
    const k = s
    const subnet = async (name: string): Promise<string> => (await k.host(0).controller.inspectNetwork(name, false)).IPAM.Config[0]!.Subnet
    await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'x' }))
    const x = await subnet('x')
    await k.run(async () => { await k.host(0).controller.removeNetwork('x') })
    await k.c.advance(1000)
    await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'y' }))
    await k.run(async () => await k.host(1).controller.createNetwork({ Name: 'z' }))
    await k.c.advance(1000)
    assert.ok(![await subnet('y'), await subnet('z')].includes(x), `${x} re-issued`)
  })
})

