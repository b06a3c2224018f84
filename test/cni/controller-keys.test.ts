/**
 * The control API's CNI additions on the real controller over an in-memory cluster: attachments
 * keyed by (ContainerID, IfName) with their CNI network, detach by that key, the attachments
 * list, an MTU above the network's refused, and keys, interface name and MTU kept across a crash
 * (the kernel side of IfName and MTU is asserted on real namespaces in podman.test.ts).
 */
import assert from 'node:assert/strict'
import { AttachRequest, DetachRequest } from '../../agent/api-types.js'
import { controllerStack, type ControllerStack } from '../agent/memory-stack.js'

describe('controller: CNI attachment keys', function () {
  this.timeout(60_000)
  let s: ControllerStack | undefined
  afterEach(async () => { await s?.close(); s = undefined })

  const cni = (id: string, ifName = 'eth0'): AttachRequest =>
    ({ Netns: `/run/netns/${id}`, Name: id, IfName: ifName, ContainerID: id, CNINetwork: 'conf1' })

  it('attach by key, list, refuse a second (id, ifname), detach by key; other endpoints untouched', async () => {
    s = await controllerStack(2)
    const k = s
    const c = k.host(0).controller
    await k.run(async () => await c.createNetwork({ Name: 'x', Subnet: '10.60.0.0/24' }))
    const a = await k.run(async () => await c.attach('x', cni('ctr1', 'net1')))
    assert.equal(a.Gateway, '10.60.0.1')
    await k.run(async () => await c.attach('x', { Netns: 'plain', Name: 'plain' }))
    const list = await c.attachments('x')
    assert.deepEqual(list.map(v => [v.Name, v.IfName, v.ContainerID, v.CNINetwork]).sort(), [['ctr1', 'net1', 'ctr1', 'conf1'], ['plain', 'eth0', undefined, undefined]])
    // Same key again (another namespace even): refused, nothing added.
    await assert.rejects(k.run(async () => await c.attach('x', { ...cni('ctr1', 'net1'), Netns: '/run/netns/other' })), /ErrInvalidJoin|cannot join|already/i)
    assert.equal((await c.attachments('x')).length, 2)
    // Wrong interface name: not this attachment.
    await assert.rejects(k.run(async () => { await c.detach('x', { ContainerID: 'ctr1' }) }), (e: Error) => e.name === 'ErrNoSuchEndpoint')
    await k.run(async () => { await c.detach('x', { ContainerID: 'ctr1', IfName: 'net1' }) })
    assert.deepEqual((await c.attachments('x')).map(v => v.Name), ['plain'])
    await assert.rejects(k.run(async () => { await c.detach('x', { ContainerID: 'ctr1', IfName: 'net1' }) }), (e: Error) => e.name === 'ErrNoSuchEndpoint')
  })

  it('the keys, interface name and MTU survive a crash and restart of the host', async () => {
    s = await controllerStack(2)
    const k = s
    await k.run(async () => await k.host(0).controller.createNetwork({ Name: 'x', Subnet: '10.61.0.0/24' }))
    await k.c.advance(1000)
    await k.run(async () => await k.host(1).controller.attach('x', { ...cni('ctr9', 'eth1'), MTU: 1300 }))
    await k.kill(1)
    const h = await k.start(1)
    await k.c.advance(2000)
    const [v] = await h.controller.attachments('x')
    assert.equal(v?.ContainerID, 'ctr9')
    assert.equal(v?.CNINetwork, 'conf1')
    assert.equal(v?.IfName, 'eth1')
    assert.equal(v?.MTU, 1300)
    await k.run(async () => { await h.controller.detach('x', { ContainerID: 'ctr9', IfName: 'eth1' }) })
    assert.deepEqual(await h.controller.attachments('x'), [])
  })

  it('an MTU above the network\'s is refused and leaves nothing behind', async () => {
    s = await controllerStack(1)
    const k = s
    const c = k.host(0).controller
    await k.run(async () => await c.createNetwork({ Name: 'x', Subnet: '10.62.0.0/24' }))
    await assert.rejects(k.run(async () => await c.attach('x', { ...cni('big'), MTU: 9000 })), /above the network's MTU/)
    assert.deepEqual(await c.attachments('x'), [])
    const ok = await k.run(async () => await c.attach('x', cni('big')))
    assert.equal(ok.IPv4Address, '10.62.0.2/24', 'the refused attach gave its address back')
  })

  it('request schemas: IfName, MTU, ContainerID checked; detach takes Netns or ContainerID', () => {
    assert.equal(AttachRequest.safeParse({ Netns: 'n', IfName: 'a-very-long-name0' }).success, false)
    assert.equal(AttachRequest.safeParse({ Netns: 'n', MTU: 20 }).success, false)
    assert.equal(AttachRequest.safeParse({ Netns: 'n', ContainerID: '-x', CNINetwork: 'c' }).success, false)
    assert.equal(AttachRequest.safeParse({ Netns: 'n', ContainerID: 'x' }).success, false, 'ContainerID needs CNINetwork')
    assert.equal(AttachRequest.safeParse(cni('ok')).success, true)
    assert.equal(DetachRequest.safeParse({}).success, false)
    assert.equal(DetachRequest.safeParse({ Netns: 'n', ContainerID: 'x' }).success, false)
    assert.equal(DetachRequest.safeParse({ Netns: 'n', IfName: 'eth0' }).success, false)
    assert.equal(DetachRequest.safeParse({ ContainerID: 'x', IfName: 'eth0' }).success, true)
    assert.equal(DetachRequest.safeParse({ Netns: 'n' }).success, true)
  })
})
