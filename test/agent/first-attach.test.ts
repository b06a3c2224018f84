/**
 * A host's first attach to a network (agent/network-prepare.ts): the sandbox and its egress are
 * made from the moment the attach begins, before the address is picked, not after; an attach that
 * fails after the preparation began leaves no sandbox and no uplink behind; a network this host
 * uses already prepares nothing. In-memory cluster (fake clock), recording egress.
 */
import assert from 'node:assert/strict'
import { checkPublish, type EgressPort, type EgressView } from '../../agent/egress/index.js'
import type { DnsPort } from '../../agent/dns/index.js'
import { MemoryDataplane, type SandboxSpec } from '../../overlay/index.js'
import { controllerStack, type ControllerStack } from './memory-stack.js'

class RecordingEgress implements EgressPort {
  views: EgressView[] = []
  async check (net: { name: string, internal: boolean }, wanted: Parameters<EgressPort['check']>[1],
    published: Parameters<EgressPort['check']>[2]): Promise<void> {
    checkPublish(net, wanted, published)
  }

  async apply (view: EgressView): Promise<void> { this.views.push(structuredClone(view)) }
  async stop (): Promise<void> {}
  get last (): EgressView | undefined { return this.views[this.views.length - 1] }
}

/** The embedded DNS's port, noting its `preparing` calls and what `probe()` said then. */
class RecordingDns implements DnsPort {
  calls: Array<[string, boolean, unknown]> = []
  probe: () => unknown = () => undefined
  resolverFor (): string | undefined { return undefined }
  view (): undefined { return undefined }
  async changed (): Promise<void> {}
  setEventSink (): void {}
  async stop (): Promise<void> {}
  preparing (nid: string, on: boolean): void { this.calls.push([nid, on, this.probe()]) }
}

/** Notes, at each sandbox set-up, what `probe()` said then. */
class ProbingDataplane extends MemoryDataplane {
  probe: () => unknown = () => undefined
  seen: unknown[] = []
  override async ensureSandbox (spec: SandboxSpec): Promise<boolean> {
    this.seen.push(this.probe())
    return await super.ensureSandbox(spec)
  }
}

describe('a host\'s first attach to a network: its data plane made alongside the IPAM', function () {
  this.timeout(60_000)
  let s: ControllerStack | undefined
  afterEach(async () => { await s?.close(); s = undefined })

  it('builds the sandbox before the address is picked, and the uplink before the endpoint exists', async () => {
    const dp = new ProbingDataplane()
    const eg = new RecordingEgress()
    s = await controllerStack(2, { dataplane: i => i === 1 ? dp : new MemoryDataplane(), egress: i => i === 1 ? eg : undefined })
    const k = s
    await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'web', Subnet: '10.81.0.0/24' }))
    await k.c.advance(1000)
    const c1 = k.host(1).controller
    // Addresses this host holds in the network's pool when its sandbox is made.
    const me = k.host(1).db.nodeId
    dp.probe = () => k.host(1).ipam.status().pools
      .reduce((n, p) => n + (p.nodes.find(x => x.node === me)?.inUse ?? 0), 0)
    const r = await k.run(async () => await c1.attach('web', { Netns: 'c1' }))
    assert.deepEqual(dp.seen, [0], 'one sandbox set-up, before this host held any address of the pool')
    const early = eg.views.find(v => v.networks.some(n => n.name === 'web'))
    assert.ok(early !== undefined, 'the network reached the egress view')
    assert.deepEqual(early.networks.find(n => n.name === 'web')!.endpoints, [], 'its uplink was asked before the endpoint existed')
    assert.deepEqual(eg.last!.networks.find(n => n.name === 'web')!.endpoints.map(e => e.ip), [r.IPv4Address.split('/')[0]])
    // The host uses the network now: a second attach prepares nothing (no set-up, no empty network in a view).
    const views = eg.views.length
    await k.run(async () => await c1.attach('web', { Netns: 'c2' }))
    assert.deepEqual(dp.seen, [0])
    assert.ok(eg.views.slice(views).every(v => v.networks.every(n => n.endpoints.length > 0)))
  })

  it('a first attach that fails after the preparation began leaves no sandbox and no uplink', async () => {
    const dp = new MemoryDataplane()
    const eg = new RecordingEgress()
    s = await controllerStack(2, { dataplane: i => i === 1 ? dp : new MemoryDataplane(), egress: i => i === 1 ? eg : undefined })
    const k = s
    await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'web', Subnet: '10.82.0.0/24' }))
    await k.c.advance(1000)
    const c1 = k.host(1).controller
    // The IPAM refuses the address (outside the subnet): the sandbox was being made meanwhile.
    await assert.rejects(k.run(async () => await c1.attach('web', { Netns: 'c1', IP: '10.99.0.5' })))
    assert.equal(dp.sandboxes.size, 0, 'the prepared sandbox is gone')
    assert.equal(eg.last?.networks.some(n => n.name === 'web') ?? false, false, 'the egress view dropped the network')
    assert.ok(eg.views.some(v => v.networks.some(n => n.name === 'web')), 'the uplink had been asked for')
    assert.deepEqual(k.host(1).driver.status().networks.filter(n => n.sandbox !== undefined && n.origin !== undefined), [])
    // A bad namespace name is refused before anything is made.
    const applied = eg.views.length
    await assert.rejects(k.run(async () => await c1.attach('web', { Netns: '-bad' })), /namespace/)
    assert.equal(eg.views.length, applied)
    assert.equal(dp.sandboxes.size, 0)
    // The next attach works and keeps its sandbox.
    await k.run(async () => await c1.attach('web', { Netns: 'c1' }))
    assert.equal(dp.sandboxes.size, 1)
  })

  it('the DNS is told when the prepared sandbox exists (before the endpoint) and when the preparation ends', async () => {
    const dns = new RecordingDns()
    s = await controllerStack(2, { dns: i => i === 1 ? dns : undefined })
    const k = s
    const net = await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'web', Subnet: '10.84.0.0/24' }))
    await k.c.advance(1000)
    const c1 = k.host(1).controller
    dns.probe = () => k.host(1).driver.status().networks.find(n => n.nid === net.Id)?.endpoints.length ?? 0
    await k.run(async () => await c1.attach('web', { Netns: 'c1' }))
    assert.deepEqual(dns.calls, [[net.Id, true, 0], [net.Id, false, 1]], 'told with no endpoint yet, and after it joined')
    await k.run(async () => await c1.attach('web', { Netns: 'c2' }))
    assert.equal(dns.calls.length, 2, 'a second attach prepares nothing')
  })
})
