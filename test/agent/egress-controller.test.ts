/**
 * The controller's egress hooks on an in-memory cluster (fake clock), with a recording egress
 * port: the internal flag travels with the network's definition, the views the controller hands
 * over follow attach and detach, and a refused or failed publication leaves nothing behind.
 */
import assert from 'node:assert/strict'
import { BadRequestError } from '../../agent/errors.js'
import { checkPublish, PortTakenError, type EgressPort, type EgressView } from '../../agent/egress/index.js'
import { decodeNetworkRecord, encodeEnvelope, encodeNetworkRecord, type NetworkRecord } from '../../proto/index.js'
import { controllerStack, type ControllerStack } from './memory-stack.js'

class RecordingEgress implements EgressPort {
  views: EgressView[] = []
  failNext = false
  stopped = false
  async check (net: { name: string, internal: boolean }, wanted: Parameters<EgressPort['check']>[1], published: Parameters<EgressPort['check']>[2]): Promise<void> {
    checkPublish(net, wanted, published)
  }

  async apply (view: EgressView): Promise<void> {
    if (this.failNext) { this.failNext = false; throw new Error('iptables-restore failed (fake)') }
    this.views.push(structuredClone(view))
  }

  async stop (): Promise<void> { this.stopped = true }
  get last (): EgressView { return this.views[this.views.length - 1]! }
}

describe('controller egress hooks on an in-memory cluster', function () {
  this.timeout(60_000)
  let s: ControllerStack | undefined
  const eg = [new RecordingEgress(), new RecordingEgress(), new RecordingEgress()]
  afterEach(async () => { await s?.close(); s = undefined })

  it('internal is part of the replicated definition; views follow attach/detach; bad publications change nothing', async () => {
    s = await controllerStack(3, { egress: i => i < 2 ? eg[i] : undefined })
    const k = s
    await k.run(async () => await k.host(1).controller.createNetwork({ Name: 'intl', Subnet: '10.71.0.0/24', Internal: true }))
    await k.run(async () => await k.host(2).controller.createNetwork({ Name: 'web', Subnet: '10.70.0.0/24' }))
    await k.c.advance(1000)
    for (const i of [0, 1, 2]) {
      assert.equal((await k.host(i).controller.inspectNetwork('intl', false)).Internal, true, `host ${i}`)
      assert.equal((await k.host(i).controller.inspectNetwork('web', false)).Internal, false, `host ${i}`)
    }
    const c0 = k.host(0).controller
    const pub = await k.run(async () => await c0.attach('web', { Netns: 'c1', Publish: ['8080:80', '53:53/udp'] }))
    await k.run(async () => await c0.attach('intl', { Netns: 'c2' }))
    const v = eg[0]!.last
    assert.deepEqual(v.overlaySubnets.sort(), ['10.70.0.0/24', '10.71.0.0/24'])
    const web = v.networks.find(n => n.name === 'web')!
    assert.equal(web.internal, false)
    assert.deepEqual(web.endpoints.map(e => [e.ip, e.publish.map(p => `${p.hostPort}:${p.ctrPort}/${p.proto}`)]), [[pub.IPv4Address.split('/')[0], ['8080:80/tcp', '53:53/udp']]])
    assert.equal(v.networks.find(n => n.name === 'intl')!.internal, true)
    assert.deepEqual((await c0.inspectNetwork('web', false)).Containers[pub.EndpointID]!.Ports, ['0.0.0.0:8080->80/tcp', '0.0.0.0:53->53/udp'])

    const applies = eg[0]!.views.length
    const count = async (): Promise<number> => Object.keys((await c0.inspectNetwork('web', false)).Containers).length
    const before = await count()
    await assert.rejects(k.run(async () => await c0.attach('intl', { Netns: 'c3', Publish: ['8081:80'] })), (e: unknown) => e instanceof BadRequestError && /internal/.test(e.message))
    await assert.rejects(k.run(async () => await c0.attach('web', { Netns: 'c3', Publish: ['8080:81'] })), PortTakenError)
    await assert.rejects(k.run(async () => await c0.attach('web', { Netns: 'c3', Publish: ['99999:81'] })), /out of range/)
    assert.equal(eg[0]!.views.length, applies, 'nothing applied for a refused publication')
    assert.equal(await count(), before, 'no endpoint for a refused publication')
    // the kernel refuses the rules: the attach fails and is rolled back
    eg[0]!.failNext = true
    await assert.rejects(k.run(async () => await c0.attach('web', { Netns: 'c3', Publish: ['8082:80'] })), /fake/)
    assert.equal(await count(), before, 'the failed attach was rolled back')
    assert.ok(!eg[0]!.last.networks.flatMap(n => n.endpoints).some(e => e.publish.some(p => p.hostPort === 8082)), 'the last view has no trace of it')

    // no egress on this host: publishing is refused, attaching without ports works
    await k.c.advance(1000)
    await assert.rejects(k.run(async () => await k.host(2).controller.attach('web', { Netns: 'c4', Publish: ['8080:80'] })), /no egress/)
    await k.run(async () => await k.host(2).controller.attach('web', { Netns: 'c4' }))

    await k.run(async () => { await c0.detach('web', { Netns: 'c1' }) })
    assert.equal(eg[0]!.last.networks.find(n => n.name === 'web'), undefined, 'detached: web has no endpoint here any more')
  })

  it('a network record without the internal field (an older writer) decodes as not internal', () => {
    const rec: NetworkRecord = { id: 'n1', name: 'x', created: 1, subnet: '10.0.0.0/24', gateway: '', ipRange: '', vni: 4097, internal: true, attachable: true, options: {}, labels: {} }
    assert.equal(decodeNetworkRecord(encodeNetworkRecord(rec)).internal, true)
    const { internal: _dropped, ...old } = rec
    assert.equal(decodeNetworkRecord(encodeEnvelope('network', old)).internal, false)
  })
})
