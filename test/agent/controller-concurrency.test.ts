/**
 * The controller's locking and publication (issue 12): attaches to unrelated networks do not wait
 * for each other, attaches to one network set up their endpoints side by side, and an attach
 * answers only once its NetworkDB writes have been sent (not after the gossip window).
 */
import assert from 'node:assert/strict'
import { MemoryDataplane, type EndpointSpec } from '../../overlay/index.js'
import { controllerStack, type ControllerStack } from './memory-stack.js'

/** addEndpoint of a sandbox whose name contains `match` waits until `open()`. */
class GatedDataplane extends MemoryDataplane {
  match: string | undefined
  waiting = 0
  private gate: Promise<void> = Promise.resolve()
  private release: () => void = () => {}

  close (match: string): void {
    this.match = match
    this.gate = new Promise(resolve => { this.release = resolve })
  }

  open (): void { this.release() }

  override async addEndpoint (spec: EndpointSpec): Promise<void> {
    if (this.match !== undefined && spec.sandbox.includes(this.match)) {
      this.waiting++
      await this.gate
      this.waiting--
    }
    await super.addEndpoint(spec)
  }
}

describe('controller concurrency and publication', function () {
  this.timeout(60_000)
  let s: ControllerStack | undefined
  afterEach(async () => { await s?.close(); s = undefined })

  it('an attach to a network whose kernel work is stuck does not hold up an attach to another network', async () => {
    const dp = new GatedDataplane()
    s = await controllerStack(1, { dataplane: () => dp })
    const k = s
    const ctl = k.host(0).controller
    const a = await k.run(async () => await ctl.createNetwork({ Name: 'a', Subnet: '10.61.0.0/24' }))
    await k.run(async () => await ctl.createNetwork({ Name: 'b', Subnet: '10.62.0.0/24' }))
    dp.close(a.Id.slice(0, 12))
    const stuck = ctl.attach('a', { Netns: 'ca' })
    let stuckDone = false
    void stuck.then(() => { stuckDone = true }, () => { stuckDone = true })
    const b = await k.run(async () => await ctl.attach('b', { Netns: 'cb' }))
    assert.match(b.IPv4Address, /^10\.62\.0\./)
    assert.equal(dp.waiting, 1, 'the attach to a is still in its kernel work')
    assert.equal(stuckDone, false)
    dp.open()
    const ra = await k.run(async () => await stuck)
    assert.match(ra.IPv4Address, /^10\.61\.0\./)
  })

  it('attaches to one network reach the kernel together, with distinct addresses', async () => {
    const dp = new GatedDataplane()
    s = await controllerStack(1, { dataplane: () => dp })
    const k = s
    const ctl = k.host(0).controller
    const a = await k.run(async () => await ctl.createNetwork({ Name: 'a', Subnet: '10.63.0.0/24' }))
    await k.run(async () => await ctl.attach('a', { Netns: 'c0' })) // the sandbox exists now
    dp.close(a.Id.slice(0, 12))
    const attaches = [1, 2, 3, 4].map(async i => await ctl.attach('a', { Netns: `c${i}` }))
    await k.run(async () => { while (dp.waiting < 4) await k.c.advance(5) })
    assert.equal(dp.waiting, 4, 'four endpoint setups in flight at once')
    dp.open()
    const res = await k.run(async () => await Promise.all(attaches))
    assert.equal(new Set(res.map(r => r.IPv4Address)).size, 4)
    await assert.rejects(k.run(async () => await ctl.attach('a', { Netns: 'c1' })), /ErrInvalidJoin|invalid|already/i)
  })

  it('an attach answers after its endpoint was sent: the other host has it long before the gossip window ends', async () => {
    s = await controllerStack(2, { cluster: { config: { gossipFlushMs: 60_000 } } })
    const k = s
    await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'x', Subnet: '10.64.0.0/24' }))
    await k.c.advance(1000)
    assert.equal((await k.host(1).controller.listNetworks()).length, 1, 'the network reached host 1 (created and published)')
    // The first attach joins host 0 to the network's own NetworkDB network (a push-pull, which
    // carries tables along); the second one has only gossip to go by.
    await k.run(async () => await k.host(0).controller.attach('x', { Netns: 'c0' }))
    await k.c.advance(1000)
    const r = await k.run(async () => await k.host(0).controller.attach('x', { Netns: 'c1' }))
    await k.c.advance(200)
    const seen = JSON.stringify(await k.host(1).controller.inspectNetwork('x', true))
    assert.ok(seen.includes(r.EndpointID), 'host 1 lists the endpoint 200 ms after the answer (window: 60 s)')
  })
})
