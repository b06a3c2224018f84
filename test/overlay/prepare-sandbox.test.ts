/**
 * A sandbox made ahead of its network's first endpoint (OverlayDriver.prepareSandbox, used by the
 * agent when a host's first attach begins), on real namespaces (root): the namespace with its
 * bridge, vxlan device and the peers known so far exists before any endpoint; the first endpoint
 * joins it (its veth, the container reaches the gateway); a prepared sandbox nobody joined is
 * removed by releaseUnused, one in use is kept; deleteNetwork removes a prepared one; a prepare
 * racing deleteNetwork makes nothing, nor does a join whose endpoint and network are deleted meanwhile.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { FakeClock, memoryLogger } from '../../core/index.js'
import { LinuxDataplane } from '../../overlay/dataplane-linux.js'
import { OverlayDriver } from '../../overlay/driver.js'
import { EndpointInterface, EndpointJoinInfo } from '../../overlay/endpoint-info.js'
import { createNet, joinLocal, notify, rec, sh, underlayHost } from './helpers.js'

const run = promisify(execFile)
const P = `fp${randomBytes(2).toString('hex')}`
const HOST = `${P}h`
const NODE = `${P}n`
const VTEP = '192.0.2.78'
const VNI = 6000 + Math.floor(Math.random() * 1000)
const nid = (): string => randomBytes(10).toString('hex')
const file = (name: string): string => `/run/netns/${name}`
const sandboxOf = (id: string): string => `ovnet-${NODE}-${id.slice(0, 12)}`

const kinds = async (ns: string): Promise<string[]> =>
  (JSON.parse((await sh('ip', '-n', ns, '-d', '-json', 'link', 'show')) || '[]') as Array<{ ifname: string, linkinfo?: { info_kind?: string } }>)
    .map(l => `${l.ifname}:${l.linkinfo?.info_kind ?? ''}`).sort()

async function cleanup (): Promise<void> {
  const names = (await sh('ls', '/run/netns')).split('\n').filter(n => n.startsWith(P) || n.startsWith(`ovnet-${P}`))
  for (const n of names) await run('ip', ['netns', 'del', n]).catch(() => {})
}

describe('a sandbox prepared before its first endpoint (real namespaces)', function () {
  this.timeout(60_000)
  let dp: LinuxDataplane
  let driver: OverlayDriver

  before(async function () {
    if (process.getuid?.() !== 0) this.skip()
    await cleanup()
    await underlayHost(HOST, VTEP)
    dp = new LinuxDataplane({ hostNetns: HOST })
    driver = new OverlayDriver({ dataplane: dp, nodeName: NODE, vtep: VTEP, clock: new FakeClock(), reconcileIntervalMs: 0, logger: memoryLogger() })
    await driver.start()
  })
  after(async () => {
    await driver?.stop().catch(() => {})
    await cleanup()
  })

  it('exists with its devices and known peers before any endpoint; the first endpoint joins it; releaseUnused keeps it then', async () => {
    const id = nid()
    await createNet(driver, id, VNI)
    notify(driver, 'peer1', rec('10.0.0.9', '02:42:0a:00:00:09', '192.0.2.200'), id)
    assert.equal(driver.hasSandbox(id), false)
    await driver.prepareSandbox(id)
    const sb = sandboxOf(id)
    assert.equal(driver.hasSandbox(id), true)
    assert.deepEqual(await kinds(sb), ['br0:bridge', 'lo:', 'vxlan0:vxlan'])
    await driver.flush()
    assert.match(await sh('bridge', '-n', sb, 'fdb', 'show', 'dev', 'vxlan0'), /02:42:0a:00:00:09 dst 192\.0\.2\.200/)
    await driver.prepareSandbox(id) // idempotent
    assert.deepEqual(await kinds(sb), ['br0:bridge', 'lo:', 'vxlan0:vxlan'])

    const ctr = `${P}c1`
    await sh('ip', 'netns', 'add', ctr)
    await joinLocal(driver, 'e1', '10.0.0.2', id, ctr)
    assert.ok((await kinds(sb)).some(k => /^ve-.*:veth$/.test(k)), 'the endpoint\'s veth is in the prepared sandbox')
    await sh('ip', 'netns', 'exec', ctr, 'ping', '-c', '1', '-W', '2', '10.0.0.1')
    await driver.releaseUnused(id)
    assert.equal(existsSync(file(sb)), true, 'in use: kept')
    await driver.leave(id, 'e1')
    assert.equal(existsSync(file(sb)), false, 'the last leave removed it')
    await driver.deleteEndpoint(id, 'e1')
    await driver.deleteNetwork(id)
  })

  it('a prepared sandbox nobody joined is removed by releaseUnused, and by deleteNetwork', async () => {
    const a = nid()
    await createNet(driver, a, VNI + 1)
    await driver.prepareSandbox(a)
    assert.equal(existsSync(file(sandboxOf(a))), true)
    await driver.releaseUnused(a)
    assert.equal(existsSync(file(sandboxOf(a))), false)
    assert.equal(driver.hasSandbox(a), false)
    await driver.deleteNetwork(a)

    const b = nid()
    await createNet(driver, b, VNI + 2)
    await driver.prepareSandbox(b)
    await driver.deleteNetwork(b)
    assert.equal(existsSync(file(sandboxOf(b))), false, 'deleteNetwork removed the prepared sandbox')

    // A prepare that waits for the kernel lock while the network is deleted makes nothing.
    const c = nid()
    await createNet(driver, c, VNI + 3)
    const deleted = driver.deleteNetwork(c)
    const prepared = driver.prepareSandbox(c)
    await deleted
    await prepared
    assert.equal(existsSync(file(sandboxOf(c))), false, 'nothing built for a deleted network')
  })

  it('a join whose endpoint and network are deleted while it waits builds nothing: the VNI stays free', async () => {
    // The kernel refused the next network's VNI ("A VXLAN device with the specified VNI already
    // exists"): the join rebuilt the sandbox of its network after deleteNetwork had removed it, and
    // nothing owned that sandbox any more (found by a stress of concurrent driver calls).
    const ctr = `${P}j1`
    await sh('ip', 'netns', 'add', ctr)
    const a = nid()
    await createNet(driver, a, VNI + 4)
    const eid = randomBytes(16).toString('hex')
    await driver.createEndpoint(a, eid, new EndpointInterface({ address: '10.0.0.5/24' }), {})
    const joining = driver.join(a, eid, ctr, new EndpointJoinInfo(), {}, {})
    await driver.deleteEndpoint(a, eid)
    await driver.deleteNetwork(a)
    await assert.rejects(joining, /not found|no such|does not exist/i)
    assert.equal(existsSync(file(sandboxOf(a))), false, 'no sandbox left for the deleted network')
    const ctrLinks = JSON.parse(await sh('ip', '-n', ctr, '-json', 'link', 'show')) as Array<{ ifname: string }>
    assert.deepEqual(ctrLinks.map(l => l.ifname), ['lo'], 'no interface put into the container')

    // The next network on that VNI gets its sandbox.
    const b = nid()
    await createNet(driver, b, VNI + 4)
    await driver.prepareSandbox(b)
    assert.equal(driver.hasSandbox(b), true)
    await driver.deleteNetwork(b)
  })
})
